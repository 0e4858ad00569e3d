"""A traced loss read as the dense chain the incremental kernels model: networks built from functions.

Chapter 4's network has no layers: its loss is NumPy expressions and the
book's functions over the arrays of ``params``. ``read_traced_chain`` takes
the graph that ``fastscratch._core.trace.trace_loss`` recorded and reads it, from
the loss back to the input, as

    cross_entropy_error(softmax(Z_L W_L + b_L), t),  Z_l = act(Z_{l-1} W_l + b_l),  Z_0 = x

where every operation must be one of these, written as the book or a reader
writes it (and nothing else may feed the loss):

- the loss: ``-np.sum(np.log(y[np.arange(N), t] + 1e-7)) / N`` (labels) or
  ``-np.sum(t * np.log(y + 1e-7)) / N`` with t exactly one-hot; the 1e-7 is
  the book's and the kernels' (another delta is another function);
- softmax over each row: ``exp(a - max(a)) / sum(exp(a - max(a)))`` with the
  reductions over the class axis and broadcast back along it (``keepdims``,
  or the old book's transposed form ``x.T ... y.T``), or without the
  subtraction of the max where no exponential can overflow;
- each affine map: ``np.dot(z, W) + b``, ``z @ W + b`` or ``np.matmul(z, W) + b``
  (either order of the sum), W (D_in, D_out) and b (D_out,) parameters;
- between two affine maps: ``1 / (1 + np.exp(-a))`` (sigmoid),
  ``np.maximum(0, a)`` (relu) or nothing.

Every ufunc must be called without keywords, every reduction with axis and
keepdims only. Anything else raises ``NotSupported``.
"""
import operator
from collections import namedtuple

import numpy as np

from fastscratch._core.not_supported import NotSupported, require
from fastscratch._core.trace import PARAM, Traced
from fastscratch.kernels import netgrad as _k

__all__ = ["NotSupported", "TracedChain", "read_traced_chain"]

#: The chain a traced loss computes.
#: inputs: the first affine map's constant input (N, D); stages: (weights key, bias key,
#: ACT_* after it) from the input on; labels: (N,) integer classes; shifted: whether the
#: softmax subtracts each row's max; constants: every array the graph reads besides the
#: parameters (the input, the targets, the row indices).
TracedChain = namedtuple("TracedChain", "inputs stages labels shifted constants")

_MAX = (np.max, np.amax)
#: The largest logit (plus log K) an unshifted softmax may see: exp stays finite for h-sized moves.
_UNSHIFTED_LIMIT = 690.0


def _is(node, op):
    return isinstance(node, Traced) and node.op is op


def _number(arg, value=None):
    """Whether arg is a constant real number (equal to value, when given)."""
    is_number = (isinstance(arg, (int, float, np.integer, np.floating))
                 and not isinstance(arg, (bool, np.bool_)))
    return is_number and (value is None or arg == value)


def _operands(node, ufunc):
    """The two operands of node = ufunc(a, b) called without keywords; None otherwise."""
    if _is(node, ufunc) and len(node.args) == 2 and not node.kwargs:
        return node.args
    return None


def _operand(node, ufunc):
    """The operand of node = ufunc(a) called without keywords; None otherwise."""
    if _is(node, ufunc) and len(node.args) == 1 and not node.kwargs:
        return node.args[0]
    return None


def _with_constant(node, ufunc, value):
    """The traced operand of node = ufunc(c, a) or ufunc(a, c), c the number value; None otherwise."""
    ops = _operands(node, ufunc)
    if ops is None:
        return None
    a, b = ops
    if _number(a, value) and isinstance(b, Traced):
        return b
    if _number(b, value) and isinstance(a, Traced):
        return a
    return None


