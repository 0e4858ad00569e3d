"""Outputs of every kernel-backed public op on fixed seeded inputs, for the determinism tests.

Each case is made at a size from which its op takes the parallel kernel
(``fastscratch/kernels/_jit.py``: at least ``PARALLEL_MIN`` elements for compute-bound
kernels, ``PARALLEL_MIN_MEMORY_BOUND`` for memory-bound ones; the GEMM block
sizes of ``fastscratch/kernels/gemm.py``), with many more parallel tasks than threads, and
the layers' small-input serial twins get cases of their own. ``main()`` first
turns off the limits of ``fastscratch/_core/small.py`` (``LAYER_ELEMENTS``,
``CONV_WORK``, ``NUMGRAD_WORK``), below which the layers and a network's
numerical gradient would run the reference's NumPy code instead of a kernel.
``fastscratch.functions`` keeps its own limit, ``functions.SMALL`` (equal to
``PARALLEL_MIN``): its small cases run the reference's code, not a serial twin.
Convolutions and pooling have no serial twins (always the parallel kernel). The
convolution runs on each of its routes (im2col, direct kernels, the per-image
GEMMs by taps, by unfolding and mixed).

``main()`` runs in a child process (tests/test_determinism.py) and prints one
JSON document: the sha256 digest of every case at each thread count given
(``numba.set_num_threads``, in one process), the digests of a second round
at the first count, and the parallel kernels that ran (a dispatcher gets a
signature when it is first called), so the tests can prove that the parallel
kernels, not only their twins, were compared.
"""
import contextlib
import hashlib
import json
import sys

import numpy as np

#: rows of the large dense cases: 1024 x 96 inputs (98304 elements), 1024 x 80 outputs (81920)
LARGE_N = 1024
#: parallel kernels only ever called from another kernel: the caller's signature proves they ran
#: (a caller loaded from Numba's cache runs its callee's code without compiling the callee)
CALLED_BY = {"conv._pad_images": "conv.im2col", "conv._im2col_inside": "conv.im2col"}


def digest(arrays):
    """sha256 over the dtype, shape and bytes of each array (or NumPy/Python scalar)."""
    h = hashlib.sha256()
    for a in arrays:
        a = np.asarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def _rng(seed):
    return np.random.default_rng(seed)


@contextlib.contextmanager
def _patched(obj, name, value):
    old = getattr(obj, name)
    setattr(obj, name, value)
    try:
        yield
    finally:
        setattr(obj, name, old)


def _conv_route(route):
    """A context that sends stride-1 convolutions down route: direct, taps, unfold, mixed (forward by taps)."""
    from fastscratch._layers import conv_per_image as _conv_tiled
    if route == "direct":
        return _patched(_conv_tiled, "applies", lambda dtype: False)
    chosen = _conv_tiled.TapProducts(*{"taps": (True, True, True), "unfold": (False, False, False),
                                       "mixed": (True, False, True)}[route])
    return _patched(_conv_tiled, "tap_products", lambda W_shape: chosen)


def _conv_cases(fs, out):
    for dt in (np.float32, np.float64):
        tag = np.dtype(dt).name
        r = _rng(1)
        x = r.standard_normal((16, 3, 15, 13)).astype(dt)
        col = fs.util.im2col(x, 3, 4, 2, 1)
        out[f"im2col-{tag}"] = [col]
        out[f"col2im-{tag}"] = [fs.util.col2im(r.standard_normal(col.shape).astype(dt), x.shape, 3, 4, 2, 1)]
        # overlapping windows (stride 1 < filter): the scatter-add case
        col1 = r.standard_normal((16 * 13 * 11, 3 * 9)).astype(dt)
        out[f"col2im-overlap-{tag}"] = [fs.util.col2im(col1, x.shape, 3, 3, 1, 0)]

        W = (0.1 * r.standard_normal((6, 3, 3, 3))).astype(dt)
        b = r.standard_normal(6).astype(dt)
        dy = r.standard_normal((16, 6, 8, 7)).astype(dt)
        conv = fs.layers.Convolution(W, b, stride=2, pad=1)  # stride 2: the im2col route
        out[f"Convolution-im2col-{tag}"] = [conv.forward(x), conv.backward(dy), conv.dW, conv.db]
        for route in ("direct", "taps", "unfold", "mixed"):
            for k in (3, 5):  # the direct route's two tap blocks
                Wk = (0.1 * r.standard_normal((6, 3, k, k))).astype(dt)
                with _conv_route(route):
                    conv = fs.layers.Convolution(Wk, b, stride=1, pad=1)
                    y = conv.forward(x)
                    dx = conv.backward(r.standard_normal(y.shape).astype(dt))
                out[f"Convolution-{route}-{k}x{k}-{tag}"] = [y, dx, conv.dW, conv.db]

        pool = fs.layers.Pooling(3, 2, stride=2, pad=1)
        xp = np.round(r.standard_normal((16, 4, 17, 16)), 1).astype(dt)  # rounded: ties in windows
        yp = pool.forward(xp)
        dxp = pool.backward(r.standard_normal(yp.shape).astype(dt))
        out[f"Pooling-{tag}"] = [yp, pool.arg_max, dxp]


