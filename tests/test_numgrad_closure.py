"""numerical_gradient(f, x) with the book's closure over a network: the incremental path, against the reference.

A network "typed in by a reader" in the book's style (an OrderedDict of layers,
a SoftmaxWithLoss last layer, a params dict, ``lambda W: self.loss(x, t)``) is
built twice from the same draws: from fastscratch's layers with
``fastscratch.gradient.numerical_gradient``, and from the reference's layers
with the reference's loop. The fast one must take the incremental path (f is
called a handful of times, not 2 * x.size) and agree within 1e-7; anything the
path cannot prove must fall back to the element loop and give the loop's
numbers exactly. The book's own chapter 5 network file is loaded as data from
../shared/book-networks through the runner's import hook.
"""
import importlib.util
import os
import sys
from collections import OrderedDict

import numpy as np
import pytest
from _paths import SHARED

import fastscratch.reference as reference
from fastscratch._numgrad import closure as _closure_netgrad
from fastscratch._numgrad import elementwise as fast_gradient
from fastscratch import layers as fast_layers

NET_ATOL = 1e-7
#: calls of f for one parameter on the incremental path: one recorded forward, two per spot check
MAX_CALLS = 1 + 2 * _closure_netgrad.SPOT_CHECKS


class BookStyleNet:
    """Affine - [BatchNorm] - activation - [Dropout] ... - Affine - SoftmaxWithLoss, as a reader writes it.

    ``numerical_gradient`` counts the calls of its closure in ``self.f_calls``.
    """

    def __init__(self, lib, grad_fn, sizes, activation="relu", batchnorm=False, dropout=None,
                 dropout_train=False, extra_loss=0.0, std=0.5, dtype=np.float64):
        self.grad_fn, self.dropout_train, self.extra_loss = grad_fn, dropout_train, extra_loss
        self.params = {}
        self.layers = OrderedDict()
        last = len(sizes) - 1
        for i in range(1, len(sizes)):
            self.params[f"W{i}"] = (std * np.random.randn(sizes[i - 1], sizes[i])).astype(dtype)
            self.params[f"b{i}"] = (0.1 * np.random.randn(sizes[i])).astype(dtype)
            self.layers[f"Affine{i}"] = lib.Affine(self.params[f"W{i}"], self.params[f"b{i}"])
            if i == last:
                break
            if batchnorm:
                self.params[f"gamma{i}"] = np.ones(sizes[i], dtype=dtype)
                self.params[f"beta{i}"] = np.zeros(sizes[i], dtype=dtype)
                self.layers[f"BatchNorm{i}"] = lib.BatchNormalization(self.params[f"gamma{i}"],
                                                                      self.params[f"beta{i}"])
            self.layers[f"Act{i}"] = lib.Relu() if activation == "relu" else lib.Sigmoid()
            if dropout is not None:
                self.layers[f"Dropout{i}"] = lib.Dropout(dropout)
        self.lastLayer = lib.SoftmaxWithLoss()
        self.f_calls = 0

    def predict(self, x):
        for layer in self.layers.values():
            if isinstance(layer, reference.layers.Dropout):
                x = layer.forward(x, self.dropout_train)
            elif isinstance(layer, reference.layers.BatchNormalization):
                x = layer.forward(x, True)
            else:
                x = layer.forward(x)
        return x

    def loss(self, x, t):
        loss = self.lastLayer.forward(self.predict(x), t)
        return loss + self.extra_loss if self.extra_loss else loss

    def numerical_gradient(self, x, t):
        def loss_W(W):  # the book's closure, as a def so that it can count its calls
            self.f_calls += 1
            return self.loss(x, t)

        return {key: self.grad_fn(loss_W, self.params[key]) for key in self.params}


def twins(seed, *args, **kwargs):
    """The same BookStyleNet from fastscratch's layers and from the reference's, from the same draws."""
    np.random.seed(seed)
    fast = BookStyleNet(fast_layers, fast_gradient.numerical_gradient, *args, **kwargs)
    np.random.seed(seed)
    ref = BookStyleNet(reference.layers, reference.gradient.numerical_gradient, *args, **kwargs)
    return fast, ref


def assert_close_grads(got, expected, atol=NET_ATOL):
    assert list(got) == list(expected)
    for key in expected:
        assert got[key].shape == expected[key].shape and got[key].dtype == expected[key].dtype, key
        np.testing.assert_allclose(got[key], expected[key], rtol=0, atol=atol, err_msg=key)


def assert_same_grads(got, expected):
    assert list(got) == list(expected)
    for key in expected:
        assert got[key].dtype == expected[key].dtype and got[key].tobytes() == expected[key].tobytes(), key


