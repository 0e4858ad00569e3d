"""The Pooling layer on kernels against fastscratch.reference: values, argmax ties, gradients."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from _conv_cases import DTYPES, LAYOUTS, as_layout, assert_close, window_cases
from fastscratch.layers import Pooling
from fastscratch.reference import layers as RL

SETTINGS = settings(max_examples=40, deadline=None)

HARD = [
    pytest.param((1, 1, 4, 4), 4, 4, 1, 0, id="batch1-window-equals-input"),
    pytest.param((2, 3, 6, 5), 2, 2, 2, 1, id="pad1-2x2"),
    pytest.param((2, 2, 5, 7), 3, 3, 1, 2, id="pad2-overlap"),
    pytest.param((2, 2, 9, 8), 2, 2, 3, 0, id="stride-larger-than-window"),
    pytest.param((1, 2, 2, 2), 3, 3, 1, 3, id="all-padding-windows"),
    pytest.param((3, 4, 24, 24), 2, 2, 2, 0, id="book-2x2-stride2"),
    pytest.param((2, 3, 7, 7), 3, 2, 2, 1, id="nonsquare-odd"),
    pytest.param((2, 3, 7, 9), 2, 2, 2, 0, id="2x2-stride2-odd-height-width"),
    pytest.param((1, 1, 2, 2), 2, 2, 2, 0, id="2x2-stride2-one-window"),
]

VALUES = ["normal", "ties", "equal"]


def _x(shape, dtype, seed, values="normal", layout="contiguous"):
    rng = np.random.default_rng(seed)
    if values == "normal":
        a = rng.standard_normal(shape)
    elif values == "ties":
        a = rng.integers(-2, 3, shape)  # many equal maxima in a window
    else:
        a = np.full(shape, -1.0)  # every window is one tie; negative so 0-padding would win
    return as_layout(a.astype(dtype), layout)


def _check_pool(x, ph, pw, stride, pad, seed):
    ours, ref = Pooling(ph, pw, stride, pad), RL.Pooling(ph, pw, stride, pad)
    before = x.copy()
    out, expected = ours.forward(x), ref.forward(x)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)  # a max is exact
    assert ours.arg_max.shape == ref.arg_max.shape
    assert ours.arg_max.dtype == ref.arg_max.dtype
    np.testing.assert_array_equal(ours.arg_max, ref.arg_max)
    assert ours.x is x
    dout = np.random.default_rng(seed + 1).standard_normal(out.shape).astype(out.dtype)
    dout_before = dout.copy()
    dx, dx_expected = ours.backward(dout), ref.backward(dout)
    scale = RL.Pooling(ph, pw, stride, pad)
    scale.forward(x)
    assert_close(dx, dx_expected, scale=scale.backward(np.abs(dout)))
    assert ours.backward(dout).tobytes() == dx.tobytes()  # bitwise repeatable
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(dout, dout_before)
    return ours


@SETTINGS
@given(case=window_cases(), dtype=st.sampled_from(DTYPES), layout=st.sampled_from(LAYOUTS),
       values=st.sampled_from(VALUES), seed=st.integers(0, 2**16))
def test_pooling_matches_reference(case, dtype, layout, values, seed):
    shape, ph, pw, stride, pad = case
    _check_pool(_x(shape, dtype, seed, values, layout), ph, pw, stride, pad, seed)


@pytest.mark.parametrize("shape, ph, pw, stride, pad", HARD)
@pytest.mark.parametrize("values", VALUES)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_pooling_hard_cases(shape, ph, pw, stride, pad, values, dtype):
    _check_pool(_x(shape, dtype, 2, values), ph, pw, stride, pad, 2)


def test_pooling_nan_and_inf_as_reference():
    x = np.random.default_rng(4).standard_normal((2, 2, 6, 6))
    x[0, 0, 1, 1] = np.nan
    x[0, 1, 2, 3] = np.inf
    x[1, 0, :2, :2] = -np.inf
    x[1, 1, 4, 4] = np.nan
    x[1, 1, 4, 5] = np.nan
    for stride, pad in [(2, 0), (1, 1)]:
        ours, ref = Pooling(2, 2, stride, pad), RL.Pooling(2, 2, stride, pad)
        np.testing.assert_array_equal(ours.forward(x), ref.forward(x))
        np.testing.assert_array_equal(ours.arg_max, ref.arg_max)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_pooling_2x2_rows_nan_in_every_window_cell(dtype):
    """The book's 2x2 stride-2 windows go a row at a time; a NaN at any cell sends its row to the exact rule."""
    x = np.random.default_rng(5).integers(-2, 3, (2, 4, 6, 9)).astype(dtype)  # ties everywhere
    for cell, (iy, ix) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1)]):
        x[0, cell, 2 + iy, 4 + ix] = np.nan  # one window per channel, a lone NaN at each cell in turn
    x[1, 0, 0, :2] = np.nan  # two NaNs in one window: the first wins
    x[1, 1, 2, 2:4] = [np.inf, -np.inf]
    x[1, 2, 4:6, 6:8] = -np.inf  # a window of -inf only
    ours, ref = Pooling(2, 2, 2, 0), RL.Pooling(2, 2, 2, 0)
    np.testing.assert_array_equal(ours.forward(x), ref.forward(x))
    np.testing.assert_array_equal(ours.arg_max, ref.arg_max)
    dout = np.random.default_rng(6).standard_normal((2, 4, 3, 4)).astype(dtype)
    dout[0, 0, 0, 0] = -0.0  # the reference adds dout to zeros: 0.0, not -0.0
    np.testing.assert_array_equal(ours.backward(dout), ref.backward(dout))
    assert np.signbit(ours.backward(dout)).sum() == np.signbit(ref.backward(dout)).sum()


