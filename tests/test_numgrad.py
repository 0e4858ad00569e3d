"""fastscratch.gradient (numgrad kernels) against fastscratch.reference.gradient.

numerical_gradient(f, x): a Python f takes the book's loop and must be bitwise
the reference; a compiled f takes the parallel kernel (one compilation per f
and x type, so the compiled functions here are few) and must match within
1e-10 and leave x untouched. Network numerical gradients (the incremental
kernels) must match the reference networks' within 1e-7 absolute.
"""

import numba
import numpy as np
import pytest

import fastscratch
import fastscratch.reference as reference
from fastscratch._numgrad import elementwise as fast_gradient
from fastscratch.reference import gradient as ref_gradient

# ---------------------------------------------------------------- smooth test functions

def sum_squares(x):
    return np.sum(x ** 2)


def sin_exp_mix(x):
    return np.sum(np.sin(x) * np.exp(0.3 * x)) + 0.5 * np.sum(x) ** 2


sum_squares_jit = numba.njit(sum_squares)
sin_exp_mix_jit = numba.njit(sin_exp_mix)

SHAPES = [(7,), (3, 5), (2, 3, 4), (2, 1, 3, 2)]


def _x(shape, seed=0):
    return np.random.default_rng(seed).uniform(-2, 2, size=shape)


def _views(shape):
    """x as given, F-ordered, and a negatively strided non-contiguous view."""
    base = _x(shape)
    yield "c", base
    yield "f", np.asfortranarray(base)
    big = _x(tuple(2 * s for s in shape), seed=1)
    yield "strided", big[tuple(slice(None, None, -2) for _ in shape)]


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}d")
@pytest.mark.parametrize("fn", [sum_squares, sin_exp_mix], ids=lambda f: f.__name__)
def test_numgrad_python_f_bitwise_reference(fn, shape):
    for label, x in _views(shape):
        x_ref, x_fast = x.copy(order="K"), x.copy(order="K")
        expected = ref_gradient.numerical_gradient(fn, x_ref)
        got = fast_gradient.numerical_gradient(fn, x_fast)
        assert got.dtype == expected.dtype and got.shape == expected.shape, label
        assert got.tobytes() == expected.tobytes(), label
        assert x_fast.tobytes() == x.tobytes(), label  # restored after every element


def test_numgrad_python_f_perturbs_x_in_place():
    # the book's networks pass an f that ignores its argument and reads the
    # parameter array itself: that only works if x is perturbed in place
    W, W_ref = _x((3, 4)), _x((3, 4))
    before = W.tobytes()
    got = fast_gradient.numerical_gradient(lambda _: np.sum(np.tanh(W) ** 3), W)
    expected = ref_gradient.numerical_gradient(lambda _: np.sum(np.tanh(W_ref) ** 3), W_ref)
    assert W.tobytes() == before
    np.testing.assert_allclose(got, 3 * np.tanh(W) ** 2 * (1 - np.tanh(W) ** 2), atol=1e-7)
    assert got.tobytes() == expected.tobytes()


@pytest.mark.parametrize("dtype", [np.float32, np.int64])
def test_numgrad_python_f_other_dtypes_bitwise(dtype):
    x = (_x((4, 3)) * 10).astype(dtype)
    expected = ref_gradient.numerical_gradient(sum_squares, x.copy())
    got = fast_gradient.numerical_gradient(sum_squares, x.copy())
    assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()


def test_numgrad_zero_d_and_empty():
    x = np.full((), 1.5)
    expected = ref_gradient.numerical_gradient(sum_squares, x.copy())
    got = fast_gradient.numerical_gradient(sum_squares, x.copy())
    assert got.shape == expected.shape and got.tobytes() == expected.tobytes()
    # the book's nditer refuses an empty x; an empty gradient is the only sensible answer
    for f in (sum_squares, sum_squares_jit):
        got = fast_gradient.numerical_gradient(f, np.zeros((0, 3)))
        assert got.shape == (0, 3) and got.dtype == np.float64


@pytest.mark.slow  # compiles the kernel for each f type and ndim (not disk-cacheable)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"{len(s)}d")
def test_numgrad_compiled_f_matches_reference(shape):
    for label, x in _views(shape):
        before = x.tobytes()
        expected = ref_gradient.numerical_gradient(sum_squares_jit, x.copy(order="K"))
        got = fast_gradient.numerical_gradient(sum_squares_jit, x)
        assert x.tobytes() == before, label  # the caller's array is never written
        assert got.dtype == expected.dtype and got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10, err_msg=label)
        np.testing.assert_allclose(got, 2 * x, rtol=0, atol=1e-6)  # and it is the gradient