def data(seed, n, d, k, one_hot):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, d))
    labels = rng.integers(0, k, size=n)
    return x, (np.eye(k)[labels] if one_hot else labels)


@pytest.mark.parametrize("one_hot", [True, False], ids=["onehot", "labels"])
@pytest.mark.parametrize("config", [
    dict(sizes=[7, 5, 3]),
    dict(sizes=[7, 6, 5, 4], activation="sigmoid"),
    dict(sizes=[7, 6, 5, 3], batchnorm=True),
    dict(sizes=[7, 6, 3], dropout=0.3),  # dropout in test mode: a fixed scale
    dict(sizes=[7, 3]),
], ids=["relu", "sigmoid-deep", "batchnorm", "dropout-test-mode", "no-hidden"])
def test_closure_reader_network_takes_incremental_path(config, one_hot):
    fast, ref = twins(1, **config)
    x, t = data(2, 4, 7, config["sizes"][-1], one_hot)
    before = {k: v.tobytes() for k, v in fast.params.items()}
    state = np.random.get_state()[1].copy()
    got = fast.numerical_gradient(x, t)
    assert fast.f_calls <= MAX_CALLS * len(fast.params)  # not the element loop
    assert {k: v.tobytes() for k, v in fast.params.items()} == before
    assert np.random.get_state()[1].tobytes() == state.tobytes()
    assert_close_grads(got, ref.numerical_gradient(x, t))


def test_closure_mnist_two_layer_net_of_fastscratch_layers():
    # chapter 5's gradient check set-up, with a reader's network of fastscratch layers
    from fastscratch.dataset.mnist import load_mnist
    (x_train, t_train), _ = load_mnist(normalize=True, one_hot_label=True)
    x, t = x_train[:3], t_train[:3]
    fast, ref = twins(0, [784, 50, 10], std=0.01)
    got = fast.numerical_gradient(x, t)
    assert fast.f_calls <= MAX_CALLS * 4
    # against the reference's backprop (its loop over 39,760 elements is the slow test below)
    ref.loss(x, t)
    dout = ref.lastLayer.backward(1)
    for layer in reversed(list(ref.layers.values())):
        dout = layer.backward(dout)
    for i in (1, 2):
        np.testing.assert_allclose(got[f"W{i}"], ref.layers[f"Affine{i}"].dW, rtol=0, atol=1e-6)
        np.testing.assert_allclose(got[f"b{i}"], ref.layers[f"Affine{i}"].db, rtol=0, atol=1e-6)


@pytest.mark.slow  # the reference's element loop: several seconds
def test_closure_mnist_two_layer_net_against_reference():
    from fastscratch.dataset.mnist import load_mnist
    (x_train, t_train), _ = load_mnist(normalize=True, one_hot_label=True)
    x, t = x_train[:3], t_train[:3]
    fast, ref = twins(0, [784, 50, 10], std=0.01)
    assert_close_grads(fast.numerical_gradient(x, t), ref.numerical_gradient(x, t))


def element_loop(f, x):
    return fast_gradient._python_loop(f, x, np.zeros_like(x))


@pytest.mark.parametrize("case", ["weight-decay-in-loss", "dropout-train-mode", "x-is-a-copy", "layer-twice",
                                  "float32"])
def test_closure_falls_back_to_the_element_loop_exactly(case):
    kwargs = dict(sizes=[5, 4, 3])
    if case == "weight-decay-in-loss":
        kwargs["extra_loss"] = 0.25  # f returns more than the loss layer's value
    if case == "dropout-train-mode":
        kwargs.update(dropout=0.4, dropout_train=True)  # the loop redraws the masks on every call
    if case == "float32":
        kwargs["dtype"] = np.float32  # the incremental path is float64 only
    fast, ref = twins(3, **kwargs)
    np.random.seed(3)
    loop = BookStyleNet(fast_layers, element_loop, **kwargs)
    for net in (fast, ref, loop):
        if case == "x-is-a-copy":  # the layer holds a copy: perturbing params['W1'] changes nothing
            net.layers["Affine1"].W = net.params["W1"].copy()
        if case == "layer-twice":  # the same Relu object twice in a row: not a chain of distinct layers
            items = list(net.layers.items())
            net.layers = OrderedDict(items[:2] + [("Act1again", items[1][1])] + items[2:])
    x, t = data(4, 3, 5, 3, one_hot=True)
    if case == "float32":
        x = x.astype(np.float32)
    results = []
    for net in (fast, loop, ref):
        np.random.seed(7)
        results.append(net.numerical_gradient(x, t))
    got, expected, from_reference = results
    assert fast.f_calls > MAX_CALLS * len(fast.params)  # the element loop ran
    assert_same_grads(got, expected)
    if case == "float32":
        assert all(g.dtype == np.float32 for g in got.values())
    else:
        assert_close_grads(got, from_reference, atol=1e-9)