@pytest.mark.parametrize("cell", range(4))
def test_row_max_2x2_reports_a_nan_at_each_cell(cell):
    """The row helper's own answer: maxima and offsets of a clean row, False for a row with a NaN anywhere."""
    from fastscratch.kernels.pooling import _row_max_2x2

    rows = np.array([[1.0, 3.0, 5.0, 5.0, -1.0, -2.0], [2.0, 0.0, 4.0, 5.0, -3.0, -1.0]])
    out, am = np.empty(3), np.full((3, 2), -1, dtype=np.intp)
    assert _row_max_2x2(rows[0], rows[1], out, am, 1)
    np.testing.assert_array_equal(out, [3.0, 5.0, -1.0])
    np.testing.assert_array_equal(am[:, 1], [1, 0, 0])  # ties to the first maximum
    np.testing.assert_array_equal(am[:, 0], [-1, -1, -1])  # other channels' column untouched
    rows[cell // 2, 2 + cell % 2] = np.nan
    assert not _row_max_2x2(rows[0], rows[1], out, am, 1)


@pytest.mark.parametrize("dtype", [np.int64, np.bool_, np.float16])
def test_pooling_other_dtypes_as_reference(dtype):
    x = (np.arange(2 * 3 * 5 * 4) % 4).reshape(2, 3, 5, 4).astype(dtype)
    ours, ref = Pooling(2, 2, 2, 1), RL.Pooling(2, 2, 2, 1)
    out, expected = ours.forward(x), ref.forward(x)
    assert out.dtype == expected.dtype
    np.testing.assert_array_equal(out, expected)
    np.testing.assert_array_equal(ours.arg_max, ref.arg_max)
    dout = np.ones(out.shape, dtype=dtype)
    dx, dx_expected = ours.backward(dout), ref.backward(dout)
    assert dx.dtype == dx_expected.dtype
    np.testing.assert_array_equal(dx, dx_expected)


def test_pooling_dout_dtype_sets_dx_dtype():
    x = _x((2, 2, 4, 4), np.float64, 0)
    ours, ref = Pooling(2, 2), RL.Pooling(2, 2)
    dout = np.ones(ours.forward(x).shape, dtype=np.float32)
    ref.forward(x)
    dx, expected = ours.backward(dout), ref.backward(dout)
    assert dx.dtype == expected.dtype == np.float32
    np.testing.assert_array_equal(dx, expected)


ERRORS = [
    ("x-list", lambda: Pooling(2, 2).forward([[1.0]]), TypeError, "x must be a NumPy array"),
    ("x-2d", lambda: Pooling(2, 2).forward(np.ones((4, 4))), ValueError, r"x must be 4-D \(N, C, H, W\); got shape \(4, 4\)"),
    ("x-complex", lambda: Pooling(2, 2).forward(np.ones((1, 1, 4, 4), complex)), TypeError, "real numeric dtype"),
    ("pool-h-zero", lambda: Pooling(0, 2).forward(np.ones((1, 1, 4, 4))), ValueError, "pool_h must be >= 1"),
    ("stride-zero", lambda: Pooling(2, 2, 0).forward(np.ones((1, 1, 4, 4))), ValueError, "stride must be >= 1"),
    ("pad-negative", lambda: Pooling(2, 2, 2, -1).forward(np.ones((1, 1, 4, 4))), ValueError, "pad must be >= 0"),
    ("window-too-big", lambda: Pooling(5, 2).forward(np.ones((1, 1, 4, 4))), ValueError, "window height 5 does not fit"),
    ("backward-first", lambda: Pooling(2, 2).backward(np.ones((1, 1, 2, 2))), ValueError, "before .*forward"),
]


@pytest.mark.parametrize("name, fn, exc, match", ERRORS, ids=[e[0] for e in ERRORS])
def test_pooling_errors(name, fn, exc, match):
    with pytest.raises(exc, match=match):
        fn()


def test_pooling_backward_dout_shape_checked():
    layer = Pooling(2, 2)
    layer.forward(np.ones((2, 3, 4, 4)))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 3, 2, 2\); got \(2, 3, 2, 3\)"):
        layer.backward(np.ones((2, 3, 2, 3)))
