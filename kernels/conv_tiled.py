"""Convolution as one small GEMM per image: the image's col is made in cache, used, and dropped.

The book's im2col route writes the whole (N*out_h*out_w, C*FH*FW) col matrix
to memory and reads it back for one big GEMM. Here each task takes a fixed
group of images and, for one image at a time, unfolds it into a (K, Q) buffer
(K = C*FH*FW rows of Q = out_h*out_w positions, small enough to stay in the
core's cache) and hands that to a single-threaded BLAS call: the GEMM runs at
BLAS speed on operands that never leave the cache, and the memory traffic is
that of the input and output alone.

Stride 1. The input is read from zero-padded, flattened image planes
(N, C, L) of row width Wp (``planes.pad_planes`` writes them), and col
is laid out on their grid, as the direct kernels' output (kernels/conv_direct.py):
output pixel (oy, ox) is grid position q = oy*Wp + ox of Qg = out_h*Wp, and
tap (fy, fx) of its window is plane element q + fy*Wp + fx. Each row of col
is then one contiguous run of a plane, copied in one vectorised loop (and,
in col2im, added back in one); the grid's columns ox >= out_w are computed
and dropped. L >= Hp*Wp + FW - 1 covers the taps of the last position.
``geom`` is the tuple (FH, FW, out_h, pad, Wp, chunk rows): an image's
output rows are taken a chunk at a time, so that the chunk's col stays in
the core's L2 cache however large the image (``chunk_rows``).

Results do not depend on the thread count: each image's products are one BLAS
call of fixed shape whichever thread runs it, and dW sums the images of a
fixed group into one partial, in image order (the caller adds the groups in
order). The caller sets BLAS to one thread (``fastscratch._blas``) and
passes ``blas = (address of cblas_?gemm, a zero of its integer type)``.
"""
import numpy as np

from ._jit import kernel, parallel_kernel, prange
from .gemm import NO_TRANS, TRANS, cblas_gemm
from .planes import copy_rows, unpad_planes

#: images per task: dW's partial sums are per group, so the group is fixed (not tied
#: to the thread count) and results are too.
IMAGE_GROUP = 4


@kernel
def dw_transposed(K, F):
    """True when dW's partials are held as (K, F), dW.T: BLAS runs colT @ dout.T (K rows) faster
    than dout @ colT.T (F rows) when the filters are fewer than the rows of col."""
    return K > F


@kernel(inline="always")
def _unfold(p, geom, q0, colT):
    """colT[(c*FH + fy)*FW + fx, i] = p[c, q0 + i + fy*Wp + fx] for the grid positions q0 + i of a chunk.

    p : (C, L) one image's planes; colT : (K, Qc), the chunk's col.
    """
    FH, FW, Wp = geom[0], geom[1], geom[4]
    C = p.shape[0]
    Qc = colT.shape[1]
    for c in range(C):
        pc = p[c]
        for fy in range(FH):
            for fx in range(FW):
                row = colT[(c * FH + fy) * FW + fx]
                src = pc[q0 + fy * Wp + fx:q0 + fy * Wp + fx + Qc]
                for i in range(Qc):
                    row[i] = src[i]


@kernel(inline="always")
def chunk(geom, r0):
    """(first grid position, positions) of the chunk of output rows r0 .. r0 + rows - 1."""
    out_h, Wp, rows = geom[2], geom[4], geom[5]
    return r0 * Wp, (min(out_h, r0 + rows) - r0) * Wp


