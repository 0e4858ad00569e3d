"""Incremental numerical gradient of a network's loss: the records that describe a network, and the kernels.

A network is described once, as a chain of layer records (namedtuples of arrays
and scalars, which Numba takes as arguments and caches on disk):

``DenseLayer``
    One Affine layer and what follows it up to the next Affine: an optional
    batch norm (train mode), an activation, a fixed dropout multiplier; with
    the layer's unperturbed input, pre-activation and output.
``ConvReluPool``
    A Convolution - ReLU - max-Pooling block in front of the dense chain.
``SoftmaxLoss``
    The SoftmaxWithLoss at the end: labels and the unperturbed loss terms.
``ParamList``
    Which parameters to differentiate: kind, layer, and where each one's
    elements go in ``grad``.
``Scratch``
    Work buffers, one row per thread slot.

A dense chain is a tuple of ``DenseLayer`` records, input layer first; the
last one is the logits layer (no batch norm, no activation, keep = 1). The
parallel kernels take it boxed in a ``DenseChain`` (``make_dense_chain``):
Numba's parallel loops take flat namedtuples but not a tuple of them, and a
StructRef is passed as one opaque reference (and caches on disk).

Following one parameter
-----------------------
Take W[i, j] of layer l. Its two perturbed values w + h and w - h change only
column j of layer l's pre-activation, by inputs[:, i] * (v - w); rows where
inputs[r, i] is 0 do not change at all (``nonzero_*`` lists the others).
Through batch norm (which then moves every row of the column), the activation
and the dropout multiplier, that column becomes a change dA[:, j] of the
layer's output, and so a rank-1 change dA[:, j] * W_{l+1}[j, :] of the next
layer's pre-activation. ``_propagate_rows`` carries the changed rows forward
to the logits, and only their loss terms are re-evaluated. Where layer l feeds
the logits directly (TwoLayerNet's W1, b1: the common case), the change of
each row's softmax denominator is a five-term polynomial in dA (``moments``)
instead of K exponentials. The gradient is (loss(w + h) - loss(w - h)) / 2h,
each loss the mean over rows of -log(y[t] + 1e-7), plus the weight-decay term.

Exactness: every perturbed loss is evaluated at the book's perturbed point
(w + h, w - h) in float64. Where a change of the logits is below 1e-3, exp,
exp - 1 and log1p come from their Taylor series, cut where the remainder is
below 1e-19 relative (under float64 rounding), so what remains of the
difference to the reference is the rounding of its own loss values over 2h.

Every kernel here is float64 only; ``fastscratch._numgrad.incremental`` builds the records
and checks everything before a kernel runs.
"""
import math
from collections import namedtuple

import numpy as np
from numba.core import types
from numba.experimental import structref

from ._jit import kernel, parallel_kernel, prange, serial_twin

#: Added inside the log of the cross-entropy, as the book does.
CEE_DELTA = 1e-7
#: The book's batch-norm epsilon (10e-7).
BN_EPS = 10e-7

ACT_NONE = 0
ACT_RELU = 1
ACT_SIGMOID = 2

#: Kinds of parameter in a ``ParamList``.
PARAM_WEIGHTS = 0
PARAM_BIAS = 1
PARAM_GAMMA = 2
PARAM_BETA = 3

DenseLayer = namedtuple("DenseLayer", [
    "weights",          # (D_in, D_out) W
    "bias",             # (D_out,) b
    "gamma",            # (D_out,) batch-norm scale (ones without batch norm)
    "beta",             # (D_out,) batch-norm shift (zeros without batch norm)
    "has_batchnorm",    # bool
    "activation",       # ACT_NONE, ACT_RELU or ACT_SIGMOID
    "keep",             # (N, D_out) dropout multiplier: a fixed 0/1 mask, 1 - ratio, or 1
    "inputs",           # (N, D_in) the layer's unperturbed input (the previous layer's outputs)
    "pre_activation",   # (N, D_out) inputs @ weights + bias
    "normalized",       # (N, D_out) batch norm's x_hat of pre_activation (zeros without batch norm)
    "outputs",          # (N, D_out) activation(batchnorm(pre_activation)) * keep (logits layer: unused)
    "nonzero_start",    # (D_in + 1,) int64: inputs[:, i] is nonzero in rows nonzero_rows[start[i]:start[i + 1]]
    "nonzero_rows",     # (nnz,) int64, by feature then row
    "nonzero_values",   # (nnz,) float64, the inputs there
])

