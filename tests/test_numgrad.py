"""fastscratch.gradient (numgrad kernels) against fastscratch.reference.gradient.

numerical_gradient(f, x): a Python f takes the book's loop and must be bitwise
the reference; a compiled f takes the parallel kernel (one compilation per f
and x type, so the compiled functions here are few) and must match within
1e-10 and leave x untouched. Network numerical gradients (the incremental
kernels) must match the reference networks' within 1e-7 absolute.
"""
import io
import contextlib

import numba
import numpy as np
import pytest

import fastscratch
import fastscratch.reference as reference
from fastscratch import gradient as fast_gradient
from fastscratch.reference import gradient as ref_gradient


# ---------------------------------------------------------------- smooth test functions

def sum_squares(x):
    return np.sum(x ** 2)


def sin_exp_mix(x):
    return np.sum(np.sin(x) * np.exp(0.3 * x)) + 0.5 * np.sum(x) ** 2


sum_squares_jit = numba.njit(sum_squares)
sin_exp_mix_jit = numba.njit(sin_exp_mix)

SHAPES = [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 2)]


def _x(shape, seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, size=shape)


def _views(shape):
    """x as given, F-ordered, and a negatively strided non-contiguous view."""
    base = _x(shape)
    yield "c", base
    yield "f", np.asfortranarray(base)
    big = _x(tuple(2 * s for s in shape), seed=1)
    yield "strided", big[tuple(slice(None, None, -2) for _ in shape)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}d")
@pytest.mark.parametrize("fn", [sum_squares, sin_exp_mix], ids=lambda f: f.__name__)
def test_numgrad_python_f_bitwise_reference(fn, shape):
    for label, x in _views(shape):
        x_ref, x_fast = x.copy(order="K"), x.copy(order="K")
        expected = ref_gradient.numerical_gradient(fn, x_ref)
        got = fast_gradient.numerical_gradient(fn, x_fast)
        assert got.dtype == expected.dtype and got.shape == expected.shape, label
        assert got.tobytes() == expected.tobytes(), label
        assert x_fast.tobytes() == x.tobytes(), label  # restored after every element


def test_numgrad_python_f_perturbs_x_in_place():
    # the book's networks pass an f that ignores its argument and reads the
    # parameter array itself: that only works if x is perturbed in place
    W, W_ref = _x((3, 4)), _x((3, 4))
    before = W.tobytes()
    got = fast_gradient.numerical_gradient(lambda _: np.sum(np.tanh(W) ** 3), W)
    expected = ref_gradient.numerical_gradient(lambda _: np.sum(np.tanh(W_ref) ** 3), W_ref)
    assert W.tobytes() == before
    np.testing.assert_allclose(got, 3 * np.tanh(W) ** 2 * (1 - np.tanh(W) ** 2), atol=1e-7)
    assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_numgrad_python_f_other_dtypes_bitwise(dtype):
    x = (_x((4, 3)) * 10).astype(dtype)
    expected = ref_gradient.numerical_gradient(sum_squares, x.copy())
    got = fast_gradient.numerical_gradient(sum_squares, x.copy())
    assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()


def test_numgrad_zero_d_and_empty():
    x = np.full((), 1.5)
    expected = ref_gradient.numerical_gradient(sum_squares, x.copy())
    got = fast_gradient.numerical_gradient(sum_squares, x.copy())
    assert got.shape == expected.shape and got.tobytes() == expected.tobytes()
    # the book's nditer refuses an empty x; an empty gradient is the only sensible answer
    for f in (sum_squares, sum_squares_jit):
        got = fast_gradient.numerical_gradient(f, np.zeros((0, 3)))
        assert got.shape == (0, 3) and got.dtype == np.float64


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}d")
def test_numgrad_compiled_f_matches_reference(shape):
    for label, x in _views(shape):
        before = x.tobytes()
        expected = ref_gradient.numerical_gradient(sum_squares_jit, x.copy(order="K"))
        got = fast_gradient.numerical_gradient(sum_squares_jit, x)
        assert x.tobytes() == before, label  # the caller's array is never written
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10, err_msg=label)
        np.testing.assert_allclose(got, 2 * x, rtol=0, atol=1e-6)  # and it is the gradient


