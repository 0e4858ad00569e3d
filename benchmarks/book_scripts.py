"""The book's chapter scripts, unmodified, under ``fastscratch run`` and ``--reference``: times and outputs.

Not an asv benchmark (nothing here is collected by asv): a script, run as

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python benchmarks/book_scripts.py BOOK_DIR [--only ch05/ ...] [--repeat N]

where BOOK_DIR holds the book's chapter folders (``ch03/`` ... ``ch08/``, with the
network files and weights the scripts read beside them; the book's ``common/``
and ``dataset/`` are not needed: ``fastscratch run`` answers those imports).
BOOK_DIR is copied to a temporary directory per mode, so the files the scripts
write (figures, ``params.pkl``) never land in it.

Each script runs in a fresh interpreter as a user would run it: ``python -m
fastscratch run SCRIPT`` and ``python -m fastscratch run --reference SCRIPT``,
one after the other (the order alternating between scripts and repeats, as the
machine's load drifts), headless (plt.show saves figures). Whole scripts are
timed by wall clock, start-up included; the two training scripts (chapter 7's
and 8's, each 20 epochs) are instead timed by their own progress lines: the
steps per second between the first line after a few warm-up steps and the
last line before a limit, then the process is stopped. For scripts whose output
does not depend on unseeded random draws, the two outputs are compared.
"""
import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time

#: (script, kind): "run" is timed to the end, "train" by its progress lines.
SCRIPTS = (
    ("ch03/mnist_show.py", "run"), ("ch03/neuralnet_mnist.py", "run"), ("ch03/neuralnet_mnist_batch.py", "run"),
    ("ch03/relu.py", "run"), ("ch03/sig_step_compare.py", "run"), ("ch03/sigmoid.py", "run"),
    ("ch03/step_function.py", "run"),
    ("ch04/gradient_1d.py", "run"), ("ch04/gradient_2d.py", "run"), ("ch04/gradient_method.py", "run"),
    ("ch04/gradient_simplenet.py", "run"), ("ch04/train_neuralnet.py", "run"),
    ("ch05/buy_apple.py", "run"), ("ch05/buy_apple_orange.py", "run"),
    ("ch05/gradient_check.py", "run"), ("ch05/train_neuralnet.py", "run"),
    ("ch06/batch_norm_gradient_check.py", "run"), ("ch06/batch_norm_test.py", "run"),
    ("ch06/hyperparameter_optimization.py", "run"), ("ch06/optimizer_compare_mnist.py", "run"),
    ("ch06/optimizer_compare_naive.py", "run"), ("ch06/overfit_dropout.py", "run"),
    ("ch06/overfit_weight_decay.py", "run"), ("ch06/weight_init_activation_histogram.py", "run"),
    ("ch06/weight_init_compare.py", "run"),
    ("ch07/gradient_check.py", "run"), ("ch07/visualize_filter.py", "run"),
    ("ch07/train_convnet.py", "train"),
    ("ch08/misclassified_mnist.py", "run"), ("ch08/half_float_network.py", "run"),
    ("ch08/train_deepnet.py", "train"),
)
#: Scripts whose printed output draws nothing from NumPy's unseeded random state.
DETERMINISTIC = {
    "ch03/mnist_show.py", "ch03/neuralnet_mnist.py", "ch03/neuralnet_mnist_batch.py", "ch03/relu.py",
    "ch03/sig_step_compare.py", "ch03/sigmoid.py", "ch03/step_function.py",
    "ch04/gradient_1d.py", "ch04/gradient_2d.py", "ch04/gradient_method.py",
    "ch05/buy_apple.py", "ch05/buy_apple_orange.py", "ch06/optimizer_compare_naive.py",
    "ch07/visualize_filter.py", "ch08/misclassified_mnist.py", "ch08/half_float_network.py",
}
MODES = (("fastscratch", ()), ("reference", ("--reference",)))
TRAIN_LINE = "train loss:"


