"""The GEMMs of the layers: NumPy's own BLAS, one thread per block, blocks run on Numba's threads.

``matmul(a, b)`` and ``matmul_tn(a, b)`` compute ``a @ b`` and ``a.T @ b`` for
float32/float64 operands. Where NumPy's BLAS is OpenBLAS (NumPy's wheels, most
distributions), its cblas_?gemm is called from the kernels of
``fastscratch.kernels.gemm``, a fixed block of the output (or of the reduction)
per call, with OpenBLAS set to one thread for the duration of the call:

- every GEMM runs on Numba's thread pool, the pool the other kernels use, so
  no second pool of threads is left spinning on the cores after a GEMM (how
  OpenBLAS's idle threads wait is fixed when NumPy loads: nothing a library
  imported after NumPy can change);
- the blocks depend on the shapes alone, so results do not depend on the
  number of threads;
- OpenBLAS's thread count is what it was before, as soon as the call returns
  or raises (``blas_single_threaded``). While a GEMM of fastscratch runs, BLAS
  calls that other threads of the process make run single-threaded too: this is
  OpenBLAS's one process-wide setting.

A C-contiguous float32 ``a`` against float64 ``b`` (the book's ``load_mnist(normalize=True)``
batches against float64 weights) is widened in cache-sized pieces of rows inside the
kernel, where np.dot would first copy all of ``a`` to float64 (the widening is exact:
the products differ from np.dot's only by BLAS's rounding within its blocks).

GEMMs too small to split (below ``MIN_SPLIT_WORK`` multiply-adds: the book's chapter 4-6
layers at batch 100) start no parallel region and open no scope from Python: one BLAS call on
the calling thread, the kernel itself setting OpenBLAS to one thread and back (``gemm_one``);
a small dense layer's whole forward or backward is one such kernel call (``affine_forward``,
``affine_backward``). The rule depends on the shapes alone.

Elsewhere (MKL, Accelerate, BLIS, an OpenBLAS without its CBLAS interface, or
arrays of other dtypes) ``matmul`` is ``np.dot`` with the library's own threads.
Nothing is looked up before the first GEMM.
"""
import functools

import numpy as np

from fastscratch._core.dtypes import KERNEL_DTYPES
from fastscratch._runtime.openblas import blas_single_threaded, openblas, scope_lock, single_enter, single_exit  # noqa: F401  (blas_single_threaded: for callers)
from fastscratch.kernels import dense as _kd
from fastscratch.kernels import gemm as _kg

_F64, _F32 = np.dtype(np.float64), np.dtype(np.float32)

#: Multiply-adds below which OpenBLAS never wakes its threads for a GEMM (its SMP_THRESHOLD_MIN,
#: times a GEMM_MULTITHREAD_THRESHOLD of at least 1): such GEMMs need no one-thread scope.
BLAS_SERIAL_BELOW = 65536

def _operand(x, dtype):
    """(C-contiguous array, transposed flag) for x of shape (r, c): x itself, or x.T's C-contiguous storage."""
    if x.dtype == dtype and x.flags.c_contiguous:
        return x, False
    if x.dtype == dtype and x.flags.f_contiguous:
        return x.T, True
    if x.flags.f_contiguous and x.ndim == 2:  # x.T of a float32 batch (dW = x.T @ dout): widen in its own order
        return np.ascontiguousarray(x.T, dtype=dtype), True
    return np.ascontiguousarray(x, dtype=dtype), False


#: Bytes of the float64 copy of a float32 operand from which ``matmul`` widens it piece by piece in
#: the kernel (``gemm_rows_widen``) instead of copying it whole as np.dot does: a copy of a few
#: hundred MNIST rows stays in cache (and a dense layer keeps it for its dW: ``wide_copy``).
WIDEN_MIN_BYTES = 1 << 22


def _widens(a, dtype):
    """True for a large C-contiguous float32 ``a`` in a float64 GEMM (the book's MNIST batches, float64 weights)."""
    return (a.dtype == np.float32 and dtype == np.float64 and a.flags.c_contiguous
            and a.size * 8 >= WIDEN_MIN_BYTES)


def wide_copy(a, dtype):
    """a as a float64 copy where a GEMM of a (m, k) against ``dtype`` would copy it whole, else a itself.

    For a float32 ``a`` below ``WIDEN_MIN_BYTES`` (as float64) entering a
    float64 GEMM: ``matmul`` would make this copy itself (so would np.dot),
    and a dense layer that keeps it reuses it for dW = x.T @ dout instead of
    copying x again. Larger batches are widened in cache by ``matmul``.
    """
    if a.dtype is _F32 and dtype is _F64 and a.ndim == 2 and a.size * 8 < WIDEN_MIN_BYTES:
        return a.astype(np.float64)
    return a


