"""Where a training step's time goes, layer by layer, against the GEMM floor of its FLOPs.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python -m benchmarks.step_profile [NET] [DTYPE] [rounds]

NET is DeepConvNet (default) or SimpleConvNet, DTYPE float32 (default) or
float64, batch 100 of MNIST-shaped inputs. Each layer's forward and backward
is timed on its own (best of the rounds, each call after an untimed one, as a
training loop runs it), then the whole Adam step. A layer's floor is its
multiply-add FLOPs at the best 2048x2048 ``np.dot`` rate of the same run: the
time a layer would take if it ran at the GEMM peak. The step's floor is the
sum; what is left above it is where the milliseconds go.
"""
import sys
import time

import numpy as np

from .common import rng


def _flops(layer, x_shape, y_shape):
    """Forward+backward FLOPs of a layer (multiply-adds x 2; backward is the dx and dW products)."""
    name = type(layer).__name__
    if name == "Convolution":
        FN, C, FH, FW = layer.W.shape
        N, _, OH, OW = y_shape
        forward = 2 * N * OH * OW * C * FH * FW * FN
        first = x_shape[1] == 1  # the first convolution's dx is never computed in a step
        return forward * (2 if first else 3)
    if name == "Affine":
        D, M = layer.W.shape
        N = x_shape[0]
        return 2 * N * D * M * 3
    return 0


def _best(fn, rounds):
    times = []
    for _ in range(rounds):
        fn()
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _gemm_rate(dtype, rounds):
    a = rng(2).standard_normal((2048, 2048)).astype(dtype)
    return 2 * 2048 ** 3 / _best(lambda: np.dot(a, a), rounds)


def profile(net_name="DeepConvNet", dtype="float32", rounds=10):
    """Rows of (layer, forward ms, backward ms, GFLOP, floor ms), the step's time and the GEMM rate."""
    import fastscratch
    from fastscratch import optimizer

    net = getattr(fastscratch, net_name)(dtype=dtype)
    x = rng(0).random((100, 1, 28, 28)).astype(dtype)
    t = rng(1).integers(0, 10, 100)
    peak = _gemm_rate(dtype, rounds)
    rows, inputs = [], [x]
    layers = net.layers
    for layer in layers:  # one pass to record every layer's input
        inputs.append(layer.forward(inputs[-1], True) if type(layer).__name__ == "Dropout" else layer.forward(inputs[-1]))
    net.last_layer.forward(inputs[-1], t)
    douts = [net.last_layer.backward(1)]
    for layer in reversed(layers):
        douts.append(layer.backward(douts[-1]))
    douts = douts[::-1]  # douts[i + 1] is the gradient flowing into layer i's output
    for i, layer in enumerate(layers):
        name = type(layer).__name__
        fwd = (lambda L=layer, v=inputs[i]: L.forward(v, True)) if name == "Dropout" else (lambda L=layer, v=inputs[i]: L.forward(v))
        f_ms = _best(fwd, rounds) * 1e3
        fwd()
        if getattr(layer, "skip_input_grad", None) is not None and i == 0:
            layer.skip_input_grad = True
        b_ms = _best(lambda L=layer, d=douts[i + 1]: L.backward(d), rounds) * 1e3
        if i == 0 and hasattr(layer, "skip_input_grad"):
            layer.skip_input_grad = False
        flops = _flops(layer, inputs[i].shape, inputs[i + 1].shape)
        rows.append((f"{i:2d} {name}", f_ms, b_ms, flops / 1e9, flops / peak * 1e3))
    last = net.last_layer
    rows.append(("   SoftmaxWithLoss", _best(lambda: last.forward(inputs[-1], t), rounds) * 1e3,
                 _best(lambda: last.backward(1), rounds) * 1e3, 0.0, 0.0))
    opt = optimizer.Adam(lr=0.001)

    def step():
        grads = net.gradient(x, t)
        opt.update(net.params, grads)
    step_ms = _best(step, rounds) * 1e3
    return rows, step_ms, peak


def main(argv):
    net_name = argv[0] if argv else "DeepConvNet"
    dtype = argv[1] if len(argv) > 1 else "float32"
    rounds = int(argv[2]) if len(argv) > 2 else 10
    rows, step_ms, peak = profile(net_name, dtype, rounds)
    print(f"{net_name} {dtype}, batch 100; GEMM peak {peak / 1e9:.0f} GFLOP/s (2048x2048 np.dot, this run)\n")
    print("| layer | forward ms | backward ms | GFLOP | floor ms | above floor ms |")
    print("|---|---|---|---|---|---|")
    for name, f, b, gflop, floor in rows:
        print(f"| {name.strip()} | {f:.2f} | {b:.2f} | {gflop:.2f} | {floor:.2f} | {f + b - floor:.2f} |")
    total = sum(f + b for _, f, b, _, _ in rows)
    floor = sum(r[4] for r in rows)
    print(f"| layers together | | | {sum(r[3] for r in rows):.2f} | {floor:.2f} | {total - floor:.2f} ({total:.2f} ms) |")
    print(f"\nAdam step (gradient + update): {step_ms:.2f} ms; floor {floor:.2f} ms; "
          f"step - layers = {step_ms - total:.2f} ms (the update and the glue)")


if __name__ == "__main__":
    main(sys.argv[1:])
