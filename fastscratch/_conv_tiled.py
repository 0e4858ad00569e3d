"""Stride-1 convolution as in-cache GEMMs per image, any filter size and pad.

Two kernels: one GEMM of the image's col, unfolded a chunk at a time
(kernels/conv_tiled.py), or one GEMM per filter tap read straight from the
planes (kernels/conv_taps.py); ``by_taps`` picks one for each pass.

Takes NumPy's OpenBLAS (``fastscratch._blas``); where NumPy's BLAS is another
library the layer uses the direct kernels or the book's im2col route. Works
on the same padded input planes as the direct kernels (fastscratch/_conv_direct.py),
so the layer keeps them, not col, between forward and backward.
"""
from collections import namedtuple

import numpy as np

from . import _blas
from ._conv_direct import Grid
from .kernels import conv_taps as _ktaps
from .kernels import conv_tiled as _kt
from .util import KERNEL_DTYPES


def applies(dtype):
    """True when the per-image GEMM kernels can compute a stride-1 convolution in this dtype (the caller checks the stride)."""
    return np.dtype(dtype) in KERNEL_DTYPES and _blas.openblas() is not None


def input_grid(x_hw, filter_shape, pad):
    """The planes' Grid for images x_hw = (H, W) padded by pad: rows of width W + 2*pad, and room for the last taps."""
    Hp, Wp = x_hw[0] + 2 * pad, x_hw[1] + 2 * pad
    return Grid(Wp, Hp * Wp + filter_shape[1] - 1, 0)


#: one stride-1 convolution's layout: planes of Grid grid, its pad, the image and output sizes (H, W)
Conv = namedtuple("Conv", "grid pad x_hw out_hw")


#: bytes of one chunk's col: a share of a core's L2 cache, which also holds the output chunk and BLAS's packed panels
_COL_BYTES = 512 << 10


def chunk_rows(K, Wp, itemsize, out_h):
    """Output rows per chunk: near-equal chunks, as few as keep a (K, rows*Wp) col within _COL_BYTES (at least 1 row)."""
    most = max(1, min(out_h, _COL_BYTES // (K * Wp * itemsize)))
    chunks = -(-out_h // most)
    return int(-(-out_h // chunks))


def _geom(conv, filter_shape, K, itemsize):
    """The kernels' geometry tuple (FH, FW, out_h, pad, Wp, chunk rows); K: values per grid position of a chunk."""
    Wp, out_h = conv.grid.Wp, conv.out_hw[0]
    return (filter_shape[0], filter_shape[1], out_h, conv.pad, Wp, chunk_rows(K, Wp, itemsize, out_h))


#: input channels from which each tap's GEMM (inner dimension C) is wide enough for BLAS
#: to beat unfolding the image: below it the unfold and one GEMM of inner dimension C*FH*FW win
TAP_MIN_CHANNELS = 16
#: filters up to which the backward pass runs by taps: with more, the unfolded route's
#: dW and dx GEMMs (F wide) are already near BLAS's best, and each tap's are smaller
TAP_MAX_FILTERS_BACKWARD = 32


def by_taps(W_shape, backward):
    """True when a pass of a convolution with filters of W_shape (F, C, FH, FW) runs one GEMM per tap."""
    F, C = W_shape[:2]
    return C >= TAP_MIN_CHANNELS and (not backward or F <= TAP_MAX_FILTERS_BACKWARD)


def _tap_filters(W):
    """Wt (FH*FW, F, C): Wt[fy*FW + fx] = W[:, :, fy, fx]."""
    F, C, FH, FW = W.shape
    return np.ascontiguousarray(W.transpose(2, 3, 0, 1)).reshape(FH * FW, F, C)


def _blas_args(dtype):
    lib = _blas.openblas()
    return (lib.gemm[np.dtype(dtype)], lib.width)


def forward(planes, conv, W, b):
    """out (N, F, out_h, out_w): the planes convolved with W (F, C, FH, FW), plus b (F,).

    conv : a Conv (the grid of the planes, pad, image and output sizes).
    """
    F, C = W.shape[:2]
    out = np.empty((planes.shape[0], F) + conv.out_hw, dtype=planes.dtype)
    with _blas.blas_single_threaded():
        if by_taps(W.shape, backward=False):
            _ktaps.forward_taps(_blas_args(planes.dtype), planes, _geom(conv, W.shape[2:], F + C, planes.itemsize),
                                _tap_filters(W), b, out)
        else:
            _kt.forward_images(_blas_args(planes.dtype), planes, _geom(conv, W.shape[2:], W[0].size, planes.itemsize),
                               np.ascontiguousarray(W.reshape(F, -1)), b, out)
    return out


def backward(planes, conv, d, W, want_dx):
    """(dW (F, C, FH, FW), db (F,), dx (N, C, H, W) or None) from the forward's planes and dout d (N, F, out_h, out_w)."""
    N, F = d.shape[:2]
    C = planes.shape[1]
    if by_taps(W.shape, backward=True):
        return _backward_taps(planes, conv, d, W, want_dx)
    K = W[0].size
    dtype = planes.dtype
    transposed = _kt.dw_transposed(K, F)
    parts = np.empty((-(-N // _kt.IMAGE_GROUP),) + ((K, F) if transposed else (F, K)), dtype=dtype)
    db_parts = np.empty((N, F), dtype=dtype)
    dx = np.empty((N if want_dx else 0, C) + conv.x_hw, dtype=dtype)
    with _blas.blas_single_threaded():
        _kt.backward_images(_blas_args(dtype), planes, _geom(conv, W.shape[2:], K, planes.itemsize),
                            d, np.ascontiguousarray(W.reshape(F, K)), (parts, db_parts, dx))
    # the groups and the images added in order: the same for any thread count
    dW = parts.sum(axis=0)
    dW = (np.ascontiguousarray(dW.T) if transposed else dW).reshape(W.shape)
    return dW, db_parts.sum(axis=0), dx if want_dx else None


def _backward_taps(planes, conv, d, W, want_dx):
    """backward by taps (kernels/conv_taps.py); arguments and result as ``backward``."""
    N, F = d.shape[:2]
    C, FH, FW = W.shape[1:]
    dtype = planes.dtype
    parts = np.empty((-(-N // _kt.IMAGE_GROUP), FH * FW, F, C), dtype=dtype)
    db_parts = np.empty((N, F), dtype=dtype)
    dx = np.empty((N if want_dx else 0, C) + conv.x_hw, dtype=dtype)
    with _blas.blas_single_threaded():
        _ktaps.backward_taps(_blas_args(dtype), planes, _geom(conv, (FH, FW), F + C, planes.itemsize),
                             d, _tap_filters(W), (parts, db_parts, dx))
    # the groups added in order (the same for any thread count); parts' taps (FH, FW, F, C) to W's layout
    dW = np.ascontiguousarray(parts.sum(axis=0).reshape(FH, FW, F, C).transpose(2, 3, 0, 1))
    return dW, db_parts.sum(axis=0), dx if want_dx else None
