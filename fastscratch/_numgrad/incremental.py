"""Network numerical gradients in milliseconds: a network read as a chain of layer records, perturbed incrementally.

How it goes (the design is in docs/numerical-gradient.md):

1. The layers the network runs, in order, as ``LayerUse``s: from
   ``network.layers`` for the book's network classes (whose loss is known),
   or, for any other network, from one forward that ``record_forward`` runs
   with every layer recording its call (``fastscratch._numgrad.closure``).
2. ``read_chain`` reads them by what each layer is (isinstance against the
   book's layer classes, which fastscratch's layers subclass): an optional
   Convolution - Relu - Pooling block, then Affine layers, each followed by
   an optional BatchNormalization (train mode), Relu or Sigmoid and Dropout,
   the last Affine feeding SoftmaxWithLoss. Each parameter must be one of the
   network's ``params`` arrays itself, so perturbing it is perturbing the network.
3. ``IncrementalModel`` builds the records of ``fastscratch.kernels.netgrad``
   and the unperturbed forward (NumPy GEMMs plus the kernels' own batch norm,
   activation and loss, so an unchanged value is reproduced bitwise), and
   runs the kernels.

Anything outside that model raises ``NotSupported`` (and only that), and the
callers fall back to the element-by-element loop. Everything is float64.

Differences from the reference, on purpose (``network.numerical_gradient`` of the book's classes):

- Dropout (MultiLayerNetExtend, use_dropout): the reference's loss redraws
  every mask on each of its 2 * (number of parameters) calls, so its
  numerical gradient is noise. Here the masks are drawn once, as one
  training forward draws them (``np.random.rand(N, D) > dropout_ratio`` per
  Dropout layer, in layer order, from NumPy's global generator), and held
  fixed for every perturbation: the gradient of that one dropped-out network.
  The global generator advances by that one forward.
- Batch norm in train mode: each reference loss call also moves the layers'
  running_mean/running_var. Here nothing of the network is written: running
  statistics, the layers' cached forward state and the parameters are left
  as they were.
"""
import inspect
from collections import namedtuple
from itertools import pairwise

import numba
import numpy as np

from fastscratch._layers.functions import sum_of_squares
from fastscratch._core.not_supported import NotSupported, require
from fastscratch.kernels import netgrad as _k
from fastscratch.kernels._jit import pick as _pick
from fastscratch.reference import layers as _book_layers
from fastscratch.reference.multi_layer_net import MultiLayerNet as _RefMultiLayerNet
from fastscratch.reference.simple_convnet import SimpleConvNet as _RefSimpleConvNet
from fastscratch.reference.two_layer_net import TwoLayerNet as _RefTwoLayerNet

__all__ = ["IncrementalModel", "LayerUse", "NotSupported", "incremental_numerical_gradient", "read_chain",
           "record_forward", "uses_from_calls"]

#: The book's step.
H = 1e-4

#: How far the model's unperturbed loss may be from the network's (relative):
#: the same arithmetic up to the order of a few sums, and nothing like a wrong model.
LOSS_RTOL = 1e-12

#: The layers a chain may hold (fastscratch's layers subclass these).
CHAIN_LAYERS = (_book_layers.Affine, _book_layers.Relu, _book_layers.Sigmoid, _book_layers.BatchNormalization,
                _book_layers.Dropout, _book_layers.Convolution, _book_layers.Pooling)
DROPOUT = _book_layers.Dropout
_TRAIN_FLAG_LAYERS = (_book_layers.BatchNormalization, _book_layers.Dropout)

_ACTIVATIONS = ((_book_layers.Relu, _k.ACT_RELU), (_book_layers.Sigmoid, _k.ACT_SIGMOID))


def float64_param(array, name):
    require(type(array) is np.ndarray and array.dtype == np.float64,
            f"{name} is not a float64 ndarray")
    return array


# --------------------------------------------------------------------------
# 1. what ran: one recorded forward
# --------------------------------------------------------------------------

#: One layer call seen by ``record_forward``: the layer, its positional
#: arguments, its train flag (None for layers without one), its output, and
#: its attributes right after the call.
Call = namedtuple("Call", "layer args train_flg output state")


