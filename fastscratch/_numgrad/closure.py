"""``numerical_gradient(f, x)`` for the book's closure over a network: the incremental path, proven on each call.

The book's networks (and readers' networks written in their style) compute
their numerical gradient as ``numerical_gradient(lambda W: self.loss(x, t),
self.params[key])``: f ignores its argument and runs the whole network, whose
parameter array *is* x. This module recognises that case and computes the
gradient with ``fastscratch._numgrad.incremental``'s incremental kernels instead of
2 * x.size calls of f, but only where it can show the result is the one the
element loop would give:

1. ``find_network``: among the objects f's closure cells (and the globals it
   names, and those of the functions there) refer to, a network: an object
   with a ``params`` dict holding x itself (or such a dict). With a
   ``layers`` dict or list, steps 2 to 4 follow; without (chapter 4's network,
   built from functions), ``_traced_gradient`` traces f instead
   (``fastscratch._core.trace``, ``fastscratch._numgrad.traced_chain``).
2. f(x) runs once with every layer recording its call (``_incremental.record_forward``;
   layers and NumPy's global generator are put back afterwards). What ran must
   be a chain of the book's layers ending in SoftmaxWithLoss, f must return
   that layer's loss, and no Dropout may run in train mode (the reference's
   loop redraws its masks on every call).
3. The model built from that chain must reproduce f(x) (``_incremental.loss_matches``).
4. A few elements of the result (the largest, the first, the middle one, two
   random ones) are compared with real central differences of f, the book's arithmetic.

Any failure raises ``_incremental.NotSupported`` and the caller runs the element
loop. The analysis of the last network is kept, so that the calls for W1, b1,
W2, b2 of one ``numerical_gradient(x, t)`` share it; it is reused only when a
new recorded call of f shows the same layers, hyper-parameters, inputs,
targets, parameter values and loss (steps 2 and 4 run on every call).
"""
import contextlib
import types
import weakref

import numpy as np

from fastscratch._core import trace as _trace
from fastscratch._core.not_supported import NotSupported, require

#: Elements of each result compared with real calls of f where the model is new: the largest,
#: the first, the middle, two random ones.
SPOT_CHECKS = 5
#: The same where the model is reused (a call of f has just shown the same network and values):
#: the largest, the first, the middle.
SPOT_CHECKS_REUSED = 3
#: The same where a traced model is reused: the new trace has shown every operation from the
#: parameters to the loss to be the same, over the same values: the largest element.
SPOT_CHECKS_TRACED_REUSED = 1
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


def _referred(f):
    """What f's closure cells and the globals it names refer to; for a function among them, what it refers to too."""
    found = [_cell_contents(cell) for cell in f.__closure__ or ()]
    found += [f.__globals__[name] for name in f.__code__.co_names if name in f.__globals__]
    # one level further: a reader's loss(x, t) over a global params dict, called by the lambda
    for obj in list(found):
        if isinstance(obj, types.FunctionType) and obj is not f:
            found += [_cell_contents(cell) for cell in obj.__closure__ or ()]
            found += [obj.__globals__[name] for name in obj.__code__.co_names if name in obj.__globals__]
    return found


def _params_of(obj):
    """obj's params dict (obj itself for a dict), or None."""
    if isinstance(obj, dict):
        return obj
    attributes = getattr(obj, "__dict__", None)
    params = attributes.get("params") if isinstance(attributes, dict) else None
    return params if isinstance(params, dict) else None


def find_network(f, x):
    """(network, key) with params[key] IS x, params being network.params (or network, a dict).

    The network is among what f's closure and named globals refer to (and, for
    the functions there, what they refer to). Raises NoNetwork when there is
    none (f a plain function of x, a method, a compiled f ...).
    """
    if not isinstance(f, types.FunctionType):
        raise NoNetwork
    found = []
    for obj in _referred(f):
        params = _params_of(obj)
        found += [(obj, key) for key, value in (params or {}).items() if value is x]
    if not found:
        raise NoNetwork
    # a network of layers first: a dict beside it may hold x too (a reader's grads, a cache)
    return next((match for match in found if has_layers(match[0])), found[0])


