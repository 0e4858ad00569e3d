"""Batch-norm kernels (fastscratch.kernels.norm) through BatchNormalization, vs the reference."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _dense_cases import DTYPES, SETTINGS, as_layout, assert_bitwise, assert_close, dtypes, layouts, normal
from fastscratch import layers as L
from fastscratch.reference import layers as RL

ATTRS = ("xc", "xn", "std", "running_mean", "running_var")


@st.composite
def bn_shapes(draw):
    N = draw(st.integers(1, 12))
    if draw(st.booleans()):
        return (N, draw(st.integers(1, 20)))
    return (N,) + tuple(draw(st.lists(st.integers(1, 4), min_size=3, max_size=3)))


def _pair(D, dtype, rng, param_dtype=None):
    pd = dtype if param_dtype is None else param_dtype
    gamma = (1 + 0.3 * rng.standard_normal(D)).astype(pd)
    beta = (0.3 * rng.standard_normal(D)).astype(pd)
    ours = L.BatchNormalization(gamma, beta, momentum=0.8)
    ref = RL.BatchNormalization(gamma, beta, momentum=0.8)
    return ours, ref, gamma, beta


def _check_bn(shape, dtype, layout, seed, param_dtype=None, steps=2):
    rng = np.random.default_rng(seed)
    D = int(np.prod(shape[1:]))
    ours, ref, gamma, beta = _pair(D, dtype, rng, param_dtype)
    g0, b0 = gamma.copy(), beta.copy()
    for _ in range(steps):  # running statistics accumulate over steps
        x = as_layout((normal(rng, shape, dtype) * 2 + 1), layout)
        x0 = x.copy()
        out, expected = ours.forward(x, True), ref.forward(x, True)
        assert_close(out, expected, tol_dtype=dtype)
        for a in ATTRS:
            assert_close(getattr(ours, a), getattr(ref, a), tol_dtype=dtype)
        assert ours.batch_size == ref.batch_size and ours.input_shape == ref.input_shape
        dout = as_layout(normal(rng, out.shape, out.dtype), layout)
        d0 = dout.copy()
        dx, dx_ref = ours.backward(dout), ref.backward(dout)
        # dx subtracts a mean gradient (a sum that cancels): scale atol by the terms
        scale = np.abs(dout).max() * np.abs(gamma).max() / ref.std.min() * 4
        assert_close(dx, dx_ref, scale=scale, tol_dtype=dtype)
        assert_close(ours.dgamma, ref.dgamma, scale=np.abs(dout).max() * np.abs(ref.xn).max() * shape[0],
                     tol_dtype=dtype)
        assert_close(ours.dbeta, ref.dbeta, scale=np.abs(dout).max() * shape[0], tol_dtype=dtype)
        for a, a0 in ((x, x0), (dout, d0), (gamma, g0), (beta, b0)):
            assert_bitwise(a, a0)
    xt = as_layout(normal(rng, shape, dtype), layout)
    assert_close(ours.forward(xt, False), ref.forward(xt, False), tol_dtype=dtype)
    # bitwise repeatable
    again = L.BatchNormalization(gamma, beta, momentum=0.8)
    assert_bitwise(again.forward(x), L.BatchNormalization(gamma, beta, momentum=0.8).forward(x))
    again2 = L.BatchNormalization(gamma, beta, momentum=0.8)
    again2.forward(x)
    assert_bitwise(again.backward(dout), again2.backward(dout))


@SETTINGS
@given(bn_shapes(), dtypes, layouts, st.integers(0, 2**16))
def test_batchnorm_matches_reference(shape, dtype, layout, seed):
    _check_bn(shape, dtype, layout, seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(100, 100), (200, 300), (1, 5), (8, 3, 5, 5), (64, 16, 8, 8)],
                         ids=["100x100", "parallel", "batch1", "4d", "4d-parallel"])
def test_batchnorm_fixed(shape, dtype):
    _check_bn(shape, dtype, "contiguous", 3)


def test_batchnorm_mixed_dtypes():
    # float32 inputs with the networks' float64 gamma/beta: output widens, statistics stay float32
    _check_bn((6, 7), np.float32, "contiguous", 4, param_dtype=np.float64)
    rng = np.random.default_rng(0)
    ours, ref, *_ = _pair(4, np.float64, rng)
    xi = rng.integers(-3, 4, (5, 4))
    assert_close(ours.forward(xi), ref.forward(xi))


def test_batchnorm_initial_running_stats_and_test_mode_first():
    ours, ref, *_ = _pair(3, np.float64, np.random.default_rng(0))
    x = np.arange(6.0).reshape(2, 3)
    assert_close(ours.forward(x, False), ref.forward(x, False))
    assert ours.running_mean.dtype == np.float64 and ours.running_mean.shape == (3,)
    with pytest.raises(ValueError, match="before"):
        ours.backward(np.ones((2, 3)))


@pytest.mark.parametrize("make,exc,match", [
    (lambda: L.BatchNormalization(np.ones(3), np.zeros(3)).forward(np.ones((2, 4))), ValueError,
     r"gamma must have shape \(4,\)"),
    (lambda: L.BatchNormalization(np.ones(4), np.zeros(3)).forward(np.ones((2, 4))), ValueError,
     r"beta must have shape \(4,\)"),
    (lambda: L.BatchNormalization(np.ones(4), np.zeros(4)).forward(np.ones(4)), ValueError, "at least 2-D"),
    (lambda: L.BatchNormalization(np.ones(4), np.zeros(4)).forward(np.ones((2, 4), complex)), TypeError,
     "x must have a real"),
    (lambda: L.BatchNormalization(np.ones(4), np.zeros(4)).forward(np.ones((0, 4))), ValueError, "empty batch"),
    (lambda: _fwd(L.BatchNormalization(np.ones(4), np.zeros(4)), np.ones((2, 4))).backward(np.ones((3, 4))),
     ValueError, r"dout must have shape \(2, 4\)"),
])
def test_batchnorm_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def _fwd(layer, x):
    layer.forward(x)
    return layer


@pytest.mark.parametrize("dtype", DTYPES)
def test_batchnorm_parallel_kernels_forced(dtype, monkeypatch):
    # batch norm is light arithmetic over three passes: parallel only from PARALLEL_MIN_MEMORY_BOUND
    # elements; force it here
    from fastscratch.kernels import _jit
    monkeypatch.setattr(_jit, "PARALLEL_MIN_MEMORY_BOUND", 0)
    _check_bn((40, 3, 5, 7), dtype, "contiguous", 5)
    _check_bn((9, 50), dtype, "strided", 6)