def _env():
    env = {k: v for k, v in os.environ.items()
           if k not in ("DISPLAY", "WAYLAND_DISPLAY", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    env["MPLBACKEND"] = "Agg"
    env["PYTHONUNBUFFERED"] = "1"   # progress lines arrive when printed, for the training rates
    return env


def _child_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_whole(python, flags, script, timeout):
    """(seconds, exit status, stdout, stderr, CPU seconds) of one whole run, start-up included.

    The CPU seconds (user + system, all threads) are what the run cost the
    machine; on a shared machine they vary less than the wall time.
    """
    cmd = [python, "-m", "fastscratch", "run", *flags, os.path.basename(script)]
    cpu, start = _child_cpu(), time.perf_counter()
    try:
        res = subprocess.run(cmd, cwd=os.path.dirname(script), env=_env(), capture_output=True,
                             text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        return time.perf_counter() - start, "timeout", exc.stdout or "", exc.stderr or "", float("nan")
    return time.perf_counter() - start, res.returncode, res.stdout, res.stderr, _child_cpu() - cpu


def run_training(python, flags, script, warmup, steps, seconds):
    """(steps per second, steps timed, stderr) from the script's own ``train loss:`` lines.

    The rate is taken between the line after `warmup` steps and the last line
    seen before `steps` more steps or `seconds` have passed; the process is then stopped.
    """
    cmd = [python, "-m", "fastscratch", "run", *flags, os.path.basename(script)]
    proc = subprocess.Popen(cmd, cwd=os.path.dirname(script), env=_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    stamps = []
    deadline = None
    try:
        for line in proc.stdout:
            if not line.startswith(TRAIN_LINE):
                continue
            stamps.append(time.perf_counter())
            if len(stamps) == warmup + 1:
                deadline = stamps[-1] + seconds
            if len(stamps) > warmup and (len(stamps) - 1 - warmup >= steps or stamps[-1] >= deadline):
                break
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate()
    timed = stamps[warmup:]
    if len(timed) < 2:
        return float("nan"), 0, err
    return (len(timed) - 1) / (timed[-1] - timed[0]), len(timed) - 1, err


def _substituted(stderr):
    names = [line.split(": its ", 1)[1].split(" runs as ")[0] for line in stderr.splitlines()
             if line.startswith("fastscratch run: ") and ": its " in line]
    return ", ".join(names) or "-"


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("book", help="directory holding the book's ch03/ ... ch08/")
    parser.add_argument("--only", nargs="*", default=(), help="run only scripts whose path contains one of these")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each script in each mode")
    parser.add_argument("--timeout", type=float, default=900, help="seconds before a whole run is stopped")
    parser.add_argument("--train-warmup", type=int, default=3, help="training steps left out of the rate")
    parser.add_argument("--train-steps", type=int, default=40, help="training steps timed at most")
    parser.add_argument("--train-seconds", type=float, default=45, help="seconds of training timed at most")
    parser.add_argument("--python", default=sys.executable, help="interpreter with fastscratch installed")
    return parser.parse_args(argv)


def _runs(args, trees, script, kind, order):
    """{mode: [one result per repeat]} of one script: run_training's for kind "train", else run_whole's.

    order : the number of repeats run before, over all scripts: the modes alternate which goes first.
    """
    results = {mode: [] for mode, _ in MODES}
    for i in range(args.repeat):
        modes = MODES if (order + i) % 2 == 0 else MODES[::-1]
        for mode, flags in modes:
            path = os.path.join(trees[mode], script)
            if kind == "train":
                results[mode].append(run_training(args.python, flags, path, args.train_warmup,
                                                  args.train_steps, args.train_seconds))
            else:
                results[mode].append(run_whole(args.python, flags, path, args.timeout))
    return results


def _training_row(script, results, repeat):
    """The table row of a training script: the best steps per second of each mode."""
    fast, ref = results["fastscratch"], results["reference"]
    f_rate = max(r[0] for r in fast)
    r_rate = max(r[0] for r in ref)
    return (f"| {script} (steps/s, best of {repeat}; {fast[0][1]} and {ref[0][1]} steps) "
            f"| {r_rate:.2f} | {f_rate:.2f} | {f_rate / r_rate:.2f}x | - | - | - "
            f"| {_substituted(fast[0][2])} |")


def _whole_row(script, results):
    """(table row, fastscratch's best seconds, the reference's) of a script timed to the end."""
    fast, ref = results["fastscratch"], results["reference"]
    f_s = min(r[0] for r in fast)
    r_s = min(r[0] for r in ref)
    codes = f"{fast[0][1]}/{ref[0][1]}"
    if script in DETERMINISTIC:
        output = "same" if all(r[2] == ref[0][2] for r in fast + ref) else "DIFFERS"
    else:
        output = "(random)"
    cpu = f"{min(r[4] for r in ref):.1f} / {min(r[4] for r in fast):.1f}"
    row = (f"| {script} | {r_s:.2f} s | {f_s:.2f} s | {r_s / f_s:.2f}x | {cpu} | {codes} | {output} "
           f"| {_substituted(fast[0][3])} |")
    return row, f_s, r_s


def main(argv=None):
    args = _parse(argv)
    work = tempfile.mkdtemp(prefix="book-scripts-")
    trees = {}
    for mode, _ in MODES:
        trees[mode] = os.path.join(work, mode)
        shutil.copytree(args.book, trees[mode])
    print(f"# {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {args.python}; {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}; "
          f"command: python -m fastscratch run [--reference] SCRIPT (cwd: the script's folder)", flush=True)
    print("| script | reference | fastscratch | speedup | CPU s ref / fast | exit (fast/ref) | output "
          "| substituted |")
    print("|---|---|---|---|---|---|---|---|", flush=True)
    totals = {"fastscratch": 0.0, "reference": 0.0}
    slower = []
    order = 0
    try:
        for script, kind in SCRIPTS:
            if args.only and not any(p in script for p in args.only):
                continue
            if not os.path.exists(os.path.join(args.book, script)):
                print(f"| {script} | (not in {args.book}) | | | | | | |", flush=True)
                continue
            results = _runs(args, trees, script, kind, order)
            order += args.repeat
            if kind == "train":
                print(_training_row(script, results, args.repeat), flush=True)
                continue
            row, f_s, r_s = _whole_row(script, results)
            totals["fastscratch"] += f_s
            totals["reference"] += r_s
            if f_s > 1.05 * r_s + 0.6:
                slower.append(script)
            print(row, flush=True)
            for mode, runs in results.items():
                if runs[0][1] != 0:
                    tail = (runs[0][3] or "").strip().splitlines()[-3:]
                    print(f"  {mode} exit {runs[0][1]}: " + " / ".join(tail), file=sys.stderr, flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if totals["fastscratch"]:
        print(f"\nall whole runs together: reference {totals['reference']:.1f} s, fastscratch "
              f"{totals['fastscratch']:.1f} s: {totals['reference'] / totals['fastscratch']:.2f}x")
        print("slower than --reference beyond 5% + 0.6 s: " + (", ".join(slower) or "none"))
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
