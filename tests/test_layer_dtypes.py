"""Convolution, Pooling, Affine and SoftmaxWithLoss in float16, float32 and float64, on every memory layout.

Randomised cases (hypothesis): odd shapes, and inputs, weights and upstream
gradients that are C-contiguous, strided, negatively strided, Fortran-ordered
or read-only. The fast layer must give the reference's dtypes and values
within the tolerance table (tests/_tol.py), or, where the reference fails,
raise ValueError/TypeError. A float16 sweep then runs every fast layer,
function and optimizer the reference runs in float16 (issue 13: none may raise
NotImplementedError).
"""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fastscratch as fs
from _conv_cases import ALL_LAYOUTS, as_layout, assert_close, window_cases
from fastscratch import reference as R
from fastscratch.layers import Affine, Convolution, Pooling, SoftmaxWithLoss
from fastscratch.reference import layers as RL
from fastscratch.reference.network_base import plain_accuracy

SETTINGS = settings(max_examples=40, deadline=None)
ALL_DTYPES = [np.float16, np.float32, np.float64]
dtypes = st.sampled_from(ALL_DTYPES)
layouts = st.sampled_from(ALL_LAYOUTS)
seeds = st.integers(0, 2**16)


def _normal(rng, shape, dtype, layout="contiguous"):
    return as_layout(rng.standard_normal(shape).astype(dtype), layout)


def _run_both(fast, ref):
    """(fast(), ref()); where the reference fails, the fast API must raise ValueError/TypeError: (None, None)."""
    try:
        expected = ref()
    except Exception:  # any failure of the book's code
        with pytest.raises((ValueError, TypeError)):
            fast()
        return None, None
    return fast(), expected


def _unchanged(arrays, copies):
    for a, c in zip(arrays, copies, strict=True):
        np.testing.assert_array_equal(a, c)


@SETTINGS
@given(case=window_cases(max_side=9, max_window=4), fn=st.integers(1, 4), dtype=dtypes,
       lx=layouts, lw=layouts, ld=layouts, seed=seeds)
def test_convolution_dtypes_and_layouts(case, fn, dtype, lx, lw, ld, seed):
    shape, fh, fw, stride, pad = case
    rng = np.random.default_rng(seed)
    x = _normal(rng, shape, dtype, lx)
    W = _normal(rng, (fn, shape[1], fh, fw), dtype, lw)
    b = _normal(rng, (fn,), dtype)
    saved = [a.copy() for a in (x, W, b)]
    ours, ref = Convolution(W, b, stride, pad), RL.Convolution(W, b, stride, pad)
    out, expected = _run_both(lambda: ours.forward(x), lambda: ref.forward(x))
    if out is None:
        return
    absref = RL.Convolution(np.abs(W), np.abs(b), stride, pad)  # sums of |terms|: the error scale
    assert_close(out, expected, scale=absref.forward(np.abs(x)))
    dout = _normal(rng, out.shape, out.dtype, ld)
    dout_saved = dout.copy()
    dx, dx_expected = ours.backward(dout), ref.backward(dout)
    assert_close(dx, dx_expected, scale=absref.backward(np.abs(dout)))
    assert_close(ours.dW, ref.dW, scale=absref.dW)
    assert_close(ours.db, ref.db, scale=absref.db)
    _unchanged((x, W, b, dout), saved + [dout_saved])


@SETTINGS
@given(case=window_cases(max_side=9, max_window=4), dtype=dtypes, lx=layouts, ld=layouts, seed=seeds,
       ties=st.booleans())
def test_pooling_dtypes_and_layouts(case, dtype, lx, ld, seed, ties):
    shape, ph, pw, stride, pad = case
    rng = np.random.default_rng(seed)
    values = rng.integers(-2, 3, shape) if ties else rng.standard_normal(shape)  # ties: equal maxima
    x = as_layout(values.astype(dtype), lx)
    saved = x.copy()
    ours, ref = Pooling(ph, pw, stride, pad), RL.Pooling(ph, pw, stride, pad)
    out, expected = _run_both(lambda: ours.forward(x), lambda: ref.forward(x))
    if out is None:
        return
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)  # a maximum is exact in every dtype
    np.testing.assert_array_equal(ours.arg_max, ref.arg_max)
    dout = _normal(rng, out.shape, out.dtype, ld)
    dout_saved = dout.copy()
    dx, dx_expected = ours.backward(dout), ref.backward(dout)
    scale = RL.Pooling(ph, pw, stride, pad)
    scale.forward(x)
    assert_close(dx, dx_expected, scale=scale.backward(np.abs(dout)))
    _unchanged((x, dout), (saved, dout_saved))