def layer_sequence(network):
    """The network's layers in order (``layers`` is an OrderedDict or a list) and its loss layers."""
    layers = getattr(network, "layers", None)
    require(isinstance(layers, (dict, list, tuple)), "the network has no layers dict or list")
    body = list(layers.values()) if isinstance(layers, dict) else list(layers)
    # the book names it lastLayer in chapter 5 and last_layer elsewhere: take it by what it is
    ends = [value for value in vars(network).values() if isinstance(value, _book_layers.SoftmaxWithLoss)]
    return body, ends


def _train_flag(forward, args, kwargs):
    """The train_flg a layer's forward ran with (given, or its default); None for a forward without one."""
    signature = inspect.signature(forward)
    if "train_flg" not in signature.parameters:
        return None
    bound = signature.bind(*args, **kwargs)
    bound.apply_defaults()
    return bool(bound.arguments["train_flg"])


def _recording(layer, calls):
    forward = layer.forward

    def recorded_forward(*args, **kwargs):
        out = forward(*args, **kwargs)
        calls.append(Call(layer, args, _train_flag(forward, args, kwargs), out, dict(vars(layer))))
        return out

    return recorded_forward


class LayersKept:
    """Context: on exit, every watched layer's attributes are put back as they were on entry.

    The layers of the book rebind their attributes on forward (none writes a
    cached array in place), so a shallow copy of each ``__dict__`` is enough.
    With ``keep_random_state`` NumPy's global generator is put back too.
    """

    def __init__(self, layers, keep_random_state):
        self.layers = list({id(layer): layer for layer in layers}.values())
        self.keep_random_state = keep_random_state

    def __enter__(self):
        self.saved = [dict(vars(layer)) for layer in self.layers]
        self.random_state = np.random.get_state() if self.keep_random_state else None
        return self

    def __exit__(self, *exc):
        for layer, state in zip(self.layers, self.saved):
            vars(layer).clear()
            vars(layer).update(state)
        if self.random_state is not None:
            np.random.set_state(self.random_state)
        return False


def record_forward(network, run, keep_random_state):
    """Call run() (the network's loss) once with every layer recording its forward.

    Returns
    -------
    calls : list of Call, in the order the layers ran
    value : what run() returned

    Every layer is left as it was before (``LayersKept``); NumPy's global
    generator too when keep_random_state. Exceptions of run() propagate.
    """
    body, ends = layer_sequence(network)
    calls = []
    with LayersKept(body + ends, keep_random_state) as kept:
        for layer in kept.layers:
            layer.forward = _recording(layer, calls)
        value = run()
    return calls, value


# --------------------------------------------------------------------------
# 2. what it is: the calls read as a chain
# --------------------------------------------------------------------------

#: A layer as the chain uses it: its train flag (None for layers without one)
#: and, for a Dropout run in train mode, the mask it applied (None: not drawn yet).
LayerUse = namedtuple("LayerUse", "layer train_flg mask")


def uses_from_calls(calls):
    """The recorded layer calls as LayerUses, and the chain's input; NotSupported unless they form a chain.

    Each layer's input must be the previous layer's output, each layer run once.
    """
    require(len(calls) >= 1, "no layer calls")
    for before, after in pairwise(calls):
        require(after.args and after.args[0] is before.output, "the layers do not form a chain")
    require(len({id(call.layer) for call in calls}) == len(calls), "a layer runs twice")
    require(bool(calls[0].args), "the first layer ran without input")
    uses = [LayerUse(call.layer, call.train_flg,
                     call.state.get("mask") if isinstance(call.layer, DROPOUT) else None) for call in calls]
    return uses, calls[0].args[0]


class DenseStage:
    """One Affine layer and what follows it up to the next Affine, as plain arrays.

    weights (D_in, D_out), bias (D_out,): float64, the network's own arrays;
    gamma, beta (D_out,) or None: batch norm (train mode); activation: ACT_*;
    keep: None, or the dropout multiplier (N, D_out) or a float;
    ratio_to_draw: None, or the ratio of a dropout mask still to be drawn;
    keys: {"weights": key, "bias": key, "gamma": key, "beta": key} of params.
    """

    def __init__(self, weights, bias, keys):
        self.weights, self.bias, self.keys = weights, bias, dict(keys)
        self.gamma = self.beta = self.keep = None
        self.activation = _k.ACT_NONE
        #: the dropout ratio of a train-mode Dropout whose mask is still to be drawn (draw_dropout_masks)
        self.ratio_to_draw = None


