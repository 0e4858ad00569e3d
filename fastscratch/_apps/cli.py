"""The ``fastscratch`` command: run, train, search, bench, info, warmup.

``build_parser()`` defines the subcommands; each sets ``func`` to the function
that carries it out and returns the exit status. Usage errors give one line on
stderr and exit status 2.
"""
import argparse
import os
import signal
import sys
import tempfile
import time

NETS = ("two_layer", "multi_layer", "simple_convnet", "deep_convnet")
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")
DTYPES = ("float64", "float32")  # the dtypes the kernels are compiled for; float64 is the book's
REFERENCE_TIMED_STEPS = 4   # reference steps timed for the speed comparison, after one warm-up


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        # one line, not argparse's usage block: the message says what to fix
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive(kind):
    def check(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"must be a positive {kind.__name__}; got {text!r}") from None
        if not value > 0 or value != value or value == float("inf"):
            raise argparse.ArgumentTypeError(f"must be a positive {kind.__name__}; got {text!r}")
        return value
    check.__name__ = f"positive {kind.__name__}"
    return check


def build_parser():
    """The argparse parser of the ``fastscratch`` command, with its subcommands."""
    parser = _Parser(prog="fastscratch",
                     description="Deep Learning from Scratch's layers on Numba kernels.")
    parser.add_argument("--version", action="version", version=f"fastscratch {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    _add_run_parser(sub)
    _add_train_parser(sub)
    _add_search_parser(sub)
    _add_tool_parsers(sub)
    return parser


def _add_run_parser(sub):
    """``fastscratch run``: a book script or a notebook, unmodified."""
    run = sub.add_parser("run", help="run a script written for the book on fastscratch",
                         description="Run SCRIPT.py unmodified with the book's common.* and "
                                     "dataset.* answered by fastscratch.")
    mode = run.add_mutually_exclusive_group()
    mode.add_argument("--reference", action="store_true",
                      help="answer common.* with fastscratch.reference (the NumPy code)")
    mode.add_argument("--compare", action="store_true",
                      help="run on fastscratch and on the reference, each in a fresh process, "
                           "and print both wall times")
    run.add_argument("--no-substitute", dest="substitute", action="store_false",
                     help="run the book's own network files beside the script (two_layer_net.py, "
                          "simple_convnet.py, deep_convnet.py) as written instead of answering "
                          "their classes with fastscratch's (also: FASTSCRATCH_SUBSTITUTE=0)")
    run.add_argument("--no-compat", dest="compat", action="store_false",
                     help="leave NumPy's removed aliases of the builtins (np.int, np.float, ...) "
                          "removed instead of answering them as NumPy before 1.24 did "
                          "(also: FASTSCRATCH_COMPAT=0)")
    run.add_argument("--output", metavar="EXECUTED.ipynb", default=None,
                     help="notebooks: write the executed notebook, with its outputs, there")
    run.add_argument("--allow-errors", action="store_true",
                     help="notebooks: record a failing cell's error in its outputs and go on")
    run.add_argument("script", help="the script, e.g. path/to/book/ch07/train_convnet.py, "
                                    "or a notebook (.ipynb), run in a Jupyter kernel")
    run.add_argument("script_args", nargs=argparse.REMAINDER, help="arguments passed to the script")
    run.set_defaults(func=_with_compile_notice(cmd_run))


def _add_train_parser(sub):
    """``fastscratch train``: a network of the book on the bundled MNIST, with checkpoints."""
    train = sub.add_parser("train", help="train a network of the book on the bundled MNIST",
                           description="Train on the bundled MNIST, print test accuracy per epoch, "
                                       "save params.pkl / params.npz (and curves.png) in --out.")
    train.add_argument("--net", choices=NETS, default="simple_convnet")
    train.add_argument("--epochs", type=_positive(int), default=1)
    train.add_argument("--batch-size", type=_positive(int), default=100)
    train.add_argument("--optimizer", type=str.lower, choices=OPTIMIZERS, default="adam")
    train.add_argument("--lr", type=_positive(float), default=0.001)
    train.add_argument("--subset", type=_positive(int), default=None,
                       help="train on the first N training images (and test on the first N "
                            "test images, at most 10000)")
    train.add_argument("--seed", type=int, default=None, help="seed NumPy's global generator")
    train.add_argument("--out", default="fastscratch-run", help="output directory (default %(default)s)")
    train.add_argument("--reference", action="store_true", help="train with fastscratch.reference")
    train.add_argument("--resume", metavar="DIR", default=None,
                       help="continue the run whose --out was DIR from its last checkpoint, "
                            "with that run's settings; with --epochs N above its epochs, "
                            "go on to N epochs (a finished run too)")
    train.add_argument("--checkpoint-every", metavar="STEPS", type=_positive(int), default=None,
                       help="also checkpoint every STEPS steps (always: at the end of each epoch)")
    train.add_argument("--dtype", choices=DTYPES, default="float64",
                       help="dtype of the network's parameters and computation; the saved "
                            "parameters have it too (default %(default)s, the book's)")
    train.set_defaults(func=_with_compile_notice(cmd_train), parser=train)


def _add_tool_parsers(sub):
    """``fastscratch bench``, ``info`` and ``warmup``: timing, the installation, the compile cache."""
    bench = sub.add_parser("bench", help="time the hot paths: reference vs kernels",
                           description="Time each hot path for the reference and the kernels "
                                       "(after a warm-up call) and print the speedups.")
    bench.add_argument("--quick", action="store_true", help="fewer repeats, smaller shapes")
    bench.add_argument("--torch", action="store_true",
                       help="add PyTorch CPU columns (in --dtype) when torch is importable")
    bench.add_argument("--dtype", choices=DTYPES, default="float64",
                       help="dtype of every input and parameter timed (default %(default)s)")
    bench.set_defaults(func=cmd_bench)

    info = sub.add_parser("info", help="versions, threads, BLAS, cache directory, CPU SIMD level")
    info.set_defaults(func=cmd_info)

    warmup = sub.add_parser("warmup", help="compile every kernel ahead of time into Numba's cache",
                            description="Compile every kernel, in float64 and float32, into Numba's "
                                        "on-disk cache, on every core, so that later runs start warm "
                                        "(for Colab cells, classroom images and Docker builds).")
    warmup.add_argument("--jobs", type=_positive(int), default=None,
                        help="processes compiling at once (default: the cores this process may use)")
    warmup.add_argument("--dtype", choices=list(DTYPES) + ["both"], default="both",
                        help="the dtype to compile for (default %(default)s)")
    warmup.set_defaults(func=cmd_warmup)


def _version():
    from fastscratch import __version__
    return __version__


# --- run ------------------------------------------------------------------------------------

def cmd_run(args):
    from fastscratch._substitution import runner
    if args.script.endswith(".ipynb"):
        return _run_notebook(args)
    if args.output is not None or args.allow_errors:
        print("fastscratch run: error: --output and --allow-errors are for notebooks (.ipynb)", file=sys.stderr)
        return 2
    if args.compare:
        return runner.compare(args.script, args.script_args, substitute=args.substitute,
                              compat=args.compat)
    return runner.run_script(args.script, args.script_args, reference=args.reference,
                             substitute=args.substitute, compat=args.compat)


def _run_notebook(args):
    # Options may follow the notebook's path (a notebook takes no arguments of its own).
    late = _Parser(prog="fastscratch run NOTEBOOK.ipynb")
    late.add_argument("--reference", action="store_true", default=args.reference)
    late.add_argument("--compare", action="store_true", default=args.compare)
    late.add_argument("--no-substitute", dest="substitute", action="store_false", default=args.substitute)
    late.add_argument("--no-compat", dest="compat", action="store_false", default=args.compat)
    late.add_argument("--output", default=args.output)
    late.add_argument("--allow-errors", action="store_true", default=args.allow_errors)
    opts = late.parse_args(args.script_args)
    if opts.reference and opts.compare:
        late.error("--reference and --compare exclude each other")
    if opts.compare and opts.output is not None:
        late.error("--compare runs the notebook twice: it takes no --output")
    from fastscratch._apps import notebook_run as _notebook_run
    settings = dict(substitute=opts.substitute, compat=opts.compat, allow_errors=opts.allow_errors)
    if opts.compare:
        return _notebook_run.compare(args.script, **settings)
    return _notebook_run.run_notebook(args.script, reference=opts.reference, output=opts.output, **settings)


def _with_compile_notice(command):
    """command, saying once on stderr when its first run spends seconds compiling kernels."""
    def run(args):
        if not getattr(args, "reference", False):
            from fastscratch._runtime import compile_notice as _compile_notice
            _compile_notice.start()
        return command(args)
    return run


# --- train ----------------------------------------------------------------------------------

def build_network(api, name, dtype="float64"):
    """A network of the book by its CLI name, on api (fastscratch or fastscratch.reference), in dtype."""
    if name == "two_layer":
        return api.TwoLayerNet(input_size=784, hidden_size=100, output_size=10, dtype=dtype)
    if name == "multi_layer":
        return api.MultiLayerNet(input_size=784, hidden_size_list=[100, 100, 100], output_size=10,
                                 dtype=dtype)
    if name == "simple_convnet":
        return api.SimpleConvNet(dtype=dtype)
    if name == "deep_convnet":
        return api.DeepConvNet(dtype=dtype)
    raise ValueError(f"net must be one of {NETS}; got {name!r}")


def _check_writable(directory):
    """Create directory if needed and prove a file can be written there; OSError otherwise."""
    os.makedirs(directory, exist_ok=True)
    with tempfile.TemporaryFile(dir=directory):
        pass


class _StopOnInterrupt:
    """The first Ctrl-C asks the loop to stop after the current step; a second one aborts."""

    def __init__(self):
        self.requested = False

    def __enter__(self):
        self._old = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\ninterrupted: stopping after this step (Ctrl-C again to abort)", file=sys.stderr, flush=True)

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._old)
        return False


