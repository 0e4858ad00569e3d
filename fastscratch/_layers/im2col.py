"""The implementation of ``fastscratch.util`` (the book's ``common/util.py``): im2col/col2im on Numba kernels.

``smooth_curve``, ``shuffle_dataset`` and ``conv_output_size`` are not hot and
are the reference's own functions.
"""
import numpy as np

from fastscratch._core import validate as V
from fastscratch._core.dtypes import KERNEL_DTYPES
from fastscratch._core.validate import check_image_batch
from fastscratch.kernels import conv as _k
from fastscratch.reference import util as _ref
from fastscratch.reference.util import conv_output_size, shuffle_dataset, smooth_curve

__all__ = ["smooth_curve", "shuffle_dataset", "conv_output_size", "im2col", "col2im"]


def window_output_size(input_hw, filter_h, filter_w, stride, pad, name):
    """(out_h, out_w) of a filter_h x filter_w window sliding over input_hw = (H, W), after checking it fits."""
    out_h = V.check_window(name, input_hw[0], filter_h, pad, stride, "height")
    out_w = V.check_window(name, input_hw[1], filter_w, pad, stride, "width")
    return out_h, out_w


def im2col_into(x, filter_h, filter_w, stride, pad, out_h, out_w, dtype=None, out=None):
    """im2col of an already checked floating x (N, C, H, W) as an (N*out_h*out_w, C*fh*fw) array of dtype.

    dtype defaults to x's; a wider dtype converts x first (exact), so the
    result is the reference's col cast to that dtype. out: an array of exactly
    that shape and dtype, C-contiguous, to write over (the caller checks it);
    None makes a new one.
    """
    dtype = x.dtype if dtype is None else np.dtype(dtype)
    N, C = x.shape[:2]
    xc = np.ascontiguousarray(x, dtype=dtype)  # copies only non-contiguous views or other dtypes
    shape = (N * out_h * out_w, C * filter_h * filter_w)
    col = np.empty(shape, dtype=dtype) if out is None else out
    _k.im2col(xc, filter_h, filter_w, stride, pad, col)
    return col


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """Unfold image patches into rows (the reference's layout, zero padding).

    Parameters
    ----------
    input_data : ndarray of shape (N, C, H, W), real dtype
    filter_h, filter_w : int >= 1, window size
    stride : int >= 1
    pad : int >= 0

    Returns
    -------
    col : ndarray of shape (N*out_h*out_w, C*filter_h*filter_w), with
        out_h = (H + 2*pad - filter_h)//stride + 1 (likewise out_w). Rows are
        ordered (n, oy, ox), columns (c, fy, fx). Floating inputs keep their
        dtype; bool and integer inputs give float64, as in the reference.
    """
    x = check_image_batch(input_data, "input_data")
    V.check_nonempty(x, "input_data")  # the reference fails on N = 0 (reshape of an empty col)
    filter_h, filter_w, stride, pad = V.check_conv_hparams(filter_h, filter_w, stride, pad)
    out_h, out_w = window_output_size(x.shape[2:], filter_h, filter_w, stride, pad, "im2col")
    if x.dtype not in KERNEL_DTYPES:
        return _ref.im2col(x, filter_h, filter_w, stride, pad)
    return im2col_into(x, filter_h, filter_w, stride, pad, out_h, out_w)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """Fold rows back into images, summing where windows overlap (im2col's adjoint).

    Parameters
    ----------
    col : ndarray of shape (N*out_h*out_w, C*filter_h*filter_w), real dtype
    input_shape : tuple (N, C, H, W)
    filter_h, filter_w, stride, pad : int, as in im2col

    Returns
    -------
    img : ndarray of shape (N, C, H, W), C-contiguous; what lands in the padding
        is dropped. Floating col keeps its dtype; bool/int give float64. Bitwise
        equal to the reference (the same summation order).
    """
    col = V.check_array(col, "col", ndim=2, layout="(N*out_h*out_w, C*filter_h*filter_w)", floating=True)
    N, C, H, W = V.check_shape_tuple(input_shape, "input_shape", 4, "(N, C, H, W)")
    filter_h, filter_w, stride, pad = V.check_conv_hparams(filter_h, filter_w, stride, pad)
    out_h, out_w = window_output_size((H, W), filter_h, filter_w, stride, pad, "col2im")
    V.check_shape(col, "col", (N * out_h * out_w, C * filter_h * filter_w))
    if col.dtype not in KERNEL_DTYPES:
        return _ref.col2im(col, (N, C, H, W), filter_h, filter_w, stride, pad)
    return col2im_into(col, (N, C, H, W), filter_h, filter_w, stride, pad)


def col2im_into(col, input_shape, filter_h, filter_w, stride, pad):
    """col2im of an already checked floating col, as a new array of shape input_shape and col's dtype."""
    img = np.empty(input_shape, dtype=col.dtype)
    _k.col2im(np.ascontiguousarray(col), filter_h, filter_w, stride, pad, img)
    return img
