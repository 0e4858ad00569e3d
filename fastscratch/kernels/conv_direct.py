"""Direct (implicit-GEMM) convolution kernels for stride 1 and 3x3 or 5x5 filters, no col matrix.

Layout: every (H, W) image plane is zero-padded and flattened into a row of
length L of a "plane" array (N, C, L), row width Wp (the padded width). The
output pixel (oy, ox) then sits at q = oy*Wp + ox of a grid of out_h*Wp
positions, and tap (fy, fx) of its window at q + fy*Wp + fx: each tap is a
contiguous, unit-stride run of the plane, so the loops over q are vectorised. The
grid's columns ox >= out_w are computed and dropped (forward, dx) or hold
zeros in the gradient plane (dW). L leaves room for the last tile's taps.

The output grid is cut into tiles of ``qb`` positions; a tile of R output
channels accumulates in a small (R, qb) buffer that stays in L1 while every
input channel adds its taps (R channels share each loaded input vector, the
register blocking over output channels). The same kernel computes the
forward pass and dx (a convolution of the padded dout with the flipped,
transposed filters); dW is a per-image reduction in its own kernel.

Each output element is summed by one task in a fixed order, whatever the
thread count, so results are bitwise repeatable. Arrays are C-contiguous and
share one float dtype: the Python layer makes sure of both.

``fastmath={"contract"}`` lets LLVM fuse each multiply and add into one FMA
(one rounding instead of two, within the tolerance table); unlike the full
fastmath set it assumes nothing about NaN or Inf, which still propagate.
"""
import numpy as np

from ._jit import kernel, parallel_kernel, prange
from .planes import copy_rows

#: the one fastmath flag these kernels use (see the module docstring)
_FMA = {"contract"}

#: lanes of dW's partial sums. A compile-time constant, so that LLVM can tell the
#: rows of the partial-sum buffer apart and let LLVM vectorise the loops that update them.
DW_LANES = 32

#: blocks of DW_LANES positions that one pass of dW's loop adds into each lane
DW_CHUNKS = 4

#: images per dW task. The partial sums are cleared and folded once per group
#: instead of once per image (at 14x14 that bookkeeping costs as much as the
#: products); the group is fixed, not tied to the thread count, so results are too.
DW_GROUP = 4


@parallel_kernel
def rows_to_planes_bias_grad(d, Wp, planes, db_parts):
    """planes[n, f, oy*Wp + ox] = d[n, f, oy, ox] on a grid of width Wp (zero elsewhere), and per-image bias sums.

    Parameters
    ----------
    d : ndarray of shape (N, F, out_h, out_w)
    Wp : int >= out_w
    planes : ndarray of shape (N, FR, Lq), FR >= F, Lq >= out_h*Wp, written in place
        (every element; rows f >= F are zero): dW's gradient planes
    db_parts : ndarray of shape (N, F), written in place: db_parts[n, f] = sum of d[n, f]
        (the caller sums over n in image order: one partial per image, so db is
        bitwise repeatable for any thread count).
    """
    N, F, out_h, out_w = d.shape
    FR, Lq = planes.shape[1], planes.shape[2]
    for t in prange(N * FR):
        n = t // FR
        f = t - n * FR
        p = planes[n, f]
        for i in range(Lq):
            p[i] = 0
        if f < F:
            db_parts[n, f] = copy_rows(d[n, f], p, 0, Wp, np.empty(out_w, dtype=d.dtype), False)


