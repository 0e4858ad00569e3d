"""Behavioural probes: whether a definition does what the book's one of that name does, on small cases.

Each case builds its own inputs (fresh arrays from a fixed ``RandomState``, so
neither side sees what the other wrote), calls the definition and records
every observation: return values, the arguments after the call (the book's
``Relu.backward`` writes into ``dout``, its numerical gradient perturbs and
restores ``x``), attributes that networks and later cells read, NumPy's global
random state after each random draw, and "raised" where a call raises (a case
stops at its first exception, and two definitions agree there if both raise).
``behaves_as`` runs every case of a name on both definitions and compares the
records (``same``): equal types, dtypes and shapes; float values within
``RTOL``/``ATOL`` (fastscratch's layers compute with kernels whose sums run
in another order), with NaN, infinities and the sign of zero in the same
places; everything else equal.

The cases include the edges where the book's variants differ: 1-D and 2-D
softmax and values that overflow without its max subtraction; one-hot and
label targets and a zero probability (the ``+ 1e-7``) for the cross-entropy;
NaN and negative zero for ReLU; a function of the whole array for the
numerical gradient (the nditer version, the rows version and the 1-D version
part there).
"""
import contextlib
import functools
import importlib
import io
import types
import warnings

import numpy as np

#: Float tolerance of the comparison: the float64 tolerance of the project's
#: kernel-vs-reference tests (tests/_tol.py), here for float32 values too since
#: the probe's float32 cases take the same NumPy expressions on both sides.
RTOL = ATOL = 1e-12
#: The numerical gradient is a difference of two losses over 2h = 2e-4: the
#: losses' last-bit differences (sums in another order) come out 1e4 larger.
NUMGRAD_ATOL = 1e-9


def _rs(seed=0):
    return np.random.RandomState(seed)


def _random_state():
    _, key, pos, has_gauss, gauss = np.random.get_state()
    return ("random state", key.copy(), pos, has_gauss, gauss)


def _same_array(a, b, atol, rtol):
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    if a.dtype.kind not in "fc":
        return np.array_equal(a, b)
    if not np.array_equal(np.isnan(a), np.isnan(b)):
        return False
    if a.dtype.kind == "f" and not np.array_equal(np.signbit(a) & (a == 0), np.signbit(b) & (b == 0)):
        return False
    with np.errstate(all="ignore"):
        return bool(np.all(np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=True)))