def has_layers(network):
    """Whether the network holds its layers (a ``layers`` dict or list), as chapter 5's networks do."""
    return not isinstance(network, dict) and isinstance(getattr(network, "layers", None), (dict, list, tuple))


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
        #: every parameter's gradient, once _model_gradient has run the kernels
        self.grads = None

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


def _spot_indices(size, count):
    """count flat indices to spot-check besides the largest element: the first, the middle, random ones.

    The random ones come from a generator of their own (seeded by size), never NumPy's global one.
    """
    extra = np.random.default_rng(size).integers(0, size, size=max(0, count - 3))
    return [0, size // 2] + [int(i) for i in extra]


def _spot_check(f, x, grad, kept, h, count):
    """Raise NotSupported unless count elements of grad are what real calls of f give (within kept, a context)."""
    flat = grad.reshape(-1)
    picks = dict.fromkeys([int(np.argmax(np.abs(flat)))] + _spot_indices(flat.size, count))
    with kept:
        for i in list(picks)[:count]:
            index = np.unravel_index(i, x.shape)
            got = _central_difference(f, x, index, h)
            require(abs(float(got) - flat[i]) <= SPOT_ATOL, "a spot check differs from f")


def closure_numerical_gradient(f, x):
    """The element loop's numerical gradient of f at x, incrementally, where f is the book's closure.

    Parameters
    ----------
    f : Python function, f(x) -> the loss of a network whose params hold x
        (a network of layers, or one built from functions: see ``_traced_gradient``)
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
    network, key = find_network(f, x)
    from fastscratch._numgrad import incremental as netgrad  # only once a network is found: its kernels compile on first use

    require(x.dtype == np.float64 and x.size > 0, "x is not a non-empty float64 array")
    if has_layers(network):
        return _layer_gradient(f, x, network, key, netgrad)
    return _traced_gradient(f, x, _params_of(network), key, netgrad)


def _layer_gradient(f, x, network, key, netgrad):
    """closure_numerical_gradient for a network of the book's layers: its layers record one call of f."""
    global _last_analysis
    body, _ = netgrad.layer_sequence(network)
    require(all(isinstance(layer, netgrad.CHAIN_LAYERS) for layer in body), "a layer the kernels do not model")
    calls, value = netgrad.record_forward(network, lambda: f(x), keep_random_state=True)
    layer_calls, targets = netgrad.split_loss_call(calls, value)
    require(not any(isinstance(call.layer, netgrad.DROPOUT) and call.train_flg for call in layer_calls),
            "dropout in train mode: the element loop draws new masks on every call")
    analysis = _last_analysis
    reused = isinstance(analysis, _Analysis) and analysis.still_valid(network, layer_calls, targets, value)
    if not reused:
        _last_analysis = None
        uses, inputs = netgrad.uses_from_calls(layer_calls)
        model = netgrad.IncrementalModel(netgrad.read_chain(uses, inputs, targets, network.params))
        require(netgrad.loss_matches(model, value), "the model's loss is not f(x)")
        analysis = _Analysis(network, model, layer_calls, targets, value)
    grad = _model_gradient(analysis, key, x)
    body, ends = netgrad.layer_sequence(network)
    _spot_check(f, x, grad, netgrad.LayersKept(body + ends, keep_random_state=True), netgrad.H,
                SPOT_CHECKS_REUSED if reused else SPOT_CHECKS)
    _last_analysis = analysis  # kept only once its result passed the spot checks
    return grad


def _model_gradient(analysis, key, x):
    """The model's gradient for params[key], which must be x itself, as a new array of x's shape.

    The first call on an analysis runs the kernels for every parameter of the
    model at once and keeps the results: the calls for the other parameters of
    the same step then reuse them (one parallel launch per step, not one per parameter).
    """
    where = analysis.model.params.get(key)
    require(where is not None and where[2] is x, "x is not a parameter of the chain")
    if analysis.grads is None:
        analysis.grads = analysis.model.gradients(list(analysis.model.params))
    grad = np.zeros_like(x)
    grad[...] = analysis.grads[key]
    return grad


def _traced_gradient(f, x, params, key, netgrad):
    """closure_numerical_gradient for a network built from functions (chapter 4's): its loss traced once.

    f runs under trace (``fastscratch._core.trace``) and the graph must read as a
    dense chain (``fastscratch._numgrad.traced_chain``). A model built for this call
    must reproduce the traced loss and the loss of a real call of f, which
    must leave NumPy's global generator where it was; a model reused (the
    trace showed the same chain over the same values) was. Then the spot checks.
    """
    global _last_analysis
    from fastscratch._numgrad.traced_chain import read_traced_chain

    loss = _trace.trace_loss(f, x, params)
    chain = read_traced_chain(loss)
    arrays = [value for value in params.values() if isinstance(value, np.ndarray)]
    require(not any(np.may_share_memory(constant, array) for constant in chain.constants for array in arrays),
            "the network's input or targets share memory with a parameter")
    analysis = _last_analysis
    reused = isinstance(analysis, _TracedAnalysis) and analysis.still_valid(params, chain, loss.value)
    if not reused:
        _last_analysis = None
        model = netgrad.IncrementalModel(_dense_chain(chain, params, netgrad))
        require(netgrad.loss_matches(model, loss.value), "the model's loss is not the traced loss")
        _check_real_call(f, x, model, netgrad)
        analysis = _TracedAnalysis(params, model, chain, loss.value)
    grad = _model_gradient(analysis, key, x)
    _spot_check(f, x, grad, contextlib.nullcontext(), netgrad.H,  # f was seen not to draw
                SPOT_CHECKS_TRACED_REUSED if reused else SPOT_CHECKS)
    _last_analysis = analysis  # kept only once its result passed the spot checks
    return grad


def _check_real_call(f, x, model, netgrad):
    """Raise NotSupported unless a real call of f gives the model's loss and leaves NumPy's global generator alone."""
    state = np.random.get_state()
    value = f(x)
    if not _trace.same_random_state(state, np.random.get_state()):
        np.random.set_state(state)  # the element loop then draws what the reference draws
        raise NotSupported("f draws from NumPy's global generator")
    require(isinstance(value, (float, np.floating)) and netgrad.loss_matches(model, value),
            "the model's loss is not f(x)")


def _dense_chain(traced, params, netgrad):
    """The ``_incremental.Chain`` of a TracedChain, over the arrays of params themselves."""
    stages = []
    for weights_key, bias_key, activation in traced.stages:
        stage = netgrad.DenseStage(netgrad.float64_param(params[weights_key], weights_key),
                                   netgrad.float64_param(params[bias_key], bias_key),
                                   {"weights": weights_key, "bias": bias_key})
        stage.activation = activation
        stages.append(stage)
    return netgrad.Chain(traced.inputs, None, stages, traced.labels)


class _TracedAnalysis:
    """An IncrementalModel of a traced chain, with what it was built from (as ``_Analysis`` for layers)."""

    def __init__(self, params, model, chain, value):
        self.model, self.chain_form = model, (chain.stages, chain.shifted)
        self.inputs, self.labels = np.array(chain.inputs, copy=True), np.array(chain.labels, copy=True)
        self.param_values = {key: (params[key], params[key].copy()) for stage in chain.stages for key in stage[:2]}
        self.value = float(value)
        #: every parameter's gradient, once _model_gradient has run the kernels
        self.grads = None

    def still_valid(self, params, chain, value):
        return ((chain.stages, chain.shifted) == self.chain_form
                and all(params.get(key) is array and _same_array(array, copy)
                        for key, (array, copy) in self.param_values.items())
                and _same_array(chain.inputs, self.inputs) and _same_array(np.asarray(chain.labels), self.labels)
                and float(value) == self.value)