ConvReluPool = namedtuple("ConvReluPool", [
    "padded_inputs",    # (N, C, H + 2 pad, W + 2 pad)
    "weights",          # (FN, C, FH, FW)
    "bias",             # (FN,)
    "stride",           # int
    "conv_out",         # (N, FN, OH, OW) the unperturbed convolution
    "pooled",           # (N, FN, PH, PW) max over pool windows of relu(conv_out): the dense chain's input
    "pool_h",           # int
    "pool_w",           # int
    "pool_stride",      # int
])

SoftmaxLoss = namedtuple("SoftmaxLoss", [
    "labels",           # (N,) int64, the class of each row
    "log_prob",         # (N,) log(y[r, labels[r]] + 1e-7) of the unperturbed logits
    "exp_shifted",      # (N, K) exp(z - max_k z) of the unperturbed logits z
    "exp_sum_without",  # (N, K) the row sum of exp_shifted leaving out column k
    "moments",          # (N, H, 5) sum_k exp_shifted[r, k] * W[j, k]**m, m = 1..5 (W: the logits layer's)
    "max_abs_weight",   # (H,) max_k |W[j, k]|
])

ParamList = namedtuple("ParamList", [
    "kind",             # (T,) int64, PARAM_*
    "layer",            # (T,) int64, index in the dense chain
    "start",            # (T + 1,) int64: parameter u's elements are grad[start[u]:start[u + 1]], C order
])

Scratch = namedtuple("Scratch", [
    "rows_a",           # (S, N * max D) float64: changed rows of one layer
    "rows_b",           # (S, N * max D) float64: the same rows of the next layer
    "column",           # (S, N) float64: the changed column of the perturbed layer
    "changed",          # (S, N) int8: which rows differ from the unperturbed network
    "pool_change",      # (S, PH * PW) float64: the change of one pooled channel (size 0 without conv)
])


@structref.register
class DenseChainType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class DenseChain(structref.StructRefProxy):
    """A tuple of DenseLayer records (field ``layers``) in one box that Numba's parallel loops accept."""


structref.define_proxy(DenseChain, DenseChainType, ["layers"])


@kernel
def make_dense_chain(layers):
    """Box a tuple of DenseLayer records (input layer first) for the parallel kernels."""
    return DenseChain(layers)


# --------------------------------------------------------------------------
# scalar helpers
# --------------------------------------------------------------------------

@kernel
def _log_prob_row(z, off, k_classes, t):
    """log(softmax(z[off:off + K])[t] + 1e-7), the book's stable softmax then its log."""
    m = z[off]
    for k in range(1, k_classes):
        if z[off + k] > m:
            m = z[off + k]
    s = 0.0
    for k in range(k_classes):
        s += math.exp(z[off + k] - m)
    return math.log(math.exp(z[off + t] - m) / s + CEE_DELTA)


@kernel
def _exp_small(u):
    """exp(u); for |u| < 1e-3 by its Taylor series to u**5 / 120.

    The dropped terms are below 1.4e-21 relative, far under the half-ulp
    (1.1e-16) of exp itself, so this is exp to rounding, at the cost of a
    few multiply-adds: a perturbation of h = 1e-4 moves the logits by that much.
    """
    if abs(u) < 1e-3:
        return 1.0 + u * (1.0 + u * (0.5 + u * (1.0 / 6.0 + u * (1.0 / 24.0 + u * (1.0 / 120.0)))))
    return math.exp(u)


@kernel
def _expm1_small(u):
    """exp(u) - 1 for |u| < 1e-3, by its Taylor series to u**6 / 720 (remainder < 2e-22 relative)."""
    return u * (1.0 + u * (0.5 + u * (1.0 / 6.0 + u * (1.0 / 24.0 + u * (1.0 / 120.0 + u * (1.0 / 720.0))))))


@kernel
def _log1p_small(z):
    """log(1 + z): by its series to z**7 / 7 where |z| < 2e-3 (remainder < 2e-20 relative), else log1p."""
    if abs(z) < 2e-3:
        return z * (1.0 - z * (0.5 - z * (1.0 / 3.0 - z * (0.25 - z * (0.2 - z * (1.0 / 6.0 - z / 7.0))))))
    return math.log1p(z)