def _save_curves(path, losses, epoch_acc):
    """Plot the loss per step and the test accuracy per epoch into path; False without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    import numpy as np
    fig = Figure(figsize=(9, 3.5))
    FigureCanvasAgg(fig)
    ax_loss, ax_acc = fig.subplots(1, 2)
    losses = np.asarray(losses, dtype=float)
    ax_loss.plot(losses, lw=0.5, alpha=0.5, label="per step")
    if losses.size >= 20:
        window = max(losses.size // 50, 5)
        smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
        ax_loss.plot(np.arange(window - 1, losses.size), smooth, label=f"mean of {window}")
    ax_loss.set(xlabel="step", ylabel="training loss", title="loss")
    ax_loss.legend()
    ax_acc.plot(np.arange(1, len(epoch_acc) + 1), epoch_acc, marker="o")
    ax_acc.set_xticks(np.arange(1, len(epoch_acc) + 1))
    ax_acc.set(xlabel="epoch", ylabel="test accuracy", title="test accuracy", ylim=(0, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return True


def reference_steps_per_second(net_name, x, t, batch_size, optimizer, lr, steps=REFERENCE_TIMED_STEPS,
                               dtype="float64"):
    """Steps/s of the reference Trainer on the same net, batch size and dtype: one warm-up step, then `steps` timed.

    Returns (steps per second, CPU seconds, wall seconds) of the timed steps.
    """
    from fastscratch import reference
    net = build_network(reference, net_name, dtype)
    trainer = reference.Trainer(net, x, t, x[:batch_size], t[:batch_size], epochs=steps + 1,
                                mini_batch_size=batch_size, optimizer=optimizer,
                                optimizer_param={"lr": lr}, evaluate_sample_num_per_epoch=batch_size,
                                verbose=False)
    trainer.train_step()  # the book's trainer evaluates at the first step: keep that out of the timing
    start, cpu_start = time.perf_counter(), time.process_time()
    for _ in range(steps):
        trainer.train_step()
    wall = time.perf_counter() - start
    return steps / wall, time.process_time() - cpu_start, wall


#: train options that are not settings of the run (a resumed run may change them)
_NOT_SETTINGS = ("command", "func", "parser", "resume", "checkpoint_every", "out")
#: what a run leaves in --out besides its checkpoint (curves.png only with matplotlib)
_RUN_FILES = ("params.pkl", "params.npz", "history.json", "curves.png")


def _error(message):
    print(f"fastscratch train: error: {message}", file=sys.stderr)
    return 2


def _resume_settings(args):
    """Load args.resume's checkpoint and take its settings into args; (checkpoint, None) or (None, error)."""
    from fastscratch._apps import checkpoint
    parser = args.parser
    if args.out != parser.get_default("out") and os.path.abspath(args.out) != os.path.abspath(args.resume):
        return None, f"--out {args.out!r} differs from --resume {args.resume!r}; give only --resume"
    try:
        ckpt = checkpoint.load(args.resume)
        given = {k: v for k, v in vars(args).items() if k not in _NOT_SETTINGS + ("epochs",)}
        merged = checkpoint.merge_settings(given, {k: parser.get_default(k) for k in given}, ckpt.config)
        merged["epochs"] = _resumed_epochs(args.epochs, parser.get_default("epochs"), ckpt)
    except checkpoint.CheckpointError as exc:
        return None, str(exc)
    vars(args).update(merged, out=args.resume)
    return ckpt, None


