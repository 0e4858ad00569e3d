"""Inputs shared by the conv and pooling tests: hypothesis strategies and memory layouts.

A case is (N, C, H, W) with a window (fh, fw), stride and pad that fit,
a dtype, and a memory layout of the input: C-contiguous, a strided
(non-contiguous) view, or a view with negative strides.
"""
import numpy as np
from hypothesis import strategies as st

from _tol import tol

DTYPES = [np.float32, np.float64]
LAYOUTS = ["contiguous", "strided", "reversed"]
#: LAYOUTS and two more: Fortran order (C-contiguous only when at most one axis is longer
#: than 1) and a read-only C-contiguous array.
ALL_LAYOUTS = LAYOUTS + ["fortran", "readonly"]


def as_layout(a, layout):
    """An array equal to a, laid out as asked (the views do not own their data)."""
    a = np.ascontiguousarray(a)
    if layout == "contiguous":
        return a
    if layout == "fortran":
        return np.asfortranarray(a)
    if layout == "readonly":
        a = a.copy()
        a.flags.writeable = False
        return a
    if layout == "strided" and a.ndim == 1:
        big = np.zeros(2 * a.shape[0], dtype=a.dtype)
        big[::2] = a
        view = big[::2]
    elif layout == "strided":
        # every other element of a twice-as-wide buffer along the last two axes
        big = np.zeros(a.shape[:-2] + (2 * a.shape[-2], 2 * a.shape[-1]), dtype=a.dtype)
        big[..., ::2, ::2] = a
        view = big[..., ::2, ::2]
    elif layout == "reversed":
        flip = (slice(None, None, -1),) * a.ndim  # negative strides on every axis
        buf = a[flip].copy()
        view = buf[flip]
    else:
        raise ValueError(layout)
    assert not view.flags.c_contiguous or view.size <= 1
    return view


@st.composite
def window_cases(draw, max_side=12, max_window=6):
    """(x_shape, fh, fw, stride, pad) with a window that fits in the padded input."""
    N = draw(st.integers(1, 4))
    C = draw(st.integers(1, 4))
    H = draw(st.integers(1, max_side))
    W = draw(st.integers(1, max_side))
    pad = draw(st.integers(0, 3))
    stride = draw(st.integers(1, 3))
    fh = draw(st.integers(1, min(max_window, H + 2 * pad)))
    fw = draw(st.integers(1, min(max_window, W + 2 * pad)))
    return (N, C, H, W), fh, fw, stride, pad


def assert_close(actual, expected, scale=1.0, tol_dtype=None):
    """assert_allclose with the dtype's tolerance; atol is scaled by the size of the summed terms.

    scale bounds the sum of |terms| behind each entry (the same computation on
    absolute values), because a rounding error grows with it, not with the result.
    tol_dtype: the dtype whose tolerance applies when it is not the result's (a
    float64 result of float32 values carries float32 rounding).
    """
    assert actual.dtype == expected.dtype, (actual.dtype, expected.dtype)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    t = dict(tol(expected.dtype if tol_dtype is None else tol_dtype))
    t["atol"] = t["atol"] * max(1.0, float(np.max(scale, initial=0.0)))
    np.testing.assert_allclose(actual, expected, **t)