class ConvStage:
    """A Convolution - Relu - max-Pooling block: the layers and the keys of W and b."""

    def __init__(self, conv, pool, keys):
        self.conv, self.pool, self.keys = conv, pool, dict(keys)


Chain = namedtuple("Chain", "inputs conv stages targets")


def _key_of(array, params, what):
    """The key of params whose value IS array (not a copy)."""
    for key, value in params.items():
        if value is array:
            return key
    raise NotSupported(f"{what} is not one of the network's params arrays")


def _read_dense_stage(uses, i, params):
    """The DenseStage starting at uses[i] (an Affine; uses: LayerUses) and the index after it."""
    affine = uses[i].layer
    require(isinstance(affine, _book_layers.Affine), f"{type(affine).__name__} where an Affine layer was expected")
    weights = float64_param(affine.W, "Affine.W")
    bias = float64_param(affine.b, "Affine.b")
    require(weights.ndim == 2 and bias.shape == (weights.shape[1],), "Affine W, b shapes")
    stage = DenseStage(weights, bias, {"weights": _key_of(weights, params, "Affine.W"),
                                       "bias": _key_of(bias, params, "Affine.b")})
    i += 1
    if i < len(uses) and isinstance(uses[i].layer, _book_layers.BatchNormalization):
        bn = uses[i].layer
        require(uses[i].train_flg is True, "batch norm in test mode")
        stage.gamma = float64_param(bn.gamma, "BatchNormalization.gamma")
        stage.beta = float64_param(bn.beta, "BatchNormalization.beta")
        require(stage.gamma.shape == bias.shape and stage.beta.shape == bias.shape, "gamma, beta shapes")
        stage.keys["gamma"] = _key_of(stage.gamma, params, "BatchNormalization.gamma")
        stage.keys["beta"] = _key_of(stage.beta, params, "BatchNormalization.beta")
        i += 1
    if i < len(uses):
        for cls, code in _ACTIVATIONS:
            if isinstance(uses[i].layer, cls):
                stage.activation = code
                i += 1
                break
    if i < len(uses) and isinstance(uses[i].layer, _book_layers.Dropout):
        use = uses[i]
        ratio = use.layer.dropout_ratio
        require(isinstance(ratio, (int, float)), "dropout ratio")
        if not use.train_flg:
            stage.keep = 1.0 - ratio
        elif use.mask is None:
            stage.ratio_to_draw = ratio
        else:
            require(type(use.mask) is np.ndarray and use.mask.dtype == np.bool_, "dropout mask")
            stage.keep = use.mask.astype(np.float64)
        i += 1
    return stage, i


def read_chain(uses, inputs, targets, params):
    """The layers the network runs, read by what each one is, as a Chain.

    Parameters
    ----------
    uses : list of LayerUse, the layers before the loss in the order they run
    inputs : ndarray (N, ...), the first layer's input
    targets : the loss layer's t
    params : the network's params dict (every parameter must be one of its arrays)

    Raises NotSupported where the kernels do not model the chain.
    """
    require(type(inputs) is np.ndarray and inputs.dtype.kind in "biuf" and inputs.ndim >= 2
            and inputs.shape[0] >= 1, "network input")
    conv, i = None, 0
    if isinstance(uses[0].layer, _book_layers.Convolution):
        conv, i = _read_conv_stage(uses, params), 3
    stages = []
    while i < len(uses):
        stage, i = _read_dense_stage(uses, i, params)
        stages.append(stage)
    require(stages, "no Affine layer")
    end = stages[-1]
    require(end.gamma is None and end.activation == _k.ACT_NONE and end.keep is None and end.ratio_to_draw is None,
            "the last Affine layer does not feed the loss directly")
    for a, b in pairwise(stages):
        require(a.weights.shape[1] == b.weights.shape[0], "Affine shapes do not chain")
    return Chain(inputs, conv, stages, targets)


