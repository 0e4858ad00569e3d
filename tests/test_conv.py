"""im2col, col2im and the Convolution layer on kernels against fastscratch.reference."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastscratch
from _conv_cases import DTYPES, LAYOUTS, as_layout, assert_close, window_cases
from fastscratch._layers import im2col as U
from fastscratch.layers import Convolution
from fastscratch.reference import layers as RL
from fastscratch.reference import util as RU

SETTINGS = settings(max_examples=40, deadline=None)

# fixed hard cases: (x_shape, fh, fw, stride, pad)
HARD = [
    pytest.param((1, 1, 5, 5), 5, 5, 1, 0, id="batch1-window-equals-input"),
    pytest.param((2, 3, 4, 6), 4, 6, 2, 0, id="window-equals-input-stride2"),
    pytest.param((2, 2, 7, 9), 2, 3, 4, 1, id="stride-larger-than-window"),
    pytest.param((3, 2, 5, 4), 3, 2, 1, 3, id="pad3-nonsquare"),
    pytest.param((1, 3, 1, 1), 3, 3, 1, 1, id="one-pixel-pad1"),
    pytest.param((2, 4, 9, 7), 3, 3, 2, 1, id="odd-sides-stride2-pad1"),
    pytest.param((2, 1, 3, 3), 7, 7, 1, 2, id="window-fills-padded-input"),
]


def _data(shape, dtype, seed, layout="contiguous"):
    rng = np.random.default_rng(seed)
    return as_layout(rng.standard_normal(shape).astype(dtype), layout)


# --------------------------------------------------------------------------- im2col / col2im

@SETTINGS
@given(case=window_cases(), dtype=st.sampled_from(DTYPES), layout=st.sampled_from(LAYOUTS),
       seed=st.integers(0, 2**16))
def test_conv_im2col_equals_reference_exactly(case, dtype, layout, seed):
    shape, fh, fw, stride, pad = case
    x = _data(shape, dtype, seed, layout)
    before = x.copy()
    col = U.im2col(x, fh, fw, stride, pad)
    expected = RU.im2col(x, fh, fw, stride, pad)
    assert col.dtype == expected.dtype and col.shape == expected.shape
    np.testing.assert_array_equal(col, expected)
    np.testing.assert_array_equal(x, before)


@SETTINGS
@given(case=window_cases(), dtype=st.sampled_from(DTYPES), seed=st.integers(0, 2**16),
       reverse=st.booleans())
def test_conv_col2im_matches_reference(case, dtype, seed, reverse):
    shape, fh, fw, stride, pad = case
    N, C, H, W = shape
    oh, ow = (H + 2 * pad - fh) // stride + 1, (W + 2 * pad - fw) // stride + 1
    rng = np.random.default_rng(seed)
    col = rng.standard_normal((N * oh * ow, C * fh * fw)).astype(dtype)
    if reverse:
        col = col[::-1, ::-1].copy()[::-1, ::-1]  # negatively strided view
    before = col.copy()
    img = U.col2im(col, shape, fh, fw, stride, pad)
    expected = RU.col2im(col, shape, fh, fw, stride, pad)
    assert_close(img, expected, scale=RU.col2im(np.abs(col), shape, fh, fw, stride, pad))
    np.testing.assert_array_equal(col, before)
    # bitwise repeatable
    assert U.col2im(col, shape, fh, fw, stride, pad).tobytes() == img.tobytes()


@pytest.mark.parametrize("shape, fh, fw, stride, pad", HARD)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_conv_im2col_col2im_hard_cases(shape, fh, fw, stride, pad, dtype):
    x = _data(shape, dtype, 1)
    col = U.im2col(x, fh, fw, stride, pad)
    np.testing.assert_array_equal(col, RU.im2col(x, fh, fw, stride, pad))
    img = U.col2im(col, shape, fh, fw, stride, pad)
    assert_close(img, RU.col2im(col, shape, fh, fw, stride, pad),
                 scale=RU.col2im(np.abs(col), shape, fh, fw, stride, pad))


@pytest.mark.parametrize("dtype", [np.int32, np.int64, np.bool_, np.float16])
def test_conv_im2col_col2im_other_dtypes_as_reference(dtype):
    x = (np.arange(2 * 2 * 5 * 4) % 3).reshape(2, 2, 5, 4).astype(dtype)
    col = U.im2col(x, 3, 2, 1, 1)
    expected = RU.im2col(x, 3, 2, 1, 1)
    assert col.dtype == expected.dtype
    np.testing.assert_array_equal(col, expected)
    ci = (np.arange(expected.size) % 5).reshape(expected.shape).astype(dtype)
    img = U.col2im(ci, x.shape, 3, 2, 1, 1)
    ref = RU.col2im(ci, x.shape, 3, 2, 1, 1)
    assert img.dtype == ref.dtype
    np.testing.assert_array_equal(img, ref)


def test_conv_util_reexports_reference_helpers():
    assert U.conv_output_size(28, 5, 1, 0) == RU.conv_output_size(28, 5, 1, 0) == 24.0
    np.testing.assert_array_equal(U.smooth_curve(np.arange(30.0)), RU.smooth_curve(np.arange(30.0)))
    assert fastscratch.layers.im2col is U.im2col and fastscratch.layers.col2im is U.col2im


# --------------------------------------------------------------------------- Convolution

def _conv_pair(x_shape, fn, fh, fw, stride, pad, dtype, w_dtype, seed, layout="contiguous"):
    rng = np.random.default_rng(seed)
    x = as_layout(rng.standard_normal(x_shape).astype(dtype), layout)
    W = rng.standard_normal((fn, x_shape[1], fh, fw)).astype(w_dtype)
    b = rng.standard_normal(fn).astype(w_dtype)
    return x, W, b


def _check_conv(x, W, b, stride, pad, seed):
    ours, ref = Convolution(W, b, stride, pad), RL.Convolution(W, b, stride, pad)
    absref = RL.Convolution(np.abs(W), np.abs(b), stride, pad)  # sums of |terms|: error scale
    saved = [a.copy() for a in (x, W, b)]
    out, expected = ours.forward(x), ref.forward(x)
    assert_close(out, expected, scale=absref.forward(np.abs(x)))
    dout = np.random.default_rng(seed + 1).standard_normal(out.shape).astype(out.dtype)
    dout_saved = dout.copy()
    dx = ours.backward(dout)
    dx_expected = ref.backward(dout)
    absref.backward(np.abs(dout))
    scale_dx = RL.Convolution(np.abs(W), np.abs(b), stride, pad)
    scale_dx.forward(np.abs(x))
    assert_close(dx, dx_expected, scale=scale_dx.backward(np.abs(dout)))
    assert_close(ours.dW, ref.dW, scale=absref.dW)
    assert_close(ours.db, ref.db, scale=absref.db)
    # the attributes the book's code and tests read
    assert ours.x is x
    assert ours.col.dtype == ref.col.dtype
    np.testing.assert_array_equal(ours.col, ref.col)
    assert ours.col_W.shape == ref.col_W.shape and ours.col_W.dtype == ref.col_W.dtype
    np.testing.assert_array_equal(ours.col_W, ref.col_W)
    for a, s in zip((x, W, b, dout), saved + [dout_saved]):
        np.testing.assert_array_equal(a, s)
    return ours, dout, dx


@SETTINGS
@given(case=window_cases(), fn=st.integers(1, 5), dtype=st.sampled_from(DTYPES),
       layout=st.sampled_from(LAYOUTS), seed=st.integers(0, 2**16))
def test_conv_layer_matches_reference(case, fn, dtype, layout, seed):
    shape, fh, fw, stride, pad = case
    x, W, b = _conv_pair(shape, fn, fh, fw, stride, pad, dtype, dtype, seed, layout)
    ours, dout, dx = _check_conv(x, W, b, stride, pad, seed)
    # bitwise repeatable backward
    dW, db = ours.dW.copy(), ours.db.copy()
    assert ours.backward(dout).tobytes() == dx.tobytes()
    assert ours.dW.tobytes() == dW.tobytes() and ours.db.tobytes() == db.tobytes()


@pytest.mark.parametrize("shape, fh, fw, stride, pad", HARD)
def test_conv_layer_hard_cases(shape, fh, fw, stride, pad):
    x, W, b = _conv_pair(shape, 3, fh, fw, stride, pad, np.float64, np.float64, 7)
    _check_conv(x, W, b, stride, pad, 7)


@pytest.mark.parametrize("x_dtype, w_dtype", [(np.float32, np.float64), (np.float64, np.float32),
                                              (np.int64, np.float64), (np.float32, np.float32)])
def test_conv_layer_mixed_dtypes_as_reference(x_dtype, w_dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2, 3, 6, 5)) * 3).astype(x_dtype)
    W = rng.standard_normal((4, 3, 3, 2)).astype(w_dtype)
    b = rng.standard_normal(4).astype(w_dtype)
    _check_conv(x, W, b, 1, 1, 3)


def test_conv_layer_reads_rebound_and_updated_params():
    x, W, b = _conv_pair((2, 2, 6, 6), 3, 3, 3, 1, 1, np.float64, np.float64, 5)
    ours, ref = Convolution(W, b, 1, 1), RL.Convolution(W, b, 1, 1)
    ours.forward(x)
    W -= 0.5  # an optimizer updates in place
    b += 1.0
    np.testing.assert_allclose(ours.forward(x), ref.forward(x), rtol=1e-12, atol=1e-12)
    W2, b2 = W * 2, b * 3  # load_params rebinds
    ours.W, ours.b, ref.W, ref.b = W2, b2, W2, b2
    np.testing.assert_allclose(ours.forward(x), ref.forward(x), rtol=1e-12, atol=1e-12)


def test_conv_book_shapes_and_determinism():
    # SimpleConvNet's conv1 and a DeepConvNet-like layer at a small batch
    for shape, fn, f, pad in [((3, 1, 28, 28), 30, 5, 0), ((3, 16, 14, 14), 16, 3, 1)]:
        x, W, b = _conv_pair(shape, fn, f, f, 1, pad, np.float64, np.float64, 11)
        ours, dout, dx = _check_conv(x, W, b, 1, pad, 11)
        again = Convolution(W, b, 1, pad)
        again.forward(x)
        assert again.backward(dout).tobytes() == dx.tobytes()
        assert again.dW.tobytes() == ours.dW.tobytes() and again.db.tobytes() == ours.db.tobytes()


def test_conv_layer_writes_over_its_col_only_when_no_one_else_holds_it():
    # Repeated forwards reuse the previous col's memory (a fresh one page-faults
    # on first write), but never one the caller still holds.
    rng = np.random.default_rng(3)
    W, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    ours, ref = Convolution(W, b, 1, 1), RL.Convolution(W, b, 1, 1)
    xs = [rng.standard_normal((2, 3, 6, 6)) for _ in range(5)]
    for x in xs[:2]:
        np.testing.assert_allclose(ours.forward(x), ref.forward(x), rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(ours.col, ref.col)
    kept = id(ours.col)
    ours.forward(xs[2])
    assert id(ours.col) == kept, "an unshared col of the same shape should be written over"
    held, view = ours.col, ours.col[1:, ::2].T  # the caller keeps the array and a view of it
    held_copy, view_copy = held.copy(), view.copy()
    for x in xs[3:]:
        dout = rng.standard_normal((2, 4, 6, 6))
        np.testing.assert_allclose(ours.forward(x), ref.forward(x), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours.backward(dout), ref.backward(dout), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ours.dW, ref.dW, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(held, held_copy)
    np.testing.assert_array_equal(view, view_copy)
    assert ours.col is not held
    # another batch size: a new col of the new shape
    x = rng.standard_normal((3, 3, 6, 6))
    np.testing.assert_allclose(ours.forward(x), ref.forward(x), rtol=1e-12, atol=1e-12)
    assert ours.col.shape == ref.col.shape


# --------------------------------------------------------------------------- plane kernels
# Stride 1 runs on padded input planes where NumPy's BLAS is OpenBLAS: in-cache GEMMs per
# image (fastscratch/_layers/conv_per_image.py), one per filter tap (fastscratch/kernels/conv_taps.py) or one of the
# image's unfolded col (fastscratch/kernels/conv_per_image.py), each product (output, dW, dx) choosing by the
# channel counts; elsewhere, for 3x3 and 5x5 filters, the direct kernels (fastscratch/_layers/conv_direct.py).
# Every route is tested here, each forced in turn: "taps" and "unfold" make every product
# one way, "mixed" the output and dx by taps and dW on the unfolded col.

ROUTES = ["taps", "unfold", "mixed", "direct"]
TILED = ("taps", "unfold", "mixed")

#: the products (forward, dW, dx) by taps of each per-image GEMM route; "mixed" is the
#: library's choice for many filters (dW on the unfolded col)
_TILED_PRODUCTS = {"taps": (True, True, True), "unfold": (False, False, False), "mixed": (True, False, True)}


def _force_tiled(products, setattr_):
    """Make the per-image GEMM route take the products (forward, dW, dx) by taps as given (or a route's name)."""
    from fastscratch._layers import conv_per_image as _conv_tiled
    chosen = _conv_tiled.TapProducts(*_TILED_PRODUCTS.get(products, products))
    setattr_(_conv_tiled, "tap_products", lambda W_shape: chosen)


@pytest.fixture(params=ROUTES)
def route(request, monkeypatch):
    """The plane route under test: the GEMM routes need OpenBLAS; "direct" switches them off."""
    from fastscratch._layers import matmul as _blas
    from fastscratch._layers import conv_per_image as _conv_tiled
    if request.param in TILED and _blas.openblas() is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS: the per-image GEMM routes are not used")
    if request.param == "direct":
        monkeypatch.setattr(_conv_tiled, "applies", lambda dtype: False)
    else:
        _force_tiled(request.param, monkeypatch.setattr)
    return request.param


@st.composite
def direct_cases(draw):
    """(x_shape, filter count, filter side, pad) that both plane routes take: stride 1, 3x3 or 5x5, pad < side."""
    k = draw(st.sampled_from([3, 5]))
    pad = draw(st.integers(0, k - 1))
    lo = max(1, k - 2 * pad)
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 5)), draw(st.integers(lo, 13)),
             draw(st.integers(lo, 13)))
    return shape, draw(st.integers(1, 9)), k, pad


