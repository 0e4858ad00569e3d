"""Helpers shared by the dense-path tests (dense, softmax_ce, norm, optim): layouts and comparisons."""
import numpy as np
from hypothesis import settings
from hypothesis import strategies as st

from _tol import tol

DTYPES = [np.float32, np.float64]
LAYOUTS = ["contiguous", "strided", "reversed"]
SETTINGS = settings(max_examples=30, deadline=None)

dtypes = st.sampled_from(DTYPES)
layouts = st.sampled_from(LAYOUTS)


def as_layout(a, layout):
    """An array equal to a, laid out as asked: C-contiguous, a strided view, or negatively strided."""
    a = np.ascontiguousarray(a)
    if layout == "contiguous" or a.ndim == 0:
        return a
    if layout == "strided":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
        big[..., ::2] = a
        return big[..., ::2]
    if layout == "reversed":
        return a[::-1].copy()[::-1]
    raise ValueError(layout)


def assert_close(got, expected, scale=None, tol_dtype=None):
    """Same dtype and shape as the reference, values within the dtype's tolerance.

    scale: magnitude of the terms summed into expected (for reductions that
    cancel, where a relative error of the result alone means nothing).
    tol_dtype: the dtype whose tolerance applies when it is not the result's
    (a float64 result computed from float32 values carries float32 rounding).
    """
    got_dt = np.asarray(got).dtype
    exp_dt = np.asarray(expected).dtype
    assert got_dt == exp_dt, f"dtype {got_dt} != reference {exp_dt}"
    assert np.shape(got) == np.shape(expected)
    kw = dict(tol(exp_dt if tol_dtype is None or np.dtype(tol_dtype).kind != "f" else tol_dtype))
    if scale is not None:
        kw["atol"] = max(kw["atol"], kw["rtol"] * float(scale))
    np.testing.assert_allclose(got, expected, **kw)


def assert_bitwise(a, b):
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert np.asarray(a).dtype == np.asarray(b).dtype


def normal(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)