@kernel
def _activate(v, activation):
    """The layer's activation of one value: ReLU (x <= 0 -> 0), sigmoid 1 / (1 + exp(-x)), or none."""
    if activation == ACT_RELU:
        return v if v > 0.0 else 0.0
    if activation == ACT_SIGMOID:
        return 1.0 / (1.0 + math.exp(-v))
    return v


@kernel
def _bn_column(values, off, stride, n, gamma, beta, normalized_out, write_normalized):
    """Batch-normalise in place the n values values[off + r*stride] (train mode, the book's eps).

    Writes gamma * x_hat + beta back into values and, when write_normalized,
    x_hat into normalized_out[off + r*stride]. The unperturbed forward and every
    perturbed column go through this one function, so an unchanged column is
    reproduced bitwise.
    """
    s = 0.0
    for r in range(n):
        s += values[off + r * stride]
    mu = s / n
    v = 0.0
    for r in range(n):
        c = values[off + r * stride] - mu
        v += c * c
    std = math.sqrt(v / n + BN_EPS)
    for r in range(n):
        xn = (values[off + r * stride] - mu) / std
        if write_normalized:
            normalized_out[off + r * stride] = xn
        values[off + r * stride] = gamma * xn + beta


# --------------------------------------------------------------------------
# the unperturbed network (called once, from Python, before the gradient kernels)
# --------------------------------------------------------------------------

@kernel
def dense_post_activation(layer):
    """Write a hidden layer's ``normalized`` (with batch norm) and ``outputs`` from its ``pre_activation``."""
    n, d = layer.pre_activation.shape
    pre = layer.pre_activation.reshape(n * d)
    out = layer.outputs.reshape(n * d)
    normalized = layer.normalized.reshape(n * d)
    keep = layer.keep.reshape(n * d)
    for idx in range(n * d):
        out[idx] = pre[idx]
    if layer.has_batchnorm:
        for c in range(d):
            _bn_column(out, c, d, n, layer.gamma[c], layer.beta[c], normalized, True)
    for idx in range(n * d):
        out[idx] = _activate(out[idx], layer.activation) * keep[idx]


@kernel
def softmax_loss_terms(logits, loss):
    """Write ``log_prob``, ``exp_shifted`` and ``exp_sum_without`` of loss from the (N, K) logits."""
    n, k_classes = logits.shape
    flat = logits.reshape(n * k_classes)
    for r in range(n):
        off = r * k_classes
        loss.log_prob[r] = _log_prob_row(flat, off, k_classes, loss.labels[r])
        m = flat[off]
        for k in range(1, k_classes):
            if flat[off + k] > m:
                m = flat[off + k]
        for k in range(k_classes):
            loss.exp_shifted[r, k] = math.exp(flat[off + k] - m)
        for j in range(k_classes):
            s = 0.0
            for k in range(k_classes):
                if k != j:
                    s += loss.exp_shifted[r, k]
            loss.exp_sum_without[r, j] = s


@kernel
def logit_moments(logits_weights, loss):
    """Write ``moments`` and ``max_abs_weight`` of loss for the (H, K) weights of the logits layer.

    With them, moving hidden unit j of row r by dc moves the softmax
    denominator by sum_k e_k (exp(dc W[j, k]) - 1) = sum_m dc**m moments_m / m!,
    a five-term polynomial instead of K exponentials (exact to rounding while
    |dc| * max_abs_weight[j] < 1e-3: the sixth term is below 1.4e-21 of the sum).
    """
    hidden, k_classes = logits_weights.shape
    n = loss.exp_shifted.shape[0]
    for j in range(hidden):
        mx = 0.0
        for k in range(k_classes):
            mx = max(mx, abs(logits_weights[j, k]))
        loss.max_abs_weight[j] = mx
    for r in range(n):
        for j in range(hidden):
            for m in range(5):
                loss.moments[r, j, m] = 0.0
            for k in range(k_classes):
                w = logits_weights[j, k]
                p = loss.exp_shifted[r, k]
                for m in range(5):
                    p *= w
                    loss.moments[r, j, m] += p