def test_numgrad_compiled_f_sin_exp_and_float32():
    x = _x((6, 5))
    before = x.tobytes()
    got = fast_gradient.numerical_gradient(sin_exp_mix_jit, x)
    assert x.tobytes() == before
    expected = ref_gradient.numerical_gradient(sin_exp_mix_jit, x.copy())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)
    # float32 x: the same per-element arithmetic as the book's loop in float32
    x32 = x[:3, :2].astype(np.float32)
    got32 = fast_gradient.numerical_gradient(sum_squares_jit, x32)
    expected32 = ref_gradient.numerical_gradient(sum_squares_jit, x32.copy())
    assert got32.dtype == np.float32
    np.testing.assert_allclose(got32, expected32, rtol=1e-5, atol=1e-6)


def test_numgrad_compiled_f_deterministic():
    # the elements are split in one chunk per thread: the chunks change with the thread
    # count, the result must not (a second call at the same count alone compares a run with itself)
    x = _x((40, 25))
    pool = numba.config.NUMBA_NUM_THREADS
    before = numba.get_num_threads()
    try:
        runs = []
        for threads in sorted({1, 2, pool} & set(range(1, pool + 1))):
            numba.set_num_threads(threads)
            runs.append(fast_gradient.numerical_gradient(sin_exp_mix_jit, x).tobytes())
            runs.append(fast_gradient.numerical_gradient(sin_exp_mix_jit, x).tobytes())
    finally:
        numba.set_num_threads(before)
    assert len(set(runs)) == 1


@numba.njit
def _two_layer_loss(w, x, labels, d_in, d_hidden):
    """A TwoLayerNet-style loss of the flat parameter vector w: Affine-ReLU-Affine-softmax-CE."""
    n = x.shape[0]
    k = labels.max() + 1
    W1 = w[:d_in * d_hidden].reshape(d_in, d_hidden)
    o = d_in * d_hidden
    b1 = w[o:o + d_hidden]
    o += d_hidden
    W2 = w[o:o + d_hidden * k].reshape(d_hidden, k)
    b2 = w[o + d_hidden * k:]
    total = 0.0
    for i in range(n):
        h = np.zeros(d_hidden)
        for j in range(d_hidden):
            s = b1[j]
            for q in range(d_in):
                s += x[i, q] * W1[q, j]
            h[j] = s if s > 0 else 0.0
        z = np.zeros(k)
        for c in range(k):
            s = b2[c]
            for j in range(d_hidden):
                s += h[j] * W2[j, c]
            z[c] = s
        z = z - z.max()
        y = np.exp(z) / np.sum(np.exp(z))
        total -= np.log(y[labels[i]] + 1e-7)
    return total / n


def test_numgrad_compiled_network_loss():
    rng = np.random.default_rng(3)
    d_in, d_hidden, k, n = 6, 5, 3, 4
    x = rng.normal(size=(n, d_in))
    labels = rng.integers(0, k, size=n)
    labels[0] = k - 1
    w = rng.normal(scale=0.5, size=d_in * d_hidden + d_hidden + d_hidden * k + k)

    @numba.njit
    def loss(v):
        return _two_layer_loss(v, x, labels, d_in, d_hidden)

    before = w.tobytes()
    got = fast_gradient.numerical_gradient(loss, w)
    assert w.tobytes() == before
    expected = ref_gradient.numerical_gradient(loss, w.copy())
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10)


def test_numgrad_1d_2d_and_gradient_descent():
    f2 = lambda v: v[0] ** 2 + v[1] ** 2  # noqa: E731  (the book's function_2)
    X = np.array([[3.0, 4.0], [0.0, 2.0], [-1.5, 0.25]])
    assert (fast_gradient.numerical_gradient_2d(f2, X.copy()).tobytes()
            == ref_gradient.numerical_gradient_2d(f2, X.copy()).tobytes())
    assert (fast_gradient.numerical_gradient_1d(f2, X[0].copy()).tobytes()
            == ref_gradient.numerical_gradient_1d(f2, X[0].copy()).tobytes())
    a = fast_gradient.gradient_descent(f2, np.array([-3.0, 4.0]), lr=0.1, step_num=100)
    b = ref_gradient.gradient_descent(f2, np.array([-3.0, 4.0]), lr=0.1, step_num=100)
    assert a.tobytes() == b.tobytes()