@functools.lru_cache(maxsize=1024)
def _route(m, k, n, widens):
    """(how, split) of an OpenBLAS (m, k) @ (k, n) GEMM of kernel dtypes: a function of the shape only (``_plan``).

    widens: a is a float32 operand that ``gemm_rows_widen`` may widen in
    pieces (``_widens``). A very long k gives no piece, where pieces of a few
    rows would each re-read all of b: there the one float64 copy of a is cheaper.
    Cached: the layers of a network ask for the same few shapes on every step.
    """
    if m == 0 or n == 0 or k == 0:
        return "done", None
    if m * n * k < BLAS_SERIAL_BELOW:  # OpenBLAS runs it on the calling thread by itself
        return "dot", None
    rows, cols = _kg.out_blocks(m, n, k)
    if rows >= m and cols >= n:
        return "one", (rows, cols, 0)
    piece = _kg.widen_piece(k, np.dtype(np.float64).itemsize) if widens and cols >= n else 0
    if piece < _kg.MIN_BLOCK_SIDE:
        piece = 0
    return ("widen" if piece else "blocks"), (rows, cols, piece)


#: ``reduce_blocks``, cached as ``_route`` is (a function of the shape only).
_reduce_blocks = functools.lru_cache(maxsize=1024)(_kg.reduce_blocks)


def _plan(a, b, out):
    """Checks matmul's arguments and decides how a @ b is made: (lib, out, how, split).

    how: "dot" (np.dot into out with BLAS's own threads: no OpenBLAS, another
    dtype, or too small to thread), "done" (out already holds the product: an
    empty shape), "one" (one block: np.dot on the calling thread, BLAS at one
    thread), "widen" (``gemm_rows_widen``) or "blocks" (``gemm_blocks``); out
    is the (m, n) result array; split is (rows, cols, piece) of the blocks
    (``out_blocks``; piece: rows per widened piece, 0 unless "widen"), or None.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[0]:
        raise ValueError(f"matmul needs (m, k) @ (k, n); got {a.shape} @ {b.shape}")
    dtype = a.dtype if a.dtype is b.dtype else np.result_type(a.dtype, b.dtype)
    lib = openblas() if dtype in KERNEL_DTYPES else None
    m, k = a.shape
    n = b.shape[1]
    if out is not None and (out.shape != (m, n) or out.dtype != dtype or not out.flags.c_contiguous
                            or not out.flags.writeable):
        raise ValueError(f"out must be a writeable C-contiguous {dtype} array of shape {(m, n)}; "
                         f"got {out.dtype} {out.shape}")
    if lib is None:
        return None, out, "dot", None
    how, split = _route(m, k, n, a.dtype is not dtype and _widens(a, dtype))
    if out is None:
        out = np.empty((m, n), dtype=dtype)
    if how == "done":
        out[...] = 0
    return lib, out, how, split


def _one_lib(a, b):
    """NumPy's OpenBLAS where a and b share a kernel dtype (native float32 or float64), else None."""
    dtype = a.dtype
    if dtype is b.dtype and (dtype is _F64 or dtype is _F32):
        return openblas()
    return None


def _one(lib, *gemms):
    """Each of ``gemms`` (``_blocks``' tuples of one block, one dtype) as one BLAS call on this thread (``gemm_one``).

    The kernel sets OpenBLAS to one thread and back itself: cheaper than a
    scope opened from Python for GEMMs of a few microseconds. It runs under
    the scopes' lock, so no scope opens or closes meanwhile (a scope open in
    another thread has the count at 1 already, which the kernel leaves so).
    """
    fn = lib.gemm[gemms[0][4].dtype]
    with scope_lock:
        for gemm in gemms:
            _kg.gemm_one(fn, lib.width, lib.threads, gemm)


def _blocks(a, b, out, split):
    """gemm_blocks' tuple for out = a @ b in the (rows, cols) blocks of split (``_plan``)."""
    A, ta = _operand(a, out.dtype)
    B, tb = _operand(b, out.dtype)
    return A, ta, B, tb, out, split[0], split[1]