@st.composite
def tiled_cases(draw):
    """(x_shape, filter count, (FH, FW), pad) of any stride-1 convolution: the tiled route takes them all."""
    fh, fw, pad = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.integers(0, 4))
    shape = (draw(st.integers(1, 9)), draw(st.integers(1, 5)), draw(st.integers(max(1, fh - 2 * pad), 12)),
             draw(st.integers(max(1, fw - 2 * pad), 12)))
    return shape, draw(st.integers(1, 9)), (fh, fw), pad


def _check_planes(shape, fn, k, pad, dtype, seed, layout="contiguous", route="direct"):
    fh, fw = (k, k) if np.isscalar(k) else k
    x, W, b = _conv_pair(shape, fn, fh, fw, 1, pad, dtype, dtype, seed, layout)
    layer = Convolution(W, b, 1, pad)
    ours, dout, dx = _check_conv(x, W, b, 1, pad, seed)
    layer.forward(x)
    tiled = route in TILED or route == "tiled"  # "tiled": the per-image GEMMs, whichever products
    assert layer._planes is not None, "expected the plane kernels to run"
    assert layer._per_image_gemms == tiled, f"expected the {route} route"
    assert ours._per_image_gemms == tiled
    return ours, dout, dx


@SETTINGS
@given(case=tiled_cases(), dtype=st.sampled_from(DTYPES), layout=st.sampled_from(LAYOUTS),
       seed=st.integers(0, 2**16), col_bytes=st.sampled_from([None, 1, 2048]),
       products=st.tuples(st.booleans(), st.booleans(), st.booleans()), want_dx=st.booleans())
