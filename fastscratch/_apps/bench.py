"""The hot paths timed by ``fastscratch bench``: the shapes of the book's chapter 7 network (FULL, QUICK).

Each ``Case`` builds, for an API module (``fastscratch`` or
``fastscratch.reference``), a zero-argument callable doing the work once on
seeded inputs, in the shapes' ``dtype`` (float64, or float32 with
``fastscratch bench --dtype float32``); ``torch`` builds the PyTorch CPU
counterpart in the same dtype where there is one. ``run_case`` calls each
callable once (compilation, caches) and then reports the best of a few
repeats of the wall clock (``fastscratch._runtime.timing``, shared with the asv suite
and ``benchmarks.measure``).
"""
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from fastscratch._apps.bench_shapes import chapter7
from fastscratch._runtime.timing import best_time

#: shapes: the book's chapter 7 network on MNIST, batch 100 (quick: batch 20), from the one shape table
FULL = dict(chapter7(), grad_shape=(100, 100), net_input=100, net_batch=10, dtype="float64")
QUICK = dict(chapter7(batch=20), grad_shape=(30, 30), net_input=30, net_batch=5, dtype="float64")


def _rng():
    return np.random.default_rng(0)


def _random(rng, s, shape):
    """Uniform [0, 1) draws of shape in the shapes' dtype (drawn in float64, then rounded)."""
    return rng.random(shape).astype(s["dtype"])


def _normal(rng, s, shape, scale=1.0):
    """Standard normal draws times scale, in the shapes' dtype."""
    return (scale * rng.standard_normal(shape)).astype(s["dtype"])


def _forward_backward(layer, x, dout):
    """A step that runs layer.forward(x) then layer.backward on a fresh copy of dout (Relu writes into it)."""
    def step():
        layer.forward(x)
        layer.backward(dout.copy())
    return step


def _im2col(mod, s):
    x = _random(_rng(), s, (s["batch"], s["channels"], s["size"], s["size"]))
    return lambda: mod.util.im2col(x, s["fsize"], s["fsize"], 1, 0)


def _col2im(mod, s):
    out = s["size"] - s["fsize"] + 1
    col = _random(_rng(), s, (s["batch"] * out * out, s["channels"] * s["fsize"] ** 2))
    shape = (s["batch"], s["channels"], s["size"], s["size"])
    return lambda: mod.util.col2im(col, shape, s["fsize"], s["fsize"], 1, 0)


def _conv(mod, s):
    rng = _rng()
    W = _normal(rng, s, (s["filters"], s["channels"], s["fsize"], s["fsize"]), 0.01)
    layer = mod.layers.Convolution(W, np.zeros(s["filters"], dtype=s["dtype"]), 1, 0)
    x = _random(rng, s, (s["batch"], s["channels"], s["size"], s["size"]))
    out = s["size"] - s["fsize"] + 1
    dout = _normal(rng, s, (s["batch"], s["filters"], out, out))

    return _forward_backward(layer, x, dout)