def _resumed_epochs(given, default, ckpt):
    """The epochs of a resumed run: the checkpoint's, or given where it asks for more (the run goes on to them)."""
    from fastscratch._apps import checkpoint
    saved = ckpt.config.get("epochs")
    if not isinstance(saved, int):
        return given  # set_state finds out whether the run fits
    if given > saved:
        return given
    if given in (default, saved) or ckpt.complete:  # fewer than a finished run did: it stays complete
        return saved
    raise checkpoint.CheckpointError(f"--resume continues the run to its {saved} epochs, or to more with "
                                     f"--epochs N > {saved}; leave out --epochs {given}")


def _report_complete(directory, epochs, steps, accuracy=None):
    """Say that the run in directory is complete and which of its files are there; exit status 0."""
    files = [name for name in _RUN_FILES if os.path.exists(os.path.join(directory, name))]
    acc = f", test accuracy {accuracy:.4f}" if isinstance(accuracy, (int, float)) else ""
    print(f"run complete: {epochs} epoch(s), {steps} steps{acc}; files in {directory}: {', '.join(files)}")
    print(f"(fastscratch train --resume {directory} --epochs N, N > {epochs}, trains it on to N epochs)")
    return 0


def _finished_without_checkpoint(args):
    """Exit status for --resume of a run that finished before finished runs kept a checkpoint; None otherwise."""
    from fastscratch._apps import checkpoint
    history = checkpoint.finished_history(args.resume)
    if history is None:
        return None
    epochs = history["epoch"]
    if args.epochs > epochs:
        return _error(f"the run in {args.resume!r} is complete and left no checkpoint to train on from "
                      f"(fastscratch kept none of a finished run then); train a new run with --epochs "
                      f"{args.epochs}")
    return _report_complete(args.resume, epochs, history["iteration"])


