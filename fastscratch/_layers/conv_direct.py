"""Convolution without a col matrix: the direct kernels of fastscratch/kernels/conv_direct.py and their layouts.

For stride 1 and 3x3 or 5x5 filters (the book's), forward, dW and dx each run
as one Numba kernel over zero-padded, flattened image planes: nothing of the
size of col (N*out_h*out_w, C*FH*FW) is written or read, and the 16-channel
layers are not handed to BLAS as skinny GEMMs. Everything here takes checked,
C-contiguous arrays of one kernel dtype; Convolution decides when it applies.
"""
from collections import namedtuple

import numpy as np

from fastscratch.kernels import conv_direct as _kd
from fastscratch.kernels import planes as _kplanes
from fastscratch._core.dtypes import KERNEL_DTYPES

#: filter shapes with a direct kernel, and the output channels each pass blocks together
_BLOCK = {(3, 3): 4, (5, 5): 1}
_BLOCK_DW = {(3, 3): 4, (5, 5): 1}
#: most output-grid positions per tile: a (4, 1024) float64 accumulator is 32 KiB, in L1
_MAX_TILE = 1024

#: one pass's layout: input planes of row width Wp and length L, tiles of qb positions
Grid = namedtuple("Grid", "Wp L qb")


def applies(filter_shape, stride, pad, dtype):
    """True when the direct kernels compute this convolution (stride 1, 3x3 or 5x5, pad < filter side)."""
    FH, FW = filter_shape
    return (stride == 1 and (FH, FW) in _BLOCK and pad <= FH - 1
            and np.dtype(dtype) in KERNEL_DTYPES)


def _ceil_div(a, b):
    return -(-a // b)


def _tile(Q):
    """Positions per tile for an output grid of Q positions: near-equal tiles, each a multiple of 16."""
    return _ceil_div(_ceil_div(Q, _ceil_div(Q, _MAX_TILE)), 16) * 16


def _grid(in_hw, out_h, FH, FW, dw_grid=False):
    """Grid of a pass reading padded planes of shape in_hw = (Hp, Wp) into out_h output rows.

    L covers the padded image, the taps of the last tile and, with dw_grid,
    those of dW's gradient planes (a multiple of DW_CHUNKS*DW_LANES positions).
    """
    Hp, Wp = in_hw
    Q = out_h * Wp
    qb = _tile(Q)
    need = (FH - 1) * Wp + FW - 1
    L = max(Hp * Wp, _ceil_div(Q, qb) * qb + need)
    if dw_grid:
        L = max(L, dw_length(Q) + need)
    return Grid(Wp, L, qb)


def dw_length(Q):
    """Length of dW's gradient planes for Q grid positions: a multiple of DW_CHUNKS*DW_LANES."""
    step = _kd.DW_CHUNKS * _kd.DW_LANES
    return _ceil_div(Q, step) * step


def blocked_filters(W, R):
    """W (F, C, FH, FW) as (ceil(F/R), C, FH*FW, R): blocks of R filters, tap-major, zero rows past F."""
    F, C, FH, FW = W.shape
    FB = _ceil_div(F, R)
    wt = np.zeros((FB * R, C, FH * FW), dtype=W.dtype)
    wt[:F] = W.reshape(F, C, FH * FW)
    return np.ascontiguousarray(wt.reshape(FB, R, C, FH * FW).transpose(0, 2, 3, 1))


def to_planes(x, pad_h, pad_w, grid, out=None):
    """x (N, C, H, W) zero-padded and flattened into (N, C, grid.L) planes of row width grid.Wp.

    Returns the planes and whether every entry of x is finite.
    """
    N, C = x.shape[:2]
    planes = np.empty((N, C, grid.L), dtype=x.dtype) if out is None else out
    nan_flags = np.empty(N * C, dtype=x.dtype)
    _kplanes.pad_planes(x, pad_h, pad_w, grid.Wp, planes, nan_flags)
    return planes, not np.isnan(nan_flags).any()


def forward(planes, grid, W, b, out_hw):
    """out (N, F, out_h, out_w) = the stride-1 correlation of the planes with W (F, C, FH, FW), plus b (F,)."""
    F, FH, FW = W.shape[0], W.shape[2], W.shape[3]
    out = np.empty((planes.shape[0], F) + tuple(out_hw), dtype=planes.dtype)
    _kd.conv_planes(planes, blocked_filters(W, _BLOCK[FH, FW]), b, grid.Wp, grid.qb, out)
    return out


def backward_params(planes, grid, d, filter_shape):
    """dW (F, C, FH, FW) and db (F,) from the forward's planes (of a finite x) and dout d (N, F, out_h, out_w)."""
    N, F, out_h = d.shape[:3]
    C = planes.shape[1]
    FH, FW = filter_shape
    R = _BLOCK_DW[FH, FW]
    FR = _ceil_div(F, R) * R
    dplanes = np.empty((N, FR, dw_length(out_h * grid.Wp)), dtype=d.dtype)
    db_parts = np.empty((N, F), dtype=d.dtype)
    _kd.rows_to_planes_bias_grad(d, grid.Wp, dplanes, db_parts)
    parts = np.empty((_ceil_div(N, _kd.DW_GROUP), FR, C, FH * FW), dtype=d.dtype)
    _kd.conv_planes_dw(planes, dplanes, grid.Wp, parts)
    # sums over the image groups in order: the same for any thread count
    dW = parts.sum(axis=0)[:F].reshape(F, C, FH, FW)
    return dW, db_parts.sum(axis=0)


def backward_input(d, W, x_hw, pad):
    """dx (N, C, H, W): dout d (N, F, out_h, out_w) zero-padded by FH-1-pad, correlated with the flipped W^T.

    W must be finite: its products with the zero border would be NaN where
    the reference's col2im adds nothing.
    """
    FH, FW = W.shape[2], W.shape[3]
    H, Wd = x_hw
    ph, pw = FH - 1 - pad, FW - 1 - pad
    grid = _grid((d.shape[2] + 2 * ph, d.shape[3] + 2 * pw), H, FH, FW)
    dplanes = to_planes(d, ph, pw, grid)[0]
    Wt = np.ascontiguousarray(W[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))  # (C, F, FH, FW)
    return forward(dplanes, grid, Wt, np.zeros(W.shape[1], dtype=d.dtype), (H, Wd))


def direct_grid(x_hw, filter_shape, pad):
    """The direct kernels' forward Grid for images x_hw = (H, W) padded by pad: tiles of qb positions, with room
    for the last tile's taps and for dW's gradient planes (the per-image GEMMs' ``conv_per_image.gemm_grid`` has neither)."""
    FH, FW = filter_shape
    Hp, Wp = x_hw[0] + 2 * pad, x_hw[1] + 2 * pad
    return _grid((Hp, Wp), Hp - FH + 1, FH, FW, dw_grid=True)
