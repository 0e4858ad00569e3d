"""The README's speed table in one run: training steps and convolutions, reference, kernels and PyTorch.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks.summary [--torch PYTHON] [--rounds N]

Everything at batch 100, in float64 and float32, in this process with NumPy
imported before fastscratch (as users' scripts do) and no process tuning:

- GEMM: the best 2048x2048 ``np.dot`` rate of the run, the yardstick of the
  convolution rows (their FLOPs are 3 x 2 x N x out_h x out_w x C x FH x FW x FN);
- Adam training steps of SimpleConvNet and DeepConvNet, reference and kernels,
  timed in interleaved rounds so that a busy machine slows both alike;
- Convolution forward+backward (with dx) at bench_conv's three shapes;
- the 1-thread over 2-thread step ratio, in child processes with
  ``NUMBA_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` set together, 1 and 2
  threads alternating in three pairs (each pair's ratio, their median and the lowest).

``--torch PYTHON`` runs the PyTorch CPU counterparts (same threads, both
dtypes) in a child process of that interpreter, before and after ours (best of the two), which needs torch and this
checkout importable (PyTorch never shares a process with the kernels: they
share the OpenMP runtime).
"""
import argparse
import statistics
import json
import os
import subprocess
import sys
import time

import numpy as np

from ._networks import TrainingStep, run_child
from .bench_conv import LABELS, conv_flops, conv_inputs, settled_seconds
from .common import api, rng

NETS = ("SimpleConvNet", "DeepConvNet")
DTYPES = ("float64", "float32")


def _best(fn, rounds):
    return min(settled_seconds(fn) for _ in range(rounds))


def gemm_rate(dtype, rounds=5):
    """Best FLOP/s of a 2048x2048 np.dot in dtype."""
    a = rng(2).standard_normal((2048, 2048)).astype(dtype)
    np.dot(a, a)
    return 2 * 2048 ** 3 / _best(lambda: np.dot(a, a), rounds)


def _conv_step(impl, label, dtype):
    x, W, b, stride, pad = conv_inputs(label, dtype)
    layer = api(impl).layers.Convolution(W, b, stride, pad)
    dout = rng(1).standard_normal(layer.forward(x).shape).astype(dtype)

    def step():
        layer.forward(x)
        layer.backward(dout)
    step()
    return step


