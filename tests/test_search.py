"""fastscratch search: draws, split, trials.jsonl, and the search on Dask clusters started here.

Every cluster test starts its own scheduler and workers on 127.0.0.1 and stops
them; they are marked slow (worker start-up and kernel loading dominate).
"""
import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from fastscratch import search
from fastscratch.__main__ import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_DASK = all(__import__("importlib").util.find_spec(m) is not None for m in ("dask", "distributed"))
needs_dask = pytest.mark.skipif(not HAS_DASK, reason="dask and distributed are not installed "
                                                     "(pip install -e '.[dist]')")
# the command, and the keys that must agree on any cluster
COMMAND = ["search", "--net", "multi_layer", "--subset", "600", "--epochs", "2", "--seed", "1"]
HAS_MPL = __import__("importlib").util.find_spec("matplotlib") is not None


def _longer(epochs):
    """The issue's command with more epochs: trials long enough to kill something inside one."""
    return COMMAND[:6] + [str(epochs)] + COMMAND[7:]
RESULT_KEYS = ("trial", "lr", "weight_decay", "val_acc", "train_acc", "val_acc_list", "train_acc_list")
TIMEOUT = 240


def _lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def _results(records):
    return {r["trial"]: {k: r[k] for k in RESULT_KEYS} for r in records}


def _env():
    return dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))


# --- without a cluster --------------------------------------------------------------------------

def test_draws_depend_only_on_seed_and_trial():
    spec = search.SearchSpec(trials=6, seed=1)
    other = search.SearchSpec(trials=8, seed=1, epochs=3, subset=900)
    assert [search.sample_trial(spec, i) for i in range(6)] == [search.sample_trial(other, i) for i in range(6)]
    draws = [search.sample_trial(search.SearchSpec(seed=1), i) for i in range(200)]
    assert len({d["train_seed"] for d in draws}) == 200
    lrs = np.array([d["lr"] for d in draws])
    wds = np.array([d["weight_decay"] for d in draws])
    assert lrs.min() >= 1e-6 and lrs.max() <= 1e-2 and wds.min() >= 1e-8 and wds.max() <= 1e-4
    # log-uniform: log10 spreads over the whole range, not bunched at the top as a uniform draw would
    assert np.mean(np.log10(lrs) < -4) == pytest.approx(0.5, abs=0.15)
    assert search.sample_trial(search.SearchSpec(seed=2), 0) != draws[0]
    narrow = search.SearchSpec(lr_range=(1e-3, 1e-3), weight_decay_range=(2e-5, 4e-5))
    d = search.sample_trial(narrow, 5)
    assert d["lr"] == pytest.approx(1e-3) and 2e-5 <= d["weight_decay"] <= 4e-5


def test_validation_split_is_a_shuffled_fifth_of_the_subset(mnist):
    (x, t), _ = mnist
    x_tr, t_tr, x_val, t_val = search._split(600, 1)
    assert len(x_val) == 120 and len(x_tr) == 480
    rows = {r.tobytes(): i for i, r in enumerate(x[:600])}
    taken = [rows[r.tobytes()] for r in np.concatenate([x_val, x_tr])]
    assert sorted(taken) == list(range(600))  # every image of the subset exactly once
    assert taken[:120] != list(range(120))    # shuffled first
    assert np.array_equal(np.concatenate([t_val, t_tr]), t[:600][taken])
    assert not np.array_equal(search._split(600, 2)[2], x_val)


def test_trial_runs_without_dask_and_repeats():
    spec = search.SearchSpec(subset=300, epochs=2, seed=3)
    trial = search.sample_trial(spec, 0)
    a, b = search.run_trial(spec, trial), search.run_trial(spec, trial)
    assert set(search.RECORD_KEYS) <= set(a)
    assert {k: a[k] for k in RESULT_KEYS} == {k: b[k] for k in RESULT_KEYS}
    assert 0.0 <= a["val_acc"] <= 1.0 and a["seconds"] >= 0


def test_truncated_last_line_is_dropped_and_a_damaged_one_refused(tmp_path):
    path = tmp_path / "trials.jsonl"
    good = json.dumps({"trial": 0, "val_acc": 0.5}) + "\n" + json.dumps({"trial": 2, "val_acc": 0.25}) + "\n"
    path.write_text(good + '{"trial": 1, "val_a')
    assert sorted(search.read_trials(str(path))) == [0, 2]
    assert path.read_text() == good  # cut back so the next append starts a fresh line
    path.write_text(good + json.dumps({"trial": 1, "val_acc": 0.1}))  # complete JSON, no newline: torn
    assert sorted(search.read_trials(str(path))) == [0, 2]
    path.write_text('{"trial": 0, "val_a\n' + good)
    with pytest.raises(search.SearchError, match="line 1 is not a trial record"):
        search.read_trials(str(path))