@kernel(inline="always")
def store_chunk(og, bias, r0, Wp, out):
    """out[f, r0 + r, ox] = og[f, r*Wp + ox] + bias[f] for the chunk's rows r and the valid columns ox < out_w.

    og : (F, rows*Wp), a chunk of the output grid; out : (F, out_h, out_w), one image's output.
    """
    out_w = out.shape[2]
    for f in range(og.shape[0]):
        bf = bias[f]
        of, gf = out[f], og[f]
        for oy in range(r0, r0 + og.shape[1] // Wp):
            src, dst = gf[(oy - r0) * Wp:(oy - r0) * Wp + out_w], of[oy]
            for ox in range(out_w):
                dst[ox] = src[ox] + bf


@kernel(inline="always")
def dout_to_grid(d, Wp, dg, db):
    """dg[f, oy*Wp + ox] = d[f, oy, ox] (the grid's other columns are left alone) and db[f] = the sum of d[f].

    d : (F, out_h, out_w), one image's dout; dg : (F, out_h*Wp); db : (F,), written in place.
    """
    lanes = np.empty(d.shape[2], dtype=d.dtype)
    for f in range(d.shape[0]):
        db[f] = copy_rows(d[f], dg[f], 0, Wp, lanes, False)


@parallel_kernel
def forward_images(blas, planes, geom, W2, bias, out):
    """out[n] = W2 @ col(n) + bias, one image per task and one chunk of output rows at a time.

    Parameters
    ----------
    blas : (int, int32 or int64), cblas_?gemm's address and a zero of its integer type
    planes : ndarray of shape (N, C, L), padded flattened input planes (see the module docstring)
    geom : (FH, FW, out_h, pad, Wp, chunk rows)
    W2 : ndarray of shape (F, K), K = C*FH*FW, the filters as rows
    bias : ndarray of shape (F,)
    out : ndarray of shape (N, F, out_h, out_w), written in place (every element)
    """
    N, F, out_h, out_w = out.shape
    K = W2.shape[1]
    Wp, rows = geom[4], geom[5]
    Qmax = min(out_h, rows) * Wp
    pw = np.int64(W2.ctypes.data)
    for n in prange(N):  # no reduction across images: one image per task
        colbuf = np.empty(K * Qmax, dtype=out.dtype)
        ogbuf = np.empty(F * Qmax, dtype=out.dtype)
        for r0 in range(0, out_h, rows):
            q0, Qc = chunk(geom, r0)
            colT = colbuf[:K * Qc].reshape(K, Qc)
            og = ogbuf[:F * Qc].reshape(F, Qc)
            _unfold(planes[n], geom, q0, colT)
            cblas_gemm(blas[0], blas[1], (NO_TRANS, NO_TRANS, F, Qc, K, K, Qc, Qc),
                       (pw, np.int64(colT.ctypes.data), np.int64(og.ctypes.data)), out, 0.0)
            store_chunk(og, bias, r0, Wp, out[n])


@parallel_kernel
def backward_images(blas, planes, geom, d, W2, grads):
    """dW partials per image group, db per image and (when dx has images) dx, a chunk of rows at a time.

    Parameters
    ----------
    blas, planes, geom : as forward_images (the forward's planes, of a finite input)
    d : ndarray of shape (N, F, out_h, out_w), dout
    W2 : ndarray of shape (F, K), the forward's filters as rows (finite where dx is wanted)
    grads : (parts, db_parts, dx), written in place (every element):
        parts (ceil(N / IMAGE_GROUP), F, K): group g's sum, in image and chunk order, of
        d[n] @ col(n).T, or of its transpose, shape (..., K, F), where ``dw_transposed(K, F)``;
        db_parts (N, F): the sums of d[n, f];
        dx (N, C, H, W), or shape (0, C, H, W) when no input gradient is wanted:
        col2im of W2.T @ d[n], each pixel's terms added chunk by chunk, in (fy, fx)
        order within a chunk (one fixed order).

    Notes
    -----
    dout is laid on the grid with zeros in the columns ox >= out_w, so those
    columns add nothing to dW, whatever finite values col holds there, and
    their entries of W2.T @ d are zeros that the col2im adds to no effect.
    """
    parts, db_parts, dx = grads
    N, F, out_h, out_w = d.shape
    K = W2.shape[1]
    FH, FW, pad, Wp, rows = geom[0], geom[1], geom[3], geom[4], geom[5]
    Qg = out_h * Wp
    Qmax = min(out_h, rows) * Wp
    want_dx = dx.shape[0] == N
    dw_t = dw_transposed(K, F)
    C = planes.shape[1]
    item = d.itemsize
    pw = np.int64(W2.ctypes.data)
    for g in prange(parts.shape[0]):
        colbuf = np.empty(K * Qmax, dtype=d.dtype)
        dcolbuf = np.empty(K * Qmax if want_dx else 0, dtype=d.dtype)
        dg = np.zeros((F, Qg), dtype=d.dtype)
        dxp = np.empty((C, planes.shape[2]) if want_dx else (0, 0), dtype=d.dtype)
        pdg = np.int64(dg.ctypes.data)
        pp = np.int64(parts[g].ctypes.data)
        for n in range(g * IMAGE_GROUP, min(N, (g + 1) * IMAGE_GROUP)):
            dout_to_grid(d[n], Wp, dg, db_parts[n])
            if want_dx:
                dxp[:] = 0
            for r0 in range(0, out_h, rows):
                q0, Qc = chunk(geom, r0)
                colT = colbuf[:K * Qc].reshape(K, Qc)
                _unfold(planes[n], geom, q0, colT)
                pcol, pdgc = np.int64(colT.ctypes.data), pdg + q0 * item
                beta = 0.0 if n == g * IMAGE_GROUP and r0 == 0 else 1.0
                if dw_t:  # parts[g] (K, F) (+)= colT (K, Qc) @ dg[:, chunk].T (Qc, F)
                    cblas_gemm(blas[0], blas[1], (NO_TRANS, TRANS, K, F, Qc, Qc, Qg, F), (pcol, pdgc, pp), d, beta)
                else:  # parts[g] (F, K) (+)= dg[:, chunk] (F, Qc) @ colT.T (Qc, K)
                    cblas_gemm(blas[0], blas[1], (NO_TRANS, TRANS, F, K, Qc, Qg, Qc, K), (pdgc, pcol, pp), d, beta)
                if want_dx:
                    # dcolT (K, Qc) = W2.T (K, F) @ dg[:, chunk] (F, Qc), then col2im on the padded grid
                    dcolT = dcolbuf[:K * Qc].reshape(K, Qc)
                    cblas_gemm(blas[0], blas[1], (TRANS, NO_TRANS, K, Qc, F, K, Qg, Qc),
                               (pw, pdgc, np.int64(dcolT.ctypes.data)), d, 0.0)
                    for c in range(C):
                        for fy in range(FH):
                            for fx in range(FW):
                                row = dcolT[(c * FH + fy) * FW + fx]
                                dst = dxp[c, q0 + fy * Wp + fx:q0 + fy * Wp + fx + Qc]
                                for i in range(Qc):
                                    dst[i] += row[i]
            if want_dx:
                unpad_planes(dxp, pad, Wp, dx[n])