def draw_dropout_masks(chain):
    """Draw the masks still to draw as one training forward does: rand(N, D) > ratio, in layer order."""
    n = chain.inputs.shape[0]
    for stage in chain.stages:
        if stage.ratio_to_draw is not None:
            stage.keep = (np.random.rand(n, stage.weights.shape[1]) > stage.ratio_to_draw).astype(np.float64)
            stage.ratio_to_draw = None


def split_loss_call(calls, value):
    """calls ending in the SoftmaxWithLoss that returned value, as (the layer calls before it, its targets)."""
    require(len(calls) >= 2, "fewer than two layer calls")
    last = calls[-1]
    require(isinstance(last.layer, _book_layers.SoftmaxWithLoss) and len(last.args) >= 2,
            "the loss is not a SoftmaxWithLoss")
    require(last.args[0] is calls[-2].output, "the loss layer is not fed by the last layer")
    require(isinstance(value, (float, np.floating)) and value == last.output,
            "the function returns something else than the loss layer's value")
    return calls[:-1], last.args[1]


def _read_conv_stage(uses, params):
    require(len(uses) >= 4 and isinstance(uses[1].layer, _book_layers.Relu)
            and isinstance(uses[2].layer, _book_layers.Pooling), "a Convolution not followed by Relu, Pooling")
    conv, pool = uses[0].layer, uses[2].layer
    weights = float64_param(conv.W, "Convolution.W")
    bias = float64_param(conv.b, "Convolution.b")
    require(weights.ndim == 4 and bias.shape == (weights.shape[0],), "Convolution W, b shapes")
    require(int(conv.stride) >= 1 and int(conv.pad) >= 0, "Convolution stride, pad")
    require(int(getattr(pool, "pad", 0)) == 0 and int(pool.stride) >= 1, "Pooling with padding")
    return ConvStage(conv, pool, {"weights": _key_of(weights, params, "Convolution.W"),
                                  "bias": _key_of(bias, params, "Convolution.b")})


# --------------------------------------------------------------------------
# 3. the records, the unperturbed forward, the kernels
# --------------------------------------------------------------------------

def class_labels(t, n, k):
    """Class index per row (N,) int64, as the book's cross_entropy_error reads t."""
    require(type(t) is np.ndarray, "targets are not an ndarray")
    if t.size == n * k:  # one-hot (or scores): the book takes argmax over axis 1
        require(t.ndim == 2 and t.shape == (n, k), "one-hot targets of another shape")
        return np.ascontiguousarray(t.argmax(axis=1), dtype=np.int64)
    # labels: y[np.arange(n), t] picks one entry per row only for t of n entries
    require(t.dtype.kind in "iu" and (t.ndim == 1 or t.size == 1) and t.size == n, "label targets")
    labels = t.reshape(n).astype(np.int64)
    require(bool(np.all((labels >= -k) & (labels < k))), "labels out of range")
    return np.ascontiguousarray(labels % k)  # NumPy indexing wraps negative labels


def _nonzero_by_feature(inputs):
    """inputs (N, D) by feature: (start (D + 1,), rows, values) of its nonzero entries."""
    by_feature = inputs.T
    feature, rows = np.nonzero(by_feature)  # ordered by feature, then row
    start = np.zeros(inputs.shape[1] + 1, dtype=np.int64)
    np.cumsum(np.bincount(feature, minlength=inputs.shape[1]), out=start[1:])
    return start, rows.astype(np.int64), np.ascontiguousarray(by_feature[feature, rows], dtype=np.float64)


