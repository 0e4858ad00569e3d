"""GEMMs split into fixed blocks, each block one single-threaded BLAS call, run on Numba's threads.

The kernels call NumPy's own BLAS (cblas_?gemm, found by ``fastscratch._layers.matmul``)
through its address, so the GEMMs of a training step run on the same thread
pool as every other kernel: no second pool of BLAS threads waits, spins or
competes for the cores between kernels. The caller sets BLAS to one thread
for the duration of the call (``fastscratch._layers.matmul``), so each block runs
entirely on the Numba thread that owns it.

Work partitions are fixed by the shapes alone (``out_blocks``, ``reduce_blocks``):
a block's result is the same single-threaded BLAS call whichever thread runs
it, so results are bitwise identical for any number of threads.

Conventions: row-major (C-contiguous) operands, or the transpose of one
(``trans`` flags, as in CBLAS); ``out`` C-contiguous. ``fn`` is the address of
cblas_dgemm or cblas_sgemm, matching the arrays' dtype; ``width`` is a
zero of the BLAS integer type (int32 for LP64 builds, int64 for ILP64).
"""
from collections import namedtuple

import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from ._jit import kernel, parallel_kernel, prange

_ROW_MAJOR = 101
NO_TRANS = 111
TRANS = 112

#: ``fn`` and ``width`` (see above) as one argument, for kernels that take them together
#: (the convolution kernels of conv_per_image.py and conv_taps.py).
BlasGemm = namedtuple("BlasGemm", "fn width")

#: Multiply-adds per block below which a GEMM is not split (a block must pay for
#: BLAS's packing of its operands and for waking the thread pool).
MIN_BLOCK_WORK = 1 << 22
#: Multiply-adds from which a GEMM is cut in two at least, although each half is
#: below MIN_BLOCK_WORK: the GEMMs of a 100-wide dense layer at batch 100 take
#: long enough on one core that a second one pays for its wake-up.
MIN_SPLIT_WORK = 1 << 19
#: At most this many blocks per GEMM (enough to balance two to a few dozen threads).
MAX_BLOCKS = 64
#: A block has at least this many rows (or columns) of the output.
MIN_BLOCK_SIDE = 16
#: Rows of the reduction per block, at least, when a GEMM is split along its reduction.
MIN_REDUCE_ROWS = 256
#: Bytes of the widened piece of a narrower operand (``gemm_rows_widen``): it stays in a core's cache.
WIDEN_BYTES = 1 << 20


@intrinsic
def cblas_gemm(typingctx, fn, width, dims, ptrs, like, beta):
    """cblas_?gemm(RowMajor, ta, tb, m, n, k, 1, A, lda, B, ldb, beta, C, ldc) through the address fn.

    dims : UniTuple(int64, 8): (ta, tb, m, n, k, lda, ldb, ldc); ta/tb are CBLAS_TRANSPOSE values.
    ptrs : UniTuple(uintp, 3): addresses of A, B, C.
    width : int32 or int64: the BLAS integer type (only its type is used).
    like : an array whose dtype (float64 or float32) picks dgemm's or sgemm's signature.
    beta : float: 0 writes C, 1 adds the product to C.
    """
    def ints(tup, count):
        return isinstance(tup, types.BaseTuple) and len(tup) == count and all(
            isinstance(t, types.Integer) for t in tup)

    if not (ints(dims, 8) and ints(ptrs, 3) and isinstance(like, types.Array)
            and like.dtype in (types.float64, types.float32) and width in (types.int32, types.int64)
            and isinstance(beta, types.Float)):
        return None
    sig = types.void(fn, width, dims, ptrs, like, beta)

    def codegen(context, builder, signature, args):
        fn_v, _, dims_v, ptrs_v, _, beta_v = args
        int_t = ir.IntType(width.bitwidth)
        enum_t = ir.IntType(32)
        real_t = ir.DoubleType() if like.dtype == types.float64 else ir.FloatType()
        ptr_t = real_t.as_pointer()
        fnty = ir.FunctionType(ir.VoidType(), [enum_t, enum_t, enum_t, int_t, int_t, int_t, real_t,
                                               ptr_t, int_t, ptr_t, int_t, real_t, ptr_t, int_t])
        target = builder.inttoptr(fn_v, fnty.as_pointer())
        def field(tup_v, tup_t, i, to):
            return context.cast(builder, builder.extract_value(tup_v, i), tup_t[i], to)

        d = [field(dims_v, dims, i, width) for i in range(8)]
        p = [builder.inttoptr(field(ptrs_v, ptrs, i, types.intp), ptr_t) for i in range(3)]
        alpha = ir.Constant(real_t, 1.0)
        beta_r = context.cast(builder, beta_v, beta, like.dtype)
        ta, tb = (builder.trunc(v, enum_t) if width.bitwidth > 32 else v for v in d[:2])
        m, n, k, lda, ldb, ldc = d[2:]
        builder.call(target, [ir.Constant(enum_t, _ROW_MAJOR), ta, tb, m, n, k, alpha,
                              p[0], lda, p[1], ldb, beta_r, p[2], ldc])
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def blas_threads(typingctx, threads, n):
    """Set OpenBLAS's thread count to n; returns the count it had (an int32).

    threads : UniTuple(intp, 2): the addresses of openblas_get_num_threads and
        openblas_set_num_threads (both C ``int``, whatever the BLAS integer width).
    n : integer, the count to set; set_num_threads is not called when the count is already n.
    """
    if not (isinstance(threads, types.BaseTuple) and len(threads) == 2
            and all(isinstance(t, types.Integer) for t in threads) and isinstance(n, types.Integer)):
        return None
    sig = types.int32(threads, n)

    def codegen(context, builder, signature, args):
        threads_v, n_v = args
        int_t = ir.IntType(32)
        get_t = ir.FunctionType(int_t, [])
        set_t = ir.FunctionType(ir.VoidType(), [int_t])

        def address(i, fnty):
            v = context.cast(builder, builder.extract_value(threads_v, i), threads[i], types.intp)
            return builder.inttoptr(v, fnty.as_pointer())

        want = context.cast(builder, n_v, n, types.int32)
        old = builder.call(address(0, get_t), [])
        with builder.if_then(builder.icmp_signed("!=", old, want)):
            builder.call(address(1, set_t), [want])
        return old

    return sig, codegen