def _dense_layer_cases(fs, out, dt, n):
    L = fs.layers
    tag = f"{np.dtype(dt).name}-N{n}"
    r = _rng(2)
    x = r.standard_normal((n, 96)).astype(dt)
    W = (0.1 * r.standard_normal((96, 80))).astype(dt)
    b = r.standard_normal(80).astype(dt)
    aff = L.Affine(W, b)
    y = aff.forward(x)
    dx = aff.backward(r.standard_normal(y.shape).astype(dt))
    out[f"Affine-{tag}"] = [y, dx, aff.dW, aff.db]

    relu = L.Relu()
    yr = relu.forward(x)
    dr = relu.backward(r.standard_normal(x.shape).astype(dt))
    sig = L.Sigmoid()
    ys = sig.forward(x)
    ds = sig.backward(r.standard_normal(x.shape).astype(dt))
    out[f"Relu-Sigmoid-{tag}"] = [yr, dr, ys, ds]

    np.random.seed(5)
    drop = L.Dropout(0.3)
    yd = drop.forward(x)
    dd = drop.backward(r.standard_normal(x.shape).astype(dt))
    out[f"Dropout-{tag}"] = [yd, dd, drop.forward(x, train_flg=False)]

    D = 80
    bn = L.BatchNormalization(np.ones(D, dtype=dt) * dt(1.5), np.zeros(D, dtype=dt) + dt(0.25))
    xb = r.standard_normal((n, D)).astype(dt)
    yb = bn.forward(xb)
    dxb = bn.backward(r.standard_normal(xb.shape).astype(dt))
    out[f"BatchNormalization-{tag}"] = [yb, dxb, bn.dgamma, bn.dbeta, bn.running_mean,
                                        bn.running_var, bn.forward(xb, train_flg=False)]


def _softmax_cases(fs, out, dt, rows):
    tag = f"{np.dtype(dt).name}-N{rows}"
    r = _rng(3)
    s = r.standard_normal((rows, 10)).astype(dt)
    t = r.integers(0, 10, rows)
    swl = fs.layers.SoftmaxWithLoss()
    loss = swl.forward(s, t)
    ds1 = swl.backward()
    loss2 = swl.forward(s, np.eye(10, dtype=dt)[t])
    ds2 = swl.backward()
    out[f"SoftmaxWithLoss-{tag}"] = [loss, ds1, loss2, ds2]
    x = r.standard_normal((rows, 10)).astype(dt)
    out[f"functions-{tag}"] = [fs.functions.softmax(s), fs.functions.sigmoid(x), fs.functions.relu(x),
                               fs.functions.cross_entropy_error(fs.functions.softmax(s), t),
                               fs.functions.softmax_loss(s, t)]


def _dense_cases(fs, out):
    for dt in (np.float32, np.float64):
        _dense_layer_cases(fs, out, dt, 16)        # serial twins
        _dense_layer_cases(fs, out, dt, LARGE_N)   # parallel kernels
        _softmax_cases(fs, out, dt, 16)
        _softmax_cases(fs, out, dt, 8 * LARGE_N)   # 81920 elements


def _gemm_cases(fs, out):
    from fastscratch._layers import matmul as _blas
    r = _rng(9)
    for dt in (np.float32, np.float64):
        tag = np.dtype(dt).name
        a = r.standard_normal((512, 300)).astype(dt)
        b = r.standard_normal((300, 200)).astype(dt)
        out[f"gemm-blocks-{tag}"] = [_blas.matmul(a, b)]
        k = r.standard_normal((8192, 40)).astype(dt)  # a long reduction: blocks along k
        out[f"gemm-tn-{tag}"] = [_blas.matmul_tn(k, r.standard_normal((8192, 30)).astype(dt))]
    # float32 rows against float64 weights (the book's MNIST batches): widened piece by piece
    a32 = r.standard_normal((2048, 300)).astype(np.float32)
    out["gemm-widen"] = [_blas.matmul(a32, r.standard_normal((300, 100)))]


def _optimizer_cases(fs, out):
    names = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]
    for dt in (np.float32, np.float64):
        tag = np.dtype(dt).name
        for name in names:
            r = _rng(3)
            # W: 76800 elements, above the memory-bound threshold; b: the serial twin
            params = {"W": r.standard_normal((300, 256)).astype(dt), "b": r.standard_normal(256).astype(dt)}
            opt = getattr(fs.optimizer, name)()
            for _ in range(3):
                grads = {k: r.standard_normal(v.shape).astype(dt) for k, v in params.items()}
                opt.update(params, grads)
            out[f"{name}-{tag}"] = [params["W"], params["b"]]