def test_conv_tiled_matches_reference_on_any_stride1_shape(case, dtype, layout, seed, col_bytes, products, want_dx):
    # col_bytes: the chunk budget; 1 makes chunks of one output row, 2048 a few rows;
    # products: which of the output, dW and dx go by taps (each combination);
    # want_dx False: a network's first layer, dW and db alone
    from fastscratch._layers import matmul as _blas
    from fastscratch._layers import conv_per_image as _conv_tiled
    if _blas.openblas() is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS")
    shape, fn, k, pad = case
    saved = [(name, getattr(_conv_tiled, name)) for name in ("_COL_BYTES", "tap_products")]
    _conv_tiled._COL_BYTES = saved[0][1] if col_bytes is None else col_bytes
    _force_tiled(products, setattr)
    try:
        ours, dout, dx = _check_planes(shape, fn, k, pad, dtype, seed, layout, route="tiled")
        dW, db = ours.dW.copy(), ours.db.copy()
        ours.skip_input_grad = not want_dx
        got = ours.backward(dout)
        assert got.tobytes() == dx.tobytes() if want_dx else got is None
        assert ours.dW.tobytes() == dW.tobytes() and ours.db.tobytes() == db.tobytes()
    finally:
        for name, value in saved:
            setattr(_conv_tiled, name, value)