@parallel_kernel(fastmath=_FMA)
def conv_planes(planes, wt, bias, Wp, qb, out):
    """out[n, f] = bias[f] + sum over c and taps of wt * the shifted planes[n, c] (stride-1 correlation).

    Parameters
    ----------
    planes : ndarray of shape (N, C, L), padded flattened input planes of row width Wp
        (see the module docstring), L >= n_tiles*qb + (FH-1)*Wp + FW - 1
    wt : ndarray of shape (FB, C, FH*FW, R), the filters in blocks of R output
        channels: wt[fb, c, fy*FW + fx, r] is filter fb*R + r's tap (c, fy, fx);
        rows past the last filter are zero. FH*FW = 9 needs R = 4; 25 needs R = 1.
    bias : ndarray of shape (F,)
    Wp : int, row width of the planes
    qb : int, positions per tile (a multiple of 16)
    out : ndarray of shape (N, F, out_h, out_w), written in place (every element),
        F <= FB*R, out_w <= Wp - FW + 1.

    Notes
    -----
    Every output element is bias plus, in order c = 0, 1, ..., that channel's
    taps summed in (fy, fx) order: one fixed order, so results are bitwise repeatable.
    """
    N, C = planes.shape[0], planes.shape[1]
    FB, T, R = wt.shape[0], wt.shape[2], wt.shape[3]
    out_h = out.shape[2]
    n_tiles = (out_h * Wp + qb - 1) // qb
    for task in prange(N * n_tiles):
        n = task // n_tiles
        q0 = (task - n * n_tiles) * qb
        acc = np.empty((R, qb), dtype=planes.dtype)
        for fb in range(FB):
            acc[:] = 0
            for c in range(C):
                if T == 9:
                    _taps_3x3_r4(planes[n, c], q0, Wp, wt[fb, c], acc)
                else:
                    _taps_5x5_r1(planes[n, c], q0, Wp, wt[fb, c], acc)
            _store_tile(acc, bias, fb * R, q0, Wp, n, out)