_F = []


def _compiled_f():
    # one dispatcher per process: the numgrad kernel compiles once per distinct f (not cached on disk)
    if not _F:
        import numba

        @numba.njit
        def f(x):
            return np.sum(np.sin(x) * x) + x[0] * x[-1]

        _F.append(f)
    return _F[0]


def _numgrad_cases(fs, out):
    # float64 only: each dtype is one more compilation of the kernel in every process
    x = _rng(4).standard_normal(1000)
    out["numerical_gradient-njit-float64"] = [fs.gradient.numerical_gradient(_compiled_f(), x)]


def _network_cases(fs, out):
    np.random.seed(7)
    net = fs.TwoLayerNet(input_size=20, hidden_size=10, output_size=5)
    r = _rng(6)
    x = r.standard_normal((8, 20))
    t = r.integers(0, 5, 8)
    g = net.numerical_gradient(x, t)
    out["TwoLayerNet-numerical_gradient"] = [g[k] for k in sorted(g)]  # the serial twin: 265 params x 8 rows
    net = fs.TwoLayerNet(input_size=64, hidden_size=32, output_size=10)
    x, t = r.standard_normal((16, 64)), r.integers(0, 10, 16)
    g = net.numerical_gradient(x, t)  # 2410 params x 16 rows: above PARALLEL_MIN, the parallel kernel
    out["TwoLayerNet-numerical_gradient-parallel"] = [g[k] for k in sorted(g)]
    np.random.seed(8)
    cnet = fs.SimpleConvNet(input_dim=(1, 10, 10),
                            conv_param={"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1},
                            hidden_size=6, output_size=3)
    xc = r.standard_normal((5, 1, 10, 10))
    tc = r.integers(0, 3, 5)
    g = cnet.gradient(xc, tc)
    out["SimpleConvNet-gradient"] = [g[k] for k in sorted(g)]
    g = cnet.numerical_gradient(xc, tc)
    out["SimpleConvNet-numerical_gradient"] = [g[k] for k in sorted(g)]
    np.random.seed(9)  # the book's MNIST shapes at batch 100: every layer's parallel kernels
    big = fs.SimpleConvNet()
    xb = r.random((100, 1, 28, 28)).astype(np.float32)
    tb = r.integers(0, 10, 100)
    g = big.gradient(xb, tb)
    out["SimpleConvNet-gradient-batch100"] = [g[k] for k in sorted(g)]


GROUPS = (_conv_cases, _dense_cases, _gemm_cases, _optimizer_cases, _numgrad_cases, _network_cases)


def outputs():
    import fastscratch as fs
    out = {}
    for group in GROUPS:
        group(fs, out)
    return out


def parallel_kernels():
    """{"module.name": dispatcher} of every parallel kernel in fastscratch.kernels."""
    import importlib
    import pkgutil

    import numba

    import fastscratch.kernels
    found = {}
    for info in pkgutil.iter_modules(fastscratch.kernels.__path__):
        mod = importlib.import_module("fastscratch.kernels." + info.name)
        for name, obj in vars(mod).items():
            if (isinstance(obj, numba.core.registry.CPUDispatcher) and obj.py_func.__module__ == mod.__name__
                    and obj.targetoptions.get("parallel")):
                found[f"{info.name}.{name}"] = obj
    return found


def _ran(name, kernels):
    import fastscratch.kernels.conv as kc
    if name in CALLED_BY:
        return bool(getattr(kc, CALLED_BY[name].split(".")[1]).signatures)
    return bool(kernels[name].signatures)


def main(threads=(2,)):
    """Print {"digests": {threads: {case: sha256}}, "again": {case: sha256}, "ran": [...], ...} as JSON.

    threads: the counts to run every case at, one after another in this process
    (each at most NUMBA_NUM_THREADS); "again" is a second round at threads[0].
    """
    import numba

    from fastscratch._core import small as _small
    _small.disable()  # the cases are the kernels' (as tests/conftest.py does in process), not the NumPy route
    digests = {}
    for n in threads:
        numba.set_num_threads(n)
        digests[str(n)] = {k: digest(v) for k, v in outputs().items()}
    numba.set_num_threads(threads[0])
    again = {k: digest(v) for k, v in outputs().items()}
    kernels = parallel_kernels()
    print(json.dumps({"digests": digests, "again": again, "pool": numba.config.NUMBA_NUM_THREADS,
                      "layer": numba.threading_layer(), "kernels": sorted(kernels),
                      "ran": sorted(name for name in kernels if _ran(name, kernels))}))


if __name__ == "__main__":
    sys.exit(main(tuple(int(a) for a in sys.argv[1:]) or (2,)))
