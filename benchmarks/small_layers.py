"""The book's small dense layers and networks, reference against fastscratch, in one process: a table.

Not an asv benchmark (asv collects ``bench_*`` modules only): a script, run as

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/small_layers.py [--pause S] [--rounds N]

Cases: Affine forward + backward at chapter 4-6 shapes (float64, float32);
chapter 5's TwoLayerNet(784, 50, 10) gradient and training step (gradient
plus the book's SGD update) at batch 100, on MNIST images as float64 and as
``load_mnist(normalize=True)`` gives them (float32); chapter 6's
MultiLayerNet(784, [100] * 5, 10) step; SimpleConvNet's two Affine layers.

The two implementations alternate, round by round; each side's figure is its
best round. Every timed round starts after a pause (``--pause``, default
0.2 s): after a GEMM of the reference, OpenBLAS's idle threads spin for about
0.1 s and take a core from the kernels' threads that follow, and Numba's
OpenMP threads spin after a kernel in the same way, so without the pause each
side would partly time the other's leftovers. A program that trains with one
of them pays neither. ``--pause 0`` shows the interleaved figures.
"""
import argparse
import os
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

AFFINE = [(100, 100, 10), (100, 50, 10), (100, 784, 50), (100, 4320, 100)]


def _affine_case(api, N, D, M, dtype):
    r = np.random.default_rng(0)
    x = r.standard_normal((N, D)).astype(dtype)
    dout = r.standard_normal((N, M)).astype(dtype)
    layer = api.layers.Affine((0.01 * r.standard_normal((D, M))).astype(dtype), r.standard_normal(M).astype(dtype))

    def step():
        layer.forward(x)
        layer.backward(dout)
    return step


def _mnist(n, dtype):
    from fastscratch.dataset.mnist import load_mnist
    (x, t), _ = load_mnist(normalize=True, one_hot_label=True)
    return x[:n].astype(dtype), t[:n]


def _net_case(api, name, what, x_dtype):
    np.random.seed(0)
    if name == "TwoLayerNet":
        net = api.TwoLayerNet(784, 50, 10)
    else:
        net = api.MultiLayerNet(784, [100] * 5, 10)
    x, t = _mnist(100, x_dtype)

    def gradient():
        net.gradient(x, t)

    def step():
        grads = net.gradient(x, t)
        for key in grads:
            net.params[key] -= 0.1 * grads[key]
    return gradient if what == "gradient" else step


def cases():
    """(label, builder(api) -> callable, calls per round)."""
    out = []
    for N, D, M in AFFINE:
        for dt in (np.float64, np.float32):
            label = f"Affine fwd+bwd ({N}, {D}) x ({D}, {M}) {np.dtype(dt).name}"
            out.append((label, lambda api, s=(N, D, M), dt=dt: _affine_case(api, *s, dt), 30 if D < 1000 else 5))
    for name, what in (("TwoLayerNet", "gradient"), ("TwoLayerNet", "step"), ("MultiLayerNet", "step")):
        for xdt in (np.float64, np.float32):
            label = f"{name} {what}, batch 100, x {np.dtype(xdt).name}"
            out.append((label, lambda api, n=name, w=what, xdt=xdt: _net_case(api, n, w, xdt), 10))
    return out


def measure(fns, calls, rounds, pause):
    """Best seconds per call of each of fns (a dict), alternating, a pause before each round."""
    best = {k: float("inf") for k in fns}
    for _ in range(rounds):
        for key, fn in fns.items():
            time.sleep(pause)
            t0 = time.perf_counter()
            for _ in range(calls):
                fn()
            best[key] = min(best[key], (time.perf_counter() - t0) / calls)
    return best


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pause", type=float, default=0.2, help="seconds before each timed round (default 0.2)")
    parser.add_argument("--rounds", type=int, default=15, help="rounds per case (default 15)")
    parser.add_argument("--only", default="", help="run the cases whose label contains this")
    args = parser.parse_args(argv)
    import fastscratch
    import fastscratch.reference as reference
    apis = {"reference": reference, "fastscratch": fastscratch}
    print(f"fastscratch {os.path.dirname(fastscratch.__file__)}, pause {args.pause} s, {args.rounds} rounds")
    print(f"{'case':58s} {'reference':>10s} {'fastscratch':>12s} {'speedup':>8s}")
    for label, build, calls in cases():
        if args.only not in label:
            continue
        fns = {impl: build(api) for impl, api in apis.items()}
        for fn in fns.values():
            fn()  # compile and warm outside the timing
        best = measure(fns, calls, args.rounds, args.pause)
        ref, fast = best["reference"] * 1e6, best["fastscratch"] * 1e6
        print(f"{label:58s} {ref:8.1f}us {fast:10.1f}us {ref / fast:7.2f}x", flush=True)


if __name__ == "__main__":
    main()