def ours(rounds):
    """{row: seconds} of this process: steps (reference and kernels) and kernel convolutions."""
    out = {}
    for dtype in DTYPES:
        out[f"gemm {dtype}"] = gemm_rate(dtype)
        for net in NETS:
            ref, fast = TrainingStep("reference", net, dtype=dtype), TrainingStep("kernels", net, dtype=dtype)
            ref(), fast()
            ref_rounds = 2 if net == "DeepConvNet" else max(3, rounds // 2)
            out[f"{net} {dtype} reference"] = _best(ref, ref_rounds)
            out[f"{net} {dtype} kernels"] = _best(fast, rounds)
        for label in LABELS:
            out[f"{label} {dtype} kernels"] = _best(_conv_step("kernels", label, dtype), rounds)
    return out


#: Child script: PyTorch's steps and convolutions, both dtypes, printed as JSON.
_TORCH_CHILD = """
import json, sys, time
import numpy as np
import torch
from benchmarks.bench_torch import _deep_convnet, _simple_convnet
from benchmarks.bench_conv import LABELS, conv_inputs
threads, rounds = int(sys.argv[1]), int(sys.argv[2])
torch.set_num_threads(threads)
def best(fn):
    fn(); fn()
    ts = []
    for _ in range(rounds):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return min(ts)
out = {}
r = np.random.default_rng(0)
for dtype, tdt in (("float64", torch.float64), ("float32", torch.float32)):
    x = torch.tensor(r.random((100, 1, 28, 28)), dtype=tdt)
    t = torch.tensor(r.integers(0, 10, 100))
    for name, build in (("SimpleConvNet", _simple_convnet), ("DeepConvNet", _deep_convnet)):
        torch.manual_seed(0)
        model = build(torch.nn).to(tdt).train()
        opt = torch.optim.Adam(model.parameters(), lr=0.001)
        def step():
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x), t).backward()
            opt.step()
        out[f"{name} {dtype} torch"] = best(step)
    for label in LABELS:
        xa, W, b, stride, pad = conv_inputs(label, dtype)
        xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (xa, W, b))
        dout = torch.ones(torch.nn.functional.conv2d(xt, Wt, bt, stride=stride, padding=pad).shape, dtype=tdt)
        out[f"{label} {dtype} torch"] = best(
            lambda: torch.nn.functional.conv2d(xt, Wt, bt, stride=stride, padding=pad).backward(dout))
print(json.dumps(out))
"""


def torch_times(python, threads, rounds):
    """PyTorch's rows, from a child process of `python` (None where it fails)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, PYTHONPATH=root)
    done = subprocess.run([python, "-c", _TORCH_CHILD, str(threads), str(rounds)], env=env, cwd=root,
                          capture_output=True, text=True, timeout=1200)
    if done.returncode != 0:
        print(f"PyTorch child failed:\n{done.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


#: Child script: the best of several float64 steps of one network with the process's threads.
_THREAD_CHILD = """
import time
import numpy as np
from benchmarks._networks import TrainingStep
step = TrainingStep("kernels", {net!r})
step(); step()
ts = []
for _ in range({rounds}):
    t0 = time.perf_counter(); step(); ts.append(time.perf_counter() - t0)
print(min(ts))
"""


def thread_ratio(net, rounds, repeats=3):
    """Float64 step on 1 thread over 2 threads, in `repeats` pairs of child processes (1 then 2 threads).

    Returns (the ratio of each pair, the best time at each thread count): the
    issue's criterion is the median pair and the lowest one, since a process
    whose parallel regions run at half speed shows in one pair, not in the best times.
    """
    times, pairs = {1: float("inf"), 2: float("inf")}, []
    for _ in range(repeats):
        pair = {}
        for n in (1, 2):
            out = run_child(_THREAD_CHILD.format(net=net, rounds=rounds),
                            env={"NUMBA_NUM_THREADS": n, "OPENBLAS_NUM_THREADS": n})
            pair[n] = float(out.strip().splitlines()[-1])
            times[n] = min(times[n], pair[n])
        pairs.append(pair[1] / pair[2])
    return pairs, times


def _ms(seconds):
    return "" if seconds is None else f"{seconds * 1e3:.1f} ms"


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.summary")
    parser.add_argument("--torch", metavar="PYTHON", help="an interpreter with torch, for PyTorch's rows")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args(argv)
    import numba
    threads = numba.get_num_threads()
    print(f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} CPUs, "
          f"{threads} kernel threads, NumPy {np.__version__}, Numba {numba.__version__}", flush=True)
    # PyTorch's child runs before and after our rows, and each of its rows is the better of the two,
    # so that a machine whose load drifts during the run favours neither side
    before = torch_times(args.torch, threads, args.rounds) if args.torch else None
    rows = ours(args.rounds)
    after = torch_times(args.torch, threads, args.rounds) if args.torch else None
    theirs = {k: min(v, (after or {}).get(k, v)) for k, v in (before or after or {}).items()}
    print("| row | dtype | reference | kernels | speedup | PyTorch | kernels / PyTorch |")
    print("|---|---|---|---|---|---|---|")
    for dtype in DTYPES:
        for net in NETS:
            ref, fast = rows[f"{net} {dtype} reference"], rows[f"{net} {dtype} kernels"]
            tt = theirs.get(f"{net} {dtype} torch")
            print(f"| {net} Adam step | {dtype} | {_ms(ref)} | {_ms(fast)} | {ref / fast:.2f}x | {_ms(tt)} | "
                  f"{'' if tt is None else f'{fast / tt:.2f}'} |")
    for dtype in DTYPES:
        peak = rows[f"gemm {dtype}"]
        for label in LABELS:
            fast = rows[f"{label} {dtype} kernels"]
            tt = theirs.get(f"{label} {dtype} torch")
            frac = conv_flops(label) / fast / peak
            print(f"| {label.split('-')[0]} fwd+bwd ({frac:.0%} of GEMM {peak / 1e9:.0f} GFLOP/s) | {dtype} | | "
                  f"{_ms(fast)} | | {_ms(tt)} | {'' if tt is None else f'{fast / tt:.2f}'} |")
    for net in NETS:
        pairs, times = thread_ratio(net, args.rounds)
        print(f"| {net} float64 step, 1 thread / 2 threads | float64 | | {_ms(times[1])} / {_ms(times[2])} | "
              f"median {statistics.median(pairs):.2f}x, lowest {min(pairs):.2f}x "
              f"({', '.join(f'{r:.2f}' for r in pairs)}) | | |")


if __name__ == "__main__":
    main()