def same(a, b, atol=ATOL, rtol=RTOL):
    """Whether observations a and b agree (types, dtypes, shapes exactly; floats within the tolerance)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k], atol, rtol) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y, atol, rtol) for x, y in zip(a, b))
    if isinstance(a, (np.ndarray, np.generic, float)):
        return _same_array(np.asarray(a), np.asarray(b), atol, rtol)
    return a == b


@functools.cache
def _reference_swaps():
    """id of each of fastscratch's public functions and classes of the book's modules -> its reference twin."""
    from fastscratch._substitution.switches import COMMON_MODULES

    swaps = {}
    for name in COMMON_MODULES:
        fast = importlib.import_module(f"fastscratch.{name}")
        reference = importlib.import_module(f"fastscratch.reference.{name}")
        for key, value in vars(fast).items():
            if not key.startswith("_") and callable(value) and hasattr(reference, key):
                swaps[id(value)] = (value, getattr(reference, key))
    return swaps


def _rebound(function):
    swaps = _reference_swaps()
    globals_ = {k: swaps[id(v)][1] if id(v) in swaps and swaps[id(v)][0] is v else v
                for k, v in function.__globals__.items()}
    copy = types.FunctionType(function.__code__, globals_, function.__name__, function.__defaults__,
                              function.__closure__)
    copy.__kwdefaults__ = function.__kwdefaults__
    return copy


def on_reference(definition):
    """A copy of a function or class whose code reads fastscratch.reference's definitions for the fast ones.

    The names a definition reads from its module (``softmax``, ``Affine``,
    ``numerical_gradient``) may be fastscratch's, through ``fastscratch run``'s
    ``common.*`` or an earlier substitution, and their kernels would compile on
    the probe's first call (seconds on a fresh machine; the probe's small
    shapes even take serial kernels a real run never needs). The copy runs the
    same code on the reference's NumPy twins, as ``--reference`` would: what
    the fast definitions compute is the twins' (the project's equivalence tests).
    The definition itself and its module are left as they are.
    """
    if isinstance(definition, types.FunctionType):
        return _rebound(definition)
    members = {k: _rebound(v) if isinstance(v, types.FunctionType) else v
               for k, v in vars(definition).items() if k not in ("__dict__", "__weakref__")}
    return type(definition.__name__, definition.__bases__, members)


# --- cases: each takes a definition and yields its observations (label, value, atol) -------

def _data(seed, *shape):
    return np.random.RandomState(seed).randn(*shape)


def _floats(dtype=np.float64):
    return np.array([-1000.0, -3.5, -1.0, -0.0, 0.0, 0.25, 1.0, 3.5, 1000.0, np.nan], dtype=dtype)


def _probabilities(n, k, seed):
    p = np.random.RandomState(seed).rand(n, k) + 0.1
    return p / p.sum(axis=1, keepdims=True)


def _onehot(labels, k):
    return np.eye(k)[labels]


def _call(*make_args):
    """Cases calling a function on the arguments each make_args() builds: result and arguments after."""
    def case(fn, make):
        args = make()
        yield "returned", fn(*args), ATOL
        yield "arguments after", [a for a in args if isinstance(a, np.ndarray)], ATOL
    return [lambda fn, make=make: case(fn, make) for make in make_args]


_ELEMENTWISE = _call(lambda: (_floats(),), lambda: (_data(1, 3, 4),),
                     lambda: (_floats(np.float32),), lambda: (np.array([-2, 0, 3]),))
_SOFTMAX = _call(lambda: (np.array([0.3, 2.9, 4.0]),),
                 lambda: (np.array([1000.0, 1001.0, 1002.0]),),       # overflows without the max subtraction
                 lambda: (_data(2, 3, 4),),                           # by rows, not over the whole array
                 lambda: (np.array([[1000.0, 1001.0], [-5.0, 5.0]]),),
                 lambda: (np.array([0.3, 2.9, 4.0], dtype=np.float32),),
                 lambda: (np.array([1, 2, 3]),))
_CROSS_ENTROPY = _call(lambda: (_probabilities(1, 4, 3)[0], _onehot(2, 4)),   # one sample, one-hot
                       lambda: (_probabilities(1, 4, 3)[0], np.array(1)),     # one sample, a label
                       lambda: (_probabilities(1, 4, 3)[0], np.int64(3)),     # t[i] of a label array
                       lambda: (_probabilities(5, 3, 4), _onehot([0, 2, 1, 1, 0], 3)),
                       lambda: (_probabilities(5, 3, 4), np.array([0, 2, 1, 1, 0])),
                       # a zero probability: log(0) without the book's + 1e-7
                       lambda: (np.array([[0.0, 1.0, 0.0], [0.5, 0.5, 0.0]]), np.array([0, 2])),
                       lambda: (_probabilities(4, 3, 5).astype(np.float32), np.array([2, 1, 0, 0])))
_SQUARED_ERROR = _call(lambda: (_probabilities(1, 4, 6)[0], _onehot(1, 4)),
                       lambda: (_probabilities(3, 4, 6), _onehot([0, 3, 1], 4)))


def _whole(x):
    # not a sum of per-row terms: the gradient of one row depends on the others
    return np.sum(x ** 2) ** 2 + np.sum(x) ** 3


def _reads_parameter():
    # the book's networks: f ignores its argument and reads the parameter array that *is* x
    w = _data(7, 2, 3)
    return (lambda _: float(np.sum(np.tanh(w)) * w[0, 0]), w)


_NUMERICAL_GRADIENT = _call(lambda: (_whole, _data(8, 5)), lambda: (_whole, _data(8, 3, 2)),
                            lambda: (_whole, _data(8, 2, 2, 2)),
                            lambda: (_whole, _data(8, 4).astype(np.float32)), _reads_parameter)

#: Compared bit for bit: fastscratch's step_function, relu_grad and sigmoid_grad are the
#: reference's, its sigmoid is the reference's expression for every input, and its relu's
#: kernel computes the same maximum (no rounding involved). The rest within the tolerance:
#: softmax and the cross-entropy take kernels from some size on, whose sums run in another
#: order, and the book's editions write those sums differently.
EXACT = frozenset({"step_function", "sigmoid", "sigmoid_grad", "relu", "relu_grad"})

FUNCTION_CASES = {
    "step_function": _ELEMENTWISE, "sigmoid": _ELEMENTWISE, "sigmoid_grad": _ELEMENTWISE,
    "relu": _ELEMENTWISE, "relu_grad": _ELEMENTWISE[:3], "softmax": _SOFTMAX,
    "cross_entropy_error": _CROSS_ENTROPY, "mean_squared_error": _SQUARED_ERROR,
    "sum_squared_error": _SQUARED_ERROR, "numerical_gradient": _NUMERICAL_GRADIENT,
}


# --- layers ----------------------------------------------------------------------------------

def _forward_backward(layer, x, dout, *, attributes=(), **forward_kwargs):
    """forward(x), backward(dout) and what they leave: outputs, x and dout after, the named attributes."""
    yield "forward", layer.forward(x, **forward_kwargs), ATOL
    yield "random state", _random_state(), 0
    dx = layer.backward(dout)
    yield "backward", dx, ATOL
    yield "backward returns dout", dx is dout, 0
    yield "x, dout after", [x, dout], ATOL
    for a in attributes:
        yield f"attribute {a}", getattr(layer, a), ATOL


def _keeps(layer, **arrays):
    # networks hand a layer their parameter arrays and update them in place: the layer must hold them
    for k, v in arrays.items():
        yield f"keeps {k}", getattr(layer, k, None) is v, 0


def _relu_layer(cls):
    x = np.array([[-1.0, 0.0, -0.0, 2.0], [np.nan, 3.0, -4.0, 0.5]])
    yield from _forward_backward(cls(), x, _data(9, 2, 4))
    yield from _forward_backward(cls(), _data(10, 2, 1, 2, 2), _data(11, 2, 1, 2, 2))


def _sigmoid_layer(cls):
    yield from _forward_backward(cls(), _floats()[:-1].reshape(3, 3), _data(12, 3, 3), attributes=("out",))
    yield from _forward_backward(cls(), _data(13, 2, 3), _data(14, 2, 3))


def _affine_layer(cls):
    W, b = _data(15, 3, 2), _data(16, 2)
    layer = cls(W, b)
    yield from _keeps(layer, W=W, b=b)
    yield from _forward_backward(layer, _data(17, 4, 3), _data(18, 4, 2), attributes=("dW", "db"))
    yield from _forward_backward(layer, _data(19, 2, 1, 3, 1), _data(20, 2, 2), attributes=("dW", "db"))


def _softmax_with_loss_layer(cls):
    for t in (_onehot([0, 2, 1, 1], 3), np.array([0, 2, 1, 1])):
        layer = cls()
        x = _data(21, 4, 3) * 3
        yield "loss", layer.forward(x, t), ATOL
        yield "attribute y", layer.y, ATOL
        yield "attribute loss", layer.loss, ATOL
        yield "backward", layer.backward(), ATOL
        yield "backward(1)", layer.backward(1), ATOL
        yield "x, t after", [x, t], ATOL


def _dropout_layer(cls):
    for layer in (cls(), cls(0.3), cls(dropout_ratio=0.8)):
        np.random.seed(3)
        yield from _forward_backward(layer, _data(22, 3, 4), _data(23, 3, 4))
        yield "test mode", layer.forward(_data(22, 3, 4), train_flg=False), ATOL


def _batch_norm_layer(cls):
    for shape, kwargs in (((5, 4), {}), ((3, 2, 2, 2), {"momentum": 0.5})):
        D = int(np.prod(shape[1:]))
        gamma, beta = 1 + 0.1 * _data(24, D), _data(25, D)
        layer = cls(gamma, beta, **kwargs)
        yield from _keeps(layer, gamma=gamma, beta=beta)
        yield from _forward_backward(layer, _data(26, *shape), _data(27, *shape),
                                     attributes=("dgamma", "dbeta", "running_mean", "running_var"))
        yield "test mode", layer.forward(_data(28, *shape), train_flg=False), ATOL


def _convolution_layer(cls):
    for kwargs, out_hw in (({}, 3), ({"stride": 2, "pad": 1}, 3), ({"pad": 1}, 5)):
        W, b = _data(29, 2, 2, 3, 3), _data(30, 2)
        layer = cls(W, b, **kwargs)
        yield from _keeps(layer, W=W, b=b)
        yield from _forward_backward(layer, _data(31, 2, 2, 5, 5), _data(32, 2, 2, out_hw, out_hw),
                                     attributes=("dW", "db"))


def _pooling_layer(cls):
    # pad 0 only: with padding the book's Pooling miscounts the output (README, fastscratch.reference)
    for args, out_hw in (((2, 2), 2), ((2, 2, 2), 2), ((3, 3, 1), 2)):
        x = _data(33, 2, 2, 4, 4)
        x[0, 0, :2, :2] = 1.0   # a tie: the first maximum of the window takes the gradient
        yield from _forward_backward(cls(*args), x, _data(34, 2, 2, out_hw, out_hw))


LAYER_CASES = {
    "Relu": [_relu_layer], "Sigmoid": [_sigmoid_layer], "Affine": [_affine_layer],
    "SoftmaxWithLoss": [_softmax_with_loss_layer], "Dropout": [_dropout_layer],
    "BatchNormalization": [_batch_norm_layer], "Convolution": [_convolution_layer],
    "Pooling": [_pooling_layer],
}


# --- networks --------------------------------------------------------------------------------

def _params(net):
    return "params", {k: np.array(v, copy=True) for k, v in net.params.items()}, 0


def _built(cls, *args, **kwargs):
    """A network built from seed 0, and what its construction leaves (its params, the random state)."""
    np.random.seed(0)
    net = cls(*args, **kwargs)
    return net, [_params(net), ("random state", _random_state(), 0)]


def _two_layer_net(cls):
    net, built = _built(cls, 6, 5, 3)
    yield from built
    x, labels = np.random.RandomState(35).rand(4, 6), np.array([0, 2, 1, 2])
    t = _onehot(labels, 3)
    yield "predict", net.predict(x), ATOL
    yield "loss", net.loss(x, t), ATOL
    yield "accuracy", net.accuracy(x, t), ATOL
    yield "gradient", net.gradient(x, t), ATOL
    yield "numerical_gradient", net.numerical_gradient(x, t), NUMGRAD_ATOL
    yield _params(net)
    yield "x, t after", [x, t], 0


def _two_layer_net_arguments(cls):
    yield from _built(cls, input_size=3, hidden_size=4, output_size=2, weight_init_std=0.5)[1]
    yield from _built(cls, 2, 3, 4, 1.5)[1]


def _two_layer_net_labels(cls):
    # label targets: chapter 5's accuracy takes them, chapter 4's (argmax over axis 1) raises
    net, _ = _built(cls, 6, 5, 3)
    x = np.random.RandomState(36).rand(4, 6)
    labels = np.array([0, 2, 1, 2])
    yield "loss", net.loss(x, labels), ATOL
    yield "accuracy", net.accuracy(x, labels), ATOL


def _computations(net, x, t, **train):
    """predict, loss, accuracy (one-hot and labels), gradient and numerical_gradient, each from its own seed."""
    calls = [("predict", lambda: net.predict(x, **train)), ("loss", lambda: net.loss(x, t, **train)),
             ("accuracy", lambda: net.accuracy(x, t)), ("accuracy of labels", lambda: net.accuracy(x, t.argmax(1))),
             ("gradient", lambda: net.gradient(x, t)), ("numerical_gradient", lambda: net.numerical_gradient(x, t))]
    for seed, (label, call) in enumerate(calls):
        np.random.seed(seed)
        yield label, call(), NUMGRAD_ATOL if label == "numerical_gradient" else ATOL
    yield _params(net)


_MULTI_LAYER = (((6, [5, 4], 3), {}),
                ((6, [5], 3), {"activation": "sigmoid", "weight_init_std": "sigmoid", "weight_decay_lambda": 0.1}),
                ((6, [4, 3], 3), {"weight_init_std": 0.1, "weight_decay_lambda": 0.01}),
                ((6, [4], 3), {"weight_init_std": "xavier"}), ((6, [4], 3), {"weight_init_std": "he"}))


def _multi_layer_net(cls):
    x, t = np.random.RandomState(37).rand(4, 6), _onehot([0, 2, 1, 2], 3)
    for args, kwargs in _MULTI_LAYER:
        net, built = _built(cls, *args, **kwargs)
        yield from built
        yield from _computations(net, x, t)


def _multi_layer_net_extend(cls):
    x, t = np.random.RandomState(38).rand(4, 6), _onehot([0, 2, 1, 2], 3)
    for dropout in (False, True):
        for batchnorm in (False, True):
            kwargs = {"use_dropout": dropout, "dropout_ration": 0.3, "use_batchnorm": batchnorm}
            net, built = _built(cls, 6, [5, 4], 3, weight_decay_lambda=0.05, **kwargs)
            yield from built
            yield from _computations(net, x, t)
            yield from _computations(net, x, t, train_flg=True)


NETWORK_CASES = {"TwoLayerNet": [_two_layer_net, _two_layer_net_arguments, _two_layer_net_labels],
                 "MultiLayerNet": [_multi_layer_net], "MultiLayerNetExtend": [_multi_layer_net_extend]}

CASES = {**FUNCTION_CASES, **LAYER_CASES, **NETWORK_CASES}


def _observe(case, definition):
    """What case does with definition: its observations up to the first exception, then a "raised" entry."""
    observations = []
    try:
        for observation in case(definition):
            observations.append(observation)
    except Exception:  # a definition that raises where the other does too agrees there
        observations.append(("raised", "raised", 0))
    return observations


def behaves_as(name, definition, counterpart):
    """Whether definition does what counterpart does on the probe's cases for the book's name.

    Parameters
    ----------
    name : str
        One of the book's names (a key of ``CASES``).
    definition, counterpart : function or class
        The user's definition and the one it is compared with.

    Returns
    -------
    str or None
        None when they agree on every case, else what differed first.
    """
    state = np.random.get_state()
    printed = io.StringIO()
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"), \
                contextlib.redirect_stdout(printed), contextlib.redirect_stderr(printed):
            warnings.simplefilter("ignore")
            for case in CASES[name]:
                mine = _observe(case, definition)
                theirs = _observe(case, counterpart)
                exact = name in EXACT
                for (label, a, atol), (other, b, _) in zip(mine, theirs):
                    if label != other or not same(a, b, 0 if exact else atol, 0 if exact else RTOL):
                        return f"{label} differs in {case_name(case)}"
                if len(mine) != len(theirs):
                    longer = mine if len(mine) > len(theirs) else theirs
                    return f"{longer[min(len(mine), len(theirs))][0]} differs in {case_name(case)}"
    finally:
        np.random.set_state(state)
    if printed.getvalue():
        return "it prints"
    return None


def case_name(case):
    """A case's name for messages (the function's name, or its arguments' for a call)."""
    return getattr(case, "__name__", "a case").strip("_").replace("<lambda>", "a call")
