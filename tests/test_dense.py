"""Dense kernels (fastscratch.kernels.dense) through Affine, Relu, Sigmoid, Dropout and the functions, vs the reference."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _dense_cases import DTYPES, SETTINGS, as_layout, assert_bitwise, assert_close, dtypes, layouts, normal
from fastscratch._layers import functions as F
from fastscratch.kernels import gemm as _kg
from fastscratch import layers as L
from fastscratch.reference import functions as RF
from fastscratch.reference import layers as RL

shapes = st.lists(st.integers(1, 9), min_size=1, max_size=4).map(tuple)


# ------------------------------------------------------------------ Affine
@st.composite
def affine_cases(draw):
    N = draw(st.integers(1, 12))
    rest = tuple(draw(st.lists(st.integers(1, 5), min_size=0, max_size=3)))
    M = draw(st.integers(1, 12))
    return (N,) + rest, M


def _check_affine(x_shape, M, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    D = int(np.prod(x_shape[1:], dtype=int))
    x = as_layout(normal(rng, x_shape, dtype), layout)
    W, b = normal(rng, (D, M), dtype), normal(rng, (M,), dtype)
    ours, ref = L.Affine(W, b), RL.Affine(W, b)
    x0, W0, b0 = x.copy(), W.copy(), b.copy()
    out, expected = ours.forward(x), ref.forward(x)
    assert_close(out, expected, scale=np.abs(x).max() * np.abs(W).max() * D + np.abs(b).max())
    dout = as_layout(normal(rng, out.shape, dtype), layout)
    d0 = dout.copy()
    dx, dx_ref = ours.backward(dout), ref.backward(dout)
    assert dx.shape == x.shape
    assert_close(dx, dx_ref, scale=np.abs(dout).max() * np.abs(W).max() * M)
    assert_close(ours.dW, ref.dW, scale=np.abs(dout).max() * np.abs(x).max() * x_shape[0])
    assert_close(ours.db, ref.db, scale=np.abs(dout).max() * x_shape[0])
    assert ours.original_x_shape == ref.original_x_shape
    for a, a0 in ((x, x0), (W, W0), (b, b0), (dout, d0)):
        assert_bitwise(a, a0)  # nothing the caller passed is modified
    # bitwise repeatable
    again = L.Affine(W, b)
    assert_bitwise(again.forward(x), out)
    assert_bitwise(again.backward(dout), dx)
    assert_bitwise(again.db, ours.db)


@SETTINGS
@given(affine_cases(), dtypes, layouts, st.integers(0, 2**16))
def test_affine_matches_reference(case, dtype, layout, seed):
    _check_affine(case[0], case[1], dtype, layout, seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("x_shape,M", [((100, 4320), 100), ((3, 30, 6, 6), 7), ((1, 1), 1), ((300, 200), 150)],
                         ids=["simpleconvnet-affine1", "tensor-input", "1x1", "parallel-sizes"])
def test_affine_fixed(x_shape, M, dtype):
    _check_affine(x_shape, M, dtype, "contiguous", 0)


#: the book's chapter 4-6 layer shapes at batch 100: (N, D, M)
CHAPTER_SHAPES = [(100, 100, 10), (100, 50, 10), (100, 784, 50)]


def _small_dense_calls(monkeypatch):
    """Record which one-call kernels of a small Affine ran (fastscratch._layers.matmul.affine_forward / affine_backward)."""
    from fastscratch.kernels import dense as kd
    calls = []
    for name in ("affine_forward_small", "affine_backward_small"):
        real = getattr(kd, name)
        monkeypatch.setattr(kd, name, lambda *a, real=real, name=name: calls.append(name) or real(*a))
    return calls


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, D, M", CHAPTER_SHAPES)
def test_affine_at_the_chapter_shapes(N, D, M, dtype, monkeypatch):
    # (100, 100) x (100, 10) and (100, 50) x (50, 10): one kernel call each way; (100, 784) x (784, 50):
    # the block GEMMs on the thread pool
    calls = _small_dense_calls(monkeypatch)
    _check_affine((N, D), M, dtype, "contiguous", N + D + M)
    one_call = N * D * M * 2 < _kg.MIN_SPLIT_WORK
    assert bool(calls) == one_call
    first = L.Affine(normal(np.random.default_rng(1), (D, M), dtype), np.zeros(M, dtype))
    ref = RL.Affine(first.W, first.b)
    x = normal(np.random.default_rng(2), (N, D), dtype)
    dout = normal(np.random.default_rng(3), (N, M), dtype)
    first.forward(x), ref.forward(x)
    ref.backward(dout)
    first.skip_input_grad = True  # a network's first layer: dW and db only
    assert first.backward(dout) is None
    assert_close(first.dW, ref.dW, scale=np.abs(dout).max() * np.abs(x).max() * N)
    assert_bitwise(first.db, ref.db)


@pytest.mark.small_rule
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("N, D, M", CHAPTER_SHAPES)
def test_affine_at_the_chapter_shapes_with_the_small_rule(N, D, M, dtype):
    # the size rule of fastscratch/_core/small.py on, as users run it
    from fastscratch._core import small as _small
    assert not _small.small_layer(N * M)
    _check_affine((N, D), M, dtype, "contiguous", 7)


@pytest.mark.small_rule
@pytest.mark.parametrize("dtype", DTYPES)
def test_a_tiny_affine_with_the_small_rule_is_the_reference_bitwise(dtype, monkeypatch):
    calls = _small_dense_calls(monkeypatch)
    rng = np.random.default_rng(4)
    x, W, b = normal(rng, (3, 20), dtype), normal(rng, (20, 7), dtype), normal(rng, (7,), dtype)
    ours, ref = L.Affine(W, b), RL.Affine(W, b)
    assert_bitwise(ours.forward(x), ref.forward(x))
    dout = normal(rng, (3, 7), dtype)
    assert_bitwise(ours.backward(dout), ref.backward(dout))
    assert_bitwise(ours.dW, ref.dW)
    assert_bitwise(ours.db, ref.db)
    assert calls == []  # 21 outputs: below LAYER_ELEMENTS, NumPy's route


@SETTINGS
@given(st.integers(2, 40), st.integers(2, 60), st.integers(2, 30), dtypes, st.booleans(), st.integers(0, 2**16))
def test_one_call_affine_is_the_separate_routes_bitwise(N, D, M, dtype, first_layer, seed):
    # the one-call kernels give the bits of matmul + bias_add and backward_products / matmul_tn + col_sum
    from fastscratch._layers import matmul as _blas
    from fastscratch.kernels import dense as kd
    rng = np.random.default_rng(seed)
    x, W, b, dout = (normal(rng, s, dtype) for s in ((N, D), (D, M), (M,), (N, M)))
    out = _blas.affine_forward(x, W, b)
    grads = _blas.affine_backward(x, W, dout, not first_layer)
    if _blas.openblas() is None:
        assert out is None and grads is None
        return
    expected = _blas.matmul(x, W)
    kd.bias_add_serial(expected, b)
    assert_bitwise(out, expected)
    dx, dW, db = grads
    if first_layer:
        assert dx is None
        assert_bitwise(dW, _blas.matmul_tn(x, dout))
    else:
        want_dx, want_dW = _blas.backward_products(x, W, dout)
        assert_bitwise(dx, want_dx)
        assert_bitwise(dW, want_dW)
    assert_bitwise(db, np.sum(dout, axis=0))
    assert_close(out, np.dot(x, W) + b, scale=np.abs(x).max() * np.abs(W).max() * D + np.abs(b).max())


def test_float32_images_into_float64_weights_are_copied_once():
    # load_mnist(normalize=True) batches: the forward's float64 copy is reused for dW, unless x was replaced
    rng = np.random.default_rng(6)
    x = rng.random((100, 784)).astype(np.float32)
    W, b, dout = 0.01 * rng.standard_normal((784, 50)), np.zeros(50), rng.standard_normal((100, 50))
    ours, ref = L.Affine(W, b), RL.Affine(W, b)
    assert_close(ours.forward(x), ref.forward(x), tol_dtype=np.float32)
    assert ours.x.dtype == np.float32  # the reference's attribute: the batch as given
    ref.backward(dout)
    ours.backward(dout)
    assert_close(ours.dW, ref.dW, scale=np.abs(dout).max() * 100, tol_dtype=np.float32)
    other = rng.random((100, 784)).astype(np.float32)
    ours.x, ref.x = other, other  # replaced after forward: backward reads the new x, as the reference does
    ref.backward(dout)
    ours.backward(dout)
    assert_close(ours.dW, ref.dW, scale=np.abs(dout).max() * 100, tol_dtype=np.float32)


def test_affine_mixed_dtypes_match_reference():
    # float32 images into float64 weights: the GEMM widens, as in the book's training
    rng = np.random.default_rng(1)
    x = rng.random((5, 8)).astype(np.float32)
    W, b = rng.standard_normal((8, 3)), np.zeros(3, dtype=np.float32)
    for Wt, bt in ((W, b), (W.astype(np.float32), b.astype(np.float64)), (W.astype(np.float32), b)):
        ours, ref = L.Affine(Wt, bt), RL.Affine(Wt, bt)
        assert_close(ours.forward(x), ref.forward(x))
        dout = rng.standard_normal((5, 3)).astype(ours.forward(x).dtype)
        assert_close(ours.backward(dout), ref.backward(dout))
        assert_close(ours.db, ref.db)
    xi = rng.integers(0, 5, (4, 8))
    ours = L.Affine(rng.integers(0, 3, (8, 2)), np.arange(2))
    ref = RL.Affine(ours.W, ours.b)
    assert_bitwise(ours.forward(xi), ref.forward(xi))


@pytest.mark.parametrize("make,exc,match", [
    (lambda: L.Affine(np.ones((4, 3)), np.ones(3)).forward(np.ones((2, 5))), ValueError, "x has 5 features"),
    (lambda: L.Affine(np.ones((4, 3)), np.ones(2)).forward(np.ones((2, 4))), ValueError, r"b must have shape \(3,\)"),
    (lambda: L.Affine(np.ones(4), np.ones(3)).forward(np.ones((2, 4))), ValueError, "W must be 2-D"),
    (lambda: L.Affine(np.ones((4, 3)), np.ones(3)).forward([[1, 2, 3, 4]]), TypeError, "x must be a NumPy array"),
    (lambda: L.Affine(np.ones((4, 3)), np.ones(3)).forward(np.ones((2, 4), complex)), TypeError, "x must have a real"),
    (lambda: L.Affine(np.ones((4, 3)), np.ones(3)).forward(np.ones((0, 4))), ValueError, "empty batch"),
    (lambda: L.Affine(np.ones((4, 3)), np.ones(3)).backward(np.ones((2, 3))), ValueError, "before"),
    (lambda: _fwd(L.Affine(np.ones((4, 3)), np.ones(3)), np.ones((2, 4))).backward(np.ones((2, 4))),
     ValueError, r"dout must have shape \(2, 3\)"),
    (lambda: _fwd(L.Affine(np.ones((4, 3)), np.ones(3)), np.ones((2, 4))).backward(np.ones((2, 3), object)),
     TypeError, "dout must have a real"),
])
def test_affine_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def _fwd(layer, x):
    layer.forward(x)
    return layer


# ------------------------------------------------------------------ Relu
def _relu_input(rng, shape, dtype, layout):
    x = normal(rng, shape, dtype)
    x.flat[::3] = 0  # x == 0 is masked (x <= 0)
    if x.size > 2:
        x.flat[1] = -0.0
    return as_layout(x, layout)


@SETTINGS
@given(shapes, dtypes, layouts, st.integers(0, 2**16))
def test_relu_matches_reference(shape, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    x = _relu_input(rng, shape, dtype, layout)
    x0 = x.copy()
    ours, ref = L.Relu(), RL.Relu()
    out, expected = ours.forward(x), ref.forward(x)
    assert_bitwise(out, expected)
    assert_bitwise(ours.mask, ref.mask)
    assert_bitwise(x, x0)
    assert out is not x
    dout = as_layout(normal(rng, shape, dtype), layout)
    dout_ref = dout.copy()
    dx = ours.backward(dout)
    dx_ref = ref.backward(dout_ref)
    assert dx is dout  # the book's quirk: backward writes into dout and returns it
    assert_bitwise(dout, dout_ref)  # ...zeroing it exactly where the reference does
    assert_bitwise(dx, dx_ref)
    assert_bitwise(L.Relu().forward(x), out)  # repeatable


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_special_values_and_large(dtype):
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0], dtype=dtype)
    ours, ref = L.Relu(), RL.Relu()
    assert_bitwise(ours.forward(x), ref.forward(x))
    assert_bitwise(ours.mask, ref.mask)
    big = np.random.default_rng(0).standard_normal((300, 400)).astype(dtype)  # parallel kernels
    ours, ref = L.Relu(), RL.Relu()
    assert_bitwise(ours.forward(big), ref.forward(big))
    d1, d2 = big.copy(), big.copy()
    assert ours.backward(d1) is d1
    assert_bitwise(d1, ref.backward(d2))


def test_relu_integer_input_keeps_reference_dtype():
    x = np.arange(-3, 4)
    ours, ref = L.Relu(), RL.Relu()
    assert_bitwise(ours.forward(x), ref.forward(x))
    d = np.ones(7, dtype=np.int64)
    assert ours.backward(d) is d


@pytest.mark.parametrize("make,exc,match", [
    (lambda: L.Relu().backward(np.ones(3)), ValueError, "before"),
    (lambda: _fwd(L.Relu(), np.ones((2, 3))).backward(np.ones((3, 2))), ValueError, "dout must have shape"),
    (lambda: L.Relu().forward(np.ones(3, complex)), TypeError, "x must have a real"),
    (lambda: L.Relu().forward(3.0), TypeError, "NumPy array"),
])
def test_relu_errors(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


# ------------------------------------------------------------------ Sigmoid
@SETTINGS
@given(shapes, dtypes, layouts, st.integers(0, 2**16))
def test_sigmoid_matches_reference(shape, dtype, layout, seed):
    rng = np.random.default_rng(seed)
    x = as_layout(normal(rng, shape, dtype) * 4, layout)
    x0 = x.copy()
    ours, ref = L.Sigmoid(), RL.Sigmoid()
    out, expected = ours.forward(x), ref.forward(x)
    assert_close(out, expected)
    assert_close(ours.out, ref.out)
    dout = as_layout(normal(rng, shape, dtype), layout)
    d0 = dout.copy()
    assert_close(ours.backward(dout), ref.backward(dout))
    assert_bitwise(x, x0)
    assert_bitwise(dout, d0)
    assert_bitwise(L.Sigmoid().forward(x), out)


def test_sigmoid_dtypes_and_extremes():
    for x in (np.array([-800.0, -30.0, 0.0, 30.0, 800.0]), np.array([-100, 0, 5]),
              np.linspace(-90, 90, 70000).astype(np.float32)):
        with np.errstate(over="ignore"):
            out, expected = L.Sigmoid().forward(x), RL.Sigmoid().forward(x)
        assert_close(out, expected)
    # mixed dout/out widths take the reference expression (float64 result, but
    # out itself is float32: float32 tolerance)
    s, r = L.Sigmoid(), RL.Sigmoid()
    x = np.linspace(-2, 2, 5).astype(np.float32)
    s.forward(x), r.forward(x)
    got, expected = s.backward(np.ones(5)), r.backward(np.ones(5))
    assert got.dtype == expected.dtype == np.float64
    np.testing.assert_allclose(got, expected, rtol=1e-5)


def test_sigmoid_errors():
    with pytest.raises(ValueError, match="before"):
        L.Sigmoid().backward(np.ones(3))
    with pytest.raises(ValueError, match="dout must have shape"):
        _fwd(L.Sigmoid(), np.ones(3)).backward(np.ones(4))


# ------------------------------------------------------------------ functions
@SETTINGS
@given(shapes, dtypes, layouts, st.integers(0, 2**16))
def test_sigmoid_relu_functions(shape, dtype, layout, seed):
    x = as_layout(normal(np.random.default_rng(seed), shape, dtype) * 3, layout)
    assert_close(F.sigmoid(x), RF.sigmoid(x))
    assert_bitwise(F.relu(x), RF.relu(x))


def test_functions_scalars_and_ints_go_to_reference():
    for x in (0.3, -2, np.arange(-3, 3), np.float32(1.5)):
        assert_bitwise(F.sigmoid(x), RF.sigmoid(x))
        assert_bitwise(F.relu(x), RF.relu(x))
    x = np.array([np.nan, -0.0, 2.0, -np.inf])
    assert_bitwise(F.relu(x), RF.relu(x))
    for f in ("step_function", "sigmoid_grad", "relu_grad", "identity_function"):
        assert_bitwise(getattr(F, f)(x), getattr(RF, f)(x))


# ------------------------------------------------------------------ Dropout
@SETTINGS
@given(shapes, dtypes, layouts, st.sampled_from([0.0, 0.15, 0.5, 0.9]), st.integers(0, 2**16))
def test_dropout_matches_reference_under_same_seed(shape, dtype, layout, ratio, seed):
    rng = np.random.default_rng(seed)
    x = as_layout(normal(rng, shape, dtype), layout)
    x0 = x.copy()
    ours, ref = L.Dropout(ratio), RL.Dropout(ratio)
    np.random.seed(seed)
    out = ours.forward(x)
    after_ours = np.random.rand()  # the global generator advanced the same way
    np.random.seed(seed)
    expected = ref.forward(x)
    assert np.random.rand() == after_ours
    assert_bitwise(out, expected)
    assert_bitwise(ours.mask, ref.mask)
    dout = as_layout(normal(rng, shape, dtype), layout)
    assert_bitwise(ours.backward(dout), ref.backward(dout))
    assert_bitwise(ours.forward(x, train_flg=False), ref.forward(x, train_flg=False))
    assert_bitwise(x, x0)


def test_dropout_large_and_special():
    x = np.random.default_rng(0).standard_normal((200, 300))
    x[0, :4] = [np.nan, np.inf, -np.inf, -0.0]
    ours, ref = L.Dropout(0.3), RL.Dropout(0.3)
    np.random.seed(5)
    out = ours.forward(x)
    np.random.seed(5)
    expected = ref.forward(x)
    np.testing.assert_array_equal(np.signbit(out), np.signbit(expected))
    assert_bitwise(out, expected)
    assert_bitwise(ours.backward(x), ref.backward(x))
    xi = np.arange(6).reshape(2, 3)
    np.random.seed(1)
    a = ours.forward(xi)
    np.random.seed(1)
    assert_bitwise(a, ref.forward(xi))


def test_dropout_errors():
    with pytest.raises(ValueError, match="before"):
        L.Dropout().backward(np.ones(3))
    with pytest.raises(ValueError, match="dout must have shape"):
        _fwd(L.Dropout(), np.ones(3)).backward(np.ones(4))


@pytest.mark.parametrize("dtype", DTYPES)
def test_parallel_kernels_forced(dtype, monkeypatch):
    # the kernels go parallel only from PARALLEL_MIN (memory-bound: PARALLEL_MIN_MEMORY_BOUND)
    # elements: force them here
    from fastscratch.kernels import _jit
    monkeypatch.setattr(_jit, "PARALLEL_MIN", 0)
    monkeypatch.setattr(_jit, "PARALLEL_MIN_MEMORY_BOUND", 0)
    _check_affine((70, 3, 5), 40, dtype, "strided", 2)
    test_relu_special_values_and_large(dtype)
    test_dropout_large_and_special()
    # functions.relu answers arrays below functions.SMALL with NumPy (the reference's own code)
    x = np.random.default_rng(3).standard_normal((700, 50)).astype(dtype)
    assert x.size >= F.SMALL
    assert_close(F.sigmoid(x), RF.sigmoid(x))
    assert_bitwise(F.relu(x), RF.relu(x))


# ------------------------------------------------------------------ weight decay's sum of squares
@given(n=st.integers(0, 300), dtype=st.sampled_from(DTYPES + [np.float16]), layout=layouts,
       seed=st.integers(0, 2 ** 16))
@SETTINGS
def test_sum_of_squares_matches_the_reference(n, dtype, layout, seed):
    from fastscratch._network.fast_network import sum_of_squares
    from fastscratch.reference.network_base import sum_of_squares as ref_sum_of_squares
    rng = np.random.default_rng(seed)
    rows = max(1, n // 7)
    W = as_layout(normal(rng, (rows, n // rows), dtype), layout)
    before = W.copy()
    got, want = sum_of_squares(W), ref_sum_of_squares(W)
    assert type(got) is type(want)  # np.float64 / np.float32 / np.float16, as np.sum gives
    assert_close(np.asarray(got), np.asarray(want), scale=want + 1)
    np.testing.assert_array_equal(W, before)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 15, 16, 17, 78400])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sum_of_squares_kernel_every_tail_length(n, dtype):
    # eight lanes then the tail: every remainder, and the MultiLayerNet's 784x100 W1; the sum is
    # float64 (float32 squares are exact in float64), so a lost element shows at any n
    from fastscratch.kernels import dense as kd
    x = np.random.default_rng(n).standard_normal(n).astype(dtype)
    squares = x.astype(np.float64) ** 2 if dtype == np.float64 else (x * x).astype(np.float64)
    exact = float(np.sum(squares))
    np.testing.assert_allclose(kd.sum_of_squares(x), exact, rtol=n * np.finfo(np.float64).eps + 1e-300)
    if n:
        assert abs(kd.sum_of_squares(x[1:]) - exact) > 0.5 * squares[0]  # the test sees one element


def test_sum_of_squares_keeps_nan_and_inf():
    from fastscratch._network.fast_network import sum_of_squares
    for where in ((0, 0), (3, 4), (9, 9)):  # the first element, a lane, the last
        for bad, want in ((np.nan, np.nan), (np.inf, np.inf), (-np.inf, np.inf)):
            W = np.ones((10, 10))
            W[where] = bad
            np.testing.assert_equal(sum_of_squares(W), want)


def test_sum_of_squares_of_other_byte_orders_is_numpys():
    from fastscratch._network.fast_network import sum_of_squares
    W = np.arange(12.0).reshape(3, 4)
    for dt in (">f8", ">f4"):
        got = sum_of_squares(W.astype(dt))
        assert got == np.sum(W.astype(dt) ** 2) and got.dtype == np.sum(W.astype(dt) ** 2).dtype


@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_decay_of_the_fast_networks_takes_the_kernel(dtype, monkeypatch):
    import fastscratch
    from fastscratch.kernels import dense as kd
    from fastscratch.reference import MultiLayerNetExtend as RefExtend
    from fastscratch.reference import MultiLayerNet as RefNet
    seen = []
    real = kd.sum_of_squares
    monkeypatch.setattr(kd, "sum_of_squares", lambda x: seen.append(x.size) or real(x))
    rng = np.random.default_rng(4)
    x, t = rng.random((20, 30)).astype(dtype), rng.integers(0, 5, 20)
    for fast_cls, ref_cls in ((fastscratch.MultiLayerNet, RefNet), (fastscratch.MultiLayerNetExtend, RefExtend)):
        nets = []
        for cls in (fast_cls, ref_cls):
            np.random.seed(0)
            nets.append(cls(30, [12, 8], 5, weight_decay_lambda=0.3, dtype=dtype))
        seen.clear()
        got, want = nets[0].loss(x, t), nets[1].loss(x, t)
        assert seen == [30 * 12, 12 * 8, 8 * 5]  # each W once, through the kernel
        assert type(got) is type(want)
        assert_close(np.asarray(got), np.asarray(want), scale=abs(want))
