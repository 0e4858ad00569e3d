"""Max-pooling kernels: forward (max and argmax in one pass) and backward (scatter by argmax).

No im2col copy and no dense (N*out_h*out_w, pool_h*pool_w) gradient matrix:
the forward reads each window in place, the backward adds each dout entry to
the one input cell its window's argmax names. Padded cells count as -inf, so
they never win unless the whole window is padding (as the reference's -inf
padding). Arrays must be C-contiguous, floating arrays of one call share a
dtype (float32 or float64): the Python wrappers make sure of both.
"""
import numpy as np

from ._jit import kernel, parallel_kernel, prange


@kernel
def _row_max_2x2(r0, r1, out_row, am_row, c):
    """One output row of a 2x2, stride-2, unpadded max pool; False when one of its windows holds a NaN.

    r0, r1 : the two input rows (W,) under the windows; out_row : (out_w,),
    written; am_row : (out_w, C) argmax entries, column c written. Branch-free
    (selects, not jumps: the comparisons of random data would mispredict), ties
    to the first maximum; a row with a NaN is left to the caller.
    """
    clean = True
    for ox in range(out_row.shape[0]):
        i = 2 * ox
        a, b, p, q = r0[i], r0[i + 1], r1[i], r1[i + 1]
        best, arg = a, 0
        g = b > best
        arg, best = (1 if g else arg), (b if g else best)
        g = p > best
        arg, best = (2 if g else arg), (p if g else best)
        g = q > best
        arg, best = (3 if g else arg), (q if g else best)
        clean &= (a == a) & (b == b) & (p == p) & (q == q)
        out_row[ox] = best
        am_row[ox, c] = arg
    return clean


@parallel_kernel
def maxpool_forward(x, pool_h, pool_w, stride, pad, out, arg_max):
    """Max over each window and the window offset of the first maximum.

    Parameters
    ----------
    x : ndarray of shape (N, C, H, W)
    pool_h, pool_w, stride, pad : int
    out : ndarray of shape (N, C, out_h, out_w), written in place, with
        out_h = (H + 2*pad - pool_h)//stride + 1 (likewise out_w)
    arg_max : int64 ndarray of shape (N, out_h, out_w, C), written in place:
        fy*pool_w + fx of the maximum in window (n, c, oy, ox) (the book's
        (n, oy, ox, c) order).

    Notes
    -----
    Ties go to the first maximum in row-major window order and a NaN wins
    over any number (the first NaN), as np.argmax / np.max do. The book's
    windows (2x2, stride 2, no padding) take ``_row_max_2x2`` a row at a
    time; a row with a NaN is done again below, window by window.
    """
    N, C, H, W = x.shape
    out_h = out.shape[2]
    out_w = out.shape[3]
    book_windows = pool_h == 2 and pool_w == 2 and stride == 2 and pad == 0
    for t in prange(N * C):  # each thread owns whole (n, c) planes of out and arg_max
        n = t // C
        c = t - n * C
        for oy in range(out_h):
            y0 = oy * stride - pad
            if book_windows and _row_max_2x2(x[n, c, y0], x[n, c, y0 + 1], out[n, c, oy], arg_max[n, oy], c):
                continue
            y_inside = y0 >= 0 and y0 + pool_h <= H
            for ox in range(out_w):
                x0 = ox * stride - pad
                if y_inside and x0 >= 0 and x0 + pool_w <= W:
                    # A window inside the image (the common case): plain `v > best`
                    # keeps the first maximum. A NaN would need a second test per
                    # cell, which costs more than the scan, so the cells are also
                    # summed (no branch) and a NaN sum sends the window to the exact
                    # rule below.
                    best = x[n, c, y0, x0]
                    arg = 0
                    acc = best - best  # 0, or NaN for an inf or NaN first cell
                    for fy in range(pool_h):
                        for fx in range(pool_w):
                            v = x[n, c, y0 + fy, x0 + fx]
                            acc += v
                            if v > best:
                                best = v
                                arg = fy * pool_w + fx
                    if acc == acc:
                        out[n, c, oy, ox] = best
                        arg_max[n, oy, ox, c] = arg
                        continue
                best, arg = _window_max_exact(x, n, c, y0, x0, pool_h, pool_w, H, W)
                out[n, c, oy, ox] = best
                arg_max[n, oy, ox, c] = arg


@kernel
def _window_max_exact(x, n, c, y0, x0, pool_h, pool_w, H, W):
    """(max, first argmax) of one window of plane x[n, c] at (y0, x0), np.argmax's rule.

    Padded cells count as -inf (they never beat a real cell and lose ties to
    earlier cells); the first NaN wins over every number.
    """
    best = -np.inf
    arg = 0
    for fy in range(pool_h):
        iy = y0 + fy
        for fx in range(pool_w):
            ix = x0 + fx
            v = -np.inf
            if 0 <= iy < H and 0 <= ix < W:
                v = x[n, c, iy, ix]
            if fy + fx == 0:
                best = v
            elif v > best or (v != v and best == best):
                best = v
                arg = fy * pool_w + fx
    return best, arg


@parallel_kernel
def maxpool_backward(dout, arg_max, pool_h, pool_w, stride, pad, dx):
    """dx = the sum of dout over the windows whose maximum is each input cell.

    Parameters
    ----------
    dout : ndarray of shape (N, C, out_h, out_w)
    arg_max : int64 ndarray of shape (N, out_h, out_w, C), window offsets fy*pool_w + fx
    pool_h, pool_w, stride, pad : int
    dx : ndarray of shape (N, C, H, W), written in place (every element);
        maxima that sit in the padding are dropped, and so are offsets outside
        [0, pool_h*pool_w) (a corrupted arg_max cannot write out of bounds).

    Notes
    -----
    Each thread owns whole images of dx, so overlapping windows
    (stride < pool) never race. Windows are visited last to first, which adds
    each cell's contributions in the reference col2im's (fy, fx) order: the
    result is bitwise that of the reference, and repeatable.
    """
    N, C, H, W = dx.shape
    out_h = dout.shape[2]
    out_w = dout.shape[3]
    # window offset -> (fy, fx) by table: an integer division per entry costs more than the scatter
    K = pool_h * pool_w
    off_y = np.empty(K, dtype=np.int64)
    off_x = np.empty(K, dtype=np.int64)
    for k in range(K):
        off_y[k] = k // pool_w
        off_x[k] = k - off_y[k] * pool_w
    for n in prange(N):  # each thread owns whole images of dx: all C planes of image n
        for c in range(C):
            for iy in range(H):
                for ix in range(W):
                    dx[n, c, iy, ix] = 0
        for oy in range(out_h - 1, -1, -1):
            y0 = oy * stride - pad
            for ox in range(out_w - 1, -1, -1):
                x0 = ox * stride - pad
                for c in range(C):  # arg_max[n, oy, ox, :] is contiguous
                    k = arg_max[n, oy, ox, c]
                    if k < 0 or k >= K:
                        continue
                    iy = y0 + off_y[k]
                    ix = x0 + off_x[k]
                    if 0 <= iy < H and 0 <= ix < W:
                        dx[n, c, iy, ix] += dout[n, c, oy, ox]