@pytest.mark.parametrize("products", [(True, True, True), (False, False, False), (True, False, True),
                                      (False, True, False)])
@pytest.mark.parametrize("want_dx", [True, False])
def test_conv_tiled_kernels_take_the_products_chosen(products, want_dx, monkeypatch):
    # the choice must reach the kernels: else the route tests would test another route
    from fastscratch._layers import matmul as _blas
    from fastscratch._layers import conv_per_image as _conv_tiled
    if _blas.openblas() is None:
        pytest.skip("NumPy's BLAS is not OpenBLAS")
    _force_tiled(products, monkeypatch.setattr)
    calls = []
    for mod, name in [(_conv_tiled._ktaps, "forward_taps"), (_conv_tiled._kt, "forward_images"),
                      (_conv_tiled._kt, "backward_images")]:
        real = getattr(mod, name)
        monkeypatch.setattr(mod, name, lambda *a, _real=real, _name=name: (calls.append((_name, a)), _real(*a))[1])
    x, W, b = _conv_pair((2, 3, 6, 7), 4, 3, 3, 1, 1, "float64", "float64", 3, "contiguous")
    ours, ref = Convolution(W, b, 1, 1), RL.Convolution(W, b, 1, 1)
    ours.skip_input_grad = not want_dx  # as a network's first layer: no dx
    dout = np.random.default_rng(4).standard_normal(ours.forward(x).shape)
    dx = ours.backward(dout)
    ref.forward(x)
    dx_expected = ref.backward(dout)
    assert [name for name, _ in calls] == ["forward_taps" if products[0] else "forward_images", "backward_images"]
    taps = calls[1][1][3]
    assert (taps.dw, taps.dx) == products[1:]
    # the filters the backward kernel is handed: W2 (F, K) for dx on col, Wt (FH*FW, F, C) for dx by taps
    W2, Wt = calls[1][1][5].rows, calls[1][1][5].taps
    assert W2.shape == ((4, 27) if want_dx and not products[2] else (0, 0))
    assert Wt.shape == ((9, 4, 3) if want_dx and products[2] else (0, 4, 3))
    np.testing.assert_allclose(ours.dW, ref.dW, rtol=1e-12, atol=1e-12)
    if want_dx:
        np.testing.assert_allclose(dx, dx_expected, rtol=1e-12, atol=1e-12)
    else:
        assert dx is None