@kernel
def conv_relu_pool(block):
    """Write ``block.pooled``: max over pool windows of relu(block.conv_out)."""
    n, n_filters, ph, pw = block.pooled.shape
    for r in range(n):
        for f in range(n_filters):
            for py in range(ph):
                for px in range(pw):
                    mx = -np.inf
                    for wy in range(block.pool_h):
                        for wx in range(block.pool_w):
                            c = block.conv_out[r, f, py * block.pool_stride + wy, px * block.pool_stride + wx]
                            c = c if c > 0.0 else 0.0
                            if c > mx:
                                mx = c
                    block.pooled[r, f, py, px] = mx


# --------------------------------------------------------------------------
# the change of the loss when one parameter element moves
# --------------------------------------------------------------------------

@kernel(inline="always")  # a call passing arrays costs refcounting per row
def _logit_row_change(dc, r, j, logits_weights, loss):
    """log(y[r, t] + 1e-7) after hidden unit j of row r moves by dc, minus its unperturbed value.

    The logits of row r move by dc * W[j, :]. While |dc| * max |W[j, :]| < 1e-3
    this is log1p((y' - y) / (y + 1e-7)) with y' - y from ``moments`` (no exp
    over the K logits, no cancellation); otherwise the K exponentials,
    shifted by the unperturbed maximum.
    """
    t = loss.labels[r]
    et = loss.exp_shifted[r, t]
    if abs(dc) * loss.max_abs_weight[j] < 1e-3:
        s0 = loss.exp_sum_without[r, 0] + loss.exp_shifted[r, 0]  # the unperturbed sum
        mom = loss.moments
        ds = dc * (mom[r, j, 0] + dc * (mom[r, j, 1] * 0.5 + dc * (mom[r, j, 2] * (1.0 / 6.0) + dc * (
            mom[r, j, 3] * (1.0 / 24.0) + dc * mom[r, j, 4] * (1.0 / 120.0)))))
        det = et * _expm1_small(dc * logits_weights[j, t])
        dy = (det * s0 - et * ds) / (s0 * (s0 + ds))
        return _log1p_small(dy / (et / s0 + CEE_DELTA))
    k_classes = logits_weights.shape[1]
    ssum = 0.0
    for k in range(k_classes):
        ek = loss.exp_shifted[r, k] * _exp_small(dc * logits_weights[j, k])
        ssum += ek
        if k == t:
            et = ek
    return math.log(et / ssum + CEE_DELTA) - loss.log_prob[r]


@kernel(inline="always")
def _hidden_unit_loss_changes(kind, i, j, w_plus, w_minus, w, layer, logits_weights, loss):
    """Summed loss-term changes (for w + h, for w - h) of W[i, j] or b[j] of the layer that feeds the logits.

    The hot case (no batch norm, so each row changes on its own): only the rows
    where the input feature i is nonzero are visited, both steps sharing their loads.
    """
    step_plus = w_plus - w
    step_minus = w_minus - w
    sum_plus = 0.0
    sum_minus = 0.0
    if kind == PARAM_WEIGHTS:
        q0 = layer.nonzero_start[i]
        q1 = layer.nonzero_start[i + 1]
    else:
        q0 = 0
        q1 = layer.pre_activation.shape[0]
    for q in range(q0, q1):
        if kind == PARAM_WEIGHTS:
            r = layer.nonzero_rows[q]
            x = layer.nonzero_values[q]
        else:
            r = q
            x = 1.0
        z0 = layer.pre_activation[r, j]
        z_plus = z0 + x * step_plus
        z_minus = z0 + x * step_minus
        if z_plus == z0 and z_minus == z0:
            continue
        keep = layer.keep[r, j]
        a0 = layer.outputs[r, j]
        da_plus = _activate(z_plus, layer.activation) * keep - a0 if z_plus != z0 else 0.0
        da_minus = _activate(z_minus, layer.activation) * keep - a0 if z_minus != z0 else 0.0
        if da_plus != 0.0:
            sum_plus += _logit_row_change(da_plus, r, j, logits_weights, loss)
        if da_minus != 0.0:
            sum_minus += _logit_row_change(da_minus, r, j, logits_weights, loss)
    return sum_plus, sum_minus