def matmul(a, b, out=None):
    """a @ b for 2-D float arrays, written into out when given.

    Parameters
    ----------
    a : ndarray of shape (m, k)
    b : ndarray of shape (k, n)
    out : ndarray of shape (m, n), C-contiguous, the result dtype, or None

    Returns
    -------
    ndarray of shape (m, n), dtype ``np.result_type(a, b)``: out, or a new array.
    """
    if out is None and a.ndim == 2 and b.ndim == 2 and a.shape[1] == b.shape[0]:
        m, k = a.shape
        n = b.shape[1]
        work = m * k * n
        if work < BLAS_SERIAL_BELOW:  # _plan's "dot" (or "done": np.dot's zeros), without its checks
            return np.dot(a, b)
        if work < _kg.MIN_SPLIT_WORK and min(m, n, k) > 1:  # _plan's "one", without its checks
            lib = _one_lib(a, b)
            if lib is not None:
                out = np.empty((m, n), dtype=a.dtype)
                _one(lib, (*_operand(a, a.dtype), *_operand(b, a.dtype), out, m, n))
                return out
    lib, out, how, split = _plan(a, b, out)
    if how == "dot":
        return np.dot(a, b, out=out)
    if how == "done":
        return out
    fn = lib.gemm[out.dtype]
    if how == "one" and min(out.shape) > 1 and a.shape[1] > 1:
        _one(lib, _blocks(a, b, out, split))
        return out
    single_enter(lib)
    try:
        if how == "one":  # a side of 1: np.dot, which takes BLAS's gemv, in the calling thread
            np.dot(a, b, out=out)
        elif how == "widen":  # blocks of rows, each widened piece by piece in cache: no float64 copy of all of a
            B, tb = _operand(b, out.dtype)
            _kg.gemm_rows_widen(fn, lib.width, a, B, tb, out, split[0], split[2])
        else:
            _kg.gemm_blocks(fn, lib.width, _blocks(a, b, out, split))
    finally:
        single_exit(lib)
    return out


def backward_products(x, W, dout):
    """(dout @ W.T, x.T @ dout): a dense layer's dx and dW, side by side on the thread pool.

    Parameters
    ----------
    x : ndarray of shape (N, D), the layer's input
    W : ndarray of shape (D, M)
    dout : ndarray of shape (N, M)

    Returns
    -------
    (dx of shape (N, D), dW of shape (D, M)), as ``matmul(dout, W.T)`` and
    ``matmul_tn(x, dout)`` make them, bitwise. Where both are block GEMMs of
    one dtype, their blocks are the tasks of one parallel region (at batch 100
    a 100-wide layer's two GEMMs are two blocks each), instead of two regions
    one after the other. Two one-block GEMMs that together are below
    ``MIN_SPLIT_WORK`` (a (100, 100) x (100, 10) layer) run one after the other
    on the calling thread instead: a parallel region would cost more than the
    second GEMM. Not where a side is 1: ``matmul`` then hands a one-block
    product to np.dot, which takes BLAS's gemv, and the pair would round
    differently.
    """
    N, D = x.shape
    M = dout.shape[1]
    work = N * D * M
    if work < BLAS_SERIAL_BELOW:  # matmul's and matmul_tn's route for both (np.dot), without their checks
        return np.dot(dout, W.T), np.dot(x.T, dout)
    if 2 * work < _kg.MIN_SPLIT_WORK and min(N, D, M) > 1 and x.dtype is W.dtype:
        lib = _one_lib(dout, W)
        if lib is not None:  # matmul's and matmul_tn's "one" for both, without their checks
            dtype = W.dtype
            dx, dW = np.empty((N, D), dtype=dtype), np.empty((D, M), dtype=dtype)
            _one(lib, (*_operand(dout, dtype), *_operand(W.T, dtype), dx, N, D),
                 (*_operand(x.T, dtype), *_operand(dout, dtype), dW, D, M))
            return dx, dW
    if min(N, D, M) > 1 and _reduce_blocks(D, M, N)[1] <= 1:
        lib, dx, how_dx, split_dx = _plan(dout, W.T, None)
        _, dW, how_dw, split_dw = _plan(x.T, dout, None)
        if how_dx == how_dw == "dot":  # matmul's route for both: np.dot, BLAS on the calling thread
            return np.dot(dout, W.T, out=dx), np.dot(x.T, dout, out=dW)
        if how_dx in ("one", "blocks") and how_dw in ("one", "blocks") and dx.dtype == dW.dtype:
            fn = lib.gemm[dx.dtype]
            first, second = _blocks(dout, W.T, dx, split_dx), _blocks(x.T, dout, dW, split_dw)
            if how_dx == how_dw == "one" and 2 * N * D * M < _kg.MIN_SPLIT_WORK:
                _one(lib, first, second)  # matmul's "one" route for each
                return dx, dW
            single_enter(lib)
            try:
                _kg.gemm_blocks_pair(fn, lib.width, first, second)
            finally:
                single_exit(lib)
            return dx, dW
    return matmul(dout, W.T), matmul_tn(x, dout)


def _small_layer_lib(N, D, M, work, arrays):
    """NumPy's OpenBLAS where a dense layer of these sides takes the one-call kernels, else None.

    Every side > 1 (np.dot takes gemv for a side of 1), ``work`` (multiply-adds
    of the call's GEMMs) below ``MIN_SPLIT_WORK`` (where ``matmul`` makes one
    block), and the arrays C-contiguous of one kernel dtype: a function of the
    shapes, dtypes and layouts only.
    """
    if N < 2 or D < 2 or M < 2 or work >= _kg.MIN_SPLIT_WORK:
        return None
    dtype = arrays[0].dtype
    if not (dtype is _F64 or dtype is _F32):
        return None
    for a in arrays:
        if a.dtype is not dtype or not a.flags.c_contiguous:
            return None
    return openblas()