def test_conv_tiled_tap_products_pick_by_the_channel_counts():
    from fastscratch._layers import conv_per_image as _conv_tiled
    # the book's shapes: SimpleConvNet's conv1 (1 -> 30) unfolds; bench_conv's conv2 (16 -> 16) runs
    # by taps throughout; conv4 (32 -> 64) by taps but for dW, on the unfolded col
    assert _conv_tiled.tap_products((30, 1, 5, 5)) == (False, False, False)
    assert _conv_tiled.tap_products((16, 16, 3, 3)) == (True, True, True)
    assert _conv_tiled.tap_products((32, 16, 3, 3)) == (True, True, True)
    assert _conv_tiled.tap_products((64, 32, 3, 3)) == (True, False, True)
    assert _conv_tiled.tap_products((16, 8, 3, 3)) == (False, False, False)


def test_conv_tiled_chunks_split_the_output_rows_evenly():
    from fastscratch._layers import conv_per_image as _conv_tiled
    for K, Wp, item, out_h in [(144, 30, 8, 28), (288, 16, 8, 14), (25, 28, 4, 24), (4608, 9, 8, 7)]:
        rows = _conv_tiled.chunk_rows(K, Wp, item, out_h)
        chunks = -(-out_h // rows)
        assert 1 <= rows <= out_h
        assert K * Wp * item * rows <= _conv_tiled._COL_BYTES or rows == 1
        assert chunks * rows - out_h < chunks  # near-equal: the last chunk is short by less than one row per chunk
        if rows < out_h:
            assert K * Wp * item * -(-out_h // (chunks - 1)) > _conv_tiled._COL_BYTES  # no fewer chunks would fit


@settings(SETTINGS, suppress_health_check=[HealthCheck.function_scoped_fixture])  # route is per test, not per example
@given(case=direct_cases(), dtype=st.sampled_from(DTYPES), layout=st.sampled_from(LAYOUTS),
       seed=st.integers(0, 2**16))
def test_conv_planes_match_reference(route, case, dtype, layout, seed):
    shape, fn, k, pad = case
    ours, dout, dx = _check_planes(shape, fn, k, pad, dtype, seed, layout, route)
    dW, db = ours.dW.copy(), ours.db.copy()
    assert ours.backward(dout).tobytes() == dx.tobytes()
    assert ours.dW.tobytes() == dW.tobytes() and ours.db.tobytes() == db.tobytes()


# fixed hard cases: (x_shape, filter count, filter side, pad)
DIRECT_HARD = [
    pytest.param((1, 1, 1, 1), 1, 3, 1, id="3x3-one-pixel-pad1"),
    pytest.param((1, 2, 1, 1), 3, 5, 2, id="5x5-one-pixel-pad2"),
    pytest.param((2, 3, 3, 3), 5, 3, 0, id="3x3-window-equals-input"),
    pytest.param((1, 2, 5, 5), 2, 5, 0, id="5x5-window-equals-input"),
    pytest.param((2, 1, 2, 7), 6, 5, 4, id="5x5-pad4-more-padding-than-image"),
    pytest.param((2, 16, 28, 28), 16, 3, 1, id="conv2-shape-batch2"),
    pytest.param((2, 32, 14, 14), 64, 3, 1, id="conv4-shape-batch2"),
    pytest.param((2, 1, 28, 28), 30, 5, 0, id="conv1-shape-batch2"),
    pytest.param((1, 3, 30, 41), 7, 3, 2, id="several-tiles-odd-filters"),
    pytest.param((3, 2, 37, 29), 5, 5, 1, id="5x5-several-tiles"),
]


@pytest.mark.parametrize("shape, fn, k, pad", DIRECT_HARD)
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
def test_conv_planes_hard_cases(shape, fn, k, pad, dtype, route):
    _check_planes(shape, fn, k, pad, dtype, 5, route=route)


def test_conv_planes_bitwise_identical_for_any_thread_count(route):
    import numba
    rng = np.random.default_rng(9)
    # batches of several backward image groups (fastscratch/kernels/conv_per_image.py IMAGE_GROUP), the last one short
    cases = [((11, 16, 28, 28), 16, 3, 1), ((11, 1, 28, 28), 30, 5, 0), ((7, 32, 14, 14), 64, 3, 1)]
    before = numba.get_num_threads()
    if before == 1:
        pytest.skip("Numba has one thread: there is no other thread count to compare")
    try:
        for dtype in DTYPES:
            for shape, fn, k, pad in cases:
                x = rng.standard_normal(shape).astype(dtype)
                W = rng.standard_normal((fn, shape[1], k, k)).astype(dtype)
                b = rng.standard_normal(fn).astype(dtype)
                results = []
                for threads in sorted({1, before}):
                    numba.set_num_threads(threads)
                    layer = Convolution(W, b, 1, pad)
                    out = layer.forward(x)
                    dx = layer.backward(np.cos(out))
                    assert layer._per_image_gemms == (route in TILED)
                    results.append(b"".join(a.tobytes() for a in (out, dx, layer.dW, layer.db)))
                assert len(set(results)) == 1, (shape, dtype)
    finally:
        numba.set_num_threads(before)


@pytest.mark.parametrize("col_bytes", [None, 1], ids=["default-chunks", "one-row-chunks"])
@pytest.mark.parametrize("where", ["x", "W", "dout"])
@pytest.mark.parametrize("dtype", DTYPES, ids=["float32", "float64"])
@pytest.mark.parametrize("k", [3, 5])
def test_conv_planes_propagate_nan_and_inf(k, dtype, where, route, col_bytes, monkeypatch):
    from fastscratch._layers import conv_per_image as _conv_tiled
    if col_bytes is not None:
        monkeypatch.setattr(_conv_tiled, "_COL_BYTES", col_bytes)
    # the kernels let LLVM contract a*b + c into an FMA and nothing more: NaN and Inf must still
    # reach the outputs exactly where the reference's do, on the image border too
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 2, 9, 9)).astype(dtype)
    W = rng.standard_normal((3, 2, k, k)).astype(dtype)
    b = rng.standard_normal(3).astype(dtype)
    dout = rng.standard_normal((2, 3, 12 - k, 12 - k)).astype(dtype)
    if where == "x":
        x[0, 0, 4, 4], x[1, 1, 0, 0], x[1, 0, 8, 3] = np.nan, np.inf, -np.inf
    elif where == "W":
        W[1, 0, 0, k - 1], W[2, 1, 1, 1] = np.inf, np.nan
    else:
        # [1, 1, 0, 0]: the first element of a plane, where a kernel might take its zero as v - v
        dout[1, 2, 3, 3], dout[0, 0, 0, 11 - k], dout[0, 1, 2, 0] = -np.inf, np.nan, np.inf
        dout[1, 1, 0, 0] = np.inf
    ours, ref = Convolution(W, b, 1, 1), RL.Convolution(W, b, 1, 1)
    with np.errstate(invalid="ignore", over="ignore"):
        results = [(ours.forward(x), ref.forward(x)), (ours.backward(dout), ref.backward(dout)),
                   (ours.dW, ref.dW), (ours.db, ref.db)]
    assert ours._planes is not None and ours._per_image_gemms == (route in TILED)
    for got, want in results:
        np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
        np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want))
        np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want))
    assert any(not np.isfinite(want).all() for _, want in results)