@kernel(inline="always")  # passing the records in a call costs a reference count per array
def _propagate_rows(m, layers, loss, rows_a, rows_b, changed):
    """Sum over rows of the change of log(y[t] + 1e-7), given layer m's changed pre-activations.

    rows_a (N * D_out of layer m,) holds layer m's pre-batch-norm values for
    the rows with changed[r] != 0; the other rows are the unperturbed ones.
    Goes forward layer by layer (batch norm makes every row change), each next
    pre-activation as unperturbed + (changed input - unperturbed input) @ W,
    ending at the logits.
    """
    n_layers = len(layers)
    n = changed.size
    while True:
        layer = layers[m]
        d = layer.pre_activation.shape[1]
        if m == n_layers - 1:
            acc = 0.0
            for r in range(n):
                if changed[r]:
                    acc += _log_prob_row(rows_a, r * d, d, loss.labels[r]) - loss.log_prob[r]
            return acc
        if layer.has_batchnorm:
            # a changed row moves every column's mean and variance: all rows change
            for r in range(n):
                if not changed[r]:
                    for k in range(d):
                        rows_a[r * d + k] = layer.pre_activation[r, k]
                    changed[r] = 1
            for k in range(d):
                _bn_column(rows_a, k, d, n, layer.gamma[k], layer.beta[k], rows_a, False)
        following = layers[m + 1]
        d_next = following.pre_activation.shape[1]
        for r in range(n):
            if not changed[r]:
                continue
            for k in range(d):
                rows_a[r * d + k] = _activate(rows_a[r * d + k], layer.activation) * layer.keep[r, k]
            for k in range(d_next):
                rows_b[r * d_next + k] = following.pre_activation[r, k]
            moved = False
            for i in range(d):
                da = rows_a[r * d + i] - layer.outputs[r, i]
                if da != 0.0:
                    moved = True
                    for k in range(d_next):
                        rows_b[r * d_next + k] += da * following.weights[i, k]
            if not moved:
                changed[r] = 0
        rows_a, rows_b = rows_b, rows_a
        m += 1


@kernel(inline="always")  # passing the records in a call costs a reference count per array
def _dense_loss_change(kind, layer_index, p, v, w, layers, loss, scratch, s):
    """Sum over rows of the change of log(y[t] + 1e-7) when element p of a parameter of one layer goes w -> v.

    kind PARAM_WEIGHTS: W (p = i * D_out + j); PARAM_BIAS, PARAM_GAMMA, PARAM_BETA: p = j.
    Uses thread slot s of scratch. The steps: column j of the layer's
    pre-activation (W, b) or of its batch norm's output (gamma, beta) moves;
    through the activation and the dropout multiplier it becomes the change of
    outputs[:, j]; that is a rank-1 change of the next layer's pre-activation,
    carried to the logits (``_propagate_rows``). A logit column's change is
    evaluated at once.
    """
    n_layers = len(layers)
    layer = layers[layer_index]
    n, d = layer.pre_activation.shape
    column = scratch.column[s]
    changed = scratch.changed[s]
    if kind == PARAM_WEIGHTS:
        i = p // d
        j = p % d
    else:
        i = 0
        j = p
    if kind == PARAM_WEIGHTS or kind == PARAM_BIAS:
        if not _moved_pre_activation(kind, i, j, v - w, layer, column, changed):
            return 0.0
        if layer_index == n_layers - 1:
            return _logit_column_loss_change(j, layer, loss, column, changed)
        if layer.has_batchnorm:
            _bn_column(column, 0, 1, n, layer.gamma[j], layer.beta[j], column, False)
            for r in range(n):
                changed[r] = 1
    else:
        _moved_batchnorm_output(kind, j, v, layer, column, changed)
    if not _output_column_change(j, layer, column, changed):
        return 0.0
    following = layers[layer_index + 1]
    if layer_index + 1 == n_layers - 1:
        return _rank1_logits_loss_change(j, following, loss, column, changed)
    rows_a = scratch.rows_a[s]
    d_next = following.pre_activation.shape[1]
    for r in range(n):
        if changed[r]:
            for k in range(d_next):
                rows_a[r * d_next + k] = following.pre_activation[r, k] + column[r] * following.weights[j, k]
    return _propagate_rows(layer_index + 1, layers, loss, rows_a, scratch.rows_b[s], changed)


