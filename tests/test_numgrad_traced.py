"""numerical_gradient(f, x) over a network built from functions (chapter 4's style): the traced path.

A reader types chapter 4's network as a class with ``self.params``,
``np.dot(x, W1) + b1`` (or ``@``, ``np.matmul``), sigmoid or relu, softmax and
cross_entropy_error (their own, or from ``common.functions``), and
``numerical_gradient(lambda W: self.loss(x, t), self.params[key])``. The same
network is built twice from the same draws: with
``fastscratch.gradient.numerical_gradient`` and with the reference's loop.
The fast one must take the incremental path (f called a handful of times) and
agree within 1e-7; every network the path cannot prove (another loss,
randomness, a value-dependent branch ...) must fall back and give the element
loop's numbers bitwise. The book's own chapter 4 file takes this path too
(tests/test_numgrad_closure.py, beside chapter 5's).
"""
import random

import numpy as np
import pytest
from test_numgrad_closure import assert_close_grads, assert_same_grads, data, element_loop

import fastscratch._layers.functions as fast_functions
import fastscratch.reference as reference
from fastscratch._numgrad import closure as _closure_netgrad
from fastscratch._numgrad import elementwise as fast_gradient

NET_ATOL = 1e-7
#: calls of f for one parameter on the traced path: the trace, one real call, two per spot check
MAX_CALLS = 2 + 2 * _closure_netgrad.SPOT_CHECKS


# ---------------------------------------------------------------- the functions, as readers type them

def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def relu(x):
    return np.maximum(0, x)


def tanh(x):
    return np.tanh(x)


def softmax(x):  # common/functions.py
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def softmax_transposed(x):  # the first printing's common/functions.py
    if x.ndim == 2:
        x = x.T
        x = x - np.max(x, axis=0)
        y = np.exp(x) / np.sum(np.exp(x), axis=0)
        return y.T
    x = x - np.max(x)
    return np.exp(x) / np.sum(np.exp(x))


def softmax_ch03(a):  # chapter 3's, for one sample: the max and the sum over the whole array
    c = np.max(a)
    exp_a = np.exp(a - c)
    sum_exp_a = np.sum(exp_a)
    return exp_a / sum_exp_a


def softmax_unshifted(x):
    return np.exp(x) / np.sum(np.exp(x), axis=1, keepdims=True)


def softmax_no_keepdims(x):  # broadcasts the row sums along the classes: wrong unless N == 1
    return np.exp(x) / np.sum(np.exp(x), axis=1)


def softmax_wrong_axis(x):
    return np.exp(x) / np.sum(np.exp(x), axis=0, keepdims=True)


def cross_entropy_error(y, t):  # common/functions.py
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


def cross_entropy_one_hot(y, t):  # chapter 4's text: one-hot t
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    batch_size = y.shape[0]
    return -np.sum(t * np.log(y + 1e-7)) / batch_size


def cross_entropy_no_delta(y, t):
    t = t.argmax(axis=1) if t.size == y.size else t
    return -np.sum(np.log(y[np.arange(y.shape[0]), t])) / y.shape[0]


FUNCTION_LIBS = {
    "local": dict(sigmoid=sigmoid, relu=relu, softmax=softmax, cee=cross_entropy_error),
    "common": dict(sigmoid=reference.functions.sigmoid, relu=reference.functions.relu,
                   softmax=reference.functions.softmax, cee=reference.functions.cross_entropy_error),
    "fastscratch": dict(sigmoid=fast_functions.sigmoid, relu=fast_functions.relu,
                        softmax=fast_functions.softmax, cee=fast_functions.cross_entropy_error),
}

PRODUCTS = {
    "dot": lambda z, w: np.dot(z, w),
    "at": lambda z, w: z @ w,
    "matmul": lambda z, w: np.matmul(z, w),
}


