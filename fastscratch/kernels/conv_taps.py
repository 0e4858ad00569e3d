"""Stride-1 convolution forward as one GEMM per filter tap and image: no col at all.

On the padded planes of fastscratch/kernels/planes.py (N, C, L), row width Wp, tap
(fy, fx) of grid position q is plane element q + s with s = fy*Wp + fx, so
the taps' inputs of a chunk of positions are the (C, Qc) matrix that starts
s elements into the image's planes, with leading dimension L: BLAS reads it
in place. The image's output chunk is then the sum over taps of
W[:, :, fy, fx] (F, C) @ that matrix, FH*FW GEMMs of inner dimension C
accumulating into one (F, Qc) buffer. Unfolding the image, as
fastscratch/kernels/conv_per_image.py does, costs a pass over a col FH*FW times the image;
here BLAS packs the same values straight from the planes. That pays where
each tap's GEMM is wide enough (the caller picks the route by the channel
counts, fastscratch/_layers/conv_per_image.py). The backward pass's products by taps
are in fastscratch/kernels/conv_per_image.py's backward_images, beside the unfolded ones.

Results do not depend on the thread count: one task per image, and within
it the taps are added in one fixed order.
"""
import numpy as np

from ._jit import kernel, parallel_kernel, prange
from .gemm import NO_TRANS, cblas_gemm
from .planes import chunk, store_chunk


@kernel(inline="always")
def tap_offset(geom, q0, t):
    """Plane element of tap t = fy*FW + fx of grid position q0: q0 + fy*Wp + fx."""
    return q0 + (t // geom.FW) * geom.Wp + t % geom.FW


@parallel_kernel
def forward_taps(blas, planes, geom, Wt, bias, out):
    """out[n] = sum over taps t of Wt[t] @ (planes[n] shifted by tap t) + bias, one image per task.

    Parameters
    ----------
    blas : gemm.BlasGemm, cblas_?gemm's address and a zero of its integer type
    planes : ndarray of shape (N, C, L), padded flattened input planes (fastscratch/kernels/planes.py)
    geom : planes.ConvGeometry
    Wt : ndarray of shape (FH*FW, F, C), Wt[fy*FW + fx] = W[:, :, fy, fx]
    bias : ndarray of shape (F,)
    out : ndarray of shape (N, F, out_h, out_w), written in place (every element)
    """
    N, F, out_h = out.shape[0], out.shape[1], out.shape[2]
    C, L = planes.shape[1], planes.shape[2]
    Wp, rows = geom.Wp, geom.rows
    item = out.itemsize
    for n in prange(N):  # no reduction across images: one image per task
        ogbuf = np.empty(F * min(out_h, rows) * Wp, dtype=out.dtype)
        pn = np.int64(planes[n].ctypes.data)
        for r0 in range(0, out_h, rows):
            q0, Qc = chunk(geom, r0, Wp)
            og = ogbuf[:F * Qc].reshape(F, Qc)
            pog = np.int64(og.ctypes.data)
            for t in range(Wt.shape[0]):
                cblas_gemm(blas.fn, blas.width, (NO_TRANS, NO_TRANS, F, Qc, C, C, L, Qc),
                           (np.int64(Wt[t].ctypes.data), pn + tap_offset(geom, q0, t) * item, pog),
                           out, 0.0 if t == 0 else 1.0)
            store_chunk(og, bias, r0, Wp, out[n])