def test_numgrad_rejects_non_arrays():
    with pytest.raises(TypeError, match="x must be a NumPy array"):
        fast_gradient.numerical_gradient(sum_squares, [1.0, 2.0])


# ---------------------------------------------------------------- network numerical gradients

NET_ATOL = 1e-7  # the bound; the differences are rounding over 2h, far below it


def assert_same_grads(got, expected, atol=NET_ATOL):
    assert list(got) == list(expected)  # same keys, same order
    for key in expected:
        assert got[key].shape == expected[key].shape, key
        assert got[key].dtype == expected[key].dtype, key
        np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=atol, err_msg=key)


def param_bytes(net):
    return {k: v.tobytes() for k, v in net.params.items()}


def fast_and_reference(cls_name, seed, *args, **kwargs):
    """The same network twice, fast and reference, from the same seeded draws."""
    np.random.seed(seed)
    fast = getattr(fastscratch, cls_name)(*args, **kwargs)
    np.random.seed(seed)
    ref = getattr(reference, cls_name)(*args, **kwargs)
    for key in ref.params:
        assert fast.params[key].tobytes() == ref.params[key].tobytes()
    return fast, ref


def check_network(fast, ref, x, t):
    from fastscratch._numgrad.incremental import incremental_numerical_gradient
    assert isinstance(incremental_numerical_gradient(fast, x, t), dict)  # the kernels, not the fallback
    before = param_bytes(fast)
    got = fast.numerical_gradient(x, t)
    assert param_bytes(fast) == before
    expected = ref.numerical_gradient(x, t)
    assert_same_grads(got, expected)
    return got


def test_numgrad_network_chapter5_two_layer_net():
    # chapter 5's gradient_check.py: the first 3 training images, one-hot labels.
    # One reference call (about 2 s on an idle core): the only slow one in this file.
    from fastscratch.dataset.mnist import load_mnist
    (x_train, t_train), _ = load_mnist(one_hot_label=True)
    x, t = x_train[:3], t_train[:3]
    fast, ref = fast_and_reference("TwoLayerNet", 0, input_size=784, hidden_size=50, output_size=10)
    got = check_network(fast, ref, x, t)
    # bitwise repeatable, and the same for any thread count
    assert all(got[k].tobytes() == v.tobytes() for k, v in fast.numerical_gradient(x, t).items())
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = fast.numerical_gradient(x, t)
    finally:
        numba.set_num_threads(threads)
    assert all(got[k].tobytes() == v.tobytes() for k, v in one.items())


def test_numgrad_network_chapter7_simple_convnet():
    fast, ref = fast_and_reference(
        "SimpleConvNet", 5, input_dim=(1, 10, 10),
        conv_param={'filter_num': 10, 'filter_size': 3, 'pad': 0, 'stride': 1},
        hidden_size=10, output_size=10, weight_init_std=0.01)
    x = np.random.rand(100).reshape((1, 1, 10, 10))
    t = np.array([1]).reshape((1, 1))
    check_network(fast, ref, x, t)


def test_numgrad_network_simple_convnet_pad_stride_batch():
    fast, ref = fast_and_reference(
        "SimpleConvNet", 1, input_dim=(2, 11, 11),
        conv_param={'filter_num': 4, 'filter_size': 3, 'pad': 1, 'stride': 2},
        hidden_size=7, output_size=5, weight_init_std=0.3)
    x = np.random.rand(3, 2, 11, 11)
    check_network(fast, ref, x, np.array([1, 4, 0]))


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("labels", [False, True], ids=["onehot", "labels"])
def test_numgrad_network_multi_layer_net_weight_decay(activation, labels):
    fast, ref = fast_and_reference("MultiLayerNet", 2, 12, [8, 7, 6], 4, activation=activation,
                                   weight_init_std=activation, weight_decay_lambda=0.1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(5, 12))
    tl = np.array([0, 3, 2, 1, 3])
    check_network(fast, ref, x, tl if labels else np.eye(4)[tl])


