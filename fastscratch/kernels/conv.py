"""Convolution kernels: im2col, col2im and the fused layout passes around the GEMMs.

Layouts (the book's): an image batch is (N, C, H, W); a ``col`` matrix has one
row per output pixel, rows ordered (n, oy, ox), and one column per window cell,
columns ordered (c, fy, fx); "rows" matrices of the GEMM output/gradient are
(N*out_h*out_w, FN), i.e. NHWC flattened. Zero padding.

Every kernel writes into a preallocated ``out`` (im2col with pad > 0 also makes
its own zero-bordered copy of x, as the reference's np.pad does) and parallelises over the batch
(or batch x output rows); each thread writes only its own elements, with a
fixed work partition, so every result is bitwise repeatable run to run.
Arrays must be C-contiguous and all floating arrays of one call share a dtype
(float32 or float64): the Python wrappers make sure of both.
"""
import numpy as np

from ._jit import kernel, parallel_kernel, prange


@kernel
def im2col(x, filter_h, filter_w, stride, pad, col):
    """Unfold x's windows into the rows of col (writes every element of col).

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    filter_h, filter_w, stride, pad : int
    col : ndarray of shape (N*out_h*out_w, C*filter_h*filter_w), written in place
        with out_h = (H + 2*pad - filter_h)//stride + 1 (likewise out_w).
        Row (n, oy, ox), column (c, fy, fx) holds
        x[n, c, oy*stride - pad + fy, ox*stride - pad + fx], 0 outside x.

    Notes
    -----
    With pad > 0, x is first copied into a zero-bordered (N, C, H+2*pad,
    W+2*pad) buffer, as the reference's np.pad does: every window then lies
    inside the buffer, and the copy below runs without a bounds test per cell
    (a test per cell would dominate the copy).
    """
    if pad > 0:
        N, C, H, W = x.shape
        xp = np.empty((N, C, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
        _pad_images(x, pad, xp)
        _im2col_inside(xp, filter_h, filter_w, stride, col)
    else:
        _im2col_inside(x, filter_h, filter_w, stride, col)


@parallel_kernel
def _pad_images(x, pad, out):
    """out = x with a border of pad zeros around every (H, W) plane.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    pad : int
    out : ndarray of shape (N, C, H + 2*pad, W + 2*pad), written in place (every element)
    """
    N, C = x.shape[0], x.shape[1]
    for plane in prange(N * C):
        _pad_plane(x, plane // C, plane % C, pad, out)


@parallel_kernel
def _im2col_inside(x, filter_h, filter_w, stride, col):
    """im2col without padding: every window lies inside x (N, C, H, W); col as in im2col."""
    N, C, H, W = x.shape
    out_h = (H - filter_h) // stride + 1
    out_w = (W - filter_w) // stride + 1
    CK = C * filter_h * filter_w
    xf = x.reshape(-1)  # flat views: one offset per copied segment instead of 4-D indexing
    cf = col.reshape(-1)
    # one task per (n, oy): out_w consecutive rows of col, written front to back
    for t in prange(N * out_h):
        n = t // out_h
        _im2col_rows(xf, n, t - n * out_h, C, H, W, filter_h, filter_w, stride, out_w,
                     cf, t * out_w * CK)


@kernel
def _pad_plane(x, n, c, pad, out):
    """out[n, c] = x[n, c] with a border of pad zeros; out has shape (N, C, H+2*pad, W+2*pad)."""
    H, W = x.shape[2], x.shape[3]
    Wp = W + 2 * pad
    for y in range(pad):
        for i in range(Wp):
            out[n, c, y, i] = 0
            out[n, c, pad + H + y, i] = 0
    for y in range(H):
        for i in range(pad):
            out[n, c, pad + y, i] = 0
            out[n, c, pad + y, pad + W + i] = 0
        for i in range(W):
            out[n, c, pad + y, pad + i] = x[n, c, y, i]


@kernel
def _im2col_rows(xf, n, oy, C, H, W, filter_h, filter_w, stride, out_w, cf, start):
    """Write the out_w col rows of output row oy of image n from the flat images xf (no padding)."""
    K = filter_h * filter_w
    CK = C * K
    for ox in range(out_w):
        r = start + ox * CK
        for c in range(C):
            b = ((n * C + c) * H + oy * stride) * W + ox * stride
            for fy in range(filter_h):
                _copy_cells(cf, r + c * K + fy * filter_w, xf, b + fy * W, filter_w)


@kernel(inline="always")
def _copy_cells(dst, d, src, s, count):
    """dst[d:d+count] = src[s:s+count], for the short runs of one window row.

    The book's 3- and 5-wide filters are written out: a loop of 3 with a run-time
    trip count costs more than the copy.
    """
    if count == 3:
        dst[d] = src[s]
        dst[d + 1] = src[s + 1]
        dst[d + 2] = src[s + 2]
    elif count == 5:
        dst[d] = src[s]
        dst[d + 1] = src[s + 1]
        dst[d + 2] = src[s + 2]
        dst[d + 3] = src[s + 3]
        dst[d + 4] = src[s + 4]
    else:
        for i in range(count):
            dst[d + i] = src[s + i]


@parallel_kernel
def col2im(col, filter_h, filter_w, stride, pad, img):
    """Fold col back into images, summing overlapping windows (im2col's adjoint).

    Parameters
    ----------
    col : ndarray of shape (N*out_h*out_w, C*filter_h*filter_w), rows (n, oy, ox), columns (c, fy, fx)
    filter_h, filter_w, stride, pad : int
    img : ndarray of shape (N, C, H, W), written in place (every element);
        contributions that land in the padding are dropped.

    Notes
    -----
    A gather, not a scatter: each thread owns whole (n, c) planes and sums the
    contributions to each pixel in (fy, fx) order, the order of the book's
    loop, so the result is bitwise that of the NumPy reference and repeatable.
    """
    N, C, H, W = img.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    K = filter_h * filter_w
    for t in prange(N * C):
        n = t // C
        c = t - n * C
        for iy in range(H):
            for ix in range(W):
                img[n, c, iy, ix] = 0
            for fy in range(filter_h):
                ny = iy + pad - fy
                if ny < 0:
                    break  # larger fy only go further up
                oy = ny // stride
                if oy * stride != ny or oy >= out_h:
                    continue
                rbase = (n * out_h + oy) * out_w
                for fx in range(filter_w):
                    j = c * K + fy * filter_w + fx
                    # the ox whose window covers ix with cell fx: ix = ox*stride - pad + fx
                    ox_lo = max(0, (pad - fx + stride - 1) // stride)
                    ox_hi = min(out_w, (W - 1 + pad - fx) // stride + 1)
                    for ox in range(ox_lo, ox_hi):
                        img[n, c, iy, ox * stride - pad + fx] += col[rbase + ox, j]


@parallel_kernel
def rows_to_nchw_bias(rows, b, out):
    """out[n, f, oy, ox] = rows[(n*out_h + oy)*out_w + ox, f] + b[f]: bias and NHWC->NCHW in one pass.

    Parameters
    ----------
    rows : ndarray of shape (N*out_h*out_w, FN), the GEMM output col @ col_W
    b : ndarray of shape (FN,)
    out : ndarray of shape (N, FN, out_h, out_w), written in place
    """
    N, FN, out_h, out_w = out.shape
    P = out_h * out_w
    for n in prange(N):
        for f in range(FN):
            bf = b[f]
            for oy in range(out_h):
                r = n * P + oy * out_w
                for ox in range(out_w):
                    out[n, f, oy, ox] = rows[r + ox, f] + bf


@parallel_kernel
def nchw_to_rows_bias_grad(dout, rows, db_parts):
    """NCHW->NHWC transpose of dout and per-image bias-gradient partial sums in one pass.

    Parameters
    ----------
    dout : ndarray of shape (N, FN, out_h, out_w)
    rows : ndarray of shape (N*out_h*out_w, FN), written in place:
        rows[(n*out_h + oy)*out_w + ox, f] = dout[n, f, oy, ox]
    db_parts : ndarray of shape (N, FN), written in place: db_parts[n, f] = sum of dout[n, f]
        (the caller sums over n in a fixed order: one partial per image, so no
        two threads add into one element and db is bitwise repeatable).
    """
    N, FN, out_h, out_w = dout.shape
    P = out_h * out_w
    for n in prange(N):
        for f in range(FN):
            db_parts[n, f] = 0
            s = db_parts[n, f]  # a zero of the array's dtype (float32 stays float32)
            for oy in range(out_h):
                r = n * P + oy * out_w
                for ox in range(out_w):
                    v = dout[n, f, oy, ox]
                    rows[r + ox, f] = v
                    s += v
            db_parts[n, f] = s
