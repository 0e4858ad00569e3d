"""Helpers of the book's ``common/util.py``: curve smoothing, shuffling, im2col/col2im."""
import numpy as np


def smooth_curve(x):
    """Smooth a loss curve with an 11-tap Kaiser window (beta 2), as the book plots it."""
    window_len = 11
    s = np.r_[x[window_len - 1:0:-1], x, x[-1:-window_len:-1]]
    w = np.kaiser(window_len, 2)
    y = np.convolve(w / w.sum(), s, mode="valid")
    return y[5:len(y) - 5]


def shuffle_dataset(x, t):
    """Shuffle x (2-D or 4-D) and t with one permutation from NumPy's global generator."""
    permutation = np.random.permutation(x.shape[0])
    x = x[permutation, :] if x.ndim == 2 else x[permutation, :, :, :]
    t = t[permutation]
    return x, t


def conv_output_size(input_size, filter_size, stride=1, pad=0):
    """(input_size + 2*pad - filter_size) / stride + 1, a float as in the book."""
    return (input_size + 2 * pad - filter_size) / stride + 1


def _col_dtype(dtype):
    # The book allocates float64 buffers; we keep floating inputs in their own
    # precision (float32 stays float32) and turn everything else to float64 as the book does.
    return dtype if np.issubdtype(dtype, np.floating) else np.float64


def _im2col(input_data, filter_h, filter_w, stride, pad, pad_value):
    N, C, H, W = input_data.shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    dtype = _col_dtype(input_data.dtype)
    img = np.pad(input_data.astype(dtype, copy=False), [(0, 0), (0, 0), (pad, pad), (pad, pad)],
                 "constant", constant_values=pad_value)
    col = np.zeros((N, C, filter_h, filter_w, out_h, out_w), dtype=dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            col[:, :, y, x, :, :] = img[:, :, y:y_max:stride, x:x_max:stride]
    # rows: (n, oy, ox); columns: (c, fy, fx)
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(N * out_h * out_w, -1)


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """Unfold image patches into rows.

    Parameters
    ----------
    input_data : ndarray of shape (N, C, H, W)
    filter_h, filter_w : int, window size
    stride, pad : int

    Returns
    -------
    col : ndarray of shape (N*out_h*out_w, C*filter_h*filter_w), with
        out_h = (H + 2*pad - filter_h)//stride + 1 (likewise out_w). Rows are
        ordered (n, oy, ox), columns (c, fy, fx); zero padding.
    """
    return _im2col(input_data, filter_h, filter_w, stride, pad, 0)


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """Fold rows back into images, summing where windows overlap (im2col's adjoint).

    col : ndarray of shape (N*out_h*out_w, C*filter_h*filter_w)
    input_shape : (N, C, H, W)
    Returns ndarray of shape (N, C, H, W); the padded border is dropped.
    """
    N, C, H, W = input_shape
    out_h = (H + 2 * pad - filter_h) // stride + 1
    out_w = (W + 2 * pad - filter_w) // stride + 1
    col = col.reshape(N, out_h, out_w, C, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((N, C, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1),
                   dtype=_col_dtype(col.dtype))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += col[:, :, y, x, :, :]
    return img[:, :, pad:H + pad, pad:W + pad]