# The partition helpers below are plain Python: only the wrappers call them, for a few
# integer operations, and a compiled function would cost a dispatch on every GEMM.
def _pow2_at_most(x):
    p = 1
    while p * 2 <= x:
        p *= 2
    return p


def out_blocks(m, n, k):
    """(rows, cols) of each block of the (m, n) output of an (m, k) @ (k, n) GEMM: a function of the shape only.

    The longer side of the output is cut, so each block reads the whole of the
    smaller operand once and its own slice of the other. A power of two of
    blocks: even shares for 2, 4, 8... threads.
    """
    work = m * n * k
    by_work = (work + MIN_BLOCK_WORK - 1) // MIN_BLOCK_WORK
    if work >= MIN_SPLIT_WORK:
        by_work = max(by_work, 2)
    side = max(m, n)
    nb = _pow2_at_most(max(1, min(by_work, MAX_BLOCKS, side // MIN_BLOCK_SIDE)))
    size = (side + nb - 1) // nb
    if m >= n:
        return size, max(n, 1)
    return max(m, 1), size


@kernel
def _trans_flag(t):
    return TRANS if t else NO_TRANS


@kernel
def _gemm_block(fn, width, gemm, j):
    """Block number j of gemm = (a, ta, b, tb, out, rows, cols): one BLAS call, row-major order of blocks."""
    a, ta, b, tb, out, rows, cols = gemm
    m, n = out.shape
    k = a.shape[0] if ta else a.shape[1]
    lda, ldb = a.shape[1], b.shape[1]
    item = out.itemsize
    nbc = (n + cols - 1) // cols
    r0 = (j // nbc) * rows
    c0 = (j % nbc) * cols
    r1 = min(m, r0 + rows)
    c1 = min(n, c0 + cols)
    # row r0 of op(a): row r0 of a, or its column r0 when transposed; column c0 of op(b) likewise
    a0 = np.int64(a.ctypes.data) + (r0 if ta else r0 * lda) * item
    b0 = np.int64(b.ctypes.data) + (c0 * ldb if tb else c0) * item
    cblas_gemm(fn, width, (_trans_flag(ta), _trans_flag(tb), r1 - r0, c1 - c0, k, lda, ldb, n),
               (a0, b0, np.int64(out.ctypes.data) + (r0 * n + c0) * item), out, 0.0)


@kernel
def _gemm_block_count(gemm):
    out, rows, cols = gemm[4], gemm[5], gemm[6]
    m, n = out.shape
    return ((m + rows - 1) // rows) * ((n + cols - 1) // cols)


@kernel
def gemm_one(fn, width, threads, gemm):
    """out = op(a) @ op(b) as one BLAS call on the calling thread, OpenBLAS at one thread for the call.

    gemm : ``gemm_blocks``' tuple with one block (rows >= m, cols >= n).
    threads : ``blas_threads``' addresses. The count OpenBLAS had is put back
        before returning; the caller holds the lock that the one-thread scopes
        of ``fastscratch._layers.matmul`` take, so no scope opens or closes meanwhile.
    A serial kernel: a parallel region, or a scope opened from Python, would
    cost more than a GEMM of this size (below ``MIN_SPLIT_WORK``).
    """
    saved = blas_threads(threads, 1)
    _gemm_block(fn, width, gemm, 0)
    if saved != 1:
        blas_threads(threads, saved)


@parallel_kernel
def gemm_blocks(fn, width, gemm):
    """out = op(a) @ op(b), op(x) = x.T where the flag is set, one BLAS call per (rows, cols) block of out.

    gemm : the tuple (a, ta, b, tb, out, rows, cols):
        a : (m, k) C-contiguous, or (k, m) C-contiguous with ta set
        b : (k, n) C-contiguous, or (n, k) C-contiguous with tb set
        out : (m, n) C-contiguous, a's dtype
        rows, cols : ints >= 1, the block of out (``out_blocks``)
    """
    for j in prange(_gemm_block_count(gemm)):
        _gemm_block(fn, width, gemm, j)


@parallel_kernel
def gemm_blocks_pair(fn, width, first, second):
    """Two independent GEMMs of one dtype (``gemm_blocks``' tuples) in one parallel region.

    The blocks of both are the tasks of one prange (a dense layer's dx and dW:
    one parallel region where there would be two, and two one-block GEMMs run
    side by side), each block the same BLAS call that ``gemm_blocks`` would
    make, so the results are bitwise those of two ``gemm_blocks`` calls.
    """
    n1 = _gemm_block_count(first)
    for j in prange(n1 + _gemm_block_count(second)):
        if j < n1:
            _gemm_block(fn, width, first, j)
        else:
            _gemm_block(fn, width, second, j - n1)


def reduce_blocks(m, n, k):
    """(reduction rows per block, blocks) for a (k, m).T @ (k, n) GEMM split along k: a function of the shape only."""
    by_work = (m * n * k + MIN_BLOCK_WORK - 1) // MIN_BLOCK_WORK
    nb = _pow2_at_most(max(1, min(by_work, MAX_BLOCKS, k // MIN_REDUCE_ROWS)))
    rows = (k + nb - 1) // nb
    if rows == 0:  # k == 0: nothing to reduce (the caller makes zeros)
        return 0, 0
    return rows, (k + rows - 1) // rows


@parallel_kernel
def gemm_tn_reduce(fn, width, a, b, parts, out, rows):
    """out = a.T @ b, summed over fixed blocks of `rows` rows of a and b, in block order.

    a : (k, m) C-contiguous
    b : (k, n) C-contiguous, a's dtype
    parts : (blocks, m, n) C-contiguous scratch, blocks = ceil(k / rows)
    out : (m, n) C-contiguous
    """
    k, m = a.shape
    n = b.shape[1]
    nb = parts.shape[0]
    item = out.itemsize
    pa, pb, pp = np.int64(a.ctypes.data), np.int64(b.ctypes.data), np.int64(parts.ctypes.data)
    for j in prange(nb):
        r0 = j * rows
        r1 = min(k, r0 + rows)
        cblas_gemm(fn, width, (TRANS, NO_TRANS, m, n, r1 - r0, m, n, n),
                    (pa + r0 * m * item, pb + r0 * n * item, pp + j * m * n * item), out, 0.0)
    for i in prange(m):
        for c in range(n):
            s = parts[0, i, c]
            for j in range(1, nb):
                s += parts[j, i, c]
            out[i, c] = s


def widen_piece(k, itemsize):
    """Rows of an (m, k) operand per widened piece of ``gemm_rows_widen``: WIDEN_BYTES of the wide dtype."""
    return max(1, WIDEN_BYTES // max(1, k * itemsize))


@kernel
def _widen_rows(a, r0, r1, buf):
    """buf[:r1 - r0] = a[r0:r1] in buf's dtype (exact: a's dtype is narrower)."""
    k = a.shape[1]
    for i in range(r1 - r0):
        for c in range(k):
            buf[i, c] = a[r0 + i, c]


@parallel_kernel
def gemm_rows_widen(fn, width, a, b, tb, out, rows, piece):
    """out = a @ op(b) for an `a` of a narrower dtype than out (float32 into float64), one block of rows per task.

    Each block of `rows` rows of out is made in pieces of `piece` rows: the
    piece of a is widened into a scratch of out's dtype (small enough to stay
    in the core's cache), then one BLAS call. NumPy's np.dot would widen the
    whole of a first, a copy as large as a twice over, written to memory and
    read back.

    a : (m, k) C-contiguous, a dtype that widens exactly to out's
    b : (k, n) C-contiguous, or (n, k) C-contiguous with tb set; out's dtype
    out : (m, n) C-contiguous
    rows : int >= 1, the block of rows (``out_blocks``)
    piece : int >= 1, rows per widened piece (``widen_piece``)
    """
    m, n = out.shape
    k = a.shape[1]
    ldb = b.shape[1]
    item = out.itemsize
    nbr = (m + rows - 1) // rows
    pb, pc = np.int64(b.ctypes.data), np.int64(out.ctypes.data)
    for j in prange(nbr):
        r0 = j * rows
        r1 = min(m, r0 + rows)
        buf = np.empty((min(piece, r1 - r0), k), dtype=out.dtype)
        pbuf = np.int64(buf.ctypes.data)
        for p0 in range(r0, r1, piece):
            p1 = min(r1, p0 + piece)
            _widen_rows(a, p0, p1, buf)
            cblas_gemm(fn, width, (NO_TRANS, _trans_flag(tb), p1 - p0, n, k, k, ldb, n),
                       (pbuf, pb, pc + p0 * n * item), out, 0.0)