def _forward_both(rng, x_shape, fn):
    """(ours, ref, x): a 3x3 pad-1 stride-1 Convolution of fn filters, fast and reference, after forward(x)."""
    x = rng.standard_normal(x_shape)
    W, b = rng.standard_normal((fn, x_shape[1], 3, 3)), rng.standard_normal(fn)
    ours, ref = Convolution(W, b, 1, 1), RL.Convolution(W, b, 1, 1)
    ours.forward(x)
    ref.forward(x)
    return ours, ref, x


@pytest.mark.parametrize("change", [{"pad": 3}, {"stride": 2}, {"pad": 0}])
def test_conv_planes_geometry_changed_after_forward_fails_as_the_reference(change, route):
    # the kept planes were made for forward's stride and pad: backward must not read them for others
    rng = np.random.default_rng(6)
    ours, ref, _ = _forward_both(rng, (1, 2, 5, 5), 3)
    assert ours._planes is not None
    for layer in (ours, ref):
        for name, value in change.items():
            setattr(layer, name, value)
    oh = (5 + 2 * ref.pad - 3) // ref.stride + 1
    dout = rng.standard_normal((1, 3, oh, oh))
    with pytest.raises(ValueError):
        ref.backward(dout)
    with pytest.raises(ValueError):
        ours.backward(dout)