def _load_data(args):
    """The MNIST arrays of the run: ((x_train, t_train), (x_test, t_test)), --subset applied."""
    from fastscratch.dataset.mnist import load_mnist
    (x_train, t_train), (x_test, t_test) = load_mnist(flatten=args.net in ("two_layer", "multi_layer"))
    if args.subset is not None:
        x_train, t_train = x_train[:args.subset], t_train[:args.subset]
        x_test, t_test = x_test[:args.subset], t_test[:args.subset]
    return (x_train, t_train), (x_test, t_test)


def _make_trainer(args, api, train, test):
    """(network, Trainer) of the run on api, writing its per-epoch files to args.out."""
    network = build_network(api, args.net, args.dtype)
    trainer = api.Trainer(network, *train, *test, epochs=args.epochs,
                          mini_batch_size=args.batch_size, optimizer=args.optimizer,
                          optimizer_param={"lr": args.lr},
                          evaluate_sample_num_per_epoch=min(1000, len(test[0])),
                          verbose=False).monitor(progress=True, checkpoint_dir=args.out)
    return network, trainer


def _train_steps(args, trainer, network, test, settings, epoch_acc):
    """Run the remaining steps (until done or Ctrl-C), printing each epoch's test accuracy and checkpointing.

    Returns the (wall seconds, CPU seconds) lists of the steps run, one entry per step.
    epoch_acc grows in place.
    """
    from fastscratch._apps import checkpoint
    x_test, t_test = test
    step_times, step_cpu = [], []
    with _StopOnInterrupt() as stop:
        for _ in range(trainer.max_iter - trainer.current_iter):
            start, cpu_start = time.perf_counter(), time.process_time()
            trainer.train_step()
            step_times.append(time.perf_counter() - start)
            step_cpu.append(time.process_time() - cpu_start)
            epoch_end = trainer.completed_epochs > len(epoch_acc)
            if epoch_end:
                acc = float(network.accuracy(x_test, t_test))
                epoch_acc.append(acc)
                trainer.progress_bar.write(f"epoch {len(epoch_acc)}/{args.epochs}: "
                                           f"test accuracy {acc:.4f} ({len(x_test)} images)")
            every = args.checkpoint_every
            if (epoch_end or stop.requested or (every and trainer.current_iter % every == 0)) \
                    and trainer.current_iter < trainer.max_iter:
                checkpoint.save(args.out, trainer, settings, {"epoch_acc": epoch_acc})
            if stop.requested:
                break
    trainer.close_progress()
    return step_times, step_cpu