@kernel(inline="always")
def _moved_pre_activation(kind, i, j, delta, layer, column, changed):
    """Column j of layer's pre-activation (N, D_out) when W[i, j] (kind PARAM_WEIGHTS) or b[j] moves by delta.

    Writes column (N,) and changed (N,): a weight moves row r by inputs[r, i] * delta,
    a bias by delta; changed[r] says whether row r's value differs. Returns whether any row does.
    """
    any_row = False
    for r in range(layer.pre_activation.shape[0]):
        z0 = layer.pre_activation[r, j]
        if kind == PARAM_WEIGHTS:
            column[r] = z0 + layer.inputs[r, i] * delta
        else:
            column[r] = z0 + delta
        if column[r] != z0:
            changed[r] = 1
            any_row = True
        else:
            changed[r] = 0
    return any_row


@kernel(inline="always")
def _logit_column_loss_change(j, layer, loss, column, changed):
    """Sum over the changed rows of the change of log(y[t] + 1e-7) when logit column j becomes column (N,).

    Only logit j of a changed row moves, so sum_k exp(z_k - m) = (the cached
    sum over k != j) + e_j * exp(dz).
    """
    acc = 0.0
    for r in range(layer.pre_activation.shape[0]):
        if changed[r]:
            ej = loss.exp_shifted[r, j] * _exp_small(column[r] - layer.pre_activation[r, j])
            t = loss.labels[r]
            et = ej if t == j else loss.exp_shifted[r, t]
            acc += math.log(et / (loss.exp_sum_without[r, j] + ej) + CEE_DELTA) - loss.log_prob[r]
    return acc


@kernel(inline="always")
def _moved_batchnorm_output(kind, j, v, layer, column, changed):
    """column (N,) = batch norm's output column j with gamma[j] (kind PARAM_GAMMA) or beta[j] set to v; every row changed."""
    gamma = layer.gamma[j]
    beta = layer.beta[j]
    if kind == PARAM_GAMMA:
        gamma = v
    else:
        beta = v
    for r in range(layer.pre_activation.shape[0]):
        column[r] = gamma * layer.normalized[r, j] + beta
        changed[r] = 1


@kernel(inline="always")
def _output_column_change(j, layer, column, changed):
    """column[r] = the change of layer.outputs[r, j] for the changed rows, from their new value before the activation.

    Through the activation and the dropout multiplier; a row whose output does
    not change is no longer marked in changed (N,). Returns whether any row changed.
    """
    any_row = False
    for r in range(layer.pre_activation.shape[0]):
        if changed[r]:
            da = _activate(column[r], layer.activation) * layer.keep[r, j] - layer.outputs[r, j]
            column[r] = da
            if da != 0.0:
                any_row = True
            else:
                changed[r] = 0
    return any_row


@kernel(inline="always")
def _rank1_logits_loss_change(j, following, loss, column, changed):
    """Sum over the changed rows of the change of log(y[t] + 1e-7) when output j of the layer feeding the logits moves by column.

    following : the logits layer; the logits of row r move by column[r] * W[j, :]:
    exp(z_k - m) becomes e_k * exp(that).
    """
    acc = 0.0
    for r in range(following.pre_activation.shape[0]):
        if changed[r]:
            t = loss.labels[r]
            ssum = 0.0
            et = 0.0
            for k in range(following.pre_activation.shape[1]):
                e = loss.exp_shifted[r, k] * _exp_small(column[r] * following.weights[j, k])
                ssum += e
                if k == t:
                    et = e
            acc += math.log(et / ssum + CEE_DELTA) - loss.log_prob[r]
    return acc


