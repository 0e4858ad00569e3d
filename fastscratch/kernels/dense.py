"""Dense-path kernels: Affine's bias add and bias gradient, Relu, Sigmoid's backward, Dropout, sum of squares.

Affine's GEMMs are not here: they go through ``fastscratch._layers.matmul`` (``matmul``,
``matmul_tn``, ``backward_products``: NumPy's own BLAS called from the kernels of
``fastscratch/kernels/gemm.py`` on Numba's threads); these kernels do the element-wise and
reduction passes around them. Each of them but ``sum_of_squares`` comes as a
parallel one (``prange`` over rows or element chunks) and a ``*_serial`` twin
with the same signature: waking Numba's thread pool costs a few microseconds,
more than the whole job on a (100, 10) array, so the wrappers pick the twin
by size (``_jit.pick``). The twins are written out: see ``_jit.serial_twin``
for why they are not generated here.

Element-wise kernels take C-contiguous arrays viewed flat (``x.reshape(-1)``).
Arithmetic follows the reference expression by expression (same operations,
same order, constants cast to the array's dtype), so float32 stays float32 and
results match NumPy to the last bit. ``sum_of_squares`` (the weight decay's
``np.sum(W ** 2)``, serial only) sums in float64 in a fixed order of its own,
so it differs from NumPy's sum by rounding.
"""

import numpy as np

from ._chunks import CHUNK, nchunks
from ._jit import kernel, parallel_kernel, prange
from .gemm import _gemm_block, blas_threads

#: Columns per parallel task in column reductions (each task owns whole columns).
COL_BLOCK = 32


# ---------------------------------------------------------------- bias add
@kernel
def _bias_add_rows(out, b, start, stop):
    M = out.shape[1]
    for i in range(np.uint64(start), np.uint64(stop)):
        for j in range(M):
            out[i, j] += b[j]


@parallel_kernel
def bias_add(out, b):
    """out += b, row by row, in place.

    out : ndarray of shape (N, M), C-contiguous (the GEMM output x @ W).
    b : ndarray of shape (M,), same dtype as out.
    """
    for i in prange(out.shape[0]):
        _bias_add_rows(out, b, i, i + 1)


@kernel
def bias_add_serial(out, b):
    """Serial twin of :func:`bias_add`."""
    _bias_add_rows(out, b, 0, out.shape[0])


# ---------------------------------------------------------------- column sum (db)
@kernel
def _col_sum_block(dout, db, j0, j1):
    # Row 0 first, then rows 1.. in order: NumPy's sum(axis=0) order, so db is
    # bitwise equal to the reference.
    N = dout.shape[0]
    for j in range(np.uint64(j0), np.uint64(j1)):
        db[j] = dout[0, j]
    for i in range(1, N):
        for j in range(np.uint64(j0), np.uint64(j1)):
            db[j] += dout[i, j]


