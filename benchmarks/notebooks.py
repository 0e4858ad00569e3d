"""Readers' notebooks, whole, under ``fastscratch run NB.ipynb`` and ``--reference``: wall times and the ratio.

Not an asv benchmark (nothing here is collected by asv): a script, run as

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python benchmarks/notebooks.py [NOTEBOOK.ipynb ...] [--repeat N]

(default: tests/notebooks/ch05_backprop.ipynb, the book's chapter 5 layers and
TwoLayerNet pasted into cells, then ``%timeit network.numerical_gradient``, the
gradient check and 10000 training steps). Each run is a fresh ``python -m
fastscratch run`` process starting its own Jupyter kernel, timed by wall clock
from launch to exit: kernel start-up, imports and (on fastscratch) loading or
compiling the kernels included, as a reader waits for "Run all". The two modes
alternate (fastscratch first in odd repeats, the reference first in even ones)
as the machine's load drifts; the ratio is the median reference time over the
median fastscratch time. Needs the notebook extra.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = os.path.join(ROOT, "tests", "notebooks", "ch05_backprop.ipynb")


def run_once(notebook, reference):
    """Seconds one ``fastscratch run [--reference] notebook`` takes; raises if it fails."""
    cmd = [sys.executable, "-m", "fastscratch", "run", *(["--reference"] if reference else []), notebook]
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return seconds


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", default=[DEFAULT])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode (default %(default)s)")
    args = parser.parse_args(argv)
    print(f"{'notebook':<28} {'fastscratch':>12} {'reference':>12} {'ratio':>7}  (median of {args.repeat}, s)")
    for notebook in args.notebooks:
        times = {False: [], True: []}
        for repeat in range(args.repeat):
            for reference in ((False, True) if repeat % 2 == 0 else (True, False)):
                times[reference].append(run_once(notebook, reference))
        fast, ref = statistics.median(times[False]), statistics.median(times[True])
        print(f"{os.path.basename(notebook):<28} {fast:12.1f} {ref:12.1f} {ref / fast:6.2f}x  "
              f"fast {', '.join(f'{t:.1f}' for t in times[False])}; reference {', '.join(f'{t:.1f}' for t in times[True])}",
              flush=True)


if __name__ == "__main__":
    main()