@pytest.mark.parametrize("kwargs, match", [
    ({"net": "resnet"}, "net must be one of"),
    ({"trials": 0}, "trials must be a positive int"),
    ({"subset": 4}, "subset must be between 5 and 60000"),
    ({"seed": -1}, "seed must be an int >= 0"),
    ({"optimizer": "lbfgs"}, "optimizer must be one of"),
    ({"lr_range": (1e-2, 1e-6)}, "lr_range must be"),
    ({"weight_decay_range": (0, 1e-4)}, "weight_decay_range must be"),
])
def test_bad_settings(kwargs, match):
    with pytest.raises(search.SearchError, match=match):
        search.SearchSpec(**kwargs)


def test_other_settings_in_the_directory_are_refused(tmp_path, capsys):
    (tmp_path / "search.json").write_text(json.dumps(search.SearchSpec(subset=600, epochs=2, seed=5).settings()))
    status = main(COMMAND + ["--trials", "2", "--out", str(tmp_path)])
    err = capsys.readouterr().err
    assert status == 2 and "holds a search with other settings: seed 5 (now 1)" in err
    assert sorted(os.listdir(tmp_path)) == ["search.json"]


def test_without_dask_one_line_and_exit_2(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # find_spec then reports it missing
    status = main(COMMAND + ["--trials", "2", "--out", str(tmp_path / "s")])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err == search.INSTALL_HINT + "\n"
    assert "pip install -e '.[dist]'" in captured.err
    assert not (tmp_path / "s").exists()


# --- on clusters ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def local_run(tmp_path_factory):
    """The issue's 6-trial search on a LocalCluster of 2 workers (in this process)."""
    if not HAS_DASK:
        pytest.skip("dask and distributed are not installed")
    out = tmp_path_factory.mktemp("local")
    import contextlib
    import io
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        status = main(COMMAND + ["--trials", "6", "--workers", "2", "--out", str(out)])
    return status, out, text.getvalue()


@needs_dask
@pytest.mark.slow
def test_local_cluster_writes_six_trials_and_the_best(local_run):
    status, out, text = local_run
    assert status == 0, text
    records = _lines(out / "trials.jsonl")
    assert sorted(r["trial"] for r in records) == list(range(6))
    spec = search.SearchSpec(trials=6, subset=600, epochs=2, seed=1)
    for r in records:
        assert set(search.RECORD_KEYS) <= set(r)
        draw = search.sample_trial(spec, r["trial"])
        assert (r["lr"], r["weight_decay"]) == (draw["lr"], draw["weight_decay"])
        assert r["worker"].startswith("tcp://127.0.0.1:")
    top = max(r["val_acc"] for r in records)
    expected = min((r for r in records if r["val_acc"] == top), key=lambda r: r["trial"])
    best = json.loads((out / "best.json").read_text())
    assert best == {k: expected[k] for k in search.RECORD_KEYS}
    assert "search: 6/6 done, 0 running, 0 failed, ETA 0:00" in text
    # a worker's trial is this process's trial: nothing depends on where it ran
    assert _results([search.run_trial(spec, search.sample_trial(spec, 4))])[4] == _results(records)[4]
    if HAS_MPL:
        assert (out / "search.png").stat().st_size > 0


def _start(cmd, **kw):
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(),
                            start_new_session=True, **kw)


def _stop(proc):
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def dask_cluster(tmp_path_factory):
    """`dask scheduler` and two `dask worker --nthreads 1` processes on 127.0.0.1: (address, workers)."""
    if not HAS_DASK:
        pytest.skip("dask and distributed are not installed")
    dask_cli = os.path.join(os.path.dirname(sys.executable), "dask")
    if not os.path.exists(dask_cli):
        pytest.skip(f"the dask command is not beside {sys.executable}")
    from distributed import Client
    scheduler_file = str(tmp_path_factory.mktemp("dask") / "scheduler.json")
    procs = [_start([dask_cli, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                     "--scheduler-file", scheduler_file])]
    try:
        deadline = time.monotonic() + 60
        while not os.path.exists(scheduler_file):
            assert time.monotonic() < deadline and procs[0].poll() is None, "the scheduler did not start"
            time.sleep(0.1)
        workers = [_start([dask_cli, "worker", "--scheduler-file", scheduler_file, "--nthreads", "1",
                           "--host", "127.0.0.1", "--no-dashboard"]) for _ in range(2)]
        procs += workers
        with Client(scheduler_file=scheduler_file, timeout="30s") as client:
            client.wait_for_workers(2, timeout=90)
            address = client.scheduler.address
        yield address, workers, scheduler_file
    finally:
        for proc in reversed(procs):
            _stop(proc)


@needs_dask
@pytest.mark.slow
def test_existing_scheduler_gives_the_same_trials(local_run, dask_cluster, tmp_path):
    address, _, _ = dask_cluster
    status = main(COMMAND + ["--trials", "6", "--scheduler", address, "--out", str(tmp_path)])
    assert status == 0
    records = _lines(tmp_path / "trials.jsonl")
    assert _results(records) == _results(_lines(local_run[1] / "trials.jsonl"))
    assert json.loads((tmp_path / "best.json").read_text())["trial"] == \
        json.loads((local_run[1] / "best.json").read_text())["trial"]