class ReaderNet:
    """Chapter 4's network with any number of layers, written with functions; counts the calls of its closure.

    extra: None, or extra(net, x, t, loss) -> the loss f returns (a reader's additions).
    """

    def __init__(self, grad_fn, sizes, lib="local", product="dot", activation="sigmoid", softmax_fn=None,
                 cee_fn=None, extra=None, std=0.5, dtype=np.float64):
        functions = FUNCTION_LIBS[lib]
        self.grad_fn, self.product, self.extra = grad_fn, PRODUCTS[product], extra
        self.activation = functions[activation] if activation in functions else activation
        self.softmax = softmax_fn or functions["softmax"]
        self.cee = cee_fn or functions["cee"]
        self.params = {}
        for i in range(1, len(sizes)):
            self.params[f"W{i}"] = (std * np.random.randn(sizes[i - 1], sizes[i])).astype(dtype)
            self.params[f"b{i}"] = (0.1 * np.random.randn(sizes[i])).astype(dtype)
        self.layers_count = len(sizes) - 1
        self.f_calls = 0

    def predict(self, x):
        z = x
        for i in range(1, self.layers_count + 1):
            a = self.product(z, self.params[f"W{i}"]) + self.params[f"b{i}"]
            z = self.activation(a) if i < self.layers_count else a
        return self.softmax(z)

    def loss(self, x, t):
        loss = self.cee(self.predict(x), t)
        return self.extra(self, x, t, loss) if self.extra else loss

    def numerical_gradient(self, x, t):
        def loss_W(W):  # the book's closure, as a def so that it can count its calls
            self.f_calls += 1
            return self.loss(x, t)

        return {key: self.grad_fn(loss_W, self.params[key]) for key in self.params}


def twins(seed, *args, **kwargs):
    """The same ReaderNet with fastscratch's numerical_gradient, the reference's and the element loop."""
    nets = []
    for grad_fn in (fast_gradient.numerical_gradient, reference.gradient.numerical_gradient, element_loop):
        np.random.seed(seed)
        nets.append(ReaderNet(grad_fn, *args, **kwargs))
    return nets


def check_incremental(fast, ref, x, t):
    before = {k: v.tobytes() for k, v in fast.params.items()}
    state = np.random.get_state()[1].copy()
    got = fast.numerical_gradient(x, t)
    assert fast.f_calls <= MAX_CALLS * len(fast.params)  # not the element loop
    assert {k: v.tobytes() for k, v in fast.params.items()} == before
    assert np.random.get_state()[1].tobytes() == state.tobytes()
    assert_close_grads(got, ref.numerical_gradient(x, t), atol=NET_ATOL)


@pytest.mark.parametrize("one_hot", [True, False], ids=["onehot", "labels"])
@pytest.mark.parametrize("lib", list(FUNCTION_LIBS))
@pytest.mark.parametrize("product", list(PRODUCTS))
def test_traced_chapter4_network_takes_incremental_path(product, lib, one_hot):
    fast, ref, _ = twins(1, [7, 5, 3], lib=lib, product=product)
    x, t = data(2, 4, 7, 3, one_hot)
    check_incremental(fast, ref, x, t)


@pytest.mark.parametrize("config, n, one_hot", [
    (dict(activation="relu"), 4, True),
    (dict(sizes=[7, 6, 5, 3], activation="relu"), 4, False),
    (dict(sizes=[7, 6, 5, 3], activation=lambda a: a), 3, True),  # no activation between the maps
    (dict(sizes=[7, 3]), 4, False),  # softmax regression
    (dict(), 1, True),  # batch 1
    (dict(softmax_fn=softmax_transposed), 4, True),
    (dict(softmax_fn=softmax_unshifted), 4, False),
    (dict(softmax_fn=softmax_ch03), 1, True),  # one sample: the whole array is the row
    (dict(softmax_fn=softmax_no_keepdims), 1, True),
    (dict(cee_fn=cross_entropy_one_hot), 4, True),
    (dict(cee_fn=cross_entropy_one_hot, softmax_fn=softmax_transposed, product="at"), 5, True),
], ids=["relu", "relu-deep-labels", "identity-hidden", "no-hidden", "batch-1", "softmax-transposed",
        "softmax-unshifted", "softmax-ch03-batch-1", "softmax-no-keepdims-batch-1", "cee-one-hot",
        "cee-one-hot-transposed-at"])
