"""Convolution kernels: im2col, col2im and the fused layout passes around the GEMMs.

Layouts (the book's): an image batch is (N, C, H, W); a ``col`` matrix has one
row per output pixel, rows ordered (n, oy, ox), and one column per window cell,
columns ordered (c, fy, fx); "rows" matrices of the GEMM output/gradient are
(N*out_h*out_w, FN), i.e. NHWC flattened. Zero padding.

Every kernel writes into a preallocated ``out`` and parallelises over the batch
(or batch x output rows); each thread writes only its own elements, with a
fixed work partition, so every result is bitwise repeatable run to run.
Arrays must be C-contiguous and all floating arrays of one call share a dtype
(float32 or float64): the Python wrappers make sure of both.
"""
import numpy as np

from ._jit import kernel, parallel_kernel, prange


@parallel_kernel
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
    """
    N, C, H, W = x.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    CK = C * filter_h * filter_w
    xf = x.reshape(-1)  # flat views: one offset per copied segment instead of 4-D indexing
    cf = col.reshape(-1)
    # one task per (n, oy): out_w consecutive rows of col, written front to back
    for t in prange(N * out_h):
        n = t // out_h
        _im2col_rows(xf, n, t - n * out_h, C, H, W, filter_h, filter_w, stride, pad, out_w,
                     cf, t * out_w * CK)


@kernel
def _im2col_rows(xf, n, oy, C, H, W, filter_h, filter_w, stride, pad, out_w, cf, start):
    """Write the out_w col rows of output row oy of image n, from flat offset start of cf."""
    K = filter_h * filter_w
    CK = C * K
    for ox in range(out_w):
        r = start + ox * CK
        x0 = ox * stride - pad
        # windows clear of the left/right padding copy without a test per cell
        inside_x = x0 >= 0 and x0 + filter_w <= W
        for c in range(C):
            for fy in range(filter_h):
                o = r + c * K + fy * filter_w
                iy = oy * stride - pad + fy
                if iy < 0 or iy >= H:
                    for fx in range(filter_w):
                        cf[o + fx] = 0
                else:
                    base = ((n * C + c) * H + iy) * W + x0
                    if inside_x:
                        # unsigned offsets (all >= 0 here): Numba then skips the negative-index wraparound test
                        for fx in range(filter_w):
                            cf[np.uint64(o + fx)] = xf[np.uint64(base + fx)]
                    else:
                        for fx in range(filter_w):
                            ix = x0 + fx
                            cf[o + fx] = xf[base + fx] if 0 <= ix < W else 0


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
                        img[n, c, ox * stride - pad + fx, ] if False else None
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
