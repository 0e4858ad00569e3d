"""Stride-1 convolution as one GEMM per filter tap and image: no col at all.

On the padded planes of kernels/conv_tiled.py (N, C, L), row width Wp, tap
(fy, fx) of grid position q is plane element q + s with s = fy*Wp + fx, so
the taps' inputs of a chunk of positions are the (C, Qc) matrix that starts
s elements into the image's planes, with leading dimension L: BLAS reads it
in place. The image's output chunk is then the sum over taps of
W[:, :, fy, fx] (F, C) @ that matrix, FH*FW GEMMs of inner dimension C
accumulating into one (F, Qc) buffer. Unfolding the image, as
kernels/conv_tiled.py does, costs a pass over a col FH*FW times the image;
here BLAS packs the same values straight from the planes. That pays where
each tap's GEMM is wide enough (the caller picks the route by the channel
counts, fastscratch/_conv_tiled.py).

The backward pass is the same walk: each tap's dW block is dout's grid
(F, Qc) @ the tap's input matrix transposed, and dx's padded planes get
W[:, :, fy, fx].T @ dout's grid added at offset s, the col2im done by BLAS
as it writes C.

Results do not depend on the thread count: one task per image (forward) or
per fixed group of images (backward), and within a task the taps, chunks and
images are added in one fixed order.
"""
import numpy as np

from ._jit import parallel_kernel, prange
from .conv_tiled import IMAGE_GROUP, chunk, dout_to_grid, store_chunk
from .gemm import NO_TRANS, TRANS, cblas_gemm
from .planes import unpad_planes


@parallel_kernel
def forward_taps(blas, planes, geom, Wt, bias, out):
    """out[n] = sum over taps t of Wt[t] @ (planes[n] shifted by tap t) + bias, one image per task.

    Parameters
    ----------
    blas : (int, int32 or int64), cblas_?gemm's address and a zero of its integer type
    planes : ndarray of shape (N, C, L), padded flattened input planes (kernels/conv_tiled.py)
    geom : (FH, FW, out_h, pad, Wp, chunk rows)
    Wt : ndarray of shape (FH*FW, F, C), Wt[fy*FW + fx] = W[:, :, fy, fx]
    bias : ndarray of shape (F,)
    out : ndarray of shape (N, F, out_h, out_w), written in place (every element)
    """
    N, F, out_h = out.shape[0], out.shape[1], out.shape[2]
    C, L = planes.shape[1], planes.shape[2]
    FH, FW, Wp, rows = geom[0], geom[1], geom[4], geom[5]
    item = out.itemsize
    for n in prange(N):  # no reduction across images: one image per task
        ogbuf = np.empty(F * min(out_h, rows) * Wp, dtype=out.dtype)
        pn = np.int64(planes[n].ctypes.data)
        for r0 in range(0, out_h, rows):
            q0, Qc = chunk(geom, r0)
            og = ogbuf[:F * Qc].reshape(F, Qc)
            pog = np.int64(og.ctypes.data)
            for t in range(FH * FW):
                s = q0 + (t // FW) * Wp + t % FW
                cblas_gemm(blas[0], blas[1], (NO_TRANS, NO_TRANS, F, Qc, C, C, L, Qc),
                           (np.int64(Wt[t].ctypes.data), pn + s * item, pog), out, 0.0 if t == 0 else 1.0)
            store_chunk(og, bias, r0, Wp, out[n])


@parallel_kernel
def backward_taps(blas, planes, geom, d, Wt, grads):
    """dW partials per image group and tap, db per image and (when dx has images) dx.

    Parameters
    ----------
    blas, planes, geom, Wt : as forward_taps (the forward's planes, of a finite input;
        Wt finite where dx is wanted)
    d : ndarray of shape (N, F, out_h, out_w), dout
    grads : (parts, db_parts, dx), written in place (every element):
        parts (ceil(N / IMAGE_GROUP), FH*FW, F, C): parts[g, t] is group g's sum, in image
        and chunk order, of d[n] @ (planes[n] shifted by tap t).T;
        db_parts (N, F): the sums of d[n, f];
        dx (N, C, H, W), or shape (0, C, H, W) when no input gradient is wanted: each
        padded pixel's terms added chunk by chunk and tap by tap (one fixed order).

    Notes
    -----
    dout is laid on the grid with zeros in the columns ox >= out_w, so those
    columns add nothing to dW, whatever finite values the planes hold there,
    and add zeros to dx.
    """
    parts, db_parts, dx = grads
    N, F, out_h = d.shape[0], d.shape[1], d.shape[2]
    C, L = planes.shape[1], planes.shape[2]
    FH, FW, pad, Wp, rows = geom[0], geom[1], geom[3], geom[4], geom[5]
    Qg = out_h * Wp
    want_dx = dx.shape[0] == N
    item = d.itemsize
    for g in prange(parts.shape[0]):
        dg = np.zeros((F, Qg), dtype=d.dtype)
        dxp = np.empty((C, L) if want_dx else (0, 0), dtype=d.dtype)
        pdg, pdx = np.int64(dg.ctypes.data), np.int64(dxp.ctypes.data)
        for n in range(g * IMAGE_GROUP, min(N, (g + 1) * IMAGE_GROUP)):
            dout_to_grid(d[n], Wp, dg, db_parts[n])
            if want_dx:
                dxp[:] = 0
            pn = np.int64(planes[n].ctypes.data)
            for r0 in range(0, out_h, rows):
                q0, Qc = chunk(geom, r0)
                pdgc = pdg + q0 * item
                beta = 0.0 if n == g * IMAGE_GROUP and r0 == 0 else 1.0
                for t in range(FH * FW):
                    s = q0 + (t // FW) * Wp + t % FW
                    # parts[g, t] (F, C) (+)= dg[:, chunk] (F, Qc) @ tap input (C, Qc).T
                    cblas_gemm(blas[0], blas[1], (NO_TRANS, TRANS, F, C, Qc, Qg, L, C),
                               (pdgc, pn + s * item, np.int64(parts[g, t].ctypes.data)), d, beta)
                    if want_dx:  # dxp[:, s:s + Qc] (C, Qc) += Wt[t].T (C, F) @ dg[:, chunk] (F, Qc)
                        cblas_gemm(blas[0], blas[1], (TRANS, NO_TRANS, C, Qc, F, C, Qg, L),
                                   (np.int64(Wt[t].ctypes.data), pdgc, pdx + s * item), d, 1.0)
            if want_dx:
                unpad_planes(dxp, pad, Wp, dx[n])
