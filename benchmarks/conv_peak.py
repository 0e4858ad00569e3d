"""Convolution forward+backward as a fraction of NumPy's GEMM rate, measured in this process.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks.conv_peak [rounds] [--ab]

For each of bench_conv's shapes and both dtypes: rounds of (2048x2048 np.dot,
the layer's forward+backward with dx), interleaved, so a busy machine slows
both alike (each timed call after a pause and an untimed call,
bench_conv.settled_seconds); prints the
layer's best time, its rate over the best GEMM rate (the figure the track_
benchmark records) and the median of the rounds' ratios. ``--ab`` times the
layer on each of its stride-1 routes in the same rounds (per-image GEMMs as
the library picks them, by taps only, unfolded only; direct kernels; the
book's im2col + one GEMM), an A/B of the designs.
"""
import statistics
import sys
from functools import partial

import numpy as np

from .bench_conv import DTYPES, LABELS, conv_flops, conv_inputs, force_route, settled_seconds
from .common import api, rng


def _ab_routes():
    """The stride-1 routes this checkout and BLAS have: the per-image GEMMs need OpenBLAS."""
    routes = ["direct", "im2col"]
    for extra in (["tiled"], ["taps", "unfold"]):  # a commit may have the per-image GEMMs but not the choice
        try:
            force_route(extra[0])()
        except NotImplementedError:
            break
        routes[len(routes) - 2:len(routes) - 2] = extra
    return tuple(routes)


def _step(layer, x, dout):
    layer.forward(x)
    layer.backward(dout)


def _blas_kernel():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return ", ".join(f"{i['internal_api']} {i.get('architecture')} x{i['num_threads']}"
                     for i in threadpool_info())


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    ab = "--ab" in args
    rounds = int(next((a for a in args if a.isdigit()), 9))
    print(f"BLAS: {_blas_kernel()}; {rounds} rounds", flush=True)
    for dtype in DTYPES:
        a = rng(2).standard_normal((2048, 2048)).astype(dtype)
        for label in LABELS:
            x, W, b, stride, pad = conv_inputs(label, dtype)
            routes = (_ab_routes() if ab else ("default",))
            layers = {name: api("kernels").layers.Convolution(W, b, stride, pad) for name in routes}
            dout = rng(1).standard_normal(layers[routes[0]].forward(x).shape).astype(dtype)
            times = {name: [] for name in routes}
            peaks = []
            for _ in range(rounds + 1):  # the first round compiles and warms up
                peaks.append(2 * 2048 ** 3 / settled_seconds(partial(np.dot, a, a)))
                for name, layer in layers.items():
                    restore = force_route(name) if name != "default" else (lambda: None)
                    try:
                        times[name].append(settled_seconds(partial(_step, layer, x, dout)))
                    finally:
                        restore()
            peaks = peaks[1:]
            line = [f"{dtype} {label}: GEMM {min(peaks) / 1e9:.0f}-{max(peaks) / 1e9:.0f} GFLOP/s"]
            for name, ts in times.items():
                fr = [conv_flops(label) / t / p for t, p in zip(ts[1:], peaks)]
                best = conv_flops(label) / min(ts[1:]) / max(peaks)
                line.append(f"{name} {min(ts[1:]) * 1e3:.1f} ms, {best:.0%} of the best GEMM rate "
                            f"(rounds: median {statistics.median(fr):.0%})")
            print(" | ".join(line), flush=True)


if __name__ == "__main__":
    main()