@parallel_kernel
def dense_param_grad(chain, loss, params, h, weight_decay, scratch, grad):
    """Numerical gradient of the loss over every element of a list of parameters of a dense chain.

    Parameters
    ----------
    chain : DenseChain of DenseLayer records, their unperturbed values filled in
    loss : SoftmaxLoss, filled in (``moments`` only needed, and then of shape
        (N, H, 5), when a listed parameter belongs to a layer without batch norm
        that feeds the logits; otherwise it may be of shape (0, 0, 5))
    params : ParamList
    h : float64, the step
    weight_decay : float64, lambda of the loss's 0.5 * lambda * sum(W**2) over every W
    scratch : Scratch
    grad : ndarray of shape (params.start[-1],), written in place

    Notes
    -----
    One launch for all the parameters. Slot s (one per thread) handles the
    elements s, s + S, s + 2S, ... of the concatenated list with its own
    scratch; an element's value depends only on the inputs, so the result is
    bitwise the same for any slot count. Each element follows the book:
    v = w + h and w - h, loss difference over 2h; the weight-decay term of a
    weight changes by 0.5 * lambda * (v**2 - w**2).
    """
    n_slots = scratch.column.shape[0]
    n = loss.labels.size
    n_layers = len(chain.layers)
    for s in prange(n_slots):
        layers = chain.layers
        logits_weights = layers[n_layers - 1].weights
        for u in range(params.kind.size):
            # one parameter at a time: a record carried around the element loop would
            # cost a reference count per array on every element
            kind = params.kind[u]
            layer_index = params.layer[u]
            layer = layers[layer_index]
            d = layer.pre_activation.shape[1]
            start = params.start[u]
            for p in range(start + (s - start) % n_slots, params.start[u + 1], n_slots):
                e = p - start
                i = e // d if kind == PARAM_WEIGHTS else 0
                j = e % d if kind == PARAM_WEIGHTS else e
                if kind == PARAM_WEIGHTS:
                    w = layer.weights[i, j]
                elif kind == PARAM_BIAS:
                    w = layer.bias[j]
                elif kind == PARAM_GAMMA:
                    w = layer.gamma[j]
                else:
                    w = layer.beta[j]
                w_plus = w + h
                w_minus = w - h
                decay_change = 0.5 * weight_decay * (w_plus * w_plus - w_minus * w_minus) if kind == PARAM_WEIGHTS else 0.0
                # a weight whose input is zero in every row changes no activation
                # (the common case for image borders)
                if kind == PARAM_WEIGHTS and layer.nonzero_start[i] == layer.nonzero_start[i + 1]:
                    grad[p] = decay_change / (2.0 * h)
                    continue
                if kind <= PARAM_BIAS and layer_index == n_layers - 2 and not layer.has_batchnorm:
                    sum_plus, sum_minus = _hidden_unit_loss_changes(kind, i, j, w_plus, w_minus, w, layer,
                                                                    logits_weights, loss)
                else:
                    sum_plus = 0.0
                    sum_minus = 0.0
                    for step in range(2):  # one call site: the inlined code is compiled once
                        change = _dense_loss_change(kind, layer_index, e, w_plus if step == 0 else w_minus, w, layers,
                                                    loss, scratch, s)
                        if step == 0:
                            sum_plus = change
                        else:
                            sum_minus = change
                grad[p] = (decay_change + -(sum_plus - sum_minus) / n) / (2.0 * h)


#: The same loop, one slot after another: for gradients small enough that the thread
#: pool's start costs more than it saves (it also compiles in a fraction of the time).
dense_param_grad_serial = serial_twin(dense_param_grad)


@kernel(inline="always")  # passing the records in a call costs a reference count per array
def _conv_loss_change(kind, p, delta, block, layers, loss, scratch, s):
    """Sum over rows of the change of log(y[t] + 1e-7) when element p of the conv block's W or b moves by delta.

    kind PARAM_WEIGHTS: W[f, c, ky, kx] (p in C order); PARAM_BIAS: b[f] (p = f).
    Only output channel f changes: its relu-pooled values change block f of the
    dense chain's input, and so the first dense layer's pre-activation of those rows.
    """
    f, c, ky, kx = _conv_param_index(kind, p, block.weights.shape)
    first = layers[0]
    rows_a = scratch.rows_a[s]
    changed = scratch.changed[s]
    pool_change = scratch.pool_change[s]
    pool_size = block.pooled.shape[2] * block.pooled.shape[3]
    any_row = False
    for r in range(block.pooled.shape[0]):
        if _pooled_row_change(kind, r, (f, c, ky, kx), delta, block, pool_change):
            any_row = True
            changed[r] = 1
            _first_layer_row(r, f * pool_size, first, pool_change[:pool_size], rows_a)
        else:
            changed[r] = 0
    if not any_row:
        return 0.0
    return _propagate_rows(0, layers, loss, rows_a, scratch.rows_b[s], changed)