def _dense_layer_record(stage, inputs):
    """The DenseLayer record of stage fed by inputs (N, D_in), its unperturbed values computed."""
    n, d = inputs.shape[0], stage.weights.shape[1]
    keep = np.ones((n, d))
    if stage.keep is not None:
        keep[...] = stage.keep
    has_batchnorm = stage.gamma is not None
    pre_activation = np.ascontiguousarray(inputs @ stage.weights + stage.bias)
    record = _k.DenseLayer(
        weights=np.ascontiguousarray(stage.weights), bias=np.ascontiguousarray(stage.bias),
        gamma=np.ascontiguousarray(stage.gamma) if has_batchnorm else np.ones(d),
        beta=np.ascontiguousarray(stage.beta) if has_batchnorm else np.zeros(d),
        has_batchnorm=has_batchnorm, activation=int(stage.activation), keep=keep, inputs=inputs,
        pre_activation=pre_activation, normalized=np.zeros((n, d)), outputs=np.empty((n, d)),
        **dict(zip(("nonzero_start", "nonzero_rows", "nonzero_values"), _nonzero_by_feature(inputs))))
    _k.dense_post_activation(record)
    return record


def _conv_block(conv_stage, x):
    """The ConvReluPool record of the block for input x (N, C, H, W), with its unperturbed values."""
    conv, pool = conv_stage.conv, conv_stage.pool
    weights = np.ascontiguousarray(conv.W)
    n_filters, channels, fh, fw = weights.shape
    require(x.ndim == 4 and x.shape[1] == channels, "convolution input shape")
    stride, pad = int(conv.stride), int(conv.pad)
    n = x.shape[0]
    padded = np.pad(np.asarray(x, dtype=np.float64), [(0, 0), (0, 0), (pad, pad), (pad, pad)])
    oh = (x.shape[2] + 2 * pad - fh) // stride + 1
    ow = (x.shape[3] + 2 * pad - fw) // stride + 1
    pool_h, pool_w, pool_stride = int(pool.pool_h), int(pool.pool_w), int(pool.stride)
    require(oh >= pool_h and ow >= pool_w, "pool window larger than the convolution's output")
    ph = (oh - pool_h) // pool_stride + 1
    pw = (ow - pool_w) // pool_stride + 1
    # the unperturbed convolution: patches (N, OH, OW, C, FH, FW) against the filters, one GEMM
    windows = np.lib.stride_tricks.sliding_window_view(padded, (fh, fw), axis=(2, 3))
    windows = windows[:, :, :oh * stride:stride, :ow * stride:stride]
    patches = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n * oh * ow, channels * fh * fw)
    conv_out = (patches @ weights.reshape(n_filters, -1).T + conv.b).reshape(n, oh, ow, n_filters)
    block = _k.ConvReluPool(padded_inputs=padded, weights=weights, bias=np.ascontiguousarray(conv.b),
                            stride=stride, conv_out=np.ascontiguousarray(conv_out.transpose(0, 3, 1, 2)),
                            pooled=np.empty((n, n_filters, ph, pw)), pool_h=pool_h, pool_w=pool_w,
                            pool_stride=pool_stride)
    _k.conv_relu_pool(block)
    return block