def _pool(mod, s):
    rng = _rng()
    layer = mod.layers.Pooling(2, 2, 2)
    x = _normal(rng, s, (s["batch"], s["pool_ch"], s["pool_size"], s["pool_size"]))
    dout = _normal(rng, s, (s["batch"], s["pool_ch"], s["pool_size"] // 2, s["pool_size"] // 2))

    return _forward_backward(layer, x, dout)


def _affine(mod, s):
    rng = _rng()
    layer = mod.layers.Affine(_normal(rng, s, (s["affine_in"], s["hidden"]), 0.01),
                              np.zeros(s["hidden"], dtype=s["dtype"]))
    x = _random(rng, s, (s["batch"], s["affine_in"]))
    dout = _normal(rng, s, (s["batch"], s["hidden"]))

    return _forward_backward(layer, x, dout)


def _softmax_loss(mod, s):
    rng = _rng()
    layer = mod.layers.SoftmaxWithLoss()
    x = _normal(rng, s, (s["batch"], s["classes"]))
    t = rng.integers(0, s["classes"], s["batch"])

    def step():
        layer.forward(x, t)
        layer.backward(1)
    return step


def _sum_of_squares():
    import numba

    @numba.njit(cache=False)  # built once per process for the benchmark only
    def f(x):
        return np.sum(x * x)
    return f


def _numgrad(mod, s):
    f = _sum_of_squares()
    x = _random(_rng(), s, s["grad_shape"])
    return lambda: mod.gradient.numerical_gradient(f, x)


def _net_numgrad(mod, s):
    rng = _rng()
    state = np.random.get_state()
    np.random.seed(0)
    net = mod.TwoLayerNet(s["net_input"], 10, s["classes"], dtype=s["dtype"])
    np.random.set_state(state)
    x = _random(rng, s, (s["net_batch"], s["net_input"]))
    t = rng.integers(0, s["classes"], s["net_batch"])
    return lambda: net.numerical_gradient(x, t)


def _convnet_step(mod, s):
    rng = _rng()
    state = np.random.get_state()
    np.random.seed(0)
    net = mod.SimpleConvNet(dtype=s["dtype"])
    np.random.set_state(state)
    opt = mod.optimizer.Adam(lr=0.001)
    x = _random(rng, s, (s["batch"], 1, 28, 28))
    t = rng.integers(0, 10, s["batch"])

    def step():
        opt.update(net.params, net.gradient(x, t))
    return step


# --- PyTorch counterparts (CPU, the shapes' dtype) --------------------------------------------

def _torch_unfold(torch, s):
    F = torch.nn.functional
    x = torch.from_numpy(_random(_rng(), s, (s["batch"], s["channels"], s["size"], s["size"])))
    return lambda: F.unfold(x, s["fsize"])


def _torch_fold(torch, s):
    F = torch.nn.functional
    out = s["size"] - s["fsize"] + 1
    col = torch.from_numpy(_random(_rng(), s, (s["batch"], s["channels"] * s["fsize"] ** 2, out * out)))
    return lambda: F.fold(col, (s["size"], s["size"]), s["fsize"])


def _torch_layer(torch, s, fn, x_shape, params, dout_shape):
    rng = _rng()
    x = torch.from_numpy(_random(rng, s, x_shape)).requires_grad_()
    ps = [torch.from_numpy(_normal(rng, s, p, 0.01)).requires_grad_() for p in params]
    dout = torch.from_numpy(_normal(rng, s, dout_shape))

    def step():
        fn(x, *ps).backward(dout)
    return step


def _torch_conv(torch, s):
    out = s["size"] - s["fsize"] + 1
    return _torch_layer(torch, s, torch.nn.functional.conv2d,
                        (s["batch"], s["channels"], s["size"], s["size"]),
                        [(s["filters"], s["channels"], s["fsize"], s["fsize"]), (s["filters"],)],
                        (s["batch"], s["filters"], out, out))


def _torch_pool(torch, s):
    return _torch_layer(torch, s, lambda x: torch.nn.functional.max_pool2d(x, 2, 2),
                        (s["batch"], s["pool_ch"], s["pool_size"], s["pool_size"]), [],
                        (s["batch"], s["pool_ch"], s["pool_size"] // 2, s["pool_size"] // 2))


def _torch_affine(torch, s):
    return _torch_layer(torch, s, lambda x, W, b: x @ W + b, (s["batch"], s["affine_in"]),
                        [(s["affine_in"], s["hidden"]), (s["hidden"],)], (s["batch"], s["hidden"]))


def _torch_softmax_loss(torch, s):
    rng = _rng()
    x = torch.from_numpy(_normal(rng, s, (s["batch"], s["classes"]))).requires_grad_()
    t = torch.from_numpy(rng.integers(0, s["classes"], s["batch"]))
    return lambda: torch.nn.functional.cross_entropy(x, t).backward()


def _torch_convnet_step(torch, s):
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
                        nn.Linear(4320, 100), nn.ReLU(), nn.Linear(100, 10)).to(getattr(torch, s["dtype"]))
    opt = torch.optim.Adam(net.parameters(), lr=0.001)
    rng = _rng()
    x = torch.from_numpy(_random(rng, s, (s["batch"], 1, 28, 28)))
    t = torch.from_numpy(rng.integers(0, 10, s["batch"]))

    def step():
        opt.zero_grad()
        torch.nn.functional.cross_entropy(net(x), t).backward()
        opt.step()
    return step


@dataclass
class Case:
    """One hot path: a name, a shape label, a builder per API and optionally for PyTorch."""
    name: str
    label: Callable[[dict], str]
    build: Callable
    torch: Optional[Callable] = None


CASES = [
    Case("im2col", lambda s: f"x({s['batch']},{s['channels']},{s['size']},{s['size']}) {s['fsize']}x{s['fsize']}",
         _im2col, _torch_unfold),
    Case("col2im", lambda s: f"x({s['batch']},{s['channels']},{s['size']},{s['size']}) {s['fsize']}x{s['fsize']}",
         _col2im, _torch_fold),
    Case("conv fwd+bwd", lambda s: f"x({s['batch']},{s['channels']},{s['size']},{s['size']}) "
                                   f"W({s['filters']},{s['channels']},{s['fsize']},{s['fsize']})",
         _conv, _torch_conv),
    Case("pool fwd+bwd", lambda s: f"x({s['batch']},{s['pool_ch']},{s['pool_size']},{s['pool_size']}) 2x2",
         _pool, _torch_pool),
    Case("affine fwd+bwd", lambda s: f"x({s['batch']},{s['affine_in']}) W({s['affine_in']},{s['hidden']})",
         _affine, _torch_affine),
    Case("softmax-loss fwd+bwd", lambda s: f"x({s['batch']},{s['classes']})", _softmax_loss, _torch_softmax_loss),
    Case("numerical_gradient", lambda s: f"x{s['grad_shape']}, njit f", _numgrad),
    Case("TwoLayerNet num. grad.", lambda s: f"({s['net_input']},10,{s['classes']}) batch {s['net_batch']}",
         _net_numgrad),
    Case("SimpleConvNet step", lambda s: f"batch {s['batch']}, Adam", _convnet_step, _torch_convnet_step),
]


def _fmt(seconds):
    if seconds is None:
        return "-"
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.2f} ms"
    return f"{seconds:.2f} s"


def torch_env():
    """The environment for PyTorch's timings: the user's own thread settings, without fastscratch's defaults.

    PyTorch and Numba share one OpenMP runtime in a process, and the
    OMP_WAIT_POLICY=PASSIVE that suits the kernels slows PyTorch's convolution
    down: PyTorch is timed in a child process with the environment as the user
    set it.
    """
    import os

    from fastscratch._runtime import process_defaults as _process_defaults
    env = dict(os.environ)
    for name, value in _process_defaults.USER_THREAD_ENV.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    env["FASTSCRATCH_PROCESS_DEFAULTS"] = "0"
    # the child imports this module: from wherever this process found it
    from fastscratch._runtime.child_env import importing_this_fastscratch
    return importing_this_fastscratch(env)


def torch_times(quick, repeat, threads, dtype="float64"):
    """{case name: PyTorch's best time in seconds} from a child process (torch_env); None without torch.

    Raises RuntimeError when the child fails.
    """
    import json
    import subprocess
    import sys
    code = ("import json; from fastscratch._apps.bench import _torch_child; "
            f"print(json.dumps(_torch_child({bool(quick)!r}, {int(repeat)}, {int(threads)}, {str(dtype)!r})))")
    proc = subprocess.run([sys.executable, "-c", code], env=torch_env(), capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the PyTorch timings failed (exit status {proc.returncode}):\n{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _torch_child(quick, repeat, threads, dtype="float64"):
    """In the child process: time every case's PyTorch counterpart; None when torch is not importable."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)  # the kernels' thread count
    shapes = dict(QUICK if quick else FULL, dtype=dtype)
    return {case.name: best_time(case.torch(torch, shapes), repeat=repeat, warmup=True) for case in CASES if case.torch}


def main(quick=False, torch=False, out=None, dtype="float64"):
    """Time every case for the reference and the kernels (and PyTorch) in dtype; print a table. Returns 0."""
    import sys

    import fastscratch
    from fastscratch import reference
    out = sys.stdout if out is None else out
    shapes = dict(QUICK if quick else FULL, dtype=np.dtype(dtype).name)
    repeat = 3 if quick else 7
    ttimes = None
    if torch:
        import numba
        ttimes = torch_times(quick, repeat, numba.get_num_threads(), shapes["dtype"])
        if ttimes is None:
            print("PyTorch is not importable: no torch columns", file=out)
    header = f"{'hot path':<24}{'shape':<36}{'reference':>12}{'kernels':>12}{'speedup':>9}"
    if ttimes is not None:
        header += f"{'torch':>12}{'vs torch':>10}"
    print(header, file=out)
    print("-" * len(header), file=out)
    for case in CASES:
        ref = best_time(case.build(reference, shapes), repeat=repeat, warmup=True)
        fast = best_time(case.build(fastscratch, shapes), repeat=repeat, warmup=True)
        row = f"{case.name:<24}{case.label(shapes):<36}{_fmt(ref):>12}{_fmt(fast):>12}{ref / fast:>8.1f}x"
        if ttimes is not None:
            tt = ttimes.get(case.name)
            row += f"{_fmt(tt):>12}" + (f"{tt / fast:>9.1f}x" if tt else f"{'-':>10}")
        print(row, file=out, flush=True)
    print("times: best of %d after a warm-up call (compilation excluded); speedup = reference / kernels"
          % repeat + f"; {shapes['dtype']} inputs and parameters"
          + ("; vs torch = torch / kernels (same dtype and threads; PyTorch timed in a child process"
                      " with the environment's own OMP_WAIT_POLICY)" if ttimes is not None else ""),
          file=out)
    return 0
