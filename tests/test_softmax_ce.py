"""Softmax / cross-entropy kernels (fastscratch.kernels.softmax_ce) through SoftmaxWithLoss and the functions, vs the reference."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _dense_cases import DTYPES, SETTINGS, as_layout, assert_bitwise, assert_close, dtypes, layouts, normal
from fastscratch._layers import functions as F
from fastscratch import layers as L
from fastscratch.reference import functions as RF
from fastscratch.reference import layers as RL

LABEL_DTYPES = [np.uint8, np.int32, np.int64]


def _targets(rng, N, K, kind, dtype):
    labels = rng.integers(0, K, N)
    if kind == "labels":
        return labels.astype(rng.choice(LABEL_DTYPES))
    if kind in ("onehot", "onehot-int"):
        t = np.zeros((N, K), dtype=dtype if kind == "onehot" else np.int64)
        t[np.arange(N), labels] = 1
        return t
    if kind == "soft":  # not one-hot: the loss still takes argmax, backward uses t itself
        t = rng.random((N, K)).astype(dtype)
        return t / t.sum(axis=1, keepdims=True)
    raise ValueError(kind)


def _assert_loss(got, expected):
    assert type(got) is type(expected), (type(got), type(expected))
    assert_close(got, expected)


def _check_swl(x, t):
    x0, t0 = x.copy(), t.copy()
    ours, ref = L.SoftmaxWithLoss(), RL.SoftmaxWithLoss()
    loss, expected = ours.forward(x, t), ref.forward(x, t)
    _assert_loss(loss, expected)
    _assert_loss(ours.loss, ref.loss)
    assert_close(ours.y, ref.y)
    assert ours.t is t
    dx, dx_ref = ours.backward(), ref.backward()
    assert_close(dx, dx_ref, tol_dtype=x.dtype)
    assert_bitwise(x, x0)
    assert_bitwise(t, t0)
    # bitwise repeatable
    again = L.SoftmaxWithLoss()
    assert_bitwise(again.forward(x, t), loss)
    assert_bitwise(again.backward(), dx)
    assert_bitwise(again.y, ours.y)


@SETTINGS
@given(st.integers(1, 20), st.integers(1, 15), dtypes, layouts,
       st.sampled_from(["labels", "onehot", "onehot-int", "soft"]), st.integers(0, 2**16))
def test_softmax_with_loss_matches_reference(N, K, dtype, layout, kind, seed):
    rng = np.random.default_rng(seed)
    x = as_layout(normal(rng, (N, K), dtype) * 5, layout)
    if K == 1 and kind == "labels":
        kind = "onehot"  # the reference reads (N,) labels with K == 1 as one-hot and fails
    _check_swl(x, _targets(rng, N, K, kind, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["labels", "onehot"])
@pytest.mark.parametrize("N,K", [(100, 10), (1000, 1000), (1, 1), (3, 50000)],
                         ids=["mnist-batch", "large-parallel", "1x1", "wide"])
def test_softmax_with_loss_fixed(N, K, dtype, kind):
    rng = np.random.default_rng(N + K)
    if K == 1 and kind == "labels":
        pytest.skip("the reference reads (N,) labels with K == 1 as one-hot and fails")
    _check_swl(normal(rng, (N, K), dtype) * 10, _targets(rng, N, K, kind, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("t", [np.array(2), np.array([2]), np.array([0, 0, 1.0, 0, 0]), np.array([0, 0, 1, 0, 0])],
                         ids=["label-0d", "label-1", "onehot", "onehot-int"])
def test_softmax_with_loss_one_sample(t, dtype):
    x = np.array([0.3, -1.0, 2.0, 0.5, 0.0], dtype=dtype)
    _check_swl(x, t if t.dtype.kind != "f" else t.astype(dtype))


def test_softmax_with_loss_extremes():
    x = np.array([[1000.0, -1000.0, 0.0], [-1e308, 0.0, 1e308], [5.0, 5.0, 5.0]])
    _check_swl(x, np.array([1, 0, 2]))
    _check_swl(np.array([[np.nan, 1.0], [0.0, 1.0]]), np.array([0, 1]))
    # an integer score array is softmaxed in float64, as the reference's exp gives
    _check_swl(np.array([[1, 2, 3], [3, 2, 1]]), np.array([2, 0]))


@pytest.mark.parametrize("x,t,exc,match", [
    (np.ones((2, 3)), np.array([0, 3]), ValueError, r"labels must be in \[0, 3\)"),
    (np.ones((2, 3)), np.array([-1, 0]), ValueError, r"labels must be in \[0, 3\)"),
    (np.ones((2, 3), np.float32), np.array([0, 5], np.uint8), ValueError, "labels must be in"),
    (np.ones((2, 3)), np.array([0, 1, 2]), ValueError, r"t must be one-hot of shape \(2, 3\) or labels"),
    (np.ones((2, 3)), np.ones((3, 2)), ValueError, "t must be one-hot"),
    (np.ones((2, 3)), np.array([0.0, 1.0]), TypeError, "integer dtype"),
    (np.ones((2, 3, 4)), np.array([0, 1]), ValueError, "x must be 1-D or 2-D"),
    (np.ones((2, 3), complex), np.array([0, 1]), TypeError, "x must have a real"),
    (np.ones((2, 3)), np.array([0, 1], dtype=object), TypeError, "t must have a real"),
    (np.ones((2, 3)), [0, 1], TypeError, "t must be a NumPy array"),
    (np.ones((0, 3)), np.zeros(0, int), ValueError, "empty batch"),
    (np.ones((2, 0)), np.zeros(2, int), ValueError, "no classes"),
])
def test_softmax_with_loss_errors(x, t, exc, match):
    with pytest.raises(exc, match=match):
        L.SoftmaxWithLoss().forward(x, t)


def test_softmax_with_loss_backward_before_forward():
    with pytest.raises(ValueError, match="before"):
        L.SoftmaxWithLoss().backward()


# ------------------------------------------------------------------ functions
@SETTINGS
@given(st.lists(st.integers(1, 8), min_size=1, max_size=3).map(tuple), dtypes, layouts, st.integers(0, 2**16))
def test_softmax_function(shape, dtype, layout, seed):
    x = as_layout(normal(np.random.default_rng(seed), shape, dtype) * 4, layout)
    x0 = x.copy()
    out = F.softmax(x)
    assert_close(out, RF.softmax(x))
    assert_bitwise(x, x0)
    assert_bitwise(F.softmax(x), out)


@SETTINGS
@given(st.integers(1, 12), st.integers(2, 12), dtypes, st.sampled_from(["labels", "onehot"]),
       st.booleans(), st.integers(0, 2**16))
def test_cross_entropy_and_softmax_loss_functions(N, K, dtype, kind, one_sample, seed):
    rng = np.random.default_rng(seed)
    x = normal(rng, (N, K), dtype) * 3
    t = _targets(rng, N, K, kind, dtype)
    if one_sample:
        x, t = x[0], t[0]
    y = RF.softmax(x)
    _assert_loss(F.cross_entropy_error(y, t), RF.cross_entropy_error(y, t))
    _assert_loss(F.softmax_loss(x, t), RF.softmax_loss(x, t))


@pytest.mark.parametrize("shape", [(4000, 10), (40, 1000), (8, 50, 100)], ids=["mnist-like", "wide", "3-d"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["labels", "onehot"])
def test_softmax_functions_on_their_kernels(shape, dtype, kind):
    # the hypothesis tests above stay below functions.SMALL, where the functions answer
    # with the reference's NumPy code: these sizes reach the kernels
    assert np.prod(shape) >= F.SMALL
    rng = np.random.default_rng(11)
    x = normal(rng, shape, dtype) * 3
    x0 = x.copy()
    assert_close(F.softmax(x), RF.softmax(x))
    x2 = x.reshape(-1, shape[-1])
    t = _targets(rng, x2.shape[0], shape[-1], kind, dtype)
    y = RF.softmax(x2)
    _assert_loss(F.cross_entropy_error(y, t), RF.cross_entropy_error(y, t))
    _assert_loss(F.softmax_loss(x2, t), RF.softmax_loss(x2, t))
    assert_bitwise(x, x0)


def test_functions_keep_all():
    assert F.__all__ == ["identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu",
                         "relu_grad", "softmax", "sum_squared_error", "mean_squared_error",
                         "cross_entropy_error", "softmax_loss"]
    y, t = np.array([[0.1, 0.9]]), np.array([[0.0, 1.0]])
    assert F.mean_squared_error(y, t) == RF.mean_squared_error(y, t)


def test_function_errors():
    with pytest.raises(ValueError, match="labels must be in"):
        F.cross_entropy_error(np.full((2, 3), 1 / 3), np.array([0, 7]))
    with pytest.raises(ValueError, match="at least 1 dimension"):
        F.softmax(np.array(1.0))
