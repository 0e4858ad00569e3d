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

Elsewhere (MKL, Accelerate, BLIS, an OpenBLAS without its CBLAS interface, or
arrays of other dtypes) ``matmul`` is ``np.dot`` with the library's own threads.
Nothing is looked up before the first GEMM.
"""
import numpy as np

from fastscratch._core.dtypes import KERNEL_DTYPES
from fastscratch._runtime.openblas import blas_single_threaded, openblas
from fastscratch.kernels import gemm as _kg

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


def _widen_piece(a, dtype):
    """Rows per widened piece for a C-contiguous float32 ``a`` (m, k) in a float64 GEMM, else 0.

    The book's MNIST batches against float64 weights. 0 also for a very long k,
    where pieces of a few rows would each re-read all of b: there the one
    float64 copy of ``a`` is cheaper.
    """
    if not (a.dtype == np.float32 and dtype == np.float64 and a.flags.c_contiguous):
        return 0
    piece = _kg.widen_piece(a.shape[1], np.dtype(dtype).itemsize)
    return piece if piece >= _kg.MIN_BLOCK_SIDE else 0


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
    dtype = np.result_type(a.dtype, b.dtype)
    lib = openblas() if dtype in KERNEL_DTYPES else None
    m, k = a.shape
    n = b.shape[1]
    if out is not None and (out.shape != (m, n) or out.dtype != dtype or not out.flags.c_contiguous
                            or not out.flags.writeable):
        raise ValueError(f"out must be a writeable C-contiguous {dtype} array of shape {(m, n)}; "
                         f"got {out.dtype} {out.shape}")
    if lib is None:
        return None, out, "dot", None
    if out is None:
        out = np.empty((m, n), dtype=dtype)
    if m == 0 or n == 0 or k == 0:
        out[...] = 0
        return lib, out, "done", None
    if m * n * k < BLAS_SERIAL_BELOW:  # OpenBLAS runs it on the calling thread by itself
        return lib, out, "dot", None
    rows, cols = _kg.out_blocks(m, n, k)
    if rows >= m and cols >= n:
        return lib, out, "one", (rows, cols, 0)
    piece = _widen_piece(a, dtype) if cols >= n else 0
    return lib, out, ("widen" if piece else "blocks"), (rows, cols, piece)


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
    lib, out, how, split = _plan(a, b, out)
    if how == "dot":
        return np.dot(a, b, out=out)
    if how == "done":
        return out
    fn = lib.gemm[out.dtype]
    with blas_single_threaded():
        if how == "one":  # BLAS in the calling thread
            np.dot(a, b, out=out)
        elif how == "widen":  # blocks of rows, each widened piece by piece in cache: no float64 copy of all of a
            B, tb = _operand(b, out.dtype)
            _kg.gemm_rows_widen(fn, lib.width, a, B, tb, out, split[0], split[2])
        else:
            _kg.gemm_blocks(fn, lib.width, _blocks(a, b, out, split))
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
    one after the other. Not where a side is 1: ``matmul`` then hands a
    one-block product to np.dot, which takes BLAS's gemv, and the pair would
    round differently.
    """
    N, D = x.shape
    M = dout.shape[1]
    if min(N, D, M) > 1 and _kg.reduce_blocks(D, M, N)[1] <= 1:
        lib, dx, how_dx, split_dx = _plan(dout, W.T, None)
        _, dW, how_dw, split_dw = _plan(x.T, dout, None)
        if how_dx in ("one", "blocks") and how_dw in ("one", "blocks") and dx.dtype == dW.dtype:
            with blas_single_threaded():
                _kg.gemm_blocks_pair(lib.gemm[dx.dtype], lib.width, _blocks(dout, W.T, dx, split_dx),
                                     _blocks(x.T, dout, dW, split_dw))
            return dx, dW
    return matmul(dout, W.T), matmul_tn(x, dout)


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
    dtype = np.result_type(a.dtype, b.dtype)
    lib = openblas() if dtype in KERNEL_DTYPES else None
    if lib is None:
        return np.dot(a.T, b)
    k, m = a.shape
    n = b.shape[1]
    rows, nb = _kg.reduce_blocks(m, n, k)
    if nb <= 1 or m == 0 or n == 0:
        return matmul(a.T, b)
    A = np.ascontiguousarray(a, dtype=dtype)
    B = np.ascontiguousarray(b, dtype=dtype)
    parts = np.empty((nb, m, n), dtype=dtype)
    out = np.empty((m, n), dtype=dtype)
    with blas_single_threaded():
        _kg.gemm_tn_reduce(lib.gemm[dtype], lib.width, A, B, parts, out, rows)
    return out