def _save_results(args, trainer, network, settings, epoch_acc):
    """Write the run's files; print what was saved. Returns 130 for a run stopped early, else 0."""
    from fastscratch._apps import checkpoint
    from fastscratch.reference import params_io
    pkl, npz, history = (os.path.join(args.out, name) for name in _RUN_FILES[:3])
    trainer.save_checkpoint()  # params.pkl and history.json of the last step done
    params_io.save_params(network.params, npz)
    if trainer.current_iter < trainer.max_iter:
        print(f"continue with: fastscratch train --resume {args.out}", file=sys.stderr)
        print(f"interrupted after step {trainer.current_iter}/{trainer.max_iter}: "
              f"saved {pkl}, {history}, {npz}", file=sys.stderr)
        return 130
    # the final state, before anything else draws from the global generator: --resume with
    # more epochs continues from it exactly as a run started with them
    final = checkpoint.save(args.out, trainer, settings, {"epoch_acc": epoch_acc})
    saved = [pkl, history, npz]
    png = os.path.join(args.out, _RUN_FILES[3])
    if _save_curves(png, trainer.train_loss_list, epoch_acc):
        saved.append(png)
    print(f"test accuracy: {epoch_acc[-1]:.4f}")
    print("saved " + ", ".join(saved + [final]))
    return 0


