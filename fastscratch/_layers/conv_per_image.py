"""Stride-1 convolution as in-cache GEMMs per image, any filter size and pad.

Each product (the output, dW, dx) is one GEMM of the image's col, unfolded
a chunk at a time (fastscratch/kernels/conv_per_image.py), or one GEMM per filter tap read
straight from the planes (fastscratch/kernels/conv_taps.py, and the backward kernel of
fastscratch/kernels/conv_per_image.py); ``tap_products`` picks one for each.

Takes NumPy's OpenBLAS (``fastscratch._layers.matmul``); where NumPy's BLAS is another
library the layer uses the direct kernels or the book's im2col route. Works
on the same padded input planes as the direct kernels (fastscratch/_layers/conv_direct.py),
so the layer keeps them, not col, between forward and backward.
"""
from collections import namedtuple

import numpy as np

from fastscratch._layers import matmul as _matmul
from fastscratch._layers.conv_direct import Grid
from fastscratch._core.dtypes import KERNEL_DTYPES
from fastscratch.kernels import conv_per_image as _kt
from fastscratch.kernels import conv_taps as _ktaps
from fastscratch.kernels import gemm as _kgemm
from fastscratch.kernels import planes as _kplanes


def applies(dtype):
    """True when the per-image GEMM kernels can compute a stride-1 convolution in this dtype (the caller checks the stride)."""
    return np.dtype(dtype) in KERNEL_DTYPES and _matmul.openblas() is not None


def gemm_grid(x_hw, filter_shape, pad):
    """The per-image GEMM kernels' Grid for images x_hw = (H, W) padded by pad: rows of width W + 2*pad and room
    for the last taps, no tiles (the direct kernels' ``_conv_direct.direct_grid`` adds tiles and dW's room)."""
    Hp, Wp = x_hw[0] + 2 * pad, x_hw[1] + 2 * pad
    return Grid(Wp, Hp * Wp + filter_shape[1] - 1, 0)


#: one stride-1 convolution's layout: planes of Grid grid, its pad, the image and output sizes (H, W)
Conv = namedtuple("Conv", "grid pad x_hw out_hw")


#: bytes of one chunk's col: a share of a core's L2 cache, which also holds the output chunk and BLAS's packed panels
_COL_BYTES = 512 << 10


