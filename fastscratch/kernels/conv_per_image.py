"""Convolution as small GEMMs per image: the image's col is made in cache, a chunk at a time, used, and dropped.

The book's im2col route writes the whole (N*out_h*out_w, C*FH*FW) col matrix
to memory and reads it back for one big GEMM. Here each task takes an image
(or a fixed group of them) and, one chunk of output rows at a time, unfolds
it into a (K, P) buffer (K = C*FH*FW rows of the chunk's P output pixels,
small enough to stay in the core's cache) and hands that to a single-threaded
BLAS call: the GEMM runs at BLAS speed on operands that never leave the cache,
and the memory traffic is that of the input and output alone.

Stride 1. The input is read from zero-padded, flattened image planes
(N, C, L) of row width Wp (``planes.pad_planes`` writes them): tap (fy, fx)
of output pixel (oy, ox) is plane element (oy + fy)*Wp + ox + fx, so each
output row of a row of col is one contiguous run of a plane, copied in one
vectorised loop (and, in col2im, added back in one). col holds the output
pixels alone, in out's order, so the GEMMs read and write out and dout in
place. L >= Hp*Wp + FW - 1 covers the taps of the last position.
``geom`` is a ``planes.ConvGeometry`` (FH, FW, out_h, pad, Wp, rows, out_w):
an image's output rows are taken ``rows`` at a time, so that the chunk's col
stays in the core's L2 cache however large the image (``chunk_rows``).

The backward pass takes each of its products, dW and dx, either on the
chunk's col or by filter taps straight from the planes, as the forward of
fastscratch/kernels/conv_taps.py does (the caller picks by the channel counts).

Results do not depend on the thread count: each image's products are a fixed
sequence of BLAS calls of fixed shapes whichever thread runs them, and dW
sums the images of a fixed group into one partial, in image order (the caller
adds the groups in order). The caller sets BLAS to one thread (``fastscratch._layers.matmul``) and
passes ``blas = gemm.BlasGemm(address of cblas_?gemm, a zero of its integer type)``.
"""
from collections import namedtuple

import numpy as np

from ._jit import kernel, parallel_kernel, prange
from .conv_taps import tap_offset
from .gemm import NO_TRANS, TRANS, cblas_gemm
from .planes import chunk, dout_sums, dout_to_grid, unpad_planes

#: images per task: dW's partial sums are per group, so the group is fixed (not tied
#: to the thread count) and results are too. The book's batch of 100 makes 20 groups,
#: an even share for 2 or 4 threads; a batch of 5 or fewer is one task.
IMAGE_GROUP = 5

#: which products of a convolution go by filter taps (bools; the rest go on the unfolded col)
TapProducts = namedtuple("TapProducts", "forward dw dx")
#: backward_images' filters: ``rows`` (F, K), W as rows, for dx on col; ``taps``
#: (FH*FW, F, C), taps[fy*FW + fx] = W[:, :, fy, fx], for dx by taps
BackwardFilters = namedtuple("BackwardFilters", "rows taps")
#: backward_images' outputs: ``dw_parts`` (dW per image group), ``db_parts`` (N, F), ``dx``
BackwardGrads = namedtuple("BackwardGrads", "dw_parts db_parts dx")


@kernel
def dw_transposed(K, F):
    """True when dW's partials are held as (K, F), dW.T: BLAS runs colT @ dout.T (K rows) faster
    than dout @ colT.T (F rows) when the filters are fewer than the rows of col."""
    return K > F