def test_traced_variants_take_incremental_path(config, n, one_hot):
    config = dict(config)
    sizes = config.pop("sizes", [7, 5, 3])
    fast, ref, _ = twins(3, sizes, **config)
    x, t = data(4, n, 7, sizes[-1], one_hot)
    check_incremental(fast, ref, x, t)


def _dropout(net, x, t, loss):
    return loss * (np.random.rand() > 0.5)


def _rng_dropout(net, x, t, loss):
    return loss * np.random.default_rng().random()


def _python_random(net, x, t, loss):
    return loss * 2 if random.random() < 0.5 else loss


def _branch(net, x, t, loss):
    return loss * 2 if loss > 0.1 else loss


def _float_branch(net, x, t, loss):
    return loss if float(loss) < 1e6 else 0.0


def _weight_decay(net, x, t, loss):
    return loss + 0.5 * 0.1 * sum(np.sum(net.params[k] ** 2) for k in net.params if k.startswith("W"))


def _float_result(net, x, t, loss):
    return float(loss)


class _GlobalScale:
    value = 1.0


def _global_scale(net, x, t, loss):
    return loss * _GlobalScale.value  # a global the reader changes between steps


def _hidden_dropout(a):
    return sigmoid(a) * (np.random.rand(*a.shape) > 0.5)


@pytest.mark.parametrize("config, one_hot", [
    (dict(cee_fn=cross_entropy_no_delta), True),
    (dict(softmax_fn=softmax_wrong_axis), True),
    (dict(softmax_fn=softmax_no_keepdims), True),  # N == K: broadcasts without an error
    (dict(softmax_fn=softmax_ch03), False),  # the whole batch as one row
    (dict(activation=tanh), True),
    (dict(activation=_hidden_dropout), True),
    (dict(extra=_dropout), True),
    (dict(extra=_rng_dropout), True),
    (dict(extra=_python_random), True),
    (dict(extra=_branch), False),
    (dict(extra=_float_branch), False),
    (dict(extra=_weight_decay), True),
    (dict(extra=_float_result), True),
    (dict(extra=_global_scale), True),
    (dict(dtype=np.float32), True),
], ids=["cee-no-delta", "softmax-wrong-axis", "softmax-no-keepdims", "softmax-ch03-batch", "tanh",
        "dropout-hidden", "dropout-loss", "dropout-default-rng", "python-random", "branch", "float-branch", "weight-decay",
        "float-result", "global-changes", "float32"])
def test_traced_falls_back_to_the_element_loop_exactly(config, one_hot):
    sizes = [5, 4, 3]
    fast, ref, loop = twins(5, sizes, **config)
    x, t = data(6, 3, 5, 3, one_hot)  # N == K == 3
    results = []
    for net in (fast, loop, ref):
        np.random.seed(7)
        random.seed(7)
        results.append(net.numerical_gradient(x, t))
    got, expected, from_reference = results
    assert fast.f_calls > MAX_CALLS * len(fast.params)  # the element loop ran
    if config.get("extra") is not _rng_dropout:  # its draws differ between the runs
        assert_same_grads(got, expected)
        assert_same_grads(got, from_reference) if config.get("dtype") else assert_close_grads(
            got, from_reference, atol=1e-9)


def test_traced_unshifted_softmax_near_overflow_falls_back():
    fast, ref, loop = twins(8, [5, 4, 3], softmax_fn=softmax_unshifted)
    x, t = data(9, 3, 5, 3, one_hot=True)
    for net in (fast, loop):
        net.params["b2"][...] = [700.0, 0.0, -1.0]  # exp(700 + ...) is at the edge of float64
    with np.errstate(all="ignore"):
        got = fast.numerical_gradient(x, t)
        expected = loop.numerical_gradient(x, t)
    assert fast.f_calls > MAX_CALLS * len(fast.params)
    assert_same_grads(got, expected)