@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
@pytest.mark.parametrize("use_batchnorm", [True, False], ids=["bn", "nobn"])
def test_numgrad_network_multi_layer_net_extend(activation, use_batchnorm):
    fast, ref = fast_and_reference("MultiLayerNetExtend", 3, 12, [8, 7, 6], 4, activation=activation,
                                   weight_init_std=activation, weight_decay_lambda=0.05,
                                   use_batchnorm=use_batchnorm)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 3, 4))  # Affine flattens (N, ...) inputs
    t = np.eye(4)[[0, 3, 2, 1, 3, 0]]
    check_network(fast, ref, x, t)
    if use_batchnorm:
        # running statistics are not touched (the reference moves them on every loss call)
        assert all(fast.layers["BatchNorm%d" % i].running_mean is None for i in (1, 2, 3))


@pytest.mark.parametrize("scale", [1.0, 40.0], ids=["small-steps", "large-steps"])
def test_numgrad_network_two_layer_net_large_weights(scale):
    # large weights and inputs move the logits by more than 1e-3 per step: the
    # kernels leave their series (moments, log1p) for the plain exp/log path
    fast, ref = fast_and_reference("TwoLayerNet", 12, 9, 6, 4, weight_init_std=1.0)
    rng = np.random.default_rng(5)
    x = rng.normal(scale=scale, size=(7, 9))
    x[:, 2] = 0.0  # a feature that is zero in every row
    check_network(fast, ref, x, rng.integers(0, 4, size=7))


def test_numgrad_network_edge_inputs():
    # no hidden layer; a negative label (NumPy indexing wraps it); int, 3-D inputs (Affine flattens)
    fast, ref = fast_and_reference("MultiLayerNet", 0, 6, [], 3, weight_decay_lambda=0.2)
    check_network(fast, ref, np.random.rand(4, 6), np.array([0, 2, 1, -1]))
    fast, ref = fast_and_reference("TwoLayerNet", 0, 6, 5, 3)
    x = np.random.randint(0, 3, size=(4, 2, 3))
    check_network(fast, ref, x, np.array([0, 2, 1, 1]))
    # an out-of-range label is an error of the reference: the incremental path declines,
    # the fallback runs the reference method on the fast layers, and that raises too
    from fastscratch._numgrad.incremental import NotSupported, incremental_numerical_gradient
    with pytest.raises(NotSupported):
        incremental_numerical_gradient(fast, x, np.array([0, 5, 1, 1]))
    with pytest.raises(ValueError, match="labels must be in"):
        fast.numerical_gradient(x, np.array([0, 5, 1, 1]))
    with pytest.raises(IndexError):
        ref.numerical_gradient(x, np.array([0, 5, 1, 1]))


def _fixed_mask_dropout(layer, mask):
    """Make a reference Dropout layer apply one fixed mask in training mode (the oracle for fixed masks)."""
    def forward(x, train_flg=True):
        if train_flg:
            layer.mask = mask
            return x * mask
        return x * (1.0 - layer.dropout_ratio)
    layer.forward = forward


@pytest.mark.parametrize("use_batchnorm", [False, True], ids=["nobn", "bn"])
def test_numgrad_network_dropout_mask_held_fixed(use_batchnorm):
    fast, ref = fast_and_reference("MultiLayerNetExtend", 4, 10, [9, 8], 3, weight_decay_lambda=0.02,
                                   use_dropout=True, dropout_ration=0.3, use_batchnorm=use_batchnorm)
    rng = np.random.default_rng(2)
    x, t = rng.normal(size=(5, 10)), np.array([0, 2, 1, 1, 2])
    # the masks are one training forward's draws: the same calls, in layer order
    np.random.seed(11)
    fast.loss(x, t, train_flg=True)
    state_after_one_forward = np.random.get_state()
    np.random.seed(11)
    masks = [np.random.rand(5, 9) > 0.3, np.random.rand(5, 8) > 0.3]
    np.random.seed(11)
    got = fast.numerical_gradient(x, t)
    after = np.random.get_state()
    assert after[1].tobytes() == state_after_one_forward[1].tobytes()
    assert after[2] == state_after_one_forward[2]
    for idx, mask in enumerate(masks, start=1):
        _fixed_mask_dropout(ref.layers["Dropout%d" % idx], mask)
    assert_same_grads(got, ref.numerical_gradient(x, t))


