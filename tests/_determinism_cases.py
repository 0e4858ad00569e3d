"""Outputs of every kernel-backed public op on fixed seeded inputs, for the determinism tests.

``outputs()`` returns {case name: list of arrays}. Sizes are chosen so that the
parallel kernels (not only their serial twins) run: element-wise and dense
kernels switch to prange at 2**15 elements. Run in child processes with
different NUMBA_NUM_THREADS, then compared as hashes: ``python
tests/_determinism_cases.py`` prints {name: sha256} as JSON.
"""
import hashlib
import json
import sys

import numpy as np


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


def _conv_cases(fs, out):
    for dt in (np.float32, np.float64):
        tag = np.dtype(dt).name
        r = _rng(1)
        x = r.standard_normal((8, 3, 15, 13)).astype(dt)
        col = fs.util.im2col(x, 3, 4, 2, 1)
        out[f"im2col-{tag}"] = [col]
        out[f"col2im-{tag}"] = [fs.util.col2im(r.standard_normal(col.shape).astype(dt), x.shape, 3, 4, 2, 1)]
        # overlapping windows (stride 1 < filter): the scatter-add case
        col1 = r.standard_normal((8 * 13 * 11, 3 * 9)).astype(dt)
        out[f"col2im-overlap-{tag}"] = [fs.util.col2im(col1, x.shape, 3, 3, 1, 0)]

        W = (0.1 * r.standard_normal((6, 3, 3, 3))).astype(dt)
        b = r.standard_normal(6).astype(dt)
        conv = fs.layers.Convolution(W, b, stride=1, pad=1)
        y = conv.forward(x)
        dx = conv.backward(r.standard_normal(y.shape).astype(dt))
        out[f"Convolution-{tag}"] = [y, dx, conv.dW, conv.db]

        pool = fs.layers.Pooling(3, 2, stride=2, pad=1)
        xp = np.round(r.standard_normal((8, 4, 17, 16)), 1).astype(dt)  # rounded: ties in windows
        yp = pool.forward(xp)
        dxp = pool.backward(r.standard_normal(yp.shape).astype(dt))
        out[f"Pooling-{tag}"] = [yp, pool.arg_max, dxp]


def _dense_cases(fs, out):
    L = fs.layers
    for dt in (np.float32, np.float64):
        tag = np.dtype(dt).name
        for n in (16, 512):  # serial and parallel kernels
            r = _rng(2)
            x = r.standard_normal((n, 96)).astype(dt)
            W = (0.1 * r.standard_normal((96, 80))).astype(dt)
            b = r.standard_normal(80).astype(dt)
            aff = L.Affine(W, b)
            y = aff.forward(x)
            dx = aff.backward(r.standard_normal(y.shape).astype(dt))
            out[f"Affine-{tag}-N{n}"] = [y, dx, aff.dW, aff.db]

            relu = L.Relu()
            yr = relu.forward(x)
            dr = relu.backward(r.standard_normal(x.shape).astype(dt))
            sig = L.Sigmoid()
            ys = sig.forward(x)
            ds = sig.backward(r.standard_normal(x.shape).astype(dt))
            out[f"Relu-Sigmoid-{tag}-N{n}"] = [yr, dr, ys, ds]

            np.random.seed(5)
            drop = L.Dropout(0.3)
            yd = drop.forward(x)
            dd = drop.backward(r.standard_normal(x.shape).astype(dt))
            out[f"Dropout-{tag}-N{n}"] = [yd, dd, drop.forward(x, train_flg=False)]

            swl = L.SoftmaxWithLoss()
            s = r.standard_normal((n * 8, 10)).astype(dt)
            t = r.integers(0, 10, n * 8)
            loss = swl.forward(s, t)
            ds1 = swl.backward()
            loss2 = swl.forward(s, np.eye(10, dtype=dt)[t])
            ds2 = swl.backward()
            out[f"SoftmaxWithLoss-{tag}-N{n}"] = [loss, ds1, loss2, ds2]
            out[f"functions-{tag}-N{n}"] = [fs.functions.softmax(s), fs.functions.sigmoid(x),
                                            fs.functions.relu(x),
                                            fs.functions.cross_entropy_error(fs.functions.softmax(s), t),
                                            fs.functions.softmax_loss(s, t)]

            D = 80
            bn = L.BatchNormalization(np.ones(D, dtype=dt) * dt(1.5), np.zeros(D, dtype=dt) + dt(0.25))
            xb = r.standard_normal((n, D)).astype(dt)
            yb = bn.forward(xb)
            dxb = bn.backward(r.standard_normal(xb.shape).astype(dt))
            out[f"BatchNormalization-{tag}-N{n}"] = [yb, dxb, bn.dgamma, bn.dbeta, bn.running_mean,
                                                     bn.running_var, bn.forward(xb, train_flg=False)]


def _optimizer_cases(fs, out):
    names = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]
    for dt in (np.float32, np.float64):
        tag = np.dtype(dt).name
        for name in names:
            r = _rng(3)
            params = {"W": r.standard_normal((300, 200)).astype(dt), "b": r.standard_normal(200).astype(dt)}
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
    out["TwoLayerNet-numerical_gradient"] = [g[k] for k in sorted(g)]
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


def outputs():
    import fastscratch as fs
    out = {}
    for group in (_conv_cases, _dense_cases, _optimizer_cases, _numgrad_cases, _network_cases):
        group(fs, out)
    return out


def main():
    """Print {name: [digest of the first call, digest of a second call in the same process]} as JSON."""
    first = {k: digest(v) for k, v in outputs().items()}
    second = {k: digest(v) for k, v in outputs().items()}
    print(json.dumps({k: [first[k], second.get(k)] for k in first}))


if __name__ == "__main__":
    sys.exit(main())