@needs_dask
@pytest.mark.slow
def test_a_worker_killed_mid_search_costs_only_its_trial(local_run, dask_cluster, tmp_path):
    # runs last on this cluster: it leaves one worker
    address, workers, scheduler_file = dask_cluster
    from distributed import Client
    trials = tmp_path / "trials.jsonl"
    # the other worker is inside a trial when the first one ends
    proc = subprocess.Popen([sys.executable, "-m", "fastscratch"] + _longer(10) +
                            ["--trials", "8", "--scheduler", address, "--out", str(tmp_path)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env())
    try:
        with Client(scheduler_file=scheduler_file, timeout="30s") as client:
            deadline = time.monotonic() + TIMEOUT
            while not (trials.exists() and trials.read_text().count("\n") >= 1):
                assert time.monotonic() < deadline and proc.poll() is None, proc.stdout.read()
                time.sleep(0.02)
            busy = {addr: keys for addr, keys in client.processing().items() if keys}
            assert busy, "no trial was running after the first finished"
            victim = min(busy)
            pgid = os.getpgid(client.run(os.getpid, workers=[victim])[victim])
            victim_proc = next(w for w in workers if w.pid == pgid)
            os.killpg(pgid, signal.SIGKILL)
            victim_proc.wait(timeout=30)
            in_flight = {int(key.split("-")[2]) for key in busy[victim]}
            written_before = {r["trial"] for r in _lines(trials)}
        output, _ = proc.communicate(timeout=TIMEOUT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, output
    records = _lines(trials)
    assert sorted(r["trial"] for r in records) == list(range(8))
    # the dead worker finished nothing after its death: every other trial ran on the one left
    on_victim = {r["trial"] for r in records if r["worker"] == victim}
    assert on_victim <= written_before | in_flight, (on_victim, written_before, in_flight)
    assert "8/8 done, 0 running, 0 failed" in output


@needs_dask
@pytest.mark.slow
def test_a_killed_search_continues_and_never_reruns_a_trial(tmp_path):
    args = _longer(20) + ["--trials", "8", "--workers", "2", "--out", str(tmp_path)]
    trials = tmp_path / "trials.jsonl"
    proc = _start([sys.executable, "-m", "fastscratch"] + args)
    try:
        deadline = time.monotonic() + TIMEOUT
        while not (trials.exists() and trials.read_bytes().count(b"\n") >= 3):
            assert time.monotonic() < deadline and proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.01)
        os.killpg(proc.pid, signal.SIGKILL)  # the search and its LocalCluster's processes
        proc.wait(timeout=30)
    finally:
        _stop(proc)
    killed = trials.read_bytes()
    first3 = b"".join(killed.splitlines(keepends=True)[:3])
    assert killed.count(b"\n") < 8, "the search finished before it could be killed"
    assert main(args) == 0
    again = trials.read_bytes()
    assert again.startswith(first3)
    records = _lines(trials)
    assert sorted(r["trial"] for r in records) == list(range(8))  # each exactly once


class _Terminal:
    def __init__(self):
        self.text = ""

    def isatty(self):
        return True

    def write(self, text):
        self.text += text

    def flush(self):
        pass


def test_progress_on_a_terminal_redraws_one_status_line():
    term = _Terminal()
    progress = search.SearchProgress(4, 1, term)
    progress.running = 2
    progress.redraw()
    assert term.text == "\r\033[Ksearch: 1/4 done, 2 running, 0 failed, ETA ?"
    progress.done, progress.failed = 3, 1
    progress.line("trial 2: val acc 0.5000")
    assert term.text.endswith("\r\033[Ktrial 2: val acc 0.5000\nsearch: 3/4 done, 2 running, 1 failed, ETA 0:00")
    progress.close()
    assert term.text.endswith("\n")


_REAL_RUN_TRIAL = search.run_trial
_CALLS = []


def _flaky(spec, trial):
    # module-level, so the in-process worker gets it by reference (with _CALLS shared)
    _CALLS.append(trial["trial"])
    if trial["trial"] == 2:
        raise RuntimeError("trial 2 cannot train")
    return _REAL_RUN_TRIAL(spec, trial)


@needs_dask
@pytest.mark.slow
def test_a_failing_trial_is_retried_then_reported_and_run_by_the_next_search(tmp_path, monkeypatch):
    from distributed import Client, LocalCluster
    spec = search.SearchSpec(trials=4, subset=300, epochs=1, seed=4)
    calls = _CALLS
    calls.clear()
    real = _REAL_RUN_TRIAL
    monkeypatch.setattr(search, "run_trial", _flaky)
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, protocol="tcp://", host="127.0.0.1",
                      dashboard_address="127.0.0.1:0") as cluster, Client(cluster) as client:
        result = search.run_search(spec, str(tmp_path), client=client, stream=_Terminal())
        assert result.failed == [2] and calls.count(2) == 1 + search.RETRIES
        assert sorted(r["trial"] for r in result.records) == [0, 1, 3]
        monkeypatch.setattr(search, "run_trial", real)
        again = search.run_search(spec, str(tmp_path), client=client, stream=_Terminal())
    assert again.failed == [] and sorted(r["trial"] for r in again.records) == [0, 1, 2, 3]
    assert [r["trial"] for r in _lines(tmp_path / "trials.jsonl")].count(2) == 1
