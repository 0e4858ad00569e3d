"""Convolution as one small GEMM per image: the image's col is made in cache, used, and dropped.

The book's im2col route writes the whole (N*out_h*out_w, C*FH*FW) col matrix
to memory and reads it back for one big GEMM. Here each task takes a fixed
group of images and, for one image at a time, unfolds it into a (K, Q) buffer
(K = C*FH*FW rows of Q = out_h*out_w positions, small enough to stay in the
core's cache) and hands that to a single-threaded BLAS call: the GEMM runs at
BLAS speed on operands that never leave the cache, and the memory traffic is
that of the input and output alone.

Stride 1. The input is read from zero-padded, flattened image planes
(N, C, L) of row width Wp (``conv_direct.pad_planes`` writes them), and col
is laid out on their grid, as the direct kernels' output (kernels/conv_direct.py):
output pixel (oy, ox) is grid position q = oy*Wp + ox of Qg = out_h*Wp, and
tap (fy, fx) of its window is plane element q + fy*Wp + fx. Each row of col
is then one contiguous run of a plane, copied in one vectorised loop (and,
in col2im, added back in one); the grid's columns ox >= out_w are computed
and dropped. L >= Hp*Wp + FW - 1 covers the taps of the last position.
``geom`` is the tuple (FH, FW, out_h, pad, Wp).

Results do not depend on the thread count: each image's products are one BLAS
call of fixed shape whichever thread runs it, and dW sums the images of a
fixed group into one partial, in image order (the caller adds the groups in
order). The caller sets BLAS to one thread (``fastscratch._blas``) and
passes ``blas = (address of cblas_?gemm, a zero of its integer type)``.
"""
import numpy as np

from ._jit import kernel, parallel_kernel, prange
from .gemm import NO_TRANS, TRANS, cblas_gemm

#: images per task: dW's partial sums are per group, so the group is fixed (not tied
#: to the thread count) and results are too.
IMAGE_GROUP = 4


@kernel
def dw_transposed(K, F):
    """True when dW's partials are held as (K, F), dW.T: BLAS runs colT @ dout.T (K rows) faster
    than dout @ colT.T (F rows) when the filters are fewer than the rows of col."""
    return K > F


@kernel(inline="always")
def _unfold(p, geom, colT):
    """colT[(c*FH + fy)*FW + fx, q] = p[c, q + fy*Wp + fx] for the Qg grid positions q; p (C, L), colT (K, Qg)."""
    FH, FW, Wp = geom[0], geom[1], geom[4]
    C = p.shape[0]
    Qg = colT.shape[1]
    for c in range(C):
        pc = p[c]
        for fy in range(FH):
            for fx in range(FW):
                row = colT[(c * FH + fy) * FW + fx]
                src = pc[fy * Wp + fx:fy * Wp + fx + Qg]
                for q in range(Qg):
                    row[q] = src[q]


