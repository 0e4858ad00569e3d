"""Softmax and cross-entropy kernels: one pass per row for softmax plus the loss, and the backward.

Rows are independent, so the parallel kernels ``prange`` over rows and each
thread writes only its rows; the loss is then summed over the per-row terms
in row order after the parallel loop (fixed order: bitwise repeatable). Every
kernel has a ``*_serial`` twin for small batches, where starting Numba's thread
pool would cost more than the work: generated from it (``_jit.serial_twin``)
for the softmax and loss, written out for the two backward kernels, whose
per-row helper called in a loop compiles to code several times slower than
the plain double loop at the batch sizes the twins serve (the same operations
in the same order: the same bits).

Targets reach the kernels as labels ``t : int ndarray of shape (N,)`` with
values in [0, K), checked by the wrapper first (:func:`labels_in_range`);
one-hot targets become labels by argmax in the wrapper, as the reference does.
"""
import numpy as np

from ._jit import kernel, parallel_kernel, prange, serial_twin

#: The book's delta inside the log of the cross-entropy.
CEE_DELTA = 1e-7


@kernel
def labels_in_range(t, K):
    """True when every label in t (int ndarray of shape (N,)) is in [0, K). Reads only."""
    for i in range(t.shape[0]):
        if t[i] < 0 or t[i] >= K:
            return False
    return True


@kernel
def _softmax_row(x, y, i):
    # y[i] = exp(x[i] - max(x[i])) / sum(exp(x[i] - max(x[i])))
    K = x.shape[1]
    m = x[i, 0]
    for j in range(1, K):
        v = x[i, j]
        if v > m or v != v:  # NaN wins, as np.max propagates it
            m = v
    s = x.dtype.type(0)
    for j in range(K):
        e = np.exp(x[i, j] - m)
        y[i, j] = e
        s += e
    for j in range(K):
        y[i, j] = y[i, j] / s


@kernel
def _log_term(y, t, i):
    # log(y[i, t_i] + delta) in y's dtype (the reference adds the Python float
    # delta to a float32 array: float32 arithmetic)
    return np.log(y[i, t[i]] + y.dtype.type(CEE_DELTA))


@kernel
def _sum_rows(rowlog):
    # in row order, accumulated in float64: fixed order, bitwise repeatable
    total = 0.0
    for i in range(rowlog.shape[0]):
        total += rowlog[i]
    return total


@parallel_kernel
def softmax(x, y):
    """Row-wise stable softmax. x : (N, K) C-contiguous float; y : (N, K) same dtype, written."""
    for i in prange(x.shape[0]):
        _softmax_row(x, y, i)


softmax_serial = serial_twin(softmax)


@parallel_kernel
def softmax_ce(x, t, y, rowlog):
    """Softmax and cross-entropy in one pass per row; returns sum_i log(y[i, t_i] + delta).

    x : ndarray of shape (N, K), C-contiguous float32/float64.
    t : int ndarray of shape (N,), labels in [0, K) (checked by the caller).
    y : ndarray of shape (N, K), x's dtype, written with softmax(x).
    rowlog : float64 ndarray of shape (N,), written with the per-row log terms.
    The loss is -return / N.
    """
    for i in prange(x.shape[0]):
        _softmax_row(x, y, i)
        rowlog[i] = _log_term(y, t, i)
    return _sum_rows(rowlog)


softmax_ce_serial = serial_twin(softmax_ce)


@kernel
def cross_entropy(y, t, rowlog):
    """sum_i log(y[i, t_i] + delta) (the loss is -return / N).

    y : (N, K) C-contiguous float; t : int (N,) labels in [0, K);
    rowlog : float64 (N,), written with the per-row terms.
    """
    for i in range(y.shape[0]):
        rowlog[i] = _log_term(y, t, i)
    return _sum_rows(rowlog)


@kernel
def _ce_bwd_labels_row(y, t, dx, i, n):
    # the reference: dx = y.copy(); dx[i, t_i] -= 1; dx / N
    K = y.shape[1]
    ti = t[i]
    for j in range(K):
        v = y[i, j]
        if j == ti:
            v = v - y.dtype.type(1)
        dx[i, j] = v / n


@parallel_kernel
def softmax_ce_backward_labels(y, t, dx):
    """dx = (y - onehot(t)) / N for label targets.

    y : (N, K) C-contiguous float (softmax output); t : int (N,) labels in [0, K);
    dx : (N, K) y's dtype, written. N is the batch size of the division.
    """
    n = y.dtype.type(y.shape[0])
    for i in prange(y.shape[0]):
        _ce_bwd_labels_row(y, t, dx, i, n)


@kernel
def softmax_ce_backward_labels_serial(y, t, dx):
    """Serial twin of :func:`softmax_ce_backward_labels` (written out: see the module docstring)."""
    N, K = y.shape
    n = y.dtype.type(N)
    one = y.dtype.type(1)
    for i in range(N):
        ti = t[i]
        for j in range(K):
            v = y[i, j]
            if j == ti:
                v = v - one
            dx[i, j] = v / n


@kernel
def _ce_bwd_onehot_row(y, t, dx, i, n):
    for j in range(y.shape[1]):
        dx[i, j] = (y[i, j] - t[i, j]) / n


@parallel_kernel
def softmax_ce_backward_onehot(y, t, dx):
    """dx = (y - t) / N for one-hot (or any same-shape) targets.

    y, t, dx : (N, K) C-contiguous, one float dtype; dx written.
    """
    n = y.dtype.type(y.shape[0])
    for i in prange(y.shape[0]):
        _ce_bwd_onehot_row(y, t, dx, i, n)


@kernel
def softmax_ce_backward_onehot_serial(y, t, dx):
    """Serial twin of :func:`softmax_ce_backward_onehot` (written out: see the module docstring)."""
    N, K = y.shape
    n = y.dtype.type(N)
    for i in range(N):
        for j in range(K):
            dx[i, j] = (y[i, j] - t[i, j]) / n