@st.composite
def affine_shapes(draw):
    """x shape (N, D) or (N, C, H, W) with odd sizes, and M."""
    n = draw(st.integers(1, 7))
    feature_dims = draw(st.sampled_from([1, 3]))
    dims = tuple(draw(st.integers(1, 5)) for _ in range(feature_dims))
    return (n,) + dims, draw(st.integers(1, 9))


@SETTINGS
@given(shapes=affine_shapes(), dtype=dtypes, lx=layouts, lw=layouts, lb=layouts, ld=layouts, seed=seeds)
def test_affine_dtypes_and_layouts(shapes, dtype, lx, lw, lb, ld, seed):
    x_shape, M = shapes
    D = int(np.prod(x_shape[1:]))
    rng = np.random.default_rng(seed)
    x = _normal(rng, x_shape, dtype, lx)
    W = _normal(rng, (D, M), dtype, lw)
    b = _normal(rng, (M,), dtype, lb)
    saved = [a.copy() for a in (x, W, b)]
    ours, ref = Affine(W, b), RL.Affine(W, b)
    out, expected = _run_both(lambda: ours.forward(x), lambda: ref.forward(x))
    if out is None:
        return
    absx = np.abs(x.reshape(x_shape[0], -1)).astype(np.float64)
    absW = np.abs(W).astype(np.float64)
    assert_close(out, expected, scale=absx @ absW + np.abs(b))
    dout = _normal(rng, out.shape, out.dtype, ld)
    dout_saved = dout.copy()
    dx, dx_expected = ours.backward(dout), ref.backward(dout)
    absd = np.abs(dout).astype(np.float64)
    assert_close(dx, dx_expected, scale=(absd @ absW.T).reshape(x_shape))
    assert_close(ours.dW, ref.dW, scale=absx.T @ absd)
    assert_close(ours.db, ref.db, scale=absd.sum(axis=0))
    _unchanged((x, W, b, dout), saved + [dout_saved])


@SETTINGS
@given(n=st.integers(0, 9), k=st.integers(2, 12), dtype=dtypes, layout=layouts,
       target=st.sampled_from(["labels", "onehot", "onehot-float64"]), seed=seeds)
def test_softmax_with_loss_dtypes_and_layouts(n, k, dtype, layout, target, seed):
    # n == 0: one sample as a 1-D (K,) vector
    rng = np.random.default_rng(seed)
    shape = (k,) if n == 0 else (n, k)
    x = as_layout((3 * rng.standard_normal(shape)).astype(dtype), layout)
    labels = rng.integers(0, k, max(n, 1))
    if target == "labels":
        t = np.array(labels[0]) if n == 0 else labels
    else:
        onehot = np.eye(k, dtype=dtype if target == "onehot" else np.float64)[labels]
        t = onehot[0] if n == 0 else as_layout(onehot, layout)
    saved = x.copy()
    ours, ref = SoftmaxWithLoss(), RL.SoftmaxWithLoss()
    loss, expected = _run_both(lambda: ours.forward(x, t), lambda: ref.forward(x, t))
    if loss is None:
        return
    assert np.asarray(loss).dtype == np.asarray(expected).dtype
    assert_close(np.asarray(loss), np.asarray(expected), scale=np.mean(np.abs(np.log(ref.y + 1e-7))))
    assert_close(ours.y, ref.y)
    dx, dx_expected = ours.backward(1), ref.backward(1)
    assert_close(dx, dx_expected, tol_dtype=dtype)  # a float64 one-hot t widens y - t
    _unchanged((x,), (saved,))


# --------------------------------------------------------------------------- the float16 sweep

def _f16(rng, shape):
    return rng.standard_normal(shape).astype(np.float16)