def test_numgrad_compiled_f_sin_exp_and_float32():
    x = _x((6, 5))
    before = x.tobytes()
    got = fast_gradient.numerical_gradient(sin_exp_mix_jit, x)
    assert x.tobytes() == before
    expected = ref_gradient.numerical_gradient(sin_exp_mix_jit, x.copy())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    # float32 x: the same per-element arithmetic as the book's loop in float32
    x32 = x[:3, :2].astype(np.float32)
    got32 = fast_gradient.numerical_gradient(sum_squares_jit, x32)
    expected32 = ref_gradient.numerical_gradient(sum_squares_jit, x32.copy())
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, expected32, rtol=1e-5, atol=1e-6)


def test_numgrad_compiled_f_deterministic():
    x = _x((40, 25))
    a = fast_gradient.numerical_gradient(sin_exp_mix_jit, x)
    b = fast_gradient.numerical_gradient(sin_exp_mix_jit, x)
    assert a.tobytes() == b.tobytes()


@numba.njit
def _two_layer_loss(w, x, labels, d_in, d_hidden):
    """A TwoLayerNet-style loss of the flat parameter vector w: Affine-ReLU-Affine-softmax-CE."""
    n = x.shape[0]
    k = labels.max() + 1
    W1 = w[:d_in * d_hidden].reshape(d_in, d_hidden)
    o = d_in * d_hidden
    b1 = w[o:o + d_hidden]
    o += d_hidden
    W2 = w[o:o + d_hidden * k].reshape(d_hidden, k)
    b2 = w[o + d_hidden * k:]
    total = 0.0
    for i in range(n):
        h = np.zeros(d_hidden)
        for j in range(d_hidden):
            s = b1[j]
            for q in range(d_in):
                s += x[i, q] * W1[q, j]
            h[j] = s if s > 0 else 0.0
        z = np.zeros(k)
        for c in range(k):
            s = b2[c]
            for j in range(d_hidden):
                s += h[j] * W2[j, c]
            z[c] = s
        z = z - z.max()
        y = np.exp(z) / np.sum(np.exp(z))
        total -= np.log(y[labels[i]] + 1e-7)
    return total / n


def test_numgrad_compiled_network_loss():
    rng = np.random.default_rng(3)
    d_in, d_hidden, k, n = 6, 5, 3, 4
    x = rng.normal(size=(n, d_in))
    labels = rng.integers(0, k, size=n)
    labels[0] = k - 1
    w = rng.normal(scale=0.5, size=d_in * d_hidden + d_hidden + d_hidden * k + k)

    @numba.njit
    def loss(v):
        return _two_layer_loss(v, x, labels, d_in, d_hidden)

    before = w.tobytes()
    got = fast_gradient.numerical_gradient(loss, w)
    assert w.tobytes() == before
    expected = ref_gradient.numerical_gradient(loss, w.copy())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


def test_numgrad_1d_2d_and_gradient_descent():
    f2 = lambda v: v[0] ** 2 + v[1] ** 2  # noqa: E731  (the book's function_2)
    X = np.array([[3.0, 4.0], [0.0, 2.0], [-1.5, 0.25]])
    assert (fast_gradient.numerical_gradient_2d(f2, X.copy()).tobytes()
            == ref_gradient.numerical_gradient_2d(f2, X.copy()).tobytes())
    assert (fast_gradient.numerical_gradient_1d(f2, X[0].copy()).tobytes()
            == ref_gradient.numerical_gradient_1d(f2, X[0].copy()).tobytes())
    a = fast_gradient.gradient_descent(f2, np.array([-3.0, 4.0]), lr=0.1, step_num=100)
    b = ref_gradient.gradient_descent(f2, np.array([-3.0, 4.0]), lr=0.1, step_num=100)
    assert a.tobytes() == b.tobytes()


def test_numgrad_rejects_non_arrays():
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        fast_gradient.numerical_gradient(sum_squares, [1.0, 2.0])
