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
median fastscratch time; ``--cells`` adds each code cell's median time in the
kernel. Needs the notebook extra.
"""
import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT = os.path.join(ROOT, "tests", "notebooks", "ch05_backprop.ipynb")


def run_once(notebook, reference):
    """(seconds, {cell number: seconds}) of one ``fastscratch run [--reference] notebook``; raises if it fails.

    The cells' times are the kernel's, from nbclient's execution timestamps
    in the executed notebook (written to a temporary file).
    """
    with tempfile.TemporaryDirectory() as tmp:
        executed = os.path.join(tmp, "executed.ipynb")
        cmd = [sys.executable, "-m", "fastscratch", "run", *(["--reference"] if reference else []), notebook,
               "--output", executed]
        env = dict(os.environ)
        env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        start = time.perf_counter()
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
        with open(executed, encoding="utf-8") as f:
            cells = json.load(f)["cells"]
    per_cell = {}
    for number, cell in enumerate(cells, 1):
        stamps = cell.get("metadata", {}).get("execution", {})
        if "iopub.execute_input" in stamps and "shell.execute_reply" in stamps:
            begin, end = (datetime.datetime.fromisoformat(stamps[k].replace("Z", "+00:00"))
                          for k in ("iopub.execute_input", "shell.execute_reply"))
            per_cell[number] = ((end - begin).total_seconds(), "".join(cell["source"]).strip().splitlines()[0][:50])
    return seconds, per_cell


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", default=[DEFAULT])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each mode (default %(default)s)")
    parser.add_argument("--cells", action="store_true", help="also each code cell's median time in the kernel")
    args = parser.parse_args(argv)
    print(f"{'notebook':<28} {'fastscratch':>12} {'reference':>12} {'ratio':>7}  (median of {args.repeat}, s)")
    for notebook in args.notebooks:
        times = {False: [], True: []}
        cells = {False: [], True: []}
        for repeat in range(args.repeat):
            for reference in ((False, True) if repeat % 2 == 0 else (True, False)):
                seconds, per_cell = run_once(notebook, reference)
                times[reference].append(seconds)
                cells[reference].append(per_cell)
        fast, ref = statistics.median(times[False]), statistics.median(times[True])
        print(f"{os.path.basename(notebook):<28} {fast:12.1f} {ref:12.1f} {ref / fast:6.2f}x  "
              f"fast {', '.join(f'{t:.1f}' for t in times[False])}; reference {', '.join(f'{t:.1f}' for t in times[True])}",
              flush=True)
        if args.cells:
            for number, (_, line) in cells[False][0].items():
                f, r = (statistics.median(run[number][0] for run in cells[mode]) for mode in (False, True))
                print(f"    cell {number:>3} {f:10.2f} {r:12.2f}  {line}")


if __name__ == "__main__":
    main()