class IncrementalModel:
    """A Chain as the kernels' records, with its unperturbed forward done.

    Attributes
    ----------
    loss_value : float, the mean cross-entropy of the unperturbed network
        (without weight decay)
    params : {key: (where, kind, array)}, where is "conv" or a dense layer index,
        kind a ``PARAM_*`` of ``fastscratch.kernels.netgrad``, in chain order
    """

    def __init__(self, chain, weight_decay=0.0):
        x = chain.inputs
        self.conv = None
        if chain.conv is not None:
            self.conv = _conv_block(chain.conv, x)
            inputs = self.conv.pooled.reshape(x.shape[0], -1)
        else:
            inputs = np.ascontiguousarray(x.reshape(x.shape[0], -1), dtype=np.float64)
        require(inputs.shape[1] == chain.stages[0].weights.shape[0], "input features do not match W")
        n = inputs.shape[0]
        layers = []
        for stage in chain.stages:
            require(stage.keep is None or np.shape(stage.keep) in ((), (n, stage.weights.shape[1])),
                    "dropout mask shape")
            layers.append(_dense_layer_record(stage, inputs))
            inputs = layers[-1].outputs
        self.layers = tuple(layers)
        self.chain = _k.make_dense_chain(self.layers)
        logits = layers[-1].pre_activation
        k = logits.shape[1]
        labels = class_labels(chain.targets, n, k)
        hidden = layers[-2].weights.shape[1] if len(layers) >= 2 else 0
        # the moments serve a hidden layer without batch norm that feeds the logits
        feeds_logits = len(layers) >= 2 and not layers[-2].has_batchnorm
        self.loss = _k.SoftmaxLoss(labels=labels, log_prob=np.empty(n), exp_shifted=np.empty((n, k)),
                                   exp_sum_without=np.empty((n, k)),
                                   moments=np.empty((n, hidden, 5) if feeds_logits else (0, 0, 5)),
                                   max_abs_weight=np.empty(hidden if feeds_logits else 0))
        _k.softmax_loss_terms(logits, self.loss)
        if feeds_logits:
            _k.logit_moments(layers[-1].weights, self.loss)
        self.loss_value = float(-np.sum(self.loss.log_prob) / n)
        self.weight_decay = float(weight_decay)
        slots = max(1, numba.get_num_threads())
        width = n * max(layer.weights.shape[1] for layer in layers)
        pool_size = self.conv.pooled.shape[2] * self.conv.pooled.shape[3] if self.conv is not None else 0
        self.scratch = _k.Scratch(rows_a=np.zeros((slots, width)), rows_b=np.zeros((slots, width)),
                                  column=np.zeros((slots, n)), changed=np.zeros((slots, n), dtype=np.int8),
                                  pool_change=np.zeros((slots, pool_size)))
        self.params = {}
        if chain.conv is not None:
            self.params[chain.conv.keys["weights"]] = ("conv", _k.PARAM_WEIGHTS, chain.conv.conv.W)
            self.params[chain.conv.keys["bias"]] = ("conv", _k.PARAM_BIAS, chain.conv.conv.b)
        kinds = (("weights", _k.PARAM_WEIGHTS), ("bias", _k.PARAM_BIAS), ("gamma", _k.PARAM_GAMMA),
                 ("beta", _k.PARAM_BETA))
        for index, stage in enumerate(chain.stages):
            for name, kind in kinds:
                if name in stage.keys:
                    self.params[stage.keys[name]] = (index, kind, getattr(stage, name))

    def weight_decay_value(self):
        """0.5 * lambda * sum(W**2) over the dense weights, as the book's networks add it."""
        decay = 0
        for where, kind, array in self.params.values():
            if where != "conv" and kind == _k.PARAM_WEIGHTS:
                decay += 0.5 * self.weight_decay * sum_of_squares(array)
        return decay

    def gradients(self, keys):
        """{key: the numerical gradient of the loss w.r.t. params[key]} (float64, the parameter's shape)."""
        grads = {}
        dense = [key for key in keys if self.params[key][0] != "conv"]
        if dense:
            sizes = [self.params[key][2].size for key in dense]
            params = _k.ParamList(kind=np.array([self.params[key][1] for key in dense], dtype=np.int64),
                                  layer=np.array([self.params[key][0] for key in dense], dtype=np.int64),
                                  start=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64))
            flat = np.empty(int(params.start[-1]))
            # elements times rows: the work of the loop (fastscratch/kernels/_jit.py's rule for parallel or serial)
            grad_fn = _pick(flat.size * self.loss.labels.size, _k.dense_param_grad, _k.dense_param_grad_serial)
            grad_fn(self.chain, self.loss, params, H, self.weight_decay, self.scratch, flat)
            for u, key in enumerate(dense):
                grads[key] = flat[params.start[u]:params.start[u + 1]].reshape(self.params[key][2].shape)
        for key in keys:
            where, kind, array = self.params[key]
            if where == "conv":
                flat = np.empty(array.size)
                _k.conv_param_grad(self.conv, kind, self.chain, self.loss, H, self.scratch, flat)
                grads[key] = flat.reshape(array.shape)
        return {key: grads[key] for key in keys}


def loss_matches(model, value):
    """Whether value is the model's unperturbed loss (plus its weight decay), to LOSS_RTOL."""
    expected = model.loss_value + model.weight_decay_value()
    return abs(expected - float(value)) <= LOSS_RTOL * max(1.0, abs(expected))


# --------------------------------------------------------------------------
# the book's network classes
# --------------------------------------------------------------------------