def chunk_rows(K, Wp, itemsize, out_h):
    """Output rows per chunk: near-equal chunks, as few as keep K values per grid position of rows*Wp within _COL_BYTES (at least 1 row)."""
    most = max(1, min(out_h, _COL_BYTES // (K * Wp * itemsize)))
    chunks = -(-out_h // most)
    return int(-(-out_h // chunks))


def _geom(conv, filter_shape, K, itemsize):
    """The kernels' ConvGeometry (FH, FW, out_h, pad, Wp, rows, out_w); K: values per grid position of a chunk.

    Sizes come from shapes (Python ints); pad is made one too, so the geometry is always
    seven int64 to Numba: one compiled signature.
    """
    Wp, (out_h, out_w) = conv.grid.Wp, conv.out_hw
    return _kplanes.ConvGeometry(filter_shape[0], filter_shape[1], out_h, int(conv.pad), Wp,
                                 chunk_rows(K, Wp, itemsize, out_h), out_w)


#: input channels from which each tap's GEMM (C rows or C deep, for the output and dx) is
#: wide enough for BLAS to beat unfolding the image: below it, the unfold and one GEMM of
#: C*FH*FW rows or depth win
TAP_MIN_CHANNELS = 16
#: filters up to which dW goes by taps: with more, the unfolded col's one dW GEMM (F wide)
#: runs near BLAS's best, where each tap's (F, C) block is a small GEMM that packs dout again
TAP_MAX_FILTERS_DW = 32

#: which products of a convolution go by taps (bools)
TapProducts = _kt.TapProducts


def tap_products(W_shape):
    """TapProducts of bools for filters of W_shape (F, C, FH, FW): which products run one GEMM per tap."""
    F, C = W_shape[:2]
    wide = C >= TAP_MIN_CHANNELS
    return TapProducts(forward=wide, dw=wide and F <= TAP_MAX_FILTERS_DW, dx=wide)


def _tap_filters(W):
    """Wt (FH*FW, F, C): Wt[fy*FW + fx] = W[:, :, fy, fx]."""
    F, C, FH, FW = W.shape
    return np.ascontiguousarray(W.transpose(2, 3, 0, 1)).reshape(FH * FW, F, C)


def _check_operands(planes, *arrays):
    """The kernels take raw pointers and pick sgemm or dgemm by the planes' dtype: every operand must match it."""
    for a in (planes,) + arrays:
        if a.dtype != planes.dtype or not a.flags.c_contiguous:
            raise TypeError(f"per-image GEMM operands: expected C-contiguous {planes.dtype} arrays, "
                            f"got {a.dtype} (C-contiguous: {a.flags.c_contiguous})")


def _blas_args(dtype):
    """The kernels' BlasGemm: NumPy's cblas_?gemm for dtype and its integer width."""
    lib = _matmul.openblas()
    return _kgemm.BlasGemm(lib.gemm[np.dtype(dtype)], lib.width)


def forward(planes, conv, W, b):
    """out (N, F, out_h, out_w): the planes convolved with W (F, C, FH, FW), plus b (F,).

    conv : a Conv (the grid of the planes, pad, image and output sizes).
    """
    _check_operands(planes, W, b)
    F, C = W.shape[:2]
    out = np.empty((planes.shape[0], F) + conv.out_hw, dtype=planes.dtype)
    with _matmul.blas_single_threaded():
        if tap_products(W.shape).forward:
            _ktaps.forward_taps(_blas_args(planes.dtype), planes, _geom(conv, W.shape[2:], F + C, planes.itemsize),
                                _tap_filters(W), b, out)
        else:
            _kt.forward_images(_blas_args(planes.dtype), planes, _geom(conv, W.shape[2:], W[0].size, planes.itemsize),
                               np.ascontiguousarray(W.reshape(F, -1)), b, out)
    return out


def backward(planes, conv, d, W, want_dx):
    """(dW (F, C, FH, FW), db (F,), dx (N, C, H, W) or None) from the forward's planes and dout d (N, F, out_h, out_w)."""
    _check_operands(planes, d, W)
    N, F = d.shape[:2]
    C, FH, FW = W.shape[1:]
    K = C * FH * FW
    dtype = planes.dtype
    taps = tap_products(W.shape)
    transposed = not taps.dw and _kt.dw_transposed(K, F)
    groups = -(-N // _kt.IMAGE_GROUP)
    parts = np.empty((groups,) + ((FH * FW * F, C) if taps.dw else (K, F) if transposed else (F, K)), dtype=dtype)
    db_parts = np.empty((N, F), dtype=dtype)
    dx = np.empty((N if want_dx else 0, C) + conv.x_hw, dtype=dtype)
    # chunks sized for col where any product may use one, whether or not dx is wanted: the
    # chunks set dW's order of additions, which a first layer (no dx) keeps
    by_col = not (taps.dw and taps.dx)
    filters = _kt.BackwardFilters(
        rows=np.ascontiguousarray(W.reshape(F, K)) if want_dx and not taps.dx else np.empty((0, 0), dtype),
        taps=_tap_filters(W) if want_dx and taps.dx else np.empty((0, F, C), dtype))
    with _matmul.blas_single_threaded():
        _kt.backward_images(_blas_args(dtype), planes, _geom(conv, (FH, FW), K if by_col else F + C, planes.itemsize),
                            taps, d, filters,
                            _kt.BackwardGrads(dw_parts=parts, db_parts=db_parts, dx=dx))
    # the groups and the images added in order: the same for any thread count
    dW = parts.sum(axis=0)
    if taps.dw:  # tap blocks (FH, FW, F, C) to W's layout
        dW = np.ascontiguousarray(dW.reshape(FH, FW, F, C).transpose(2, 3, 0, 1))
    elif transposed:
        dW = np.ascontiguousarray(dW.T)
    return dW.reshape(W.shape), db_parts.sum(axis=0), dx if want_dx else None