def _reduction(node, ops):
    """(input, axis, output shape) of node = np.sum/np.max(input, axis, keepdims=...); None otherwise."""
    if not (isinstance(node, Traced) and any(node.op is op for op in ops)) or not 1 <= len(node.args) <= 2:
        return None
    kwargs = dict(node.kwargs)
    axis = node.args[1] if len(node.args) == 2 else kwargs.pop("axis", None)
    kwargs.pop("keepdims", None)
    if kwargs or not (axis is None or _number(axis)):
        return None
    return node.args[0], axis, np.shape(node.value)


def _class_reduction(node, ops, source, transposed):
    """Whether node reduces source over its class axis and broadcasts back along it, as softmax needs."""
    found = _reduction(node, ops)
    if found is None or found[0] is not source:
        return False
    _, axis, out = found
    shape = np.shape(source.value)
    if len(shape) != 2:
        return False
    classes = 0 if transposed else 1
    rows = shape[1 - classes]
    if axis is None:  # the whole array: one row only
        return rows == 1 and out == ()
    if int(axis) % 2 != classes:
        return False
    keepdims = (1, shape[1]) if transposed else (shape[0], 1)
    # without keepdims the reduced (rows,) broadcasts along the last axis: right when that is the rows'
    return out == keepdims or (out == (rows,) and (transposed or rows == 1))


def _read_loss(root):
    """(probabilities y (N, K), labels (N,), the targets as given) of the book's cross-entropy of y.

    NotSupported where the loss is anything else.
    """
    ops = _operands(root, np.true_divide)
    if ops is not None and _operand(ops[0], np.negative) is not None:
        total, n = _operand(ops[0], np.negative), ops[1]
    else:  # -(np.sum(...) / N)
        ops = _operands(_operand(root, np.negative), np.true_divide)
        require(ops is not None, "the loss is not -sum(...) / N")
        total, n = ops
    found = _reduction(total, (np.sum,))
    require(found is not None and found[1] is None and found[2] == () and _number(n), "the loss is not -sum(...) / N")
    terms = found[0]
    logs = _operand(terms, np.log)
    if logs is not None:  # -sum(log(y[arange(N), t] + delta)) / N
        pick = _with_constant(logs, np.add, _k.CEE_DELTA)
        require(_is(pick, operator.getitem) and isinstance(pick.args[1], tuple) and len(pick.args[1]) == 2,
                "the cross-entropy does not pick y[arange(N), t] + 1e-7")
        y, (rows, labels) = pick.args
        y_shape = np.shape(getattr(y, "value", None))
        require(isinstance(y, Traced) and len(y_shape) == 2 and n == y_shape[0], "y is not (N, K) or N differs")
        rows, labels = np.asarray(rows), np.asarray(labels)
        require(rows.shape == (y_shape[0],) and rows.dtype.kind in "iu" and np.array_equal(rows, np.arange(n))
                and labels.shape == rows.shape and labels.dtype.kind in "iu", "the pick is not y[arange(N), labels]")
        return y, labels, pick.args[1]
    ops = _operands(terms, np.multiply)
    require(ops is not None, "the cross-entropy is not a sum of log terms")
    t, logs = ops if not isinstance(ops[0], Traced) else ops[::-1]
    y = _with_constant(_operand(logs, np.log), np.add, _k.CEE_DELTA)
    require(y is not None and type(t) is np.ndarray, "the cross-entropy is not -sum(t * log(y + 1e-7)) / N")
    shape = np.shape(y.value)
    require(len(shape) == 2 and t.shape == shape and n == shape[0] and t.dtype.kind in "biuf", "t is not y's shape")
    one_hot = bool(np.all((t == 0) | (t == 1))) and bool(np.all(t.sum(axis=1) == 1))
    require(one_hot, "t is not one-hot")
    return y, np.argmax(t, axis=1), (t,)