def affine_forward(x, W, b):
    """x @ W + b for a small dense layer in one kernel call (``affine_forward_small``), or None.

    Parameters
    ----------
    x : ndarray of shape (N, D)
    W : ndarray of shape (D, M)
    b : ndarray of shape (M,)

    Returns
    -------
    ndarray of shape (N, M), bitwise ``matmul(x, W)`` plus b added as
    ``bias_add`` adds it; None where ``_small_layer_lib`` says no (the caller
    takes ``matmul`` and the bias kernels).
    """
    N, D = x.shape
    M = W.shape[1]
    work = N * D * M
    lib = _small_layer_lib(N, D, M, work, (x, W, b))
    if lib is None:
        return None
    out = np.empty((N, M), dtype=x.dtype)
    fn = lib.gemm[out.dtype]
    if work < BLAS_SERIAL_BELOW:  # OpenBLAS keeps it on this thread by itself
        _kd.affine_forward_small(fn, lib.width, lib.threads, False, x, W, b, out)
    else:
        with scope_lock:
            _kd.affine_forward_small(fn, lib.width, lib.threads, True, x, W, b, out)
    return out


def affine_backward(x, W, dout, with_dx):
    """(dx or None, dW, db) of a small dense layer in one kernel call (``affine_backward_small``), or None.

    Parameters
    ----------
    x : ndarray of shape (N, D), the layer's input (as its GEMM read it)
    W : ndarray of shape (D, M)
    dout : ndarray of shape (N, M)
    with_dx : bool, False for a network's first layer (dx is not made)

    Returns
    -------
    (dx of shape (N, D) or None, dW of shape (D, M), db of shape (M,)):
    bitwise ``backward_products`` (or ``matmul_tn``) and ``col_sum``; None
    where ``_small_layer_lib`` says no.
    """
    N, D = x.shape
    M = W.shape[1]
    work = N * D * M * (2 if with_dx else 1)
    lib = _small_layer_lib(N, D, M, work, (x, W, dout))
    if lib is None:
        return None
    dtype = x.dtype
    dx = np.empty((N if with_dx else 0, D), dtype=dtype)
    dW, db = np.empty((D, M), dtype=dtype), np.empty(M, dtype=dtype)
    fn = lib.gemm[dtype]
    if N * D * M < BLAS_SERIAL_BELOW:
        _kd.affine_backward_small(fn, lib.width, lib.threads, False, x, W, dout, dx, dW, db)
    else:
        with scope_lock:
            _kd.affine_backward_small(fn, lib.width, lib.threads, True, x, W, dout, dx, dW, db)
    return (dx if with_dx else None), dW, db


def dot(a, b):
    """np.dot(a, b), through ``matmul`` where both are 2-D: the drop-in for networks written with np.dot."""
    if type(a) is np.ndarray and type(b) is np.ndarray and a.ndim == 2 and b.ndim == 2:
        return matmul(a, b)
    return np.dot(a, b)  # subclasses (np.matrix), other ranks, lists: NumPy's own answer


def matmul_tn(a, b):
    """a.T @ b for 2-D float arrays with a long reduction (k rows), split along k in fixed blocks.

    Parameters
    ----------
    a : ndarray of shape (k, m)
    b : ndarray of shape (k, n)

    Returns
    -------
    ndarray of shape (m, n), dtype ``np.result_type(a, b)``: the sum over fixed
    blocks of rows of ``a[rows].T @ b[rows]``, added in block order.
    """
    if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[0]:
        raise ValueError(f"matmul_tn needs (k, m).T @ (k, n); got {a.shape}.T @ {b.shape}")
    k, m = a.shape
    n = b.shape[1]
    if k * m * n < BLAS_SERIAL_BELOW:  # one block of the reduction, and matmul's "dot"
        return np.dot(a.T, b)
    dtype = a.dtype if a.dtype is b.dtype else np.result_type(a.dtype, b.dtype)
    lib = openblas() if dtype in KERNEL_DTYPES else None
    if lib is None:
        return np.dot(a.T, b)
    rows, nb = _reduce_blocks(m, n, k)
    if nb <= 1 or m == 0 or n == 0:
        return matmul(a.T, b)
    A = np.ascontiguousarray(a, dtype=dtype)
    B = np.ascontiguousarray(b, dtype=dtype)
    parts = np.empty((nb, m, n), dtype=dtype)
    out = np.empty((m, n), dtype=dtype)
    single_enter(lib)
    try:
        _kg.gemm_tn_reduce(lib.gemm[dtype], lib.width, A, B, parts, out, rows)
    finally:
        single_exit(lib)
    return out