def test_traced_input_aliasing_a_parameter_falls_back():
    # the input is a view of W1: perturbing W1 moves the input too, which the model does not follow
    fast, ref, loop = twins(10, [4, 4, 3])
    t = np.array([0, 2, 1, 1])
    for net in (fast, loop):
        net.numerical_gradient(net.params["W1"][:, :], t)
    assert fast.f_calls > MAX_CALLS * len(fast.params)
    assert_same_grads(fast.numerical_gradient(fast.params["W1"][:, :], t),
                      loop.numerical_gradient(loop.params["W1"][:, :], t))


def test_traced_targets_aliasing_a_parameter_fall_back():
    # t is also an array of params: perturbing it moves the targets, which the model holds fixed
    fast, ref, loop = twins(12, [5, 4, 3], cee_fn=cross_entropy_one_hot)
    x, t = data(13, 3, 5, 3, one_hot=True)
    for net in (fast, loop):
        net.params["T"] = t.copy()
    got = fast.numerical_gradient(x, fast.params["T"])
    assert fast.f_calls > MAX_CALLS * len(fast.params)
    assert_same_grads(got, loop.numerical_gradient(x, loop.params["T"]))


def test_traced_soft_targets_fall_back():
    fast, ref, loop = twins(11, [5, 4, 3], cee_fn=cross_entropy_one_hot)
    x, _ = data(12, 3, 5, 3, one_hot=True)
    t = np.full((3, 3), 1 / 3)
    assert_same_grads(fast.numerical_gradient(x, t), loop.numerical_gradient(x, t))
    assert fast.f_calls > MAX_CALLS * len(fast.params)


# ---------------------------------------------------------------- a network of functions over globals

PARAMS = {}
X_BATCH = {}


def global_loss(x, t):  # a reader's functions over a global params dict
    a1 = x @ PARAMS["W1"] + PARAMS["b1"]
    y = softmax(np.dot(sigmoid(a1), PARAMS["W2"]) + PARAMS["b2"])
    return cross_entropy_error(y, t)


def test_traced_network_over_globals_that_change():
    rng = np.random.default_rng(13)
    PARAMS.update(W1=rng.normal(size=(6, 5)), b1=rng.normal(size=5), W2=rng.normal(size=(5, 3)), b2=np.zeros(3))
    calls = []

    def f(W):  # reads the global batch, which the loop below replaces
        calls.append(1)
        return global_loss(X_BATCH["x"], X_BATCH["t"])

    for step in range(3):
        X_BATCH["x"], X_BATCH["t"] = data(14 + step, 4, 6, 3, one_hot=step % 2 == 0)
        for key in PARAMS:
            calls.clear()
            got = fast_gradient.numerical_gradient(f, PARAMS[key])
            assert len(calls) <= MAX_CALLS
            expected = reference.gradient.numerical_gradient(f, PARAMS[key])
            np.testing.assert_allclose(got, expected, rtol=0, atol=NET_ATOL, err_msg=f"{step} {key}")
        PARAMS["W1"] -= 0.3  # in place, as the book's SGD does
        PARAMS["b2"][1] += 0.5


def test_traced_analysis_is_never_stale():
    fast, ref, _ = twins(15, [6, 5, 3])
    x, t = data(16, 4, 6, 3, one_hot=False)
    f = lambda W: fast.loss(x, t)  # noqa: E731  (one closure, reused while the network changes)
    g = lambda W: ref.loss(x, t)  # noqa: E731
    for step in range(4):
        for key in fast.params:
            got = fast_gradient.numerical_gradient(f, fast.params[key])
            expected = reference.gradient.numerical_gradient(g, ref.params[key])
            np.testing.assert_allclose(got, expected, rtol=0, atol=NET_ATOL, err_msg=f"{step} {key}")
        for net in (fast, ref):
            net.params["W2"] -= 0.3
            net.params["b1"][0] += 0.5
        x[0, 0] += 1.0
        t[1] = (t[1] + 1) % 3


