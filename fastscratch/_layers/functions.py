"""The implementation of ``fastscratch.functions`` (the book's ``common.functions``): kernels where the functions are hot, the reference elsewhere.

``relu``, ``softmax``, ``cross_entropy_error`` and ``softmax_loss`` run on Numba
kernels for float32/float64 arrays of at least ``SMALL`` elements and return what
the reference returns (same values to rounding, same dtypes, same shapes).
Smaller arrays and anything else (Python scalars, integer arrays, float16; see
``fastscratch._core.dtypes``) go to the reference after the same checks, and
``sigmoid`` is always the reference's expression. The remaining functions are
the reference's.
"""
import numpy as np

from fastscratch._core.dtypes import KERNEL_CHARS, KERNEL_DTYPES
from fastscratch._core.trace import is_traced
from fastscratch._core.validate import as_float, check_array, check_ndim, check_nonempty, check_real_dtype
from fastscratch.kernels import dense as _kd
from fastscratch.kernels import softmax_ce as _ks
from fastscratch.kernels._jit import PARALLEL_MIN
from fastscratch.kernels._jit import pick as _pick
from fastscratch.reference import functions as _reference
from fastscratch.reference import network_base as _reference_network_base
from fastscratch.reference.functions import identity_function, mean_squared_error, relu_grad, sigmoid_grad, step_function, sum_squared_error

__all__ = ["identity_function", "step_function", "sigmoid", "sigmoid_grad", "relu", "relu_grad",
           "softmax", "sum_squared_error", "mean_squared_error", "cross_entropy_error", "softmax_loss"]


#: Arrays of fewer elements take the reference's NumPy code (after the same checks).
#: There NumPy costs microseconds per call, while the first kernel call of a process
#: costs Numba's one-time set-up: a script that only calls these functions on small
#: arrays (chapter 3's and 4's) would pay it and never earn it back. It also gives
#: the reference's bits for small arrays. The layers keep their kernels: a network
#: calls other kernels anyway.
SMALL = PARALLEL_MIN


def _is_float_array(x):
    return type(x) is np.ndarray and x.dtype.char in KERNEL_CHARS


def _elementwise(x, parallel, serial):
    """Run a flat element-wise kernel on a float array; returns a new C-ordered array of x's shape."""
    xc = np.ascontiguousarray(x)  # a copy only for strided input, never written
    out = np.empty(x.shape, dtype=x.dtype)
    _pick(x.size, parallel, serial)(xc.reshape(-1), out.reshape(-1))
    return out


def _check_real_if_array(x):
    # Python and NumPy scalars, lists: the reference's NumPy expression handles them;
    # an array must be real (complex, object, strings refused, as the layers do)
    if isinstance(x, np.ndarray):
        check_real_dtype(x, "x")


def sigmoid(x):
    """1 / (1 + exp(-x)), element-wise; float32 stays float32.

    NumPy's own expression, the reference's, for every input: NumPy's
    vectorised exp is faster than a compiled loop calling libm's scalar exp (on
    small arrays and large, one thread or two), and it gives the reference's bits.
    """
    _check_real_if_array(x)
    return _reference.sigmoid(x)


def relu(x):
    """np.maximum(0, x), element-wise (NaN propagates)."""
    if not _is_float_array(x) or x.size < SMALL:
        _check_real_if_array(x)
        return _reference.relu(x)
    return _elementwise(x, _kd.relu, _kd.relu_serial)


def _as_rows(x, name):
    """A float array of ndim >= 1 as a C-contiguous (rows, K) array plus x's (float) dtype-preserving view."""
    x = as_float(x, name)
    if x.ndim == 0:
        raise ValueError(f"{name} must have at least 1 dimension (..., K); got shape ()")
    if x.shape[-1] == 0:
        raise ValueError(f"{name} has no classes (last axis of length 0); got shape {x.shape}")
    return np.ascontiguousarray(x).reshape(-1, x.shape[-1])


def softmax(x):
    """Numerically stable softmax over the last axis.

    x : ndarray of shape (..., K). Returns the same shape, float (int input gives float64).
    """
    if is_traced(x):  # a numerical gradient's trace records the reference's expression
        return _reference.softmax(x)
    rows = _as_rows(x, "x")
    if rows.dtype.char not in KERNEL_CHARS or rows.size < SMALL:  # float16, longdouble: no kernel; small: see SMALL
        return _reference.softmax(rows).reshape(x.shape)
    y = np.empty(rows.shape, dtype=rows.dtype)
    _pick(rows.size, _ks.softmax, _ks.softmax_serial)(rows, y)
    return y.reshape(x.shape)