def _report_speed(args, impl, train, times):
    """Print the steady-state steps/s, and the reference's on the same work unless this is the reference."""
    from fastscratch._apps import sysinfo
    step_times, step_cpu = times
    # Steady-state speed: the first step includes JIT compilation (or loading the cache).
    steady = step_times[1:] or step_times
    speed = len(steady) / sum(steady)
    line = f"speed: {speed:.2f} steps/s ({impl}, batch {args.batch_size}, steps after the first)"
    notes = [sysinfo.busy_note(sum(step_cpu[1:] or step_cpu), sum(steady))]
    if not args.reference:
        ref, ref_cpu, ref_wall = reference_steps_per_second(args.net, *train, args.batch_size,
                                                            args.optimizer, args.lr, dtype=args.dtype)
        line += (f"; reference {ref:.2f} steps/s ({REFERENCE_TIMED_STEPS} steps timed): "
                 f"speedup {speed / ref:.1f}x")
        notes.append(sysinfo.busy_note(ref_cpu, ref_wall))
    # a busy machine makes the ratio meaningless (e.g. a "speedup" below 1): say so beside it
    note = next((n for n in notes if n), "")
    print(line + (f" ({note}; the figures are unreliable)" if note else ""))


def cmd_train(args):
    import numpy as np

    from fastscratch._apps import checkpoint

    ckpt = None
    if args.resume is not None:
        finished = _finished_without_checkpoint(args)
        if finished is not None:
            return finished
        ckpt, error = _resume_settings(args)
        if error:
            return _error(error)
        if ckpt.complete and args.epochs == ckpt.config.get("epochs"):  # no more epochs asked for
            acc = ckpt.extra.get("epoch_acc")
            return _report_complete(args.out, args.epochs, ckpt.iteration,
                                    acc[-1] if isinstance(acc, list) and acc else None)
    try:
        _check_writable(args.out)
    except OSError as exc:
        args.parser.error(f"--out {args.out!r} is not writable: {exc.strerror or exc}")
    if ckpt is None:  # a new run in --out: an earlier run's state there is not this one's to resume
        checkpoint.remove(args.out)

    if args.reference:
        from fastscratch import reference as api
        impl = "reference (NumPy)"
    else:
        import fastscratch as api
        impl = "fastscratch kernels"
    if args.seed is not None:
        np.random.seed(args.seed)
    train, test = _load_data(args)
    network, trainer = _make_trainer(args, api, train, test)
    settings = {k: v for k, v in vars(args).items() if k not in _NOT_SETTINGS}
    epoch_acc = []
    if ckpt is not None:
        try:
            checkpoint.restore(trainer, ckpt)
        except checkpoint.CheckpointError as exc:
            return _error(exc)
        epoch_acc = [float(a) for a in ckpt.extra.get("epoch_acc", [])][:trainer.completed_epochs]
    print(f"fastscratch train: {args.net} on {len(train[0])} MNIST images ({impl}), "
          f"{args.epochs} epoch(s) of {trainer.max_iter // args.epochs} steps, batch {args.batch_size}, "
          f"{args.optimizer} lr {args.lr}, {args.dtype}", flush=True)
    if ckpt is not None:
        print(f"resuming from {ckpt.path} at step {trainer.current_iter}/{trainer.max_iter}", flush=True)
    times = _train_steps(args, trainer, network, test, settings, epoch_acc)
    status = _save_results(args, trainer, network, settings, epoch_acc)
    if status == 0 and times[0]:
        _report_speed(args, impl, train, times)
    return status


# --- search ---------------------------------------------------------------------------------