def test_traced_results_kept_for_the_step_never_outlive_a_change():
    # the first call runs the kernels for every parameter and keeps the results for the others
    fast, ref, _ = twins(20, [6, 5, 3])
    x, t = data(21, 4, 6, 3, one_hot=True)
    calls = []
    f = lambda W: calls.append(1) or fast.loss(x, t)  # noqa: E731
    g = lambda W: ref.loss(x, t)  # noqa: E731
    for key, change in (("W1", None), ("b1", "W2"), ("W2", "x"), ("b2", "t"), ("W1", None), ("W1", "b1")):
        if change == "x":
            x[1, 2] += 0.25
        elif change == "t":
            t[0] = t[0][::-1].copy()
        elif change is not None:
            for net in (fast, ref):
                net.params[change][..., 0] -= 0.125
        calls.clear()
        got = fast_gradient.numerical_gradient(f, fast.params[key])
        assert len(calls) <= MAX_CALLS
        expected = reference.gradient.numerical_gradient(g, ref.params[key])
        np.testing.assert_allclose(got, expected, rtol=0, atol=NET_ATOL, err_msg=f"{key} after {change}")


def test_traced_errors_of_f_propagate():
    fast, _, _ = twins(17, [5, 4, 3])
    x, _ = data(18, 3, 5, 3, one_hot=False)
    with pytest.raises(IndexError):
        fast.numerical_gradient(x, np.array([0, 7, 1]))


@pytest.mark.parametrize("n", [10, 100])
def test_traced_mnist_chapter4_network_against_backprop(n):
    # chapter 4's set-up: float32 images, one-hot labels, 784-50-10; against the reference class's gradient
    from fastscratch.dataset.mnist import load_mnist
    from fastscratch.reference.ch04_two_layer_net import TwoLayerNet
    (x_train, t_train), _ = load_mnist(normalize=True, one_hot_label=True)
    x, t = x_train[:n], t_train[:n]
    np.random.seed(0)
    fast = ReaderNet(fast_gradient.numerical_gradient, [784, 50, 10], std=0.01)
    np.random.seed(0)
    book = TwoLayerNet(784, 50, 10)
    for key in fast.params:  # the same draws in another order: take the book class's
        fast.params[key][...] = book.params[key]
    got = fast.numerical_gradient(x, t)
    assert fast.f_calls <= MAX_CALLS * 4
    for key, expected in book.gradient(x, t).items():
        np.testing.assert_allclose(got[key], expected, rtol=0, atol=1e-6, err_msg=key)


@pytest.mark.slow  # the reference's element loop over 39,760 elements: several seconds
@pytest.mark.parametrize("product", ["dot", "at"])
def test_traced_mnist_chapter4_network_against_reference(product):
    from fastscratch.dataset.mnist import load_mnist
    (x_train, t_train), _ = load_mnist(normalize=True, one_hot_label=True)
    x, t = x_train[:10], t_train[:10]
    fast, ref, _ = twins(0, [784, 50, 10], product=product, std=0.01)
    got = fast.numerical_gradient(x, t)
    assert fast.f_calls <= MAX_CALLS * 4
    assert_close_grads(got, ref.numerical_gradient(x, t), atol=1e-6)


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # pragma: no cover
    given = None

if given is not None:
    @settings(max_examples=15, deadline=None)
    @given(seed=st.integers(0, 2 ** 31 - 1), n=st.integers(1, 5),
           hidden=st.lists(st.integers(1, 5), min_size=0, max_size=2),
           activation=st.sampled_from(["relu", "sigmoid"]), product=st.sampled_from(list(PRODUCTS)),
           lib=st.sampled_from(list(FUNCTION_LIBS)), one_hot=st.booleans())
    def test_traced_property_reader_networks(seed, n, hidden, activation, product, lib, one_hot):
        sizes = [4] + hidden + [3]
        fast, ref, _ = twins(seed % 1000, sizes, activation=activation, product=product, lib=lib)
        x, t = data(seed, n, 4, 3, one_hot)
        check_incremental(fast, ref, x, t)
