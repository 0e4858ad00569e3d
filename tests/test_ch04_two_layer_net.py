"""Chapter 4's TwoLayerNet (sigmoid, functions, no layers): fast against reference.

``fastscratch.ch04_two_layer_net.TwoLayerNet`` must follow
``fastscratch.reference.ch04_two_layer_net.TwoLayerNet`` step by step: same
draws, same predictions and losses (to rounding), the same analytic gradient,
and a numerical gradient within 1e-7 of the reference's element loop, from the
incremental kernels wherever the parameters are float64.
"""
import numpy as np
import pytest
from _tol import tol

from fastscratch._numgrad import incremental as _netgrad
from fastscratch.ch04_two_layer_net import TwoLayerNet as FastNet
from fastscratch.reference.ch04_two_layer_net import TwoLayerNet as RefNet

NET_ATOL = 1e-7


def twins(seed, *args, **kwargs):
    np.random.seed(seed)
    fast = FastNet(*args, **kwargs)
    np.random.seed(seed)
    ref = RefNet(*args, **kwargs)
    for key in ref.params:
        assert fast.params[key].tobytes() == ref.params[key].tobytes()
    return fast, ref


def batch(seed, n, d, k):
    rng = np.random.default_rng(seed)
    return rng.random((n, d)), np.eye(k)[rng.integers(0, k, size=n)]


def assert_close_grads(got, expected, atol):
    assert list(got) == list(expected) == ["W1", "b1", "W2", "b2"]
    for key in expected:
        assert got[key].shape == expected[key].shape and got[key].dtype == expected[key].dtype, key
        np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=atol, err_msg=key)


def test_ch04_constructor_draws_and_shapes_are_the_books():
    np.random.seed(1)
    net = RefNet(input_size=6, hidden_size=4, output_size=3)
    np.random.seed(1)
    W1 = 0.01 * np.random.randn(6, 4)
    W2 = 0.01 * np.random.randn(4, 3)
    assert net.params["W1"].tobytes() == W1.tobytes() and net.params["W2"].tobytes() == W2.tobytes()
    assert list(net.params) == ["W1", "b1", "W2", "b2"]
    assert not net.params["b1"].any() and net.params["b2"].shape == (3,)


def test_ch04_predict_loss_accuracy_gradient_follow_the_reference():
    fast, ref = twins(2, 9, 6, 4, weight_init_std=0.5)
    x, t = batch(3, 7, 9, 4)
    np.testing.assert_allclose(fast.predict(x), ref.predict(x), **tol(np.float64))
    np.testing.assert_allclose(fast.loss(x, t), ref.loss(x, t), **tol(np.float64))
    assert fast.accuracy(x, t) == ref.accuracy(x, t)
    got, expected = fast.gradient(x, t), ref.gradient(x, t)
    assert list(got) == list(expected)
    for key in expected:
        np.testing.assert_allclose(got[key], expected[key], **tol(np.float64), err_msg=key)


@pytest.mark.parametrize("labels", [False, True], ids=["onehot", "labels"])
def test_ch04_numerical_gradient_incremental_matches_reference(labels):
    fast, ref = twins(4, 10, 7, 5, weight_init_std=0.8)
    x, t = batch(5, 6, 10, 5)
    if labels:
        t = t.argmax(axis=1)
    # the kernels, not the fallback
    assert list(_netgrad.sigmoid_two_layer_gradient(fast, x, t)) == ["W1", "b1", "W2", "b2"]
    before = {k: v.tobytes() for k, v in fast.params.items()}
    got = fast.numerical_gradient(x, t)
    assert {k: v.tobytes() for k, v in fast.params.items()} == before
    assert_close_grads(got, ref.numerical_gradient(x, t), NET_ATOL)
    # and it is the gradient, up to the central difference's truncation (h**2 / 6 times f's third derivative)
    bp = ref.gradient(x, np.eye(5)[t] if labels else t)
    for key in bp:
        np.testing.assert_allclose(got[key], bp[key], rtol=0, atol=1e-5, err_msg=key)


def test_ch04_numerical_gradient_large_steps_and_zero_features():
    # weights and inputs large enough that a step moves the logits by more than the series' range
    fast, ref = twins(6, 8, 5, 3, weight_init_std=3.0)
    x, t = batch(7, 4, 8, 3)
    x *= 30.0
    x[:, 1] = 0.0
    assert_close_grads(fast.numerical_gradient(x, t), ref.numerical_gradient(x, t), NET_ATOL)