@kernel(inline="always")
def _conv_param_index(kind, p, weights_shape):
    """(f, c, ky, kx) of element p of W (kind PARAM_WEIGHTS, weights_shape (FN, C, FH, FW), C order), or (p, 0, 0, 0) of b."""
    _, channels, fh, fw = weights_shape
    if kind == PARAM_WEIGHTS:
        f = p // (channels * fh * fw)
        rem = p % (channels * fh * fw)
        c = rem // (fh * fw)
        ky = (rem // fw) % fh
        kx = rem % fw
    else:
        f = p
        c = 0
        ky = 0
        kx = 0
    return f, c, ky, kx


@kernel(inline="always")
def _pooled_row_change(kind, r, index, delta, block, pool_change):
    """pool_change (PH*PW,) = the change of row r's pooled channel f when W[f, c, ky, kx] or b[f] moves by delta.

    index : (f, c, ky, kx) from ``_conv_param_index``. Each pool window's max of
    relu(conv_out + the change) minus the unperturbed pooled value. Returns whether any differs.
    """
    f, c, ky, kx = index
    _, _, ph, pw = block.pooled.shape
    stride = block.stride
    row_changed = False
    for py in range(ph):
        for px in range(pw):
            mx = -np.inf
            for wy in range(block.pool_h):
                for wx in range(block.pool_w):
                    oy = py * block.pool_stride + wy
                    ox = px * block.pool_stride + wx
                    if kind == PARAM_WEIGHTS:
                        cv = block.conv_out[r, f, oy, ox] + delta * block.padded_inputs[
                            r, c, oy * stride + ky, ox * stride + kx]
                    else:
                        cv = block.conv_out[r, f, oy, ox] + delta
                    cv = cv if cv > 0.0 else 0.0
                    if cv > mx:
                        mx = cv
            dp = mx - block.pooled[r, f, py, px]
            pool_change[py * pw + px] = dp
            if dp != 0.0:
                row_changed = True
    return row_changed


@kernel(inline="always")
def _first_layer_row(r, offset, first, pool_change, rows_a):
    """rows_a[r*D1:(r + 1)*D1] = row r of the first dense layer's pre-activation after its input features
    offset, offset + 1, ... (one pooled channel) move by pool_change (PH*PW,)."""
    d1 = first.pre_activation.shape[1]
    for k in range(d1):
        rows_a[r * d1 + k] = first.pre_activation[r, k]
    for q in range(pool_change.size):
        dq = pool_change[q]
        if dq != 0.0:
            feature = offset + q
            for k in range(d1):
                rows_a[r * d1 + k] += dq * first.weights[feature, k]


@parallel_kernel
def conv_param_grad(block, kind, chain, loss, h, scratch, grad):
    """Numerical gradient of the loss over every element of a Conv - ReLU - max-pool block's W or b.

    Parameters
    ----------
    block : ConvReluPool, its ``pooled`` filled in (``conv_relu_pool``)
    kind : PARAM_WEIGHTS for W (FN, C, FH, FW), PARAM_BIAS for b (FN,)
    chain : DenseChain after the pooling (its first layer's inputs are pooled, flattened)
    loss : SoftmaxLoss; h : float64, the step; scratch : Scratch (with pool_change)
    grad : ndarray of shape (size of the parameter,), written in place

    Notes
    -----
    Slot s handles elements s, s + S, ...; results do not depend on S.
    """
    n_slots = scratch.column.shape[0]
    n = loss.labels.size
    weights_flat = block.weights.reshape(block.weights.size)
    for s in prange(n_slots):
        layers = chain.layers
        for p in range(s, grad.size, n_slots):
            w = weights_flat[p] if kind == PARAM_WEIGHTS else block.bias[p]
            w_plus = w + h
            w_minus = w - h
            sum_plus = 0.0
            sum_minus = 0.0
            for step in range(2):  # one call site: the inlined code is compiled once
                change = _conv_loss_change(kind, p, (w_plus if step == 0 else w_minus) - w, block, layers,
                                           loss, scratch, s)
                if step == 0:
                    sum_plus = change
                else:
                    sum_minus = change
            grad[p] = (-(sum_plus - sum_minus) / n) / (2.0 * h)