def test_conv_planes_col_is_the_forward_input_and_an_assigned_col_is_used(route):
    rng = np.random.default_rng(4)
    ours, ref, x = _forward_both(rng, (2, 3, 7, 7), 4)
    x += 1.0  # the caller changes x after forward: col stays what forward saw, as the reference's
    np.testing.assert_array_equal(ours.col, ref.col)
    dout = rng.standard_normal((2, 4, 7, 7))
    # an assigned col is what backward reads, in both
    ours.col = ref.col = 2.0 * ref.col
    np.testing.assert_allclose(ours.backward(dout), ref.backward(dout), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.dW, ref.dW, rtol=1e-12, atol=1e-11)


# --------------------------------------------------------------------------- errors

def _conv(W_shape=(2, 3, 3, 3), b_shape=(2,), stride=1, pad=0):
    return Convolution(np.ones(W_shape), np.ones(b_shape), stride, pad)


ERRORS = [
    ("im2col-list", lambda: U.im2col([[1.0]], 1, 1), TypeError, "input_data must be a NumPy array"),
    ("im2col-3d", lambda: U.im2col(np.ones((2, 3, 4)), 1, 1), ValueError, r"4-D \(N, C, H, W\); got shape \(2, 3, 4\)"),
    ("im2col-complex", lambda: U.im2col(np.ones((1, 1, 3, 3), complex), 1, 1), TypeError, "real numeric dtype"),
    ("im2col-stride0", lambda: U.im2col(np.ones((1, 1, 3, 3)), 2, 2, 0), ValueError, "stride must be >= 1"),
    ("im2col-negpad", lambda: U.im2col(np.ones((1, 1, 3, 3)), 2, 2, 1, -1), ValueError, "pad must be >= 0"),
    ("im2col-float-stride", lambda: U.im2col(np.ones((1, 1, 3, 3)), 2, 2, 1.5), TypeError, "stride must be an int"),
    ("im2col-window", lambda: U.im2col(np.ones((1, 1, 3, 3)), 6, 2, 1, 1), ValueError, "window height 6 does not fit"),
    ("col2im-shape", lambda: U.col2im(np.ones((5, 4)), (1, 1, 3, 3), 2, 2), ValueError, r"col must have shape \(4, 4\)"),
    ("col2im-input-shape", lambda: U.col2im(np.ones((4, 4)), (1, 3, 3), 2, 2), ValueError, "input_shape must have 4 entries"),
    ("col2im-1d", lambda: U.col2im(np.ones(4), (1, 1, 3, 3), 2, 2), ValueError, "col must be 2-D"),
    ("conv-channels", lambda: _conv().forward(np.ones((1, 2, 5, 5))), ValueError, "x has 2 channels"),
    ("conv-x-3d", lambda: _conv().forward(np.ones((3, 5, 5))), ValueError, "x must be 4-D"),
    ("conv-W-3d", lambda: _conv(W_shape=(2, 3, 3)).forward(np.ones((1, 3, 5, 5))), ValueError, "W must be 4-D"),
    ("conv-b", lambda: _conv(b_shape=(3,)).forward(np.ones((1, 3, 5, 5))), ValueError, r"b must have shape \(2,\)"),
    ("conv-window", lambda: _conv().forward(np.ones((1, 3, 2, 5))), ValueError, "does not fit"),
    ("conv-stride", lambda: _conv(stride=0).forward(np.ones((1, 3, 5, 5))), ValueError, "stride must be >= 1"),
    ("conv-empty", lambda: _conv().forward(np.ones((0, 3, 5, 5))), ValueError, "empty batch"),
    ("conv-backward-first", lambda: _conv().backward(np.ones((1, 2, 3, 3))), ValueError, "before .*forward"),
]