@kernel(inline="always")
def _store_tile(acc, bias, f0, q0, Wp, n, out):
    """out[n, f0 + r, oy, ox] = acc[r, q - q0] + bias[f0 + r] for the grid positions q of the tile that are pixels."""
    R, qb = acc.shape
    F, out_h, out_w = out.shape[1], out.shape[2], out.shape[3]
    for r in range(min(R, F - f0)):
        f = f0 + r
        bf = bias[f]
        y_lo = q0 // Wp
        y_hi = min(out_h, (q0 + qb + Wp - 1) // Wp)
        for oy in range(y_lo, y_hi):
            lo = max(0, q0 - oy * Wp)
            hi = min(out_w, q0 + qb - oy * Wp)
            for ox in range(lo, hi):
                out[n, f, oy, ox] = acc[r, oy * Wp + ox - q0] + bf


@kernel(inline="always", fastmath=_FMA)
def _taps_3x3_r4(p, q0, Wp, w, acc):
    """acc[r, i] += sum over the 9 taps t of w[t, r] * p[q0 + i + offset(t)], for 4 output channels r.

    p : (L,) one padded plane; w : (9, 4); acc : (4, qb). The taps are written
    out so that the loop over i is innermost and vectorizes, and the 9 loaded
    input vectors serve 4 channels (36 FMAs per 13 loads and 4 stores).
    """
    qb = acc.shape[1]
    b1 = q0 + Wp
    b2 = q0 + 2 * Wp
    x0 = p[q0:q0 + qb]
    x1 = p[q0 + 1:q0 + 1 + qb]
    x2 = p[q0 + 2:q0 + 2 + qb]
    y0 = p[b1:b1 + qb]
    y1 = p[b1 + 1:b1 + 1 + qb]
    y2 = p[b1 + 2:b1 + 2 + qb]
    z0 = p[b2:b2 + qb]
    z1 = p[b2 + 1:b2 + 1 + qb]
    z2 = p[b2 + 2:b2 + 2 + qb]
    a00, a01, a02, a03, a04, a05, a06, a07, a08 = w[0, 0], w[1, 0], w[2, 0], w[3, 0], w[4, 0], w[5, 0], w[6, 0], w[7, 0], w[8, 0]
    a10, a11, a12, a13, a14, a15, a16, a17, a18 = w[0, 1], w[1, 1], w[2, 1], w[3, 1], w[4, 1], w[5, 1], w[6, 1], w[7, 1], w[8, 1]
    a20, a21, a22, a23, a24, a25, a26, a27, a28 = w[0, 2], w[1, 2], w[2, 2], w[3, 2], w[4, 2], w[5, 2], w[6, 2], w[7, 2], w[8, 2]
    a30, a31, a32, a33, a34, a35, a36, a37, a38 = w[0, 3], w[1, 3], w[2, 3], w[3, 3], w[4, 3], w[5, 3], w[6, 3], w[7, 3], w[8, 3]
    for i in range(qb):
        v0, v1, v2 = x0[i], x1[i], x2[i]
        v3, v4, v5 = y0[i], y1[i], y2[i]
        v6, v7, v8 = z0[i], z1[i], z2[i]
        acc[0, i] = acc[0, i] + a00 * v0 + a01 * v1 + a02 * v2 + a03 * v3 + a04 * v4 + a05 * v5 + a06 * v6 + a07 * v7 + a08 * v8
        acc[1, i] = acc[1, i] + a10 * v0 + a11 * v1 + a12 * v2 + a13 * v3 + a14 * v4 + a15 * v5 + a16 * v6 + a17 * v7 + a18 * v8
        acc[2, i] = acc[2, i] + a20 * v0 + a21 * v1 + a22 * v2 + a23 * v3 + a24 * v4 + a25 * v5 + a26 * v6 + a27 * v7 + a28 * v8
        acc[3, i] = acc[3, i] + a30 * v0 + a31 * v1 + a32 * v2 + a33 * v3 + a34 * v4 + a35 * v5 + a36 * v6 + a37 * v7 + a38 * v8


@kernel(inline="always", fastmath=_FMA)
def _taps_5x5_r1(p, q0, Wp, w, acc):
    """acc[0, i] += sum over the 25 taps t of w[t, 0] * p[q0 + i + offset(t)]; w : (25, 1), acc : (1, qb).

    One output channel per pass: 25 FMAs per 26 loads and 1 store. The five
    window rows are summed separately and then added, so the adds of one
    element do not form a single chain of 25.
    """
    qb = acc.shape[1]
    r0 = p[q0:]
    r1 = p[q0 + Wp:]
    r2 = p[q0 + 2 * Wp:]
    r3 = p[q0 + 3 * Wp:]
    r4 = p[q0 + 4 * Wp:]
    c00, c01, c02, c03, c04 = w[0, 0], w[1, 0], w[2, 0], w[3, 0], w[4, 0]
    c10, c11, c12, c13, c14 = w[5, 0], w[6, 0], w[7, 0], w[8, 0], w[9, 0]
    c20, c21, c22, c23, c24 = w[10, 0], w[11, 0], w[12, 0], w[13, 0], w[14, 0]
    c30, c31, c32, c33, c34 = w[15, 0], w[16, 0], w[17, 0], w[18, 0], w[19, 0]
    c40, c41, c42, c43, c44 = w[20, 0], w[21, 0], w[22, 0], w[23, 0], w[24, 0]
    for i in range(qb):
        s0 = c00 * r0[i] + c01 * r0[i + 1] + c02 * r0[i + 2] + c03 * r0[i + 3] + c04 * r0[i + 4]
        s1 = c10 * r1[i] + c11 * r1[i + 1] + c12 * r1[i + 2] + c13 * r1[i + 3] + c14 * r1[i + 4]
        s2 = c20 * r2[i] + c21 * r2[i + 1] + c22 * r2[i + 2] + c23 * r2[i + 3] + c24 * r2[i + 4]
        s3 = c30 * r3[i] + c31 * r3[i + 1] + c32 * r3[i + 2] + c33 * r3[i + 3] + c34 * r3[i + 4]
        s4 = c40 * r4[i] + c41 * r4[i + 1] + c42 * r4[i + 2] + c43 * r4[i + 3] + c44 * r4[i + 4]
        acc[0, i] += (s0 + s1) + (s2 + s3) + s4


@parallel_kernel(fastmath=_FMA)
def conv_planes_dw(planes, dplanes, Wp, parts):
    """parts[g, f, c, fy*FW + fx] = sum over the images n of group g and over q of
    dplanes[n, f, q] * planes[n, c, q + fy*Wp + fx] (a group's share of dW).

    Parameters
    ----------
    planes : ndarray of shape (N, C, L), padded flattened input planes of row width Wp,
        L >= Lq + (FH-1)*Wp + FW - 1
    dplanes : ndarray of shape (N, FR, Lq), dout on the same grid (zero in the columns
        ox >= out_w, past the last row and in rows f >= F); Lq a multiple of DW_CHUNKS*DW_LANES;
        FR = F rounded up to a multiple of R (R = 4 for 3x3, 1 for 5x5).
    Wp : int, row width of the planes
    parts : ndarray of shape (ceil(N / DW_GROUP), FR, C, FH*FW), FH*FW = 9 or 25, written
        in place (every element); group g holds images g*DW_GROUP, ... (fewer in the last)

    Notes
    -----
    The grid's columns ox >= out_w hold zeros in dplanes but not in planes: a
    NaN or Inf of the input there would make 0 * Inf = NaN where the reference
    has no product at all. The caller uses this kernel only on finite planes
    (planes.pad_planes' NaN flags say which are).

    Each tap keeps DW_LANES partial sums, lane i summing positions i, i + DW_LANES, ...
    DW_CHUNKS at a time, image after image of the group, then the lanes are added as a
    fixed tree: a fixed order per group, and one task per group, so the caller's
    sum over groups in order is bitwise repeatable for any thread count.
    """
    N, C = planes.shape[0], planes.shape[1]
    FR, Lq = dplanes.shape[1], dplanes.shape[2]
    T = parts.shape[3]
    R = 4 if T == 9 else 1
    ql = DW_LANES
    for g in prange(parts.shape[0]):
        lp = np.empty(R * T * ql, dtype=planes.dtype)
        for f0 in range(0, FR, R):
            for c in range(C):
                lp[:] = 0
                for n in range(g * DW_GROUP, min(N, (g + 1) * DW_GROUP)):
                    p = planes[n, c]
                    for k in range(0, Lq, DW_CHUNKS * ql):
                        if T == 9:
                            _dw_3x3_r4(p, dplanes[n], f0, k, Wp, lp)
                        else:
                            _dw_5x5_r1(p, dplanes[n, f0], k, Wp, lp)
                for j in range(R * T):
                    parts[g, f0 + j // T, c, j % T] = _fold_lanes(lp, j * ql)


@kernel(inline="always")
def _fold_lanes(lp, b):
    """The sum of lp[b:b + DW_LANES], halving it in place (a vectorized tree) down to 8 lanes, then those in order."""
    h = DW_LANES // 2
    while h >= 8:
        for i in range(h):
            lp[b + i] += lp[b + h + i]
        h //= 2
    s = lp[b]
    for i in range(1, 8):
        s += lp[b + i]
    return s


# One statement per FMA chain, written out: the 16 gradient values and 4 input values of a
# step must stay in registers across the 9 taps, which a loop or helper calls would not promise.
@kernel(inline="always", fastmath=_FMA)
def _dw_3x3_r4(p, d, f0, k, Wp, lp):  # noqa: PLR0915 (an unrolled micro-kernel, see above)
    """Lane sums of the 9 taps for the 4 gradient planes d[f0:f0 + 4] over positions k .. k + 4*ql.

    lp[(9*r + t)*ql + i] += sum over j < 4 of d[f0 + r, k + j*ql + i] * p[k + j*ql + i + offset(t)]
    with ql = DW_LANES (lp : (36*ql,)). Each loaded input vector serves 4
    gradient planes, each loaded gradient vector 9 taps, and each partial sum
    is loaded and stored once per 4 FMAs.
    """
    ql = DW_LANES
    e0, e1, e2, e3 = d[f0, k:], d[f0 + 1, k:], d[f0 + 2, k:], d[f0 + 3, k:]
    r0 = p[k:]
    r1 = p[k + Wp:]
    r2 = p[k + 2 * Wp:]
    for i in range(ql):
        g00, g01, g02, g03 = e0[i], e0[i + ql], e0[i + 2 * ql], e0[i + 3 * ql]
        g10, g11, g12, g13 = e1[i], e1[i + ql], e1[i + 2 * ql], e1[i + 3 * ql]
        g20, g21, g22, g23 = e2[i], e2[i + ql], e2[i + 2 * ql], e2[i + 3 * ql]
        g30, g31, g32, g33 = e3[i], e3[i + ql], e3[i + 2 * ql], e3[i + 3 * ql]
        u0, u1, u2, u3 = r0[i], r0[i + ql], r0[i + 2 * ql], r0[i + 3 * ql]
        lp[i] = lp[i] + g00 * u0 + g01 * u1 + g02 * u2 + g03 * u3
        lp[9 * ql + i] = lp[9 * ql + i] + g10 * u0 + g11 * u1 + g12 * u2 + g13 * u3
        lp[18 * ql + i] = lp[18 * ql + i] + g20 * u0 + g21 * u1 + g22 * u2 + g23 * u3
        lp[27 * ql + i] = lp[27 * ql + i] + g30 * u0 + g31 * u1 + g32 * u2 + g33 * u3
        u0, u1, u2, u3 = r0[i + 1], r0[i + ql + 1], r0[i + 2 * ql + 1], r0[i + 3 * ql + 1]
        lp[1 * ql + i] = lp[1 * ql + i] + g00 * u0 + g01 * u1 + g02 * u2 + g03 * u3
        lp[10 * ql + i] = lp[10 * ql + i] + g10 * u0 + g11 * u1 + g12 * u2 + g13 * u3
        lp[19 * ql + i] = lp[19 * ql + i] + g20 * u0 + g21 * u1 + g22 * u2 + g23 * u3
        lp[28 * ql + i] = lp[28 * ql + i] + g30 * u0 + g31 * u1 + g32 * u2 + g33 * u3
        u0, u1, u2, u3 = r0[i + 2], r0[i + ql + 2], r0[i + 2 * ql + 2], r0[i + 3 * ql + 2]
        lp[2 * ql + i] = lp[2 * ql + i] + g00 * u0 + g01 * u1 + g02 * u2 + g03 * u3
        lp[11 * ql + i] = lp[11 * ql + i] + g10 * u0 + g11 * u1 + g12 * u2 + g13 * u3
        lp[20 * ql + i] = lp[20 * ql + i] + g20 * u0 + g21 * u1 + g22 * u2 + g23 * u3
        lp[29 * ql + i] = lp[29 * ql + i] + g30 * u0 + g31 * u1 + g32 * u2 + g33 * u3
        u0, u1, u2, u3 = r1[i], r1[i + ql], r1[i + 2 * ql], r1[i + 3 * ql]
        lp[3 * ql + i] = lp[3 * ql + i] + g00 * u0 + g01 * u1 + g02 * u2 + g03 * u3
        lp[12 * ql + i] = lp[12 * ql + i] + g10 * u0 + g11 * u1 + g12 * u2 + g13 * u3
        lp[21 * ql + i] = lp[21 * ql + i] + g20 * u0 + g21 * u1 + g22 * u2 + g23 * u3
        lp[30 * ql + i] = lp[30 * ql + i] + g30 * u0 + g31 * u1 + g32 * u2 + g33 * u3
        u0, u1, u2, u3 = r1[i + 1], r1[i + ql + 1], r1[i + 2 * ql + 1], r1[i + 3 * ql + 1]
        lp[4 * ql + i] = lp[4 * ql + i] + g00 * u0 + g01 * u1 + g02 * u2 + g03 * u3
        lp[13 * ql + i] = lp[13 * ql + i] + g10 * u0 + g11 * u1 + g12 * u2 + g13 * u3
        lp[22 * ql + i] = lp[22 * ql + i] + g20 * u0 + g21 * u1 + g22 * u2 + g23 * u3
        lp[31 * ql + i] = lp[31 * ql + i] + g30 * u0 + g31 * u1 + g32 * u2 + g33 * u3
        u0, u1, u2, u3 = r1[i + 2], r1[i + ql + 2], r1[i + 2 * ql + 2], r1[i + 3 * ql + 2]
        lp[5 * ql + i] = lp[5 * ql + i] + g00 * u0 + g01 * u1 + g02 * u2 + g03 * u3
        lp[14 * ql + i] = lp[14 * ql + i] + g10 * u0 + g11 * u1 + g12 * u2 + g13 * u3
        lp[23 * ql + i] = lp[23 * ql + i] + g20 * u0 + g21 * u1 + g22 * u2 + g23 * u3
        lp[32 * ql + i] = lp[32 * ql + i] + g30 * u0 + g31 * u1 + g32 * u2 + g33 * u3
        u0, u1, u2, u3 = r2[i], r2[i + ql], r2[i + 2 * ql], r2[i + 3 * ql]
        lp[6 * ql + i] = lp[6 * ql + i] + g00 * u0 + g01 * u1 + g02 * u2 + g03 * u3
        lp[15 * ql + i] = lp[15 * ql + i] + g10 * u0 + g11 * u1 + g12 * u2 + g13 * u3
        lp[24 * ql + i] = lp[24 * ql + i] + g20 * u0 + g21 * u1 + g22 * u2 + g23 * u3
        lp[33 * ql + i] = lp[33 * ql + i] + g30 * u0 + g31 * u1 + g32 * u2 + g33 * u3
        u0, u1, u2, u3 = r2[i + 1], r2[i + ql + 1], r2[i + 2 * ql + 1], r2[i + 3 * ql + 1]
        lp[7 * ql + i] = lp[7 * ql + i] + g00 * u0 + g01 * u1 + g02 * u2 + g03 * u3
        lp[16 * ql + i] = lp[16 * ql + i] + g10 * u0 + g11 * u1 + g12 * u2 + g13 * u3
        lp[25 * ql + i] = lp[25 * ql + i] + g20 * u0 + g21 * u1 + g22 * u2 + g23 * u3
        lp[34 * ql + i] = lp[34 * ql + i] + g30 * u0 + g31 * u1 + g32 * u2 + g33 * u3
        u0, u1, u2, u3 = r2[i + 2], r2[i + ql + 2], r2[i + 2 * ql + 2], r2[i + 3 * ql + 2]
        lp[8 * ql + i] = lp[8 * ql + i] + g00 * u0 + g01 * u1 + g02 * u2 + g03 * u3
        lp[17 * ql + i] = lp[17 * ql + i] + g10 * u0 + g11 * u1 + g12 * u2 + g13 * u3
        lp[26 * ql + i] = lp[26 * ql + i] + g20 * u0 + g21 * u1 + g22 * u2 + g23 * u3
        lp[35 * ql + i] = lp[35 * ql + i] + g30 * u0 + g31 * u1 + g32 * u2 + g33 * u3


@kernel(inline="always", fastmath=_FMA)
def _dw_5x5_r1(p, d0, k, Wp, lp):
    """Lane sums of the 25 taps for one gradient plane d0 over positions k .. k + 4*ql (as _dw_3x3_r4); lp : (25*ql,)."""
    ql = DW_LANES
    e = d0[k:]
    r0 = p[k:]
    r1 = p[k + 1 * Wp:]
    r2 = p[k + 2 * Wp:]
    r3 = p[k + 3 * Wp:]
    r4 = p[k + 4 * Wp:]
    for i in range(ql):
        g0, g1, g2, g3 = e[i], e[i + ql], e[i + 2 * ql], e[i + 3 * ql]
        lp[i] = lp[i] + g0 * r0[i] + g1 * r0[i + ql] + g2 * r0[i + 2 * ql] + g3 * r0[i + 3 * ql]
        lp[1 * ql + i] = lp[1 * ql + i] + g0 * r0[i + 1] + g1 * r0[i + ql + 1] + g2 * r0[i + 2 * ql + 1] + g3 * r0[i + 3 * ql + 1]
        lp[2 * ql + i] = lp[2 * ql + i] + g0 * r0[i + 2] + g1 * r0[i + ql + 2] + g2 * r0[i + 2 * ql + 2] + g3 * r0[i + 3 * ql + 2]
        lp[3 * ql + i] = lp[3 * ql + i] + g0 * r0[i + 3] + g1 * r0[i + ql + 3] + g2 * r0[i + 2 * ql + 3] + g3 * r0[i + 3 * ql + 3]
        lp[4 * ql + i] = lp[4 * ql + i] + g0 * r0[i + 4] + g1 * r0[i + ql + 4] + g2 * r0[i + 2 * ql + 4] + g3 * r0[i + 3 * ql + 4]
        lp[5 * ql + i] = lp[5 * ql + i] + g0 * r1[i] + g1 * r1[i + ql] + g2 * r1[i + 2 * ql] + g3 * r1[i + 3 * ql]
        lp[6 * ql + i] = lp[6 * ql + i] + g0 * r1[i + 1] + g1 * r1[i + ql + 1] + g2 * r1[i + 2 * ql + 1] + g3 * r1[i + 3 * ql + 1]
        lp[7 * ql + i] = lp[7 * ql + i] + g0 * r1[i + 2] + g1 * r1[i + ql + 2] + g2 * r1[i + 2 * ql + 2] + g3 * r1[i + 3 * ql + 2]
        lp[8 * ql + i] = lp[8 * ql + i] + g0 * r1[i + 3] + g1 * r1[i + ql + 3] + g2 * r1[i + 2 * ql + 3] + g3 * r1[i + 3 * ql + 3]
        lp[9 * ql + i] = lp[9 * ql + i] + g0 * r1[i + 4] + g1 * r1[i + ql + 4] + g2 * r1[i + 2 * ql + 4] + g3 * r1[i + 3 * ql + 4]
        lp[10 * ql + i] = lp[10 * ql + i] + g0 * r2[i] + g1 * r2[i + ql] + g2 * r2[i + 2 * ql] + g3 * r2[i + 3 * ql]
        lp[11 * ql + i] = lp[11 * ql + i] + g0 * r2[i + 1] + g1 * r2[i + ql + 1] + g2 * r2[i + 2 * ql + 1] + g3 * r2[i + 3 * ql + 1]
        lp[12 * ql + i] = lp[12 * ql + i] + g0 * r2[i + 2] + g1 * r2[i + ql + 2] + g2 * r2[i + 2 * ql + 2] + g3 * r2[i + 3 * ql + 2]
        lp[13 * ql + i] = lp[13 * ql + i] + g0 * r2[i + 3] + g1 * r2[i + ql + 3] + g2 * r2[i + 2 * ql + 3] + g3 * r2[i + 3 * ql + 3]
        lp[14 * ql + i] = lp[14 * ql + i] + g0 * r2[i + 4] + g1 * r2[i + ql + 4] + g2 * r2[i + 2 * ql + 4] + g3 * r2[i + 3 * ql + 4]
        lp[15 * ql + i] = lp[15 * ql + i] + g0 * r3[i] + g1 * r3[i + ql] + g2 * r3[i + 2 * ql] + g3 * r3[i + 3 * ql]
        lp[16 * ql + i] = lp[16 * ql + i] + g0 * r3[i + 1] + g1 * r3[i + ql + 1] + g2 * r3[i + 2 * ql + 1] + g3 * r3[i + 3 * ql + 1]
        lp[17 * ql + i] = lp[17 * ql + i] + g0 * r3[i + 2] + g1 * r3[i + ql + 2] + g2 * r3[i + 2 * ql + 2] + g3 * r3[i + 3 * ql + 2]
        lp[18 * ql + i] = lp[18 * ql + i] + g0 * r3[i + 3] + g1 * r3[i + ql + 3] + g2 * r3[i + 2 * ql + 3] + g3 * r3[i + 3 * ql + 3]
        lp[19 * ql + i] = lp[19 * ql + i] + g0 * r3[i + 4] + g1 * r3[i + ql + 4] + g2 * r3[i + 2 * ql + 4] + g3 * r3[i + 3 * ql + 4]
        lp[20 * ql + i] = lp[20 * ql + i] + g0 * r4[i] + g1 * r4[i + ql] + g2 * r4[i + 2 * ql] + g3 * r4[i + 3 * ql]
        lp[21 * ql + i] = lp[21 * ql + i] + g0 * r4[i + 1] + g1 * r4[i + ql + 1] + g2 * r4[i + 2 * ql + 1] + g3 * r4[i + 3 * ql + 1]
        lp[22 * ql + i] = lp[22 * ql + i] + g0 * r4[i + 2] + g1 * r4[i + ql + 2] + g2 * r4[i + 2 * ql + 2] + g3 * r4[i + 3 * ql + 2]
        lp[23 * ql + i] = lp[23 * ql + i] + g0 * r4[i + 3] + g1 * r4[i + ql + 3] + g2 * r4[i + 2 * ql + 3] + g3 * r4[i + 3 * ql + 3]
        lp[24 * ql + i] = lp[24 * ql + i] + g0 * r4[i + 4] + g1 * r4[i + ql + 4] + g2 * r4[i + 2 * ql + 4] + g3 * r4[i + 3 * ql + 4]
