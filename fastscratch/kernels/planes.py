"""Padded, flattened image planes: the layout the stride-1 convolution kernels share.

Every (H, W) plane is zero-padded and flattened into a row of length L of an
array (N, C, L), with row width Wp (see fastscratch/kernels/conv_direct.py). These
helpers move images and dout into and out of that layout, and take the
output grid (output pixel (oy, ox) at grid position oy*Wp + ox) a chunk of
rows at a time, as the per-image GEMM kernels do (fastscratch/kernels/conv_per_image.py).

Their sums (the bias gradient, the NaN flags of ``pad_planes``) add each column over the
rows, then the columns, in that fixed order: the additions of one column are
independent of the next column's, so the loop vectorises, where one running
sum would be a chain of dependent additions.
"""
from collections import namedtuple

import numpy as np

from ._jit import kernel, parallel_kernel, prange

#: One stride-1 convolution's geometry as the per-image GEMM kernels take it (ints; Numba
#: takes it as a named tuple): filter size FH x FW, output rows out_h, pad, the planes'
#: row width Wp, output rows per chunk, output width out_w.
ConvGeometry = namedtuple("ConvGeometry", "FH FW out_h pad Wp rows out_w")


@kernel(inline="always")
def copy_rows(src, dst, start, Wp, lanes, nan_flag):
    """dst[start + y*Wp + i] = src[y, i], and the sum of src, or with nan_flag the sum of src - src.

    src : (h, w), w >= 1; dst : 1-D, long enough; lanes : (>= w,) scratch.
    With nan_flag the sum is 0 where src is finite and NaN where it holds a NaN or an Inf.
    Sums go column by column over the rows, then over the columns.
    """
    h, w = src.shape
    for i in range(w):
        lanes[i] = 0
    for y in range(h):
        row, out = src[y], dst[start + y * Wp:start + y * Wp + w]
        for i in range(w):
            v = row[i]
            out[i] = v
            lanes[i] += (v - v) if nan_flag else v
    return _fold(lanes, w)


@kernel(inline="always")
def sum_rows(src, lanes):
    """The sum of src (h, w), w >= 1, added as copy_rows adds; lanes : (>= w,) scratch."""
    h, w = src.shape
    for i in range(w):
        lanes[i] = 0
    for y in range(h):
        row = src[y]
        for i in range(w):
            lanes[i] += row[i]
    return _fold(lanes, w)


@kernel(inline="always")
def _fold(lanes, w):
    s = lanes[0]
    for i in range(1, w):
        s += lanes[i]
    return s


@parallel_kernel
def pad_planes(x, pad_h, pad_w, Wp, planes, nan_flags):
    """planes[n, c] = x[n, c] padded by pad_h rows and pad_w columns of zeros, flattened with row width Wp.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W), H, W >= 1
    pad_h, pad_w : int >= 0
    Wp : int, W + 2*pad_w
    planes : ndarray of shape (N, C, L), L >= (H + 2*pad_h) * Wp, written in place
        (every element): x[n, c, y, i] at (y + pad_h)*Wp + i + pad_w, zero elsewhere.
    nan_flags : ndarray of shape (N*C,), written in place: 0 where the plane of x is
        finite, NaN where it holds a NaN or an Inf (see conv_direct.conv_planes_dw).
    """
    N, C, H, W = x.shape
    L = planes.shape[2]
    for n in prange(N):
        lanes = np.empty(W, dtype=nan_flags.dtype)
        for c in range(C):
            p = planes[n, c]
            # zeros where x does not go: the rows above, each row's side columns, the rows below
            top = pad_h * Wp + pad_w
            for i in range(top):
                p[i] = 0
            for y in range(H - 1):
                gap = p[top + y * Wp + W:top + (y + 1) * Wp]
                for i in range(Wp - W):
                    gap[i] = 0
            for i in range(top + (H - 1) * Wp + W, L):
                p[i] = 0
            nan_flags[n * C + c] = copy_rows(x[n, c], p, top, Wp, lanes, True)


@kernel(inline="always")
def unpad_planes(p, pad, Wp, x):
    """x[c, y, i] = p[c, (y + pad)*Wp + pad + i]: one image cut out of its padded planes p (C, L); x (C, H, W)."""
    H, W = x.shape[1], x.shape[2]
    for c in range(x.shape[0]):
        pc, xc = p[c], x[c]
        for y in range(H):
            src, dst = pc[(y + pad) * Wp + pad:(y + pad) * Wp + pad + W], xc[y]
            for i in range(W):
                dst[i] = src[i]


@kernel(inline="always")
def chunk(geom, r0, width):
    """(first position, positions) of the chunk of output rows r0 .. r0 + geom.rows - 1, rows of width positions.

    geom : ConvGeometry; width : Wp for the grid's positions, out_w for the output pixels alone.
    """
    return r0 * width, (min(geom.out_h, r0 + geom.rows) - r0) * width


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
def dout_sums(d, db):
    """db[f] = the sum of d[f], as dout_to_grid sums; d : (F, out_h, out_w), one image's dout; db : (F,)."""
    lanes = np.empty(d.shape[2], dtype=d.dtype)
    for f in range(d.shape[0]):
        db[f] = sum_rows(d[f], lanes)


@kernel(inline="always")
def dout_to_grid(d, Wp, dg, db):
    """dg[f, oy*Wp + ox] = d[f, oy, ox] (the grid's other columns are left alone) and db[f] = the sum of d[f].

    d : (F, out_h, out_w), one image's dout; dg : (F, out_h*Wp); db : (F,), written in place.
    """
    lanes = np.empty(d.shape[2], dtype=d.dtype)
    for f in range(d.shape[0]):
        db[f] = copy_rows(d[f], dg[f], 0, Wp, lanes, False)