def _layer_cases(api, rng):
    """{name: () -> list of results} for every layer and hot function of api on float16 inputs from rng."""
    L, F, U = api.layers, api.functions, api.util
    x2, x4 = _f16(rng, (4, 6)), _f16(rng, (2, 3, 6, 5))
    W, b = _f16(rng, (6, 3)), _f16(rng, (3,))
    Wc, bc = _f16(rng, (2, 3, 3, 3)), _f16(rng, (2,))
    t = np.array([0, 2, 1, 5])

    def fwd_bwd(layer, x, *args):
        out = layer.forward(x, *args)
        d = layer.backward(np.ones_like(out) if np.ndim(out) else 1)
        return [out, d] + [getattr(layer, a) for a in ("dW", "db", "dgamma", "dbeta") if hasattr(layer, a)]

    def dropout():
        np.random.seed(0)
        layer = L.Dropout(0.3)
        return fwd_bwd(layer, x2) + [layer.forward(x2, train_flg=False)]

    def batchnorm():
        layer = L.BatchNormalization(np.ones(6, np.float16), np.zeros(6, np.float16))
        return fwd_bwd(layer, x2) + [layer.forward(x2, train_flg=False)]

    return {
        "Relu": lambda: fwd_bwd(L.Relu(), x4),
        "Sigmoid": lambda: fwd_bwd(L.Sigmoid(), x2),
        "Affine": lambda: fwd_bwd(L.Affine(W, b), x2),
        "SoftmaxWithLoss": lambda: fwd_bwd(L.SoftmaxWithLoss(), x2, t),
        "Dropout": dropout,
        "BatchNormalization": batchnorm,
        "Convolution": lambda: fwd_bwd(L.Convolution(Wc, bc, 1, 1), x4),
        "Pooling": lambda: fwd_bwd(L.Pooling(2, 2, 2), x4),
        "softmax": lambda: [F.softmax(x2)],
        "sigmoid": lambda: [F.sigmoid(x2)],
        "relu": lambda: [F.relu(x2)],
        "cross_entropy_error": lambda: [F.cross_entropy_error(F.softmax(x2), t)],
        "softmax_loss": lambda: [F.softmax_loss(x2, t)],
        "im2col-col2im": lambda: [U.im2col(x4, 3, 3, 1, 1),
                                  U.col2im(U.im2col(x4, 3, 3, 1, 1), x4.shape, 3, 3, 1, 1)],
    }


CASE_NAMES = list(_layer_cases(R, np.random.default_rng(0)))


@pytest.mark.parametrize("name", CASE_NAMES)
def test_float16_runs_every_fast_layer_as_the_reference(name):
    ours = _layer_cases(fs, np.random.default_rng(1))[name]()
    expected = _layer_cases(R, np.random.default_rng(1))[name]()
    assert len(ours) == len(expected)
    for got, want in zip(ours, expected, strict=True):
        want = np.asarray(want)
        assert np.asarray(got).dtype == want.dtype, (np.asarray(got).dtype, want.dtype)
        assert_close(np.asarray(got), want)


@pytest.mark.parametrize("opt", ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"])
def test_float16_parameters_update_as_the_reference(opt):
    results = []
    for api in (fs, R):
        rng = np.random.default_rng(2)
        params = {"W": _f16(rng, (5, 4)), "b": _f16(rng, (4,))}
        optimizer = getattr(api.optimizer, opt)(lr=0.01)
        for _ in range(3):
            optimizer.update(params, {"W": _f16(rng, (5, 4)), "b": _f16(rng, (4,))})
        results.append(params)
    for key in ("W", "b"):
        assert results[0][key].dtype == results[1][key].dtype == np.float16
        assert_close(results[0][key], results[1][key])


def test_float16_network_as_half_float_network_makes_it():
    # ch08/half_float_network.py: float16 images, parameters overwritten with their float16 values
    # (param[...] = param.astype(np.float16) keeps the float64 arrays)
    rng = np.random.default_rng(4)
    x = rng.random((4, 1, 28, 28)).astype(np.float16)
    t = rng.integers(0, 10, 4)
    scores = []
    for api in (fs, R):
        np.random.seed(6)
        net = api.SimpleConvNet()
        for param in net.params.values():
            param[...] = param.astype(np.float16)
        scores.append(net.predict(x))
        assert net.accuracy(x, t, batch_size=2) == plain_accuracy(scores[-1], t)
    assert scores[0].dtype == scores[1].dtype
    assert_close(scores[0], scores[1])