@kernel(inline="always")
def _unfold(p, geom, r0, colT):
    """colT[(c*FH + fy)*FW + fx, r*out_w + ox] = p[c, (r0 + r + fy)*Wp + ox + fx] for the chunk's rows r.

    p : (C, L) one image's planes; geom : ConvGeometry; colT : (K, rows*out_w), the chunk's
    col, of the output pixels alone (no grid columns).
    """
    FH, FW, Wp = geom.FH, geom.FW, geom.Wp
    C = p.shape[0]
    out_w = geom.out_w
    for c in range(C):
        pc = p[c]
        for fy in range(FH):
            for fx in range(FW):
                row = colT[(c * FH + fy) * FW + fx]
                for r in range(colT.shape[1] // out_w):
                    src = pc[(r0 + r + fy) * Wp + fx:(r0 + r + fy) * Wp + fx + out_w]
                    dst = row[r * out_w:(r + 1) * out_w]
                    for i in range(out_w):
                        dst[i] = src[i]


@kernel(inline="always")
def _col2im_add(dcolT, geom, r0, dxp):
    """dxp[c, (r0 + r + fy)*Wp + ox + fx] += dcolT[(c*FH + fy)*FW + fx, r*out_w + ox]: _unfold's adjoint, in its order."""
    FH, FW, Wp = geom.FH, geom.FW, geom.Wp
    out_w = geom.out_w
    for c in range(dxp.shape[0]):
        for fy in range(FH):
            for fx in range(FW):
                row = dcolT[(c * FH + fy) * FW + fx]
                for r in range(dcolT.shape[1] // out_w):
                    src = row[r * out_w:(r + 1) * out_w]
                    dst = dxp[c, (r0 + r + fy) * Wp + fx:(r0 + r + fy) * Wp + fx + out_w]
                    for i in range(out_w):
                        dst[i] += src[i]


@parallel_kernel
def forward_images(blas, planes, geom, W2, bias, out):
    """out[n] = W2 @ col(n) + bias, one image per task and one chunk of output rows at a time.

    The GEMM writes the chunk's rows of out[n] (F, out_h*out_w) in place; the
    bias is then added to them, as the reference adds it to the product.

    Parameters
    ----------
    blas : gemm.BlasGemm, cblas_?gemm's address and a zero of its integer type
    planes : ndarray of shape (N, C, L), padded flattened input planes (see the module docstring)
    geom : planes.ConvGeometry
    W2 : ndarray of shape (F, K), K = C*FH*FW, the filters as rows
    bias : ndarray of shape (F,)
    out : ndarray of shape (N, F, out_h, out_w), C-contiguous, written in place (every element)
    """
    N, F, out_h, out_w = out.shape
    K = W2.shape[1]
    P = out_h * out_w
    Pmax = min(out_h, geom.rows) * out_w
    item = out.itemsize
    pw = np.int64(W2.ctypes.data)
    for n in prange(N):  # no reduction across images: one image per task
        colbuf = np.empty(K * Pmax, dtype=out.dtype)
        on = out[n].reshape(F, P)
        for r0 in range(0, out_h, geom.rows):
            p0, Pc = chunk(geom, r0, out_w)
            colT = colbuf[:K * Pc].reshape(K, Pc)
            _unfold(planes[n], geom, r0, colT)
            cblas_gemm(blas.fn, blas.width, (NO_TRANS, NO_TRANS, F, Pc, K, K, Pc, P),
                       (pw, np.int64(colT.ctypes.data), np.int64(on.ctypes.data) + p0 * item), out, 0.0)
            for f in range(F):
                bf, dst = bias[f], on[f, p0:p0 + Pc]
                for i in range(Pc):
                    dst[i] += bf


@parallel_kernel
def backward_images(blas, planes, geom, taps, d, filters, grads):
    """dW partials per image group, db per image and (when dx has images) dx, a chunk of rows at a time.

    Each product is taken on the chunk's unfolded col or by filter taps, as
    the forward of fastscratch/kernels/conv_taps.py: dW's tap block t is dout's grid
    (F, Qc) @ the tap's input matrix (C, Qc) read in place from the planes,
    transposed; dx's padded planes get W[:, :, fy, fx].T @ dout's grid added
    at the tap's offset, the col2im done by BLAS as it writes C. The products
    on col read dout in place; those by taps read it laid on the grid.

    Parameters
    ----------
    blas, planes, geom : as forward_images (the forward's planes, of a finite input)
    taps : TapProducts, whether dW (``dw``) and dx (``dx``) go by taps (``forward`` is not read)
    d : ndarray of shape (N, F, out_h, out_w), C-contiguous, dout
    filters : BackwardFilters, the forward's filters (finite where dx is wanted): ``rows``
        (F, K) for dx on col, ``taps`` (FH*FW, F, C) for dx by taps; the one not used may be empty.
    grads : BackwardGrads, written in place (every element):
        dw_parts (ceil(N / IMAGE_GROUP), FH*FW*F, C) by taps, else (..., F, K), or (..., K, F) where
        ``dw_transposed(K, F)``: group g's sum, in image and chunk order, of d[n] @ col(n).T
        (by taps, block t of F rows is tap t's (F, C));
        db_parts (N, F): the sums of d[n, f];
        dx (N, C, H, W), or shape (0, C, H, W) when no input gradient is wanted: each padded
        pixel's terms added chunk by chunk and, within a chunk, in (fy, fx) order on col or
        tap by tap (one fixed order either way).

    Notes
    -----
    On the grid, dout has zeros in the columns ox >= out_w, so those columns
    add nothing to dW by taps, whatever finite values the planes hold there,
    and their terms of dx are zeros that add to no effect.
    """
    N, F, out_h, out_w = d.shape
    C, L = planes.shape[1], planes.shape[2]
    K = C * geom.FH * geom.FW
    Pmax = min(out_h, geom.rows) * out_w
    want_dx = grads.dx.shape[0] == N
    grid = taps.dw or (want_dx and taps.dx)
    for g in prange(grads.dw_parts.shape[0]):  # one task per image group: its own buffers and partial
        colbuf = np.empty(0 if taps.dw else K * Pmax, dtype=d.dtype)
        dcolbuf = np.empty(K * Pmax if want_dx and not taps.dx else 0, dtype=d.dtype)
        dg = np.zeros((F, out_h * geom.Wp) if grid else (0, 0), dtype=d.dtype)
        dxp = np.empty((C, L) if want_dx else (0, 0), dtype=d.dtype)
        first = g * IMAGE_GROUP
        for n in range(first, min(N, first + IMAGE_GROUP)):
            if grid:
                dout_to_grid(d[n], geom.Wp, dg, grads.db_parts[n])
            else:
                dout_sums(d[n], grads.db_parts[n])
            if want_dx:
                dxp[:] = 0
            for r0 in range(0, out_h, geom.rows):
                beta = 0.0 if n == first and r0 == 0 else 1.0  # the group's first product writes its partial
                _dw_chunk(blas, geom, taps.dw, r0, planes[n], d[n], dg, colbuf, grads.dw_parts[g], beta)
                if want_dx:
                    _dx_chunk(blas, geom, taps.dx, r0, d[n], dg, filters, dcolbuf, dxp)
            if want_dx:
                unpad_planes(dxp, geom.pad, geom.Wp, grads.dx[n])


# The products are called, not inlined: a call per chunk costs little beside its GEMMs, and the
# parallel loop compiles faster without their code.
@kernel
def _dw_chunk(blas, geom, by_taps, r0, p, dn, dg, colbuf, part, beta):
    """part (+)= the dW product of the chunk of output rows from r0 (beta 0 writes, 1 adds).

    p : (C, L), the image's planes; dn : (F, out_h, out_w), its dout; dg : (F, out_h*Wp),
    dout on the grid (read by taps); colbuf : (>= K*Pc,), scratch for the chunk's col (on col).
    part : (FH*FW*F, C) by taps, block t tap t's (F, C) += dg[:, chunk] @ tap input (C, Qc).T;
    on col (K, F) += colT (K, Pc) @ dn[:, chunk].T where ``dw_transposed(K, F)``, else
    (F, K) += dn[:, chunk] (F, Pc) @ colT.T (Pc, K).
    """
    F, C, L = dn.shape[0], p.shape[0], p.shape[1]
    item = dn.itemsize
    pp = np.int64(part.ctypes.data)
    if by_taps:
        q0, Qc = chunk(geom, r0, geom.Wp)
        pdgc, pn = np.int64(dg.ctypes.data) + q0 * item, np.int64(p.ctypes.data)
        for t in range(geom.FH * geom.FW):
            cblas_gemm(blas.fn, blas.width, (NO_TRANS, TRANS, F, C, Qc, geom.out_h * geom.Wp, L, C),
                       (pdgc, pn + tap_offset(geom, q0, t) * item, pp + t * F * C * item), dn, beta)
        return
    K = C * geom.FH * geom.FW
    P = geom.out_h * geom.out_w
    p0, Pc = chunk(geom, r0, geom.out_w)
    pdc = np.int64(dn.ctypes.data) + p0 * item
    colT = colbuf[:K * Pc].reshape(K, Pc)
    _unfold(p, geom, r0, colT)
    pcol = np.int64(colT.ctypes.data)
    if dw_transposed(K, F):
        cblas_gemm(blas.fn, blas.width, (NO_TRANS, TRANS, K, F, Pc, Pc, P, F), (pcol, pdc, pp), dn, beta)
    else:
        cblas_gemm(blas.fn, blas.width, (NO_TRANS, TRANS, F, K, Pc, P, Pc, K), (pdc, pcol, pp), dn, beta)


@kernel
def _dx_chunk(blas, geom, by_taps, r0, dn, dg, filters, dcolbuf, dxp):
    """dxp += the dx terms of the chunk of output rows from r0.

    dn : (F, out_h, out_w), the image's dout; dg : (F, out_h*Wp), dout on the grid;
    filters : BackwardFilters; dcolbuf : (>= K*Pc,) scratch; dxp : (C, L), dx's padded planes.
    By taps, for each tap t: dxp[:, s:s + Qc] (C, Qc) += filters.taps[t].T (C, F) @ dg[:, chunk]
    (F, Qc) at the tap's offset s; on col, dcolT (K, Pc) = filters.rows.T (K, F) @
    dn[:, chunk] (F, Pc), then col2im (``_col2im_add``).
    """
    F, C, L = dn.shape[0], dxp.shape[0], dxp.shape[1]
    item = dn.itemsize
    if by_taps:
        q0, Qc = chunk(geom, r0, geom.Wp)
        pdgc, pdx = np.int64(dg.ctypes.data) + q0 * item, np.int64(dxp.ctypes.data)
        for t in range(geom.FH * geom.FW):
            cblas_gemm(blas.fn, blas.width, (TRANS, NO_TRANS, C, Qc, F, C, geom.out_h * geom.Wp, L),
                       (np.int64(filters.taps[t].ctypes.data), pdgc, pdx + tap_offset(geom, q0, t) * item),
                       dn, 1.0)
        return
    K = C * geom.FH * geom.FW
    p0, Pc = chunk(geom, r0, geom.out_w)
    dcolT = dcolbuf[:K * Pc].reshape(K, Pc)
    cblas_gemm(blas.fn, blas.width, (TRANS, NO_TRANS, K, Pc, F, K, geom.out_h * geom.out_w, Pc),
               (np.int64(filters.rows.ctypes.data), np.int64(dn.ctypes.data) + p0 * item,
                np.int64(dcolT.ctypes.data)), dn, 0.0)
    _col2im_add(dcolT, geom, r0, dxp)