def _labels(y2, t, name):
    """Targets for (N, K) scores/probabilities y2 as int labels (N,), range-checked, and whether t was one-hot.

    t : one-hot of y2's shape (reduced by argmax, as the reference does) or labels (N,).
    """
    check_real_dtype(check_array(t, name), name)
    N, K = y2.shape
    if t.shape == y2.shape:
        # one-hot: the reference reduces it with argmax over classes
        return t.argmax(axis=1), True
    # A column of labels (N, 1) is what the book's chapter 7 gradient check passes
    # (T = np.array([1]).reshape((1, 1))); read it as (N,) labels. For N > 1 the
    # reference's fancy indexing broadcasts it to (N, N) (a book bug, README).
    if t.shape != (N,) and t.shape != (N, 1):
        raise ValueError(f"{name} must be one-hot of shape {(N, K)} or labels of shape {(N,)}; "
                         f"got shape {t.shape}")
    if t.dtype.kind not in "iu":
        raise TypeError(f"{name} holds class labels and must have an integer dtype; got {t.dtype}")
    idx = np.ascontiguousarray(t.reshape(N)).astype(np.intp, copy=False)
    in_range = (idx.size == 0 or (idx.min() >= 0 and idx.max() < K)) if idx.size < SMALL \
        else _ks.labels_in_range(idx, K)
    if not in_range:
        raise ValueError(f"{name} labels must be in [0, {K}); got values from {t.min()} to {t.max()}")
    return idx, False


def _batch(y, t, name_y, name_t):
    """y (K,) or (N, K) as C-contiguous float (N, K), t as labels (N,), and whether t was one-hot."""
    y = as_float(y, name_y)
    check_ndim(y, name_y, (1, 2), "(K,) or (N, K)")
    if y.ndim == 1:  # one sample
        y = y.reshape(1, y.size)
        if isinstance(t, np.generic):  # a NumPy scalar label, as t[i] gives
            t = np.asarray(t)
        check_array(t, name_t)
        t = t.reshape(1, t.size) if t.size == y.size else t.reshape(t.size)
    check_nonempty(y, name_y)
    if y.shape[1] == 0:
        raise ValueError(f"{name_y} has no classes (K = 0); got shape {y.shape}")
    return (np.ascontiguousarray(y),) + _labels(y, t, name_t)


def _mean_loss(total, dtype, n):
    # the reference's -np.sum(log terms) / batch_size in the input's dtype
    return dtype.type(-total) / dtype.type(n)  # not / n: NumPy 1 would widen a float32 loss


def cross_entropy_error(y, t):
    """Mean cross-entropy of probabilities y (K,) or (N, K) against one-hot or label targets t.

    Adds the book's 1e-7 inside the log. Returns a NumPy scalar of y's float dtype.
    """
    if is_traced(y):  # a numerical gradient's trace records the reference's expression
        return _reference.cross_entropy_error(y, t)
    y2, idx, _ = _batch(y, t, "y", "t")
    if y2.dtype.char not in KERNEL_CHARS or y2.size < SMALL:  # float16, longdouble: no kernel; small: see SMALL
        return _reference.cross_entropy_error(y2, idx)
    rowlog = np.empty(y2.shape[0])
    return _mean_loss(_ks.cross_entropy(y2, idx, rowlog), y2.dtype, y2.shape[0])


def softmax_loss(X, t):
    """cross_entropy_error(softmax(X), t) in one kernel pass per row."""
    if is_traced(X):  # a numerical gradient's trace records the reference's expression
        return _reference.softmax_loss(X, t)
    x2, idx, _ = _batch(X, t, "X", "t")
    if x2.dtype.char not in KERNEL_CHARS or x2.size < SMALL:  # float16, longdouble: no kernel; small: see SMALL
        return _reference.cross_entropy_error(_reference.softmax(x2), idx)
    y = np.empty(x2.shape, dtype=x2.dtype)
    rowlog = np.empty(x2.shape[0])
    kern = _pick(x2.size, _ks.softmax_ce, _ks.softmax_ce_serial)
    return _mean_loss(kern(x2, idx, y, rowlog), x2.dtype, x2.shape[0])


def sum_of_squares(W):
    """np.sum(W ** 2) of a parameter array, W's dtype: a kernel for native float32/float64 C-contiguous arrays.

    No (D, M) array of squares is made; the sum's rounding differs from
    NumPy's pairwise one in the last places only. Anything else (float16,
    other byte orders, strided views) takes NumPy's expression.
    """
    if type(W) is np.ndarray and W.dtype in KERNEL_DTYPES and W.dtype.isnative and W.flags.c_contiguous:
        return W.dtype.type(_kd.sum_of_squares(W.reshape(-1)))
    return _reference_network_base.sum_of_squares(W)