@parallel_kernel
def forward_images(blas, planes, geom, W2, bias, out):
    """out[n] = W2 @ col(n) + bias, one image at a time.

    Parameters
    ----------
    blas : (int, int32 or int64), cblas_?gemm's address and a zero of its integer type
    planes : ndarray of shape (N, C, L), padded flattened input planes (see the module docstring)
    geom : (FH, FW, out_h, out_w, Wp)
    W2 : ndarray of shape (F, K), K = C*FH*FW, the filters as rows
    bias : ndarray of shape (F,)
    out : ndarray of shape (N, F, out_h, out_w), written in place (every element)
    """
    N, F, out_h, out_w = out.shape
    K = W2.shape[1]
    Wp = geom[4]
    Qg = out_h * Wp
    pw = np.int64(W2.ctypes.data)
    for g in prange((N + IMAGE_GROUP - 1) // IMAGE_GROUP):
        colT = np.empty((K, Qg), dtype=out.dtype)
        og = np.empty((F, Qg), dtype=out.dtype)
        pcol, pog = np.int64(colT.ctypes.data), np.int64(og.ctypes.data)
        for n in range(g * IMAGE_GROUP, min(N, (g + 1) * IMAGE_GROUP)):
            _unfold(planes[n], geom, colT)
            cblas_gemm(blas[0], blas[1], (NO_TRANS, NO_TRANS, F, Qg, K, K, Qg, Qg), (pw, pcol, pog), out, 0.0)
            for f in range(F):
                bf = bias[f]
                of, gf = out[n, f], og[f]
                for oy in range(out_h):
                    src, dst = gf[oy * Wp:oy * Wp + out_w], of[oy]
                    for ox in range(out_w):
                        dst[ox] = src[ox] + bf


@parallel_kernel
def backward_images(blas, planes, geom, d, W2, grads):
    """dW partials per image group, db per image and (when dx has images) dx, one image at a time.

    Parameters
    ----------
    blas, planes, geom : as forward_images (the forward's planes, of a finite input)
    d : ndarray of shape (N, F, out_h, out_w), dout
    W2 : ndarray of shape (F, K), the forward's filters as rows (finite where dx is wanted)
    grads : (parts, db_parts, dx), written in place (every element):
        parts (ceil(N / IMAGE_GROUP), F, K): group g's sum, in image order, of d[n] @ col(n).T,
        or of its transpose, shape (..., K, F), where ``dw_transposed(K, F)``;
        db_parts (N, F): the sums of d[n, f];
        dx (N, C, H, W), or shape (0, C, H, W) when no input gradient is wanted:
        col2im of W2.T @ d[n], each pixel's terms added in (fy, fx) order.

    Notes
    -----
    dout is laid on the grid with zeros in the columns ox >= out_w, so those
    columns add nothing to dW, whatever finite values col holds there, and
    their entries of W2.T @ d are zeros that the col2im adds to no effect.
    """
    parts, db_parts, dx = grads
    N, F, out_h, out_w = d.shape
    K = W2.shape[1]
    FH, FW, pad, Wp = geom[0], geom[1], geom[3], geom[4]
    Qg = out_h * Wp
    want_dx = dx.shape[0] == N
    dw_t = dw_transposed(K, F)
    C = planes.shape[1]
    H, W = dx.shape[2], dx.shape[3]
    pw = np.int64(W2.ctypes.data)
    for g in prange(parts.shape[0]):
        colT = np.empty((K, Qg), dtype=d.dtype)
        dg = np.zeros((F, Qg), dtype=d.dtype)
        dcolT = np.empty((K, Qg) if want_dx else (0, 0), dtype=d.dtype)
        dxp = np.empty((C, planes.shape[2]) if want_dx else (0, 0), dtype=d.dtype)
        pcol, pdg, pdcol = np.int64(colT.ctypes.data), np.int64(dg.ctypes.data), np.int64(dcolT.ctypes.data)
        pp = np.int64(parts[g].ctypes.data)
        for n in range(g * IMAGE_GROUP, min(N, (g + 1) * IMAGE_GROUP)):
            for f in range(F):
                df, gf = d[n, f], dg[f]
                s = df[0, 0] - df[0, 0]  # a zero of the array's dtype
                for oy in range(out_h):
                    src, dst = df[oy], gf[oy * Wp:oy * Wp + out_w]
                    for ox in range(out_w):
                        v = src[ox]
                        dst[ox] = v
                        s += v
                db_parts[n, f] = s
            _unfold(planes[n], geom, colT)
            beta = 0.0 if n == g * IMAGE_GROUP else 1.0
            if dw_t:  # parts[g] (K, F) (+)= colT (K, Qg) @ dg.T (Qg, F)
                cblas_gemm(blas[0], blas[1], (NO_TRANS, TRANS, K, F, Qg, Qg, Qg, F), (pcol, pdg, pp), d, beta)
            else:  # parts[g] (F, K) (+)= dg (F, Qg) @ colT.T (Qg, K)
                cblas_gemm(blas[0], blas[1], (NO_TRANS, TRANS, F, K, Qg, Qg, Qg, K), (pdg, pcol, pp), d, beta)
            if want_dx:
                # dcolT (K, Qg) = W2.T (K, F) @ dg (F, Qg), then col2im on the padded grid
                cblas_gemm(blas[0], blas[1], (TRANS, NO_TRANS, K, Qg, F, K, Qg, Qg), (pw, pdg, pdcol), d, 0.0)
                dxp[:] = 0
                for c in range(C):
                    for fy in range(FH):
                        for fx in range(FW):
                            row = dcolT[(c * FH + fy) * FW + fx]
                            dst = dxp[c, fy * Wp + fx:fy * Wp + fx + Qg]
                            for q in range(Qg):
                                dst[q] += row[q]
                for c in range(C):
                    pc, xc = dxp[c], dx[n, c]
                    for y in range(H):
                        src, dst = pc[(y + pad) * Wp + pad:(y + pad) * Wp + pad + W], xc[y]
                        for x in range(W):
                            dst[x] = src[x]