def _add_search_parser(sub):
    from fastscratch.search import NETWORKS, SearchSpec
    d = SearchSpec()
    search = sub.add_parser(
        "search", help="random search of lr and weight decay on a Dask cluster (the book's ch06)",
        description="Train one network per trial with lr and weight decay drawn log-uniformly; "
                    "trials run on Dask workers. DIR/trials.jsonl gets a line per finished trial; "
                    "the same command on the same DIR continues the search.")
    search.add_argument("--net", choices=sorted(NETWORKS), default=d.net,
                        help="multi_layer: the book's 784-100x6-10 MultiLayerNet")
    search.add_argument("--trials", type=_positive(int), default=d.trials)
    search.add_argument("--subset", type=_positive(int), default=d.subset,
                        help="the first N training images; 20%% of them (shuffled) validate")
    search.add_argument("--epochs", type=_positive(int), default=d.epochs)
    search.add_argument("--batch-size", type=_positive(int), default=d.batch_size)
    search.add_argument("--optimizer", type=str.lower, choices=OPTIMIZERS, default=d.optimizer)
    search.add_argument("--seed", type=int, default=d.seed,
                        help="with the trial number, fixes each trial's draws (default %(default)s)")
    search.add_argument("--lr-range", nargs=2, type=_positive(float), metavar=("LOW", "HIGH"),
                        default=list(d.lr_range))
    search.add_argument("--weight-decay-range", nargs=2, type=_positive(float), metavar=("LOW", "HIGH"),
                        default=list(d.weight_decay_range))
    search.add_argument("--out", default="fastscratch-search", help="output directory (default %(default)s)")
    where = search.add_mutually_exclusive_group()
    where.add_argument("--workers", type=_positive(int), default=None,
                       help="start a local Dask cluster of N single-threaded worker processes "
                            "(default: one per core)")
    where.add_argument("--scheduler", metavar="ADDRESS", default=None,
                       help="use an existing Dask scheduler, e.g. tcp://host:8786")
    search.set_defaults(func=cmd_search, parser=search)


def cmd_search(args):
    import importlib.util

    from fastscratch import search
    if importlib.util.find_spec("distributed") is None:
        print(search.INSTALL_HINT, file=sys.stderr)
        return 2
    try:
        spec = search.SearchSpec(net=args.net, trials=args.trials, subset=args.subset, epochs=args.epochs,
                                 batch_size=args.batch_size, optimizer=args.optimizer, seed=args.seed,
                                 lr_range=tuple(args.lr_range),
                                 weight_decay_range=tuple(args.weight_decay_range))
        _check_writable(args.out)
        print(f"fastscratch search: {spec.trials} trials of {spec.net} on {spec.subset} MNIST images "
              f"(20% validating), {spec.epochs} epoch(s), batch {spec.batch_size}, {spec.optimizer}, "
              f"seed {spec.seed}; results in {args.out}", flush=True)
        result = search.run_search(spec, args.out, workers=args.workers, scheduler=args.scheduler)
    except search.SearchError as exc:
        print(f"fastscratch search: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"fastscratch search: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted: the finished trials are in trials.jsonl; the same command continues",
              file=sys.stderr)
        return 130
    if result.best is not None:
        b = result.best
        print(f"best: trial {b['trial']} val acc {b['val_acc']:.4f} | lr {b['lr']:.4g}, "
              f"weight decay {b['weight_decay']:.4g} ({os.path.join(args.out, 'best.json')})")
    if result.failed:
        print(f"{len(result.failed)} trial(s) failed: {result.failed}; the same command runs them again",
              file=sys.stderr)
        return 1
    return 0


# --- bench ----------------------------------------------------------------------------------

def cmd_bench(args):
    from fastscratch._apps import bench
    return bench.main(quick=args.quick, torch=args.torch, dtype=args.dtype)


# --- info -----------------------------------------------------------------------------------

def cmd_info(args):
    from fastscratch._apps import sysinfo
    for key, value in sysinfo.collect():
        print(f"{key:<22} {value}")
    return 0


# --- warmup ---------------------------------------------------------------------------------

def cmd_warmup(args):
    from fastscratch._apps import warmup as _warmup
    dtypes = tuple(DTYPES) if args.dtype == "both" else (args.dtype,)
    seconds, copied, directory, size = _warmup.run(jobs=args.jobs, dtypes=dtypes)
    print(f"fastscratch warmup: {copied} kernel signatures compiled in {seconds:.0f} s; "
          f"the cache is {directory} ({size / 2**20:.1f} MiB)")
    return 0