@parallel_kernel
def col_sum(dout, db):
    """db[j] = sum over rows of dout[:, j], written into db.

    dout : ndarray of shape (N, M), C-contiguous, N >= 1.
    db : ndarray of shape (M,), same dtype, overwritten.
    """
    M = dout.shape[1]
    # each task owns a block of whole columns: no two threads write one db[j],
    # and the summation order is fixed, so db is bitwise repeatable
    for c in prange((M + COL_BLOCK - 1) // COL_BLOCK):
        _col_sum_block(dout, db, c * COL_BLOCK, min(M, (c + 1) * COL_BLOCK))


@kernel
def col_sum_serial(dout, db):
    """Serial twin of :func:`col_sum`."""
    _col_sum_block(dout, db, 0, dout.shape[1])


# ---------------------------------------------------------------- a small Affine in one call
# A layer of the book's chapter 4-6 sizes (batch 100, (100, 50) x (50, 10)) takes a few
# microseconds of BLAS per GEMM: the separate calls around it (a GEMM wrapper, the bias
# add, db) would cost about as much again. These run the layer's whole forward or backward
# on the calling thread, each GEMM one BLAS call as np.dot makes it, the bias add and the
# column sums as bias_add and col_sum do them: the same bits as those routes.
@kernel
def affine_forward_small(fn, width, threads, single, x, W, b, out):
    """out = x @ W + b: one BLAS call, then b added row by row.

    x : (N, D) C-contiguous; W : (D, M) C-contiguous; b : (M,) C-contiguous;
    out : (N, M) C-contiguous, written; all one float dtype, every side > 1.
    fn, width : ``gemm.cblas_gemm``'s BLAS function and integer width.
    threads, single : with single set, OpenBLAS runs at one thread for the
        call (``gemm.blas_threads``) and is put back after; the caller holds
        ``fastscratch._layers.matmul``'s scope lock. Unset below OpenBLAS's own
        threading threshold, where the count is left alone.
    """
    N, M = out.shape
    saved = blas_threads(threads, 1) if single else 1
    _gemm_block(fn, width, (x, False, W, False, out, N, M), 0)
    if saved != 1:
        blas_threads(threads, saved)
    _bias_add_rows(out, b, 0, N)


@kernel
def affine_backward_small(fn, width, threads, single, x, W, dout, dx, dW, db):
    """dx = dout @ W.T (when dx has rows), dW = x.T @ dout, db = column sums of dout.

    x : (N, D), W : (D, M), dout : (N, M), all C-contiguous, one float dtype, sides > 1;
    dx : (N, D) written, or (0, D) to skip it (a network's first layer);
    dW : (D, M) and db : (M,) written. threads, single : as in ``affine_forward_small``.
    """
    N, D = x.shape
    M = dout.shape[1]
    saved = blas_threads(threads, 1) if single else 1
    if dx.shape[0] > 0:
        _gemm_block(fn, width, (dout, False, W, True, dx, N, D), 0)
    _gemm_block(fn, width, (x, True, dout, False, dW, D, M), 0)
    if saved != 1:
        blas_threads(threads, saved)
    _col_sum_block(dout, db, 0, M)


# ---------------------------------------------------------------- Relu
@kernel
def _relu_fwd_range(x, out, mask, start, stop):
    zero = x.dtype.type(0)
    for i in range(np.uint64(start), np.uint64(stop)):
        v = x[i]
        m = v <= zero  # False for NaN: NaN passes through, as x.copy() keeps it
        mask[i] = m
        out[i] = zero if m else v


@parallel_kernel
def relu_forward(x, out, mask):
    """out = x with entries <= 0 set to 0; mask = x <= 0.

    x, out : ndarray of shape (n,), same float dtype; out written.
    mask : bool ndarray of shape (n,), written.
    """
    n = x.shape[0]
    for c in prange(nchunks(n, CHUNK)):
        _relu_fwd_range(x, out, mask, c * CHUNK, min(n, (c + 1) * CHUNK))


@kernel
def relu_forward_serial(x, out, mask):
    """Serial twin of :func:`relu_forward`."""
    _relu_fwd_range(x, out, mask, 0, x.shape[0])


@kernel
def _relu_bwd_range(dout, mask, start, stop):
    zero = dout.dtype.type(0)
    for i in range(np.uint64(start), np.uint64(stop)):
        if mask[i]:
            dout[i] = zero


@parallel_kernel
def relu_backward(dout, mask):
    """dout[mask] = 0, in place (the book's Relu.backward writes into dout).

    dout : ndarray of shape (n,), modified in place. mask : bool ndarray of shape (n,).
    """
    n = dout.shape[0]
    for c in prange(nchunks(n, CHUNK)):
        _relu_bwd_range(dout, mask, c * CHUNK, min(n, (c + 1) * CHUNK))


@kernel
def relu_backward_serial(dout, mask):
    """Serial twin of :func:`relu_backward`."""
    _relu_bwd_range(dout, mask, 0, dout.shape[0])


@kernel
def _relu_range(x, out, start, stop):
    zero = x.dtype.type(0)
    for i in range(np.uint64(start), np.uint64(stop)):
        v = x[i]
        # np.maximum(0, x): NaN propagates, -0.0 and negatives give +0.0
        out[i] = v if (v > zero or v != v) else zero


@parallel_kernel
def relu(x, out):
    """out = np.maximum(0, x). x, out : ndarray of shape (n,), same float dtype."""
    n = x.shape[0]
    for c in prange(nchunks(n, CHUNK)):
        _relu_range(x, out, c * CHUNK, min(n, (c + 1) * CHUNK))


@kernel
def relu_serial(x, out):
    """Serial twin of :func:`relu`."""
    _relu_range(x, out, 0, x.shape[0])


# ---------------------------------------------------------------- Sigmoid
@kernel
def _sigmoid_bwd_range(dout, y, dx, start, stop):
    one = y.dtype.type(1)
    for i in range(np.uint64(start), np.uint64(stop)):
        # (dout * (1 - y)) * y: the reference's evaluation order
        dx[i] = (dout[i] * (one - y[i])) * y[i]


@parallel_kernel
def sigmoid_backward(dout, y, dx):
    """dx = dout * (1 - y) * y with y the forward output.

    dout, y, dx : ndarray of shape (n,), same float dtype; dx written.
    """
    n = dx.shape[0]
    for c in prange(nchunks(n, CHUNK)):
        _sigmoid_bwd_range(dout, y, dx, c * CHUNK, min(n, (c + 1) * CHUNK))


@kernel
def sigmoid_backward_serial(dout, y, dx):
    """Serial twin of :func:`sigmoid_backward`."""
    _sigmoid_bwd_range(dout, y, dx, 0, dx.shape[0])


# ---------------------------------------------------------------- Dropout
@kernel
def _dropout_fwd_range(x, r, ratio, mask, out, start, stop):
    for i in range(np.uint64(start), np.uint64(stop)):
        m = r[i] > ratio
        mask[i] = m
        # x * mask as NumPy computes it (x * 0 keeps NaN/inf -> NaN and signed zeros)
        out[i] = x[i] * x.dtype.type(m)


@parallel_kernel
def dropout_forward(x, r, ratio, mask, out):
    """mask = r > ratio; out = x * mask.

    x, out : ndarray of shape (n,), same float dtype; out written.
    r : float64 ndarray of shape (n,), the uniform draws (np.random.rand).
    ratio : float. mask : bool ndarray of shape (n,), written.
    """
    n = x.shape[0]
    for c in prange(nchunks(n, CHUNK)):
        _dropout_fwd_range(x, r, ratio, mask, out, c * CHUNK, min(n, (c + 1) * CHUNK))


@kernel
def dropout_forward_serial(x, r, ratio, mask, out):
    """Serial twin of :func:`dropout_forward`."""
    _dropout_fwd_range(x, r, ratio, mask, out, 0, x.shape[0])


@kernel
def _mask_mul_range(x, mask, out, start, stop):
    for i in range(np.uint64(start), np.uint64(stop)):
        out[i] = x[i] * x.dtype.type(mask[i])


@parallel_kernel
def mask_mul(x, mask, out):
    """out = x * mask. x, out : ndarray of shape (n,), same float dtype; mask : bool (n,)."""
    n = x.shape[0]
    for c in prange(nchunks(n, CHUNK)):
        _mask_mul_range(x, mask, out, c * CHUNK, min(n, (c + 1) * CHUNK))


@kernel
def mask_mul_serial(x, mask, out):
    """Serial twin of :func:`mask_mul`."""
    _mask_mul_range(x, mask, out, 0, x.shape[0])


@kernel
def _scale_range(x, c, out, start, stop):
    for i in range(np.uint64(start), np.uint64(stop)):
        out[i] = x[i] * c


@parallel_kernel
def scale(x, c, out):
    """out = x * c. x, out : ndarray of shape (n,), same float dtype; c : scalar of that dtype."""
    n = x.shape[0]
    for k in prange(nchunks(n, CHUNK)):
        _scale_range(x, c, out, k * CHUNK, min(n, (k + 1) * CHUNK))


@kernel
def scale_serial(x, c, out):
    """Serial twin of :func:`scale`."""
    _scale_range(x, c, out, 0, x.shape[0])


# ---------------------------------------------------------------- sum of squares (weight decay)
@kernel
def sum_of_squares(x):
    """sum(x[i] * x[i]) of a flat C-contiguous float array, summed in float64 (0.0 for an empty x).

    Eight running sums over the elements i = lane (mod 8), added pairwise at
    the end, then the tail: a fixed order (the same bits on any thread count),
    SIMD without fastmath. A float32 x is squared in float32, as W ** 2 is,
    and summed in float64, which rounds less than NumPy's float32 pairwise sum.
    """
    n = x.size
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = 0.0
    i = 0
    while i + 8 <= n:
        s0 += x[i] * x[i]
        s1 += x[i + 1] * x[i + 1]
        s2 += x[i + 2] * x[i + 2]
        s3 += x[i + 3] * x[i + 3]
        s4 += x[i + 4] * x[i + 4]
        s5 += x[i + 5] * x[i + 5]
        s6 += x[i + 6] * x[i + 6]
        s7 += x[i + 7] * x[i + 7]
        i += 8
    s = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7))
    while i < n:
        s += x[i] * x[i]
        i += 1
    return s
