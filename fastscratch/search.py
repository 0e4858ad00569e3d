"""Random search over the learning rate and weight decay, as the book's chapter 6, on Dask.

The book's ``ch06/hyperparameter_optimization.py`` trains one network per trial
with a learning rate and a weight decay drawn log-uniformly, and ranks the trials
by validation accuracy. Trials are independent, so they run as Dask tasks on a
``distributed`` cluster: a ``LocalCluster`` of single-threaded worker processes
on this machine, or an existing scheduler anywhere.

- ``SearchSpec`` holds what defines a search; ``sample_trial(spec, i)`` draws
  trial i's hyper-parameters and training seed from ``SeedSequence([seed, i])``
  alone, so a trial is the same on any cluster and in any order.
- ``run_trial(spec, trial)`` trains one trial in the calling process (the task a
  worker runs; usable without Dask).
- ``run_search(spec, out, ...)`` runs the trials not yet in ``out/trials.jsonl``,
  appends each record as it finishes, and writes ``best.json`` and ``search.png``.

Dask is an optional dependency (the ``dist`` extra): it is imported only when a
search starts.
"""
import asyncio
import dataclasses
import functools
import json
import math
import os
import sys
import threading
import time
import uuid

import numpy as np

from fastscratch.reference import params_io
from fastscratch.reference.progress import format_duration

#: Share of the training subset held out for validation, shuffled first (the book's validation_rate).
VALIDATION_RATE = 0.20
#: Times a trial that raised is resubmitted before it counts as failed. A worker that dies
#: mid-trial is handled by the scheduler itself (it reruns the task elsewhere).
RETRIES = 2
#: Trials drawn in the plot, and its columns (the book's graph_draw_num and col_num).
PLOT_TRIALS, PLOT_COLUMNS = 20, 5
INSTALL_HINT = ("fastscratch search needs dask and distributed: pip install -e '.[dist]' "
                "(the dist extra, from the fastscratch checkout)")
RECORD_KEYS = ("trial", "lr", "weight_decay", "val_acc", "train_acc", "seconds", "worker")


def _multi_layer(api, weight_decay):
    # the book's chapter 6 network: 784-100x6-10, ReLU, He initialisation
    return api.MultiLayerNet(input_size=784, hidden_size_list=[100] * 6, output_size=10,
                             weight_decay_lambda=weight_decay)


#: --net name -> builder(api, weight_decay); every one takes a weight decay.
NETWORKS = {"multi_layer": _multi_layer}


class SearchError(ValueError):
    """A search cannot start: bad settings, or an output directory that holds another search."""


