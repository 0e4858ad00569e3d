"""``numerical_gradient(f, x)`` for the book's closure over a network: the incremental path, proven on each call.

The book's networks (and readers' networks written in their style) compute
their numerical gradient as ``numerical_gradient(lambda W: self.loss(x, t),
self.params[key])``: f ignores its argument and runs the whole network, whose
parameter array *is* x. This module recognises that case and computes the
gradient with ``fastscratch._netgrad``'s incremental kernels instead of
2 * x.size calls of f, but only where it can show the result is the one the
element loop would give:

1. ``find_network``: among the objects f's closure cells (and the globals it
   names) refer to, a network: an object with a ``params`` dict holding x
   itself and a ``layers`` dict or list.
2. f(x) runs once with every layer recording its call (``_netgrad.record_forward``;
   layers and NumPy's global generator are put back afterwards). What ran must
   be a chain of the book's layers ending in SoftmaxWithLoss, f must return
   that layer's loss, and no Dropout may run in train mode (the reference's
   loop redraws its masks on every call).
3. The model built from that chain must reproduce f(x) (``_netgrad.loss_matches``).
4. A few elements of the result (the largest, the first, the middle one) are
   compared with real central differences of f, the book's arithmetic.

Any failure raises ``_netgrad.NotSupported`` and the caller runs the element
loop. The analysis of the last network is kept, so that the calls for W1, b1,
W2, b2 of one ``numerical_gradient(x, t)`` share it; it is reused only when a
new recorded call of f shows the same layers, hyper-parameters, inputs,
targets, parameter values and loss (steps 2 and 4 run on every call).
"""
import types
import weakref

import numpy as np

from ._not_supported import NotSupported

#: Elements of each result compared with real calls of f.
SPOT_CHECKS = 3
#: How far a spot-checked element may be from the element loop's value: the
#: two differ by rounding of the loss (about 1e-16 relative) over 2h.
SPOT_ATOL = 1e-8
#: Layer attributes that decide what a layer computes: arrays compared by
#: identity (the network's own parameters), numbers by value.
_LAYER_SETTINGS = ("W", "b", "gamma", "beta", "stride", "pad", "pool_h", "pool_w", "dropout_ratio")

_last_analysis = None


class NoNetwork(NotSupported):
    """f refers to no network whose params hold x."""


def _cell_contents(cell):
    try:
        return cell.cell_contents
    except ValueError:  # an empty cell (a name assigned later in the enclosing scope)
        return None


def find_network(f, x):
    """(network, key) with network.params[key] IS x, among what f's closure and named globals refer to.

    Raises NoNetwork when there is none (f a plain function of x, a method, a compiled f ...).
    """
    if not isinstance(f, types.FunctionType):
        raise NoNetwork
    candidates = [_cell_contents(cell) for cell in f.__closure__ or ()]
    candidates += [f.__globals__[name] for name in f.__code__.co_names if name in f.__globals__]
    for obj in candidates:
        attributes = getattr(obj, "__dict__", None)
        if not isinstance(attributes, dict):
            continue
        params, layers = attributes.get("params"), attributes.get("layers")
        if isinstance(params, dict) and isinstance(layers, (dict, list, tuple)):
            for key, value in params.items():
                if value is x:
                    return obj, key
    raise NoNetwork


class _Analysis:
    """An IncrementalModel with what it was built from, to tell whether a later call may reuse it."""

    def __init__(self, network, model, layer_calls, targets, value):
        self.network = weakref.ref(network)
        self.model = model
        self.layers = [call.layer for call in layer_calls]
        self.train_flags = [call.train_flg for call in layer_calls]
        self.settings = [[getattr(layer, name, None) for name in _LAYER_SETTINGS] for layer in self.layers]
        self.inputs = np.array(layer_calls[0].args[0], copy=True)
        self.targets = np.array(targets, copy=True)
        self.param_values = [(array, array.copy()) for _, _, array in model.params.values()]
        self.value = float(value)

    def still_valid(self, network, layer_calls, targets, value):
        return (self.network() is network
                and [call.layer for call in layer_calls] == self.layers
                and [call.train_flg for call in layer_calls] == self.train_flags
                and all(_same_settings(layer, stored) for layer, stored in zip(self.layers, self.settings))
                and _same_array(layer_calls[0].args[0], self.inputs) and _same_array(targets, self.targets)
                and all(_same_array(array, copy) for array, copy in self.param_values)
                and float(value) == self.value)