def _read_softmax(y):
    """(logits a (N, K), whether each row's max is subtracted) of y = softmax(a) over rows."""
    transposed = _is(y, np.transpose) and len(y.args) == 1 and not y.kwargs.get("axes")
    quotient = y.args[0] if transposed else y
    ops = _operands(quotient, np.true_divide)
    require(ops is not None, "y is not exp(...) / sum(exp(...))")
    numerator, denominator = ops
    shifted_logits = _operand(numerator, np.exp)
    require(shifted_logits is not None, "y is not exp(...) / sum(exp(...))")
    summed = _reduction(denominator, (np.sum,))
    require(summed is not None and (summed[0] is numerator or _operand(summed[0], np.exp) is shifted_logits)
            and _class_reduction(denominator, (np.sum,), summed[0], transposed),
            "the softmax does not sum over each row's classes")
    ops = _operands(shifted_logits, np.subtract)
    shifted = ops is not None and isinstance(ops[0], Traced) and _class_reduction(ops[1], _MAX, ops[0], transposed)
    logits = ops[0] if shifted else shifted_logits
    if transposed:
        require(_is(logits, np.transpose) and len(logits.args) == 1 and not logits.kwargs.get("axes"),
                "a transposed softmax of untransposed logits")
        logits = logits.args[0]
    require(isinstance(logits, Traced) and np.ndim(logits.value) == 2, "the logits are not (N, K)")
    if not shifted:  # the reference's exp(a) must stay finite at every perturbed point
        bound = float(np.max(np.abs(logits.value))) + np.log(logits.value.shape[1])
        require(bound < _UNSHIFTED_LIMIT, "an unshifted softmax near overflow")
    return logits, shifted


def _param(node, ndim):
    return isinstance(node, Traced) and node.op == PARAM and np.ndim(node.value) == ndim


def _read_affine(a):
    """(input z, weights key, bias key) of a = z W + b; z is a Traced or the network's constant input."""
    ops = _operands(a, np.add)
    require(ops is not None, "not an affine map z W + b")
    product, bias = ops if _param(ops[1], 1) else ops[::-1]
    require(_param(bias, 1), "an affine map without a bias vector of params")
    require((_is(product, np.dot) or _is(product, np.matmul)) and len(product.args) == 2 and not product.kwargs,
            "an affine map whose product is not np.dot / @ / np.matmul")
    z, weights = product.args
    require(_param(weights, 2) and bias.value.shape == (weights.value.shape[1],), "W (D_in, D_out), b (D_out,)")
    require(np.ndim(z.value if isinstance(z, Traced) else z) == 2, "an affine map of a non-batch input")
    return z, weights.key, bias.key


def _read_activation(z):
    """(pre-activation a, ACT_*) of z = sigmoid(a), relu(a) or a itself."""
    ops = _operands(z, np.true_divide)
    if ops is not None and _number(ops[0], 1):
        exp_term = _with_constant(ops[1], np.add, 1)
        a = _operand(_operand(exp_term, np.exp), np.negative)
        require(a is not None, "1 / (...) that is not the sigmoid 1 / (1 + exp(-a))")
        return a, _k.ACT_SIGMOID
    a = _with_constant(z, np.maximum, 0)
    if a is not None:
        return a, _k.ACT_RELU
    return z, _k.ACT_NONE


def read_traced_chain(loss):
    """The TracedChain that the traced loss computes; NotSupported where it is anything else."""
    y, labels, targets = _read_loss(loss)
    logits, shifted = _read_softmax(y)
    stages, node, activation = [], logits, _k.ACT_NONE
    while True:
        z, weights_key, bias_key = _read_affine(node)
        stages.append((weights_key, bias_key, activation))
        if not isinstance(z, Traced):
            break
        node, activation = _read_activation(z)
    stages.reverse()
    keys = [key for stage in stages for key in stage[:2]]
    require(len(set(keys)) == len(keys), "a parameter is used twice")
    require(type(z) is np.ndarray and z.dtype.kind in "biuf", "the network's input is not a real array")
    k = logits.value.shape[1]
    require(bool(np.all((labels >= -k) & (labels < k))), "labels out of range")
    constants = (z,) + tuple(a for a in targets if isinstance(a, np.ndarray))
    return TracedChain(z, stages, labels, shifted, constants)