@pytest.mark.parametrize("name, fn, exc, match", ERRORS, ids=[e[0] for e in ERRORS])
def test_conv_errors(name, fn, exc, match):
    with pytest.raises(exc, match=match):
        fn()


def test_conv_backward_dout_shape_checked():
    layer = _conv()
    layer.forward(np.ones((2, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"dout must have shape \(2, 2, 3, 3\); got \(2, 2, 3, 4\)"):
        layer.backward(np.ones((2, 2, 3, 4)))


# --------------------------------------------------------------------------- networks

def _grads(cls, seed, x, t, **kwargs):
    np.random.seed(seed)
    net = cls(**kwargs)
    np.random.seed(seed + 1)  # dropout draws
    return net.gradient(x, t)


@pytest.mark.parametrize("name", ["SimpleConvNet", "DeepConvNet"])
def test_conv_networks_gradients_match_reference(name):
    rng = np.random.default_rng(0)
    x = rng.random((4, 1, 28, 28))
    t = rng.integers(0, 10, 4)
    import fastscratch.reference as R
    kwargs = {"weight_init_std": 0.1} if name == "SimpleConvNet" else {}
    ours = _grads(getattr(fastscratch, name), 0, x, t, **kwargs)
    expected = _grads(getattr(R, name), 0, x, t, **kwargs)
    assert ours.keys() == expected.keys()
    for key in expected:
        scale = np.max(np.abs(expected[key]), initial=0.0)
        np.testing.assert_allclose(ours[key], expected[key], rtol=1e-10, atol=1e-10 * max(scale, 1e-3),
                                   err_msg=key)