def incremental_numerical_gradient(network, x, t):
    """The numerical gradient of one of the book's networks, incrementally.

    Parameters
    ----------
    network : TwoLayerNet, MultiLayerNet, MultiLayerNetExtend or SimpleConvNet
        (reference or fast; isinstance against the reference classes), whose
        layers form a chain the kernels model (see the module notes)
    x : ndarray of shape (N, ...) for the dense nets, (N, C, H, W) for SimpleConvNet
    t : ndarray, one-hot (N, K) or labels (N,)

    Returns
    -------
    dict
        The reference's ``numerical_gradient`` keys (chain order) -> float64
        arrays of the parameters' shapes.

    Raises
    ------
    NotSupported
        Anything outside the model; NumPy's global generator is then as it was.
    """
    require(isinstance(network, (_RefTwoLayerNet, _RefMultiLayerNet, _RefSimpleConvNet)),
            "not one of the book's network classes")
    params = getattr(network, "params", None)
    require(isinstance(params, dict), "no params dict")
    for key, value in params.items():
        float64_param(value, key)
    require(type(x) is np.ndarray and type(t) is np.ndarray, "x or t is not an ndarray")
    end = getattr(network, "last_layer", None)
    require(isinstance(end, _book_layers.SoftmaxWithLoss), "the last layer is not a SoftmaxWithLoss")
    weight_decay = float(network.weight_decay_lambda) if isinstance(network, _RefMultiLayerNet) else 0.0
    # the loss of these classes is last_layer.forward(predict(x), t) (+ weight decay), their
    # predict a plain loop over the layers, whose batch norm and dropout run in train mode
    # (their defaults; MultiLayerNetExtend's numerical_gradient passes train_flg=True)
    body, _ = layer_sequence(network)
    uses = [LayerUse(layer, True if isinstance(layer, _TRAIN_FLAG_LAYERS) else None, None) for layer in body]
    chain = read_chain(uses, x, t, params)
    require({key for stage in chain.stages for key in stage.keys.values()}
            | (set(chain.conv.keys.values()) if chain.conv is not None else set()) == set(params),
            "the chain does not hold every parameter")
    random_state = np.random.get_state()
    draw_dropout_masks(chain)
    try:
        model = IncrementalModel(chain, weight_decay)
    except NotSupported:
        np.random.set_state(random_state)  # the fallback draws what the reference draws
        raise
    return model.gradients(list(model.params))


def sigmoid_two_layer_gradient(network, x, t):
    """The numerical gradient of chapter 4's TwoLayerNet (no layers: its params and its loss).

    Its loss is cross_entropy_error(softmax(sigmoid(x W1 + b1) W2 + b2), t): a
    chain of two dense stages, the first with sigmoid. The model's loss must
    be the network's own ``loss(x, t)`` (one call), so a subclass that computes
    something else falls back.

    Returns {'W1', 'b1', 'W2', 'b2'} -> float64 arrays; raises NotSupported.
    """
    params = network.params
    require(isinstance(params, dict) and list(params) == ["W1", "b1", "W2", "b2"], "params")
    weights = [float64_param(params[key], key) for key in ("W1", "W2")]
    biases = [float64_param(params[key], key) for key in ("b1", "b2")]
    for w, b in zip(weights, biases):
        require(w.ndim == 2 and b.shape == (w.shape[1],), "W, b shapes")
    require(weights[0].shape[1] == weights[1].shape[0], "W1, W2 shapes do not chain")
    # np.dot(x, W1) of anything but a batch (N, input_size) is not this chain
    require(type(x) is np.ndarray and x.ndim == 2 and x.shape[0] >= 1 and x.dtype.kind in "biuf"
            and x.shape[1] == weights[0].shape[0], "x is not a batch of rows")
    hidden = DenseStage(weights[0], biases[0], {"weights": "W1", "bias": "b1"})
    hidden.activation = _k.ACT_SIGMOID
    logits = DenseStage(weights[1], biases[1], {"weights": "W2", "bias": "b2"})
    model = IncrementalModel(Chain(x, None, [hidden, logits], t))
    require(loss_matches(model, network.loss(x, t)), "the model's loss is not the network's")
    return model.gradients(["W1", "b1", "W2", "b2"])