def test_closure_analysis_is_never_stale():
    fast, ref = twins(5, [6, 5, 3])
    x, t = data(6, 4, 6, 3, one_hot=False)
    f = lambda W: fast.loss(x, t)  # noqa: E731  (one closure, reused while the network changes)
    g = lambda W: ref.loss(x, t)  # noqa: E731
    for step in range(4):
        for key in fast.params:
            got = fast_gradient.numerical_gradient(f, fast.params[key])
            expected = reference.gradient.numerical_gradient(g, ref.params[key])
            np.testing.assert_allclose(got, expected, rtol=0, atol=NET_ATOL, err_msg=f"{step} {key}")
        # in place, as the book's SGD does: the parameters, then the data the closure sees
        for net in (fast, ref):
            net.params["W2"] -= 0.3
            net.params["b1"][0] += 0.5
        x[0, 0] += 1.0
        t[1] = (t[1] + 1) % 3


def test_closure_plain_functions_are_untouched():
    # no network in the closure: the book's loop, bitwise
    W = np.random.default_rng(0).normal(size=(3, 4))
    f = lambda w: np.sum(np.tanh(w) ** 2)  # noqa: E731
    assert (fast_gradient.numerical_gradient(f, W.copy()).tobytes()
            == reference.gradient.numerical_gradient(f, W.copy()).tobytes())


def test_closure_errors_of_f_propagate():
    fast, _ = twins(8, [5, 4, 3])
    x, _ = data(8, 3, 5, 3, one_hot=False)
    with pytest.raises(ValueError, match="labels must be in"):
        fast.numerical_gradient(x, np.array([0, 7, 1]))


# ---------------------------------------------------------------- the book's chapter 5 file



def load_book_network(path, reference_api):
    """The book's network module as ``python -m fastscratch run`` [--reference] imports it."""
    if not os.path.exists(path):
        pytest.skip(f"the book's network files are not here ({path}); they live in ../shared/book-networks")
    from fastscratch._substitution.runner import BookImportHook
    hook = BookImportHook(reference=reference_api)
    saved = {name: mod for name, mod in sys.modules.items() if name.split(".")[0] in ("common", "dataset")}
    sys.meta_path.insert(0, hook)
    try:
        spec = importlib.util.spec_from_file_location(f"book_two_layer_net_{reference_api}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.meta_path.remove(hook)
        for name in [n for n in sys.modules if n.split(".")[0] in ("common", "dataset")]:
            del sys.modules[name]
        sys.modules.update(saved)
    return module


@pytest.mark.parametrize("chapter", ["ch04", "ch05"])
def test_book_network_file_takes_the_incremental_path(monkeypatch, chapter):
    # ch05's network is built from layers (the recorded chain), ch04's from functions (the trace)
    path = os.path.join(SHARED, "book-networks", chapter, "two_layer_net.py")
    fast_module = load_book_network(path, reference_api=False)
    ref_module = load_book_network(path, reference_api=True)
    loops = []
    python_loop = fast_gradient._python_loop
    monkeypatch.setattr(fast_gradient, "_python_loop", lambda *a: loops.append(1) or python_loop(*a))
    np.random.seed(0)
    fast = fast_module.TwoLayerNet(input_size=12, hidden_size=7, output_size=4, weight_init_std=0.5)
    np.random.seed(0)
    ref = ref_module.TwoLayerNet(input_size=12, hidden_size=7, output_size=4, weight_init_std=0.5)
    x, t = data(9, 3, 12, 4, one_hot=True)
    got = fast.numerical_gradient(x, t)
    assert loops == []  # every parameter took the incremental path
    assert_close_grads(got, ref.numerical_gradient(x, t))


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    @settings(max_examples=15, deadline=None)
    @given(seed=st.integers(0, 2 ** 31 - 1), n=st.integers(1, 5),
           hidden=st.lists(st.integers(1, 5), min_size=0, max_size=2),
           activation=st.sampled_from(["relu", "sigmoid"]), batchnorm=st.booleans(), one_hot=st.booleans())
    def test_closure_property_reader_networks(seed, n, hidden, activation, batchnorm, one_hot):
        sizes = [4] + hidden + [3]
        fast, ref = twins(seed % 1000, sizes, activation=activation, batchnorm=batchnorm)
        x, t = data(seed, n, 4, 3, one_hot)
        got = fast.numerical_gradient(x, t)
        assert fast.f_calls <= MAX_CALLS * len(fast.params)  # the incremental path, not the element loop
        assert_close_grads(got, ref.numerical_gradient(x, t))