def test_ch04_mnist_batch_10():
    # chapter 4's set-up: 784-50-10 on the first 10 training images, against backprop
    # (the reference's loop is the slow test below)
    from fastscratch.dataset.mnist import load_mnist
    (x_train, t_train), _ = load_mnist(normalize=True, one_hot_label=True)
    fast, _ = twins(0, input_size=784, hidden_size=50, output_size=10)
    x, t = x_train[:10], t_train[:10]
    got, bp = fast.numerical_gradient(x, t), fast.gradient(x, t)
    for key in bp:
        np.testing.assert_allclose(got[key], bp[key], rtol=0, atol=1e-6, err_msg=key)


@pytest.mark.slow  # the reference's element loop over 39,760 parameters: seconds
def test_ch04_mnist_batch_10_against_reference():
    from fastscratch.dataset.mnist import load_mnist
    (x_train, t_train), _ = load_mnist(normalize=True, one_hot_label=True)
    fast, ref = twins(0, input_size=784, hidden_size=50, output_size=10)
    x, t = x_train[:10], t_train[:10]
    assert_close_grads(fast.numerical_gradient(x, t), ref.numerical_gradient(x, t), 1e-6)


def test_ch04_falls_back_for_float32_and_single_samples():
    fast, ref = twins(8, 5, 4, 3, weight_init_std=0.5)
    for net in (fast, ref):
        for key in net.params:
            net.params[key] = net.params[key].astype(np.float32)
    x, t = batch(9, 3, 5, 3)
    x = x.astype(np.float32)
    with pytest.raises(_netgrad.NotSupported):
        _netgrad.sigmoid_two_layer_gradient(fast, x, t)
    got = fast.numerical_gradient(x, t)
    assert all(g.dtype == np.float32 for g in got.values())
    # a single sample x (D,): np.dot gives a vector, not the chain's batch
    fast, ref = twins(8, 5, 4, 3, weight_init_std=0.5)
    x1, t1 = x[0].astype(np.float64), t[0]
    with pytest.raises(_netgrad.NotSupported):
        _netgrad.sigmoid_two_layer_gradient(fast, x1, t1)
    assert_close_grads(fast.numerical_gradient(x1, t1), ref.numerical_gradient(x1, t1), NET_ATOL)


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    @settings(max_examples=15, deadline=None)
    @given(seed=st.integers(0, 2 ** 31 - 1), n=st.integers(1, 6), d=st.integers(1, 6),
           hidden=st.integers(1, 6), k=st.integers(2, 5), std=st.sampled_from([0.01, 0.5, 2.0]))
    def test_ch04_property_numerical_gradient(seed, n, d, hidden, k, std):
        fast, ref = twins(seed % 1000, d, hidden, k, weight_init_std=std)
        x, t = batch(seed, n, d, k)
        assert_close_grads(fast.numerical_gradient(x, t), ref.numerical_gradient(x, t), NET_ATOL)


def test_ch04_float32_mnist_batches_follow_the_reference(monkeypatch):
    # load_mnist(normalize=True) gives float32 images against float64 weights: the fast GEMMs
    # widen them in pieces (a batch of 2000 rows is split into blocks) where np.dot copies them
    from fastscratch._layers import matmul as _blas
    from fastscratch.kernels import gemm as _kg
    widened = []
    real = _kg.gemm_rows_widen
    monkeypatch.setattr(_kg, "gemm_rows_widen", lambda *a: widened.append(a[2].shape) or real(*a))
    fast, ref = twins(4, 784, 50, 10, weight_init_std=0.5)
    rng = np.random.default_rng(5)
    x = rng.random((2000, 784)).astype(np.float32)
    t = np.eye(10)[rng.integers(0, 10, size=2000)]
    y = fast.predict(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, ref.predict(x), **tol(np.float64))
    assert fast.accuracy(x, t) == ref.accuracy(x, t)
    if _blas.openblas() is not None:  # the images reached the widening kernel as float32, not a copy
        assert widened and widened[0] == (2000, 784)
    got, expected = fast.gradient(x[:100], t[:100]), ref.gradient(x[:100], t[:100])
    for key in expected:
        assert got[key].dtype == expected[key].dtype == np.float64
        np.testing.assert_allclose(got[key], expected[key], **tol(np.float64), err_msg=key)