def test_numgrad_network_falls_back_to_reference():
    from fastscratch._numgrad.incremental import NotSupported, incremental_numerical_gradient
    fast, ref = fast_and_reference("TwoLayerNet", 6, 5, 4, 3)
    for net in (fast, ref):  # a layer list edited after construction is outside the kernels' model
        net.layers["Relu2"] = net.layer_lib.Relu()
    x, t = np.random.rand(2, 5), np.array([0, 2])
    with pytest.raises(NotSupported):
        incremental_numerical_gradient(fast, x, t)
    assert_same_grads(fast.numerical_gradient(x, t), ref.numerical_gradient(x, t))
    # float32 parameters too (the kernels model float64 only): the reference method runs
    fast, _ = fast_and_reference("TwoLayerNet", 6, 5, 4, 3)
    for key in list(fast.params):
        fast.params[key] = fast.params[key].astype(np.float32)
    for idx in (1, 2):
        fast.layers["Affine%d" % idx].W = fast.params["W%d" % idx]
        fast.layers["Affine%d" % idx].b = fast.params["b%d" % idx]
    with pytest.raises(NotSupported):
        incremental_numerical_gradient(fast, x.astype(np.float32), t)
    got = fast.numerical_gradient(x.astype(np.float32), t)
    assert all(got[k].dtype == np.float32 and got[k].shape == fast.params[k].shape for k in got)
    with pytest.raises(NotSupported):
        incremental_numerical_gradient(object(), x, t)


def test_numgrad_network_matches_book_backprop():
    # not against the reference's numerical gradient: against backprop, as gradient_check does
    fast, _ = fast_and_reference("MultiLayerNetExtend", 8, 6, [5, 4], 3, use_batchnorm=True,
                                 weight_decay_lambda=0.1)
    x, t = np.random.default_rng(3).normal(size=(4, 6)), np.array([0, 1, 2, 1])
    num, bp = fast.numerical_gradient(x, t), fast.gradient(x, t)
    for key in num:
        np.testing.assert_allclose(num[key], bp[key], rtol=0, atol=1e-6, err_msg=key)


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    @settings(max_examples=20, deadline=None)
    @given(seed=st.integers(0, 2 ** 31 - 1), n=st.integers(1, 6),
           hidden=st.lists(st.integers(1, 6), min_size=1, max_size=3),
           activation=st.sampled_from(["relu", "sigmoid"]), use_batchnorm=st.booleans(),
           lam=st.sampled_from([0.0, 0.3]))
    def test_numgrad_network_property_multi_layer_net_extend(seed, n, hidden, activation, use_batchnorm, lam):
        fast, ref = fast_and_reference("MultiLayerNetExtend", seed % 1000, 5, hidden, 3,
                                       activation=activation, weight_init_std=0.5,
                                       weight_decay_lambda=lam, use_batchnorm=use_batchnorm)
        rng = np.random.default_rng(seed)
        x, t = rng.normal(size=(n, 5)), rng.integers(0, 3, size=n)
        check_network(fast, ref, x, t)


# ---------------------------------------------------------------- gradient_check

def test_numgrad_gradient_check_prints_the_books_lines(capsys):
    fast, ref = fast_and_reference("TwoLayerNet", 9, 8, 5, 3)
    x, t = np.random.rand(3, 8), np.eye(3)[[0, 2, 1]]
    result = fast_gradient.gradient_check(fast, x, t)
    lines = capsys.readouterr().out.splitlines()
    num, bp = ref.numerical_gradient(x, t), ref.gradient(x, t)
    keys = ["W1", "b1", "W2", "b2"]
    assert list(result) == keys and len(lines) == len(keys) + 1
    for key, line in zip(keys, lines):
        name, value = line.split(":")
        assert name == key
        diff = np.abs(bp[key] - num[key])
        np.testing.assert_allclose(float(value), np.average(diff), rtol=1e-3, atol=1e-12)
        mean, mx = result[key]
        assert isinstance(mean, float) and mean == float(value)
        np.testing.assert_allclose(mx, diff.max(), rtol=1e-3, atol=1e-12)
        assert mx < 1e-6
    assert lines[-1] == "max:" + str(max(v[1] for v in result.values()))
    # quiet when asked
    fast_gradient.gradient_check(fast, x, t, verbose=False)
    assert capsys.readouterr().out == ""