@dataclasses.dataclass(frozen=True)
class SearchSpec:
    """What defines a search: the same spec gives the same trials and results anywhere.

    Parameters
    ----------
    net : str
        A key of ``NETWORKS``.
    trials : int
        Number of trials, numbered 0 .. trials-1.
    subset : int
        The first ``subset`` MNIST training images; 20 % of them (shuffled) validate.
    epochs, batch_size : int
        Training of each trial (the book's Trainer).
    optimizer : str
        A Trainer optimizer name (the book's search uses sgd).
    seed : int
        With the trial number, the only source of randomness.
    lr_range, weight_decay_range : (float, float)
        Bounds of the log-uniform draws.
    """

    net: str = "multi_layer"
    trials: int = 100
    subset: int = 500
    epochs: int = 50
    batch_size: int = 100
    optimizer: str = "sgd"
    seed: int = 0
    lr_range: tuple = (1e-6, 1e-2)
    weight_decay_range: tuple = (1e-8, 1e-4)

    def __post_init__(self):
        if self.net not in NETWORKS:
            raise SearchError(f"net must be one of {sorted(NETWORKS)}; got {self.net!r}")
        for name in ("trials", "subset", "epochs", "batch_size"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise SearchError(f"{name} must be a positive int; got {value!r}")
        if int(self.subset * VALIDATION_RATE) < 1 or self.subset > 60000:
            raise SearchError(f"subset must be between {math.ceil(1 / VALIDATION_RATE)} and 60000 "
                              f"(20 % of it validates); got {self.subset}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, (int, np.integer)) or self.seed < 0:
            raise SearchError(f"seed must be an int >= 0; got {self.seed!r}")
        from fastscratch.reference.trainer import OPTIMIZER_NAMES
        if self.optimizer.lower() not in OPTIMIZER_NAMES:
            raise SearchError(f"optimizer must be one of {list(OPTIMIZER_NAMES)}; got {self.optimizer!r}")
        for name in ("lr_range", "weight_decay_range"):
            low, high = getattr(self, name)
            if not (0 < low <= high < math.inf):
                raise SearchError(f"{name} must be (low, high) with 0 < low <= high; got {(low, high)}")
            object.__setattr__(self, name, (float(low), float(high)))

    def settings(self):
        """The spec as JSON-able settings, without ``trials`` (a search may be extended)."""
        out = dataclasses.asdict(self)
        del out["trials"]
        out["lr_range"] = list(self.lr_range)
        out["weight_decay_range"] = list(self.weight_decay_range)
        return out


def _log_uniform(rng, bounds):
    low, high = np.log10(bounds[0]), np.log10(bounds[1])
    return float(10 ** rng.uniform(low, high))


def sample_trial(spec, i):
    """Trial i's hyper-parameters and training seed, from ``SeedSequence([spec.seed, i])`` only.

    Returns
    -------
    dict with keys trial, weight_decay, lr (drawn in the book's order) and train_seed.
    """
    rng = np.random.default_rng(np.random.SeedSequence([spec.seed, i]))
    weight_decay = _log_uniform(rng, spec.weight_decay_range)
    lr = _log_uniform(rng, spec.lr_range)
    return {"trial": int(i), "lr": lr, "weight_decay": weight_decay,
            "train_seed": int(rng.integers(2 ** 32))}


@functools.lru_cache(maxsize=4)
def _split(subset, seed):
    """(x_train, t_train, x_val, t_val): the first ``subset`` images, shuffled, the first 20 % validating."""
    from fastscratch.dataset.mnist import load_mnist
    (x, t), _ = load_mnist(normalize=True, flatten=True)
    x, t = x[:subset], t[:subset]
    # The book shuffles with util.shuffle_dataset (one permutation of the global
    # generator); a generator of its own keeps the split independent of the trials.
    perm = np.random.RandomState(np.random.SeedSequence([seed]).generate_state(1)[0]).permutation(len(x))
    x, t = x[perm], t[perm]
    n_val = int(len(x) * VALIDATION_RATE)  # the book's float slice bound, as an int
    return x[n_val:], t[n_val:], x[:n_val], t[:n_val]


# Trials seed NumPy's global generator (the book's Trainer and networks draw from it),
# so two trials must never train at once in one process, whatever its thread count.
_TRAIN_LOCK = threading.Lock()


def _worker_name():
    try:
        from distributed import get_worker
        return get_worker().address
    except (ImportError, ValueError):
        return f"pid {os.getpid()}"


def run_trial(spec, trial):
    """Train one trial in this process and return its record.

    Parameters
    ----------
    spec : SearchSpec
    trial : dict
        From ``sample_trial(spec, i)``.

    Returns
    -------
    dict with ``RECORD_KEYS`` plus val_acc_list and train_acc_list (the book's per-epoch curves).
    val_acc and train_acc are measured on the whole validation and training parts
    after the last step.
    """
    import fastscratch
    x_train, t_train, x_val, t_val = _split(spec.subset, spec.seed)
    with _TRAIN_LOCK:
        # One kernel thread: Dask already runs one trial per core (see docs/search.md).
        fastscratch.set_num_threads(1)
        start = time.perf_counter()
        np.random.seed(trial["train_seed"])
        network = NETWORKS[spec.net](fastscratch, trial["weight_decay"])
        trainer = fastscratch.Trainer(network, x_train, t_train, x_val, t_val, epochs=spec.epochs,
                                      mini_batch_size=spec.batch_size, optimizer=spec.optimizer,
                                      optimizer_param={"lr": trial["lr"]}, verbose=False)
        for _ in range(trainer.max_iter):
            trainer.train_step()
        val_acc = float(network.accuracy(x_val, t_val))
        train_acc = float(network.accuracy(x_train, t_train))
        seconds = time.perf_counter() - start
    return {"trial": trial["trial"], "lr": trial["lr"], "weight_decay": trial["weight_decay"],
            "val_acc": val_acc, "train_acc": train_acc, "seconds": round(seconds, 3),
            "worker": _worker_name(),
            "val_acc_list": [float(v) for v in trainer.test_acc_list],
            "train_acc_list": [float(v) for v in trainer.train_acc_list]}


# --- the output directory --------------------------------------------------------------------

def read_trials(path):
    """Records of a trials.jsonl, by trial number; a torn last line (a killed writer) is cut off.

    Raises SearchError for a damaged line that is not the last one.
    """
    records = {}
    if not os.path.exists(path):
        return records
    with open(path, "rb") as f:
        data = f.read()
    good = 0  # bytes up to the end of the last complete record
    for number, line in enumerate(data.splitlines(keepends=True), 1):
        try:
            record = json.loads(line)
            if not line.endswith(b"\n") or not isinstance(record, dict):
                raise ValueError("incomplete")
            trial = record["trial"]
        except (ValueError, KeyError):
            if good + len(line) == len(data):
                break  # written up to a kill: that trial is simply run again
            raise SearchError(f"{path}: line {number} is not a trial record; "
                              "move the file away to start the search afresh") from None
        records.setdefault(trial, record)  # a trial is recorded once; keep the first
        good += len(line)
    if good < len(data):
        with open(path, "r+b") as f:
            f.truncate(good)
    return records


def append_record(path, record):
    """Append one record as a JSON line and make it durable before returning."""
    with open(path, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
        f.flush()
        os.fsync(f.fileno())


def best_trial(records):
    """The record with the highest val_acc (the lowest trial number among equals)."""
    return min(records, key=lambda r: (-r["val_acc"], r["trial"]))


def _write_json(path, obj):
    with params_io.atomic_file(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def _check_settings(out, spec):
    path = os.path.join(out, "search.json")
    settings = spec.settings()
    if os.path.exists(path):
        try:
            with open(path, encoding="utf-8") as f:
                stored = json.load(f)
        except ValueError:
            raise SearchError(f"{path} is not a search's settings file") from None
        if stored != settings:
            diff = ", ".join(f"{k} {stored.get(k)!r} (now {v!r})" for k, v in settings.items()
                             if stored.get(k) != v)
            raise SearchError(f"{out} holds a search with other settings: {diff}; "
                              "use another --out or the same settings")
    else:
        _write_json(path, settings)


def save_plot(path, records):
    """The book's figure: the best trials' validation (solid) and training (dashed) curves.

    Returns False (and writes nothing) without matplotlib.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    ranked = sorted(records, key=lambda r: (-r["val_acc"], r["trial"]))[:PLOT_TRIALS]
    rows = max(1, math.ceil(len(ranked) / PLOT_COLUMNS))
    fig = Figure(figsize=(2.4 * PLOT_COLUMNS, 2.0 * rows))
    FigureCanvasAgg(fig)
    for k, record in enumerate(ranked):
        ax = fig.add_subplot(rows, PLOT_COLUMNS, k + 1)
        ax.set_title(f"Best-{k + 1}", fontsize=9)
        ax.set_ylim(0.0, 1.0)
        if k % PLOT_COLUMNS:
            ax.set_yticks([])
        ax.set_xticks([])
        x = np.arange(len(record["val_acc_list"]))
        marker = "o" if len(x) == 1 else None  # a one-point curve draws no line
        ax.plot(x, record["val_acc_list"], marker=marker)
        ax.plot(x, record["train_acc_list"], "--", marker=marker)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    return True


# --- progress --------------------------------------------------------------------------------

class SearchProgress:
    """Trials done, running and failed, and an ETA: a redrawn line on a terminal, else a line per trial."""

    def __init__(self, total, already_done, stream=None):
        self.stream = sys.stdout if stream is None else stream
        isatty = getattr(self.stream, "isatty", None)
        self.tty = bool(isatty and isatty())
        self.total = total
        self.done = already_done
        self.first = already_done
        self.running = 0
        self.failed = 0
        self.start = time.perf_counter()

    def status(self):
        finished_here = self.done - self.first
        left = self.total - self.done - self.failed
        eta = (time.perf_counter() - self.start) / finished_here * left if finished_here else None
        return (f"search: {self.done}/{self.total} done, {self.running} running, {self.failed} failed, "
                f"ETA {format_duration(eta)}")

    def line(self, text):
        if self.tty:
            self.stream.write("\r\033[K" + text + "\n" + self.status())
        else:
            self.stream.write(text + "  [" + self.status() + "]\n")
        self.stream.flush()

    def redraw(self):
        if self.tty:
            self.stream.write("\r\033[K" + self.status())
            self.stream.flush()

    def close(self):
        if self.tty:
            self.stream.write("\r\033[K" + self.status() + "\n")
            self.stream.flush()


# --- the driver ------------------------------------------------------------------------------

@dataclasses.dataclass
class SearchResult:
    """What run_search leaves: every record (by trial number), the best one, the trials that failed."""

    records: list
    best: dict
    failed: list
    out: str


def _connect(workers, scheduler):
    """(client, cluster or None): a Client of an existing scheduler, or of a new LocalCluster."""
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise SearchError(INSTALL_HINT) from None
    if scheduler is not None:
        return Client(scheduler, timeout="30s"), None
    import logging
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
    return Client(cluster), cluster


def _running(client, nthreads):
    try:
        return sum(min(len(keys), nthreads.get(addr, 1)) for addr, keys in client.processing().items())
    except (OSError, TimeoutError):  # progress only: a scheduler busy with a lost worker may not answer
        return 0


def run_search(spec, out, workers=None, scheduler=None, client=None, stream=None):
    """Run the trials of spec that out/trials.jsonl does not hold yet; the Python side of ``fastscratch search``.

    Parameters
    ----------
    spec : SearchSpec
    out : str
        Output directory: search.json (the settings), trials.jsonl, best.json, search.png.
    workers : int, optional
        Size of the LocalCluster started for the search (single-threaded worker
        processes; default: the number of cores). Ignored with scheduler or client.
    scheduler : str, optional
        Address of an existing Dask scheduler, e.g. ``tcp://host:8786``.
    client : distributed.Client, optional
        An existing client to submit to (left open).
    stream : text file, optional
        Progress output (default sys.stdout).

    Returns
    -------
    SearchResult

    Raises
    ------
    SearchError
        Bad settings, Dask missing, or out holding a search with other settings.
    """
    os.makedirs(out, exist_ok=True)
    _check_settings(out, spec)
    trials_path = os.path.join(out, "trials.jsonl")
    records = read_trials(trials_path)
    pending = [i for i in range(spec.trials) if i not in records]
    progress = SearchProgress(spec.trials, sum(1 for i in records if i < spec.trials), stream)
    failed = []
    if pending:
        cluster = None
        if client is None:
            client, cluster = _connect(workers or os.cpu_count() or 1, scheduler)
            own_client = True
        else:
            own_client = False
        try:
            failed = _run_pending(client, spec, pending, trials_path, records, progress)
        finally:
            progress.close()
            if own_client:
                client.close()
                if cluster is not None:
                    cluster.close()
    done = [records[i] for i in sorted(records) if i < spec.trials]
    best = best_trial(done) if done else None
    if best is not None:
        _write_json(os.path.join(out, "best.json"), {k: best[k] for k in RECORD_KEYS})
        save_plot(os.path.join(out, "search.png"), done)
    return SearchResult(records=done, best=best, failed=failed, out=out)


def _run_pending(client, spec, pending, trials_path, records, progress):
    from distributed import wait
    token = uuid.uuid4().hex[:8]  # keys unique to this run on a shared scheduler
    futures = {client.submit(run_trial, spec, sample_trial(spec, i), key=f"fastscratch-trial-{i}-{token}",
                             pure=False, retries=RETRIES): i for i in pending}
    nthreads = client.nthreads()
    if any(n > 1 for n in nthreads.values()):
        progress.line("note: workers with several threads run one trial at a time per process; "
                      "start them with --nthreads 1")
    failed = []
    remaining = set(futures)
    last_poll = 0.0
    while remaining:
        try:
            finished, _ = wait(list(remaining), timeout=0.5, return_when="FIRST_COMPLETED")
        except (TimeoutError, asyncio.TimeoutError):  # distinct types before Python 3.11
            finished = ()
        now = time.perf_counter()
        if now - last_poll >= 1.0 or finished:
            last_poll = now
            nthreads = client.nthreads() or nthreads
            progress.running = _running(client, nthreads)
        for future in finished:
            remaining.discard(future)
            i = futures[future]
            if future.status == "finished":
                try:
                    record = future.result()
                except OSError:  # its worker died before the result came back: it runs again
                    remaining.add(future)
                    continue
                append_record(trials_path, record)
                records[i] = record
                progress.done += 1
                progress.line(f"trial {i}: val acc {record['val_acc']:.4f} | lr {record['lr']:.3g}, "
                              f"weight decay {record['weight_decay']:.3g} ({record['seconds']:.1f} s)")
            else:
                failed.append(i)
                progress.failed += 1
                progress.line(f"trial {i} failed: {future.exception()!r}")
        if not finished:
            progress.redraw()
    return failed