def _same_array(a, b):
    return (type(a) is np.ndarray and a.dtype == b.dtype and a.shape == b.shape
            and bool(np.array_equal(a, b)))


def _same_settings(layer, stored):
    for name, before in zip(_LAYER_SETTINGS, stored):
        now = getattr(layer, name, None)
        if isinstance(before, np.ndarray) or isinstance(now, np.ndarray):
            if now is not before:
                return False
        elif now != before:
            return False
    return True


def _central_difference(f, x, index, h):
    """The element loop's value at one index: the book's perturbation of x, two calls of f."""
    tmp = x[index]
    try:
        x[index] = float(tmp) + h
        fxh1 = f(x)
        x[index] = tmp - h
        fxh2 = f(x)
    finally:
        x[index] = tmp
    return (fxh1 - fxh2) / (2 * h)


def _spot_check(f, x, grad, network, netgrad):
    """Raise NotSupported unless a few elements of grad are what real calls of f give."""
    flat = grad.reshape(-1)
    picks = dict.fromkeys([int(np.argmax(np.abs(flat))), 0, flat.size // 2])
    body, ends = netgrad.layer_sequence(network)
    with netgrad.LayersKept(body + ends, keep_random_state=True):
        for i in list(picks)[:SPOT_CHECKS]:
            index = np.unravel_index(i, x.shape)
            got = _central_difference(f, x, index, netgrad.H)
            netgrad.require(abs(float(got) - flat[i]) <= SPOT_ATOL, "a spot check differs from f")


def closure_numerical_gradient(f, x):
    """The element loop's numerical gradient of f at x, incrementally, where f is the book's closure.

    Parameters
    ----------
    f : Python function, f(x) -> the loss of a network whose params hold x
    x : ndarray float64, one of the network's parameter arrays

    Returns
    -------
    grad : ndarray of x's shape, float64

    Raises
    ------
    NotSupported (NoNetwork where f refers to no network)
        Where this path does not apply or cannot be proven (the caller runs
        the element loop). Exceptions raised by f itself propagate.
    """
    global _last_analysis
    network, key = find_network(f, x)
    from . import _netgrad as netgrad  # only once a network is found: its kernels compile on first use

    netgrad.require(x.dtype == np.float64 and x.size > 0, "x is not a non-empty float64 array")
    body, _ = netgrad.layer_sequence(network)
    netgrad.require(all(isinstance(layer, netgrad.CHAIN_LAYERS) for layer in body),
                    "a layer the kernels do not model")
    calls, value = netgrad.record_forward(network, lambda: f(x), keep_random_state=True)
    layer_calls, targets = netgrad.split_loss_call(calls, value)
    netgrad.require(not any(isinstance(call.layer, netgrad.DROPOUT) and call.train_flg for call in layer_calls),
                    "dropout in train mode: the element loop draws new masks on every call")
    analysis = _last_analysis
    if analysis is None or not analysis.still_valid(network, layer_calls, targets, value):
        _last_analysis = None
        uses, inputs = netgrad.uses_from_calls(layer_calls)
        model = netgrad.IncrementalModel(netgrad.read_chain(uses, inputs, targets, network.params))
        netgrad.require(netgrad.loss_matches(model, value), "the model's loss is not f(x)")
        analysis = _Analysis(network, model, layer_calls, targets, value)
    where = analysis.model.params.get(key)
    netgrad.require(where is not None and where[2] is x, "x is not a parameter of the chain")
    grad = np.zeros_like(x)
    grad[...] = analysis.model.gradients([key])[key]
    _spot_check(f, x, grad, network, netgrad)
    _last_analysis = analysis  # kept only once its result passed the spot checks
    return grad
