"""Which kernel signatures a first run compiles, and for how long each: a table for docs/.

Not an asv benchmark (asv does not collect this file): a script, run as

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \\
        python -m benchmarks.compile_profile [--markdown] -- ARGS...

which runs ``python -m fastscratch ARGS...`` (for example ``run SCRIPT.py`` or
``train --net simple_convnet --subset 500 --epochs 1``) in a fresh interpreter
whose NUMBA_CACHE_DIR is a new empty directory, listening to Numba's
``numba:compile`` events. A kernel that calls another dispatcher compiles it
inside its own event: "own" is a signature's time less the compiles nested in
it, and the own times add up to the run's compile total. Times are given as
wall seconds and as the compiling thread's CPU seconds (on a machine shared
with other jobs, the CPU seconds are the figure to compare). Cache loads are
not compile events and are not counted.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

#: Runs in the child before ``fastscratch``'s ``__main__``; writes its records at exit.
_CHILD = r"""
import atexit, json, os, runpy, sys, time
from numba.core import event

records, stack = [], []

class _Listener(event.Listener):
    def on_start(self, ev):
        stack.append((ev, time.perf_counter(), time.thread_time(), [], []))

    def on_end(self, ev):
        ev0, t0, c0, nested, nested_cpu = stack.pop()
        total = time.perf_counter() - t0
        cpu = time.thread_time() - c0
        d = ev.data["dispatcher"]
        module = d.py_func.__module__ or d.py_func.__globals__.get("__name__", "?")
        name = module.replace("fastscratch.kernels.", "") + "." + d.py_func.__qualname__
        sig = ", ".join(str(a) for a in ev.data["args"])
        records.append(dict(kernel=name, sig=sig, total=total, own=total - sum(nested),
                            cpu=cpu, own_cpu=cpu - sum(nested_cpu),
                            parallel=bool(d.targetoptions.get("parallel"))))
        if stack:
            stack[-1][3].append(total)
            stack[-1][4].append(cpu)

event.register("numba:compile", _Listener())

def _dump():
    with open(os.environ["FASTSCRATCH_COMPILE_PROFILE"], "w") as f:
        json.dump(records, f)

atexit.register(_dump)
sys.argv = ["fastscratch"] + sys.argv[1:]
runpy.run_module("fastscratch", run_name="__main__", alter_sys=True)
"""


def profile(args, cache_dir=None, env=None):
    """Run ``python -m fastscratch ARGS`` cold; (wall seconds, exit status, compile records).

    Each record is a dict: kernel, sig, total and own seconds, parallel.
    cache_dir None: a new empty directory, removed afterwards.
    """
    tmp = tempfile.mkdtemp(prefix="fastscratch-compile-profile-")
    out = os.path.join(tmp, "records.json")
    child_env = dict(os.environ, **(env or {}))
    child_env["NUMBA_CACHE_DIR"] = cache_dir or os.path.join(tmp, "cache")
    child_env["FASTSCRATCH_COMPILE_PROFILE"] = out
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    child_env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [child_env.get("PYTHONPATH")] if p])
    try:
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _CHILD, *args], env=child_env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - start
        if done.returncode:
            sys.stderr.write(done.stderr[-3000:])
        with open(out) as f:
            records = json.load(f)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return wall, done.returncode, records


def table(records, markdown=False):
    """Lines of a table of the records, longest own time first, with a total row."""
    rows = sorted(records, key=lambda r: -r["own_cpu"])
    total, total_cpu = sum(r["own"] for r in rows), sum(r["own_cpu"] for r in rows)
    if markdown:
        lines = ["| kernel | parallel | own CPU s | own wall s |", "|---|---|---|---|"]
        lines += [f"| `{r['kernel']}` | {'yes' if r['parallel'] else ''} | {r['own_cpu']:.2f} | {r['own']:.2f} |"
                  for r in rows if r["own_cpu"] >= 0.05]
        lines.append(f"| **total, {len(rows)} signatures** | {sum(r['parallel'] for r in rows)} | "
                     f"**{total_cpu:.1f}** | {total:.1f} |")
        return lines
    lines = [f"{r['own_cpu']:7.2f} {r['own']:7.2f} {'P' if r['parallel'] else ' '} {r['kernel']}({r['sig']})"
             for r in rows]
    lines.append(f"{total_cpu:7.2f} {total:7.2f} total own compile seconds (CPU, wall), {len(rows)} signatures")
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--markdown", action="store_true", help="print a Markdown table")
    parser.add_argument("--json", metavar="FILE", help="also write the records to FILE")
    parser.add_argument("--cache-dir", metavar="DIR", help="this NUMBA_CACHE_DIR instead of a new empty one "
                                                          "(what a run compiles after `fastscratch warmup`)")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments of python -m fastscratch")
    opts = parser.parse_args(argv)
    args = opts.args[1:] if opts.args[:1] == ["--"] else opts.args
    wall, rc, records = profile(args, cache_dir=opts.cache_dir)
    print("\n".join(table(records, opts.markdown)))
    print(f"wall {wall:.1f} s, exit status {rc}: python -m fastscratch {' '.join(args)}")
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump(dict(args=args, wall=wall, rc=rc, records=records), f)


if __name__ == "__main__":
    main()
