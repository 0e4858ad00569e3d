"""Numerical-gradient kernels: central differences of a compiled f, and of the book's networks.

Two families:

``numgrad_compiled``
    The book's element-by-element loop (h = 1e-4, grad = (f(x+h) - f(x-h)) / 2h)
    for a Numba-compiled scalar function f passed in as a first-class function.
    The elements are split over threads in fixed chunks; each thread perturbs
    its own private copy of x, so the caller's array is never written.

``dense_param_grad`` / ``conv_param_grad``
    The numerical gradient of a network's loss with respect to every element of
    its parameters (all dense ones in one launch; a conv layer's W or b in
    another), evaluated incrementally: the unperturbed activations
    of every layer are computed once (by the Python caller, with these same
    helpers where rounding must agree), and each perturbation re-evaluates only
    what it changes. A weight W[i, j] or bias b[j] of an Affine layer changes
    column j of that layer's output; through the activation (and, with batch
    norm, that column's mean and variance) it becomes a rank-1 change of the
    next layer's pre-activation; rows whose change is exactly zero keep their
    cached loss term. A convolution filter element changes one output channel.

Layout of a "dense chain" of L Affine layers (flat float64 arrays, C order):

- ``dims`` (L + 1,) int64: D_0 (input features) .. D_L (classes K).
- ``woff`` (L + 1,): offset of W_l (D_l, D_{l+1}) in ``Wf``; ``boff`` (L + 1,):
  offset of layer l's (D_{l+1},) vectors (b, gamma, beta) in ``bf``, ``gf``, ``tf``.
- ``aoff`` (L + 1,): offset of layer l's (N, D_{l+1}) activations in the
  per-layer activation buffers ``Zb`` (pre batch norm, for the last layer the
  logits), ``XNb`` (normalised, where batch norm) and ``Ab`` (after batch norm,
  activation and dropout mask), and in ``maskf`` (the fixed dropout masks, 1.0
  where there is no dropout).
- ``hasbn`` (L,), ``act`` (L,) int64: batch norm flag, activation (0 none,
  1 ReLU, 2 sigmoid) of each layer. The last layer is the logits layer: no
  batch norm, no activation, no dropout.
- ``X0`` (N, D_0): the chain's input; ``labels`` (N,) int64; ``lgb`` (N,):
  log(y[n, t_n] + 1e-7) of the unperturbed network; ``Eb``, ``Sx`` (N*K,):
  exp(z - max z) of its logits and their row sums leaving out one column.

Exactness: every perturbed loss is evaluated at the book's perturbed point
(w + h, w - h) in float64. Where a change of the logits is below 1e-3, exp,
exp - 1 and log1p are taken from their Taylor series cut where the remainder
is below 1e-19 relative (under float64 rounding), which replaces the K
exponentials of a softmax row by a few multiply-adds; the results agree with
the reference's numerical gradient to about 1e-11.

Nothing here compiles at import time. ``numgrad_compiled`` takes f as an
argument, so it compiles once per distinct f (and x type) and is not cached
on disk (a function argument's type is tied to the live dispatcher object).
"""
import math

import numpy as np

from ._jit import kernel, parallel_kernel, prange

#: Added inside the log of the cross-entropy, as the book does.
CEE_DELTA = 1e-7
#: The book's batch-norm epsilon (10e-7).
BN_EPS = 10e-7

ACT_NONE = 0
ACT_RELU = 1
ACT_SIGMOID = 2


# --------------------------------------------------------------------------
# numerical_gradient(f, x) for a compiled f
# --------------------------------------------------------------------------

# cache=False: the kernel's type includes f's dispatcher type, which is bound to
# the live dispatcher object, so an on-disk entry could never be reused.
@parallel_kernel(cache=False)
def numgrad_compiled(f, x_flat, scratch, scratch_flat, grad_flat, h_up, h_down, two_h):
    """Central differences of f over every element of x, in parallel.

    Parameters
    ----------
    f : Numba-compiled function, f(array of x's shape) -> real scalar
    x_flat : ndarray of shape (n,), C-contiguous; read only
    scratch : ndarray of shape (T,) + x.shape, C-contiguous, x's dtype
        One private copy of x per chunk (thread), overwritten.
    scratch_flat : ndarray of shape (T, n), a view of the same memory as scratch
    grad_flat : ndarray of shape (n,), written in place
    h_up : float64, h as added in float64 (float(x[i]) + h, as the book does)
    h_down : x's dtype, h as subtracted in x's dtype (x[i] - h, as NumPy does)
    two_h : float64, 2 * h

    Notes
    -----
    Chunk c of ceil(n / T) consecutive elements belongs to one thread, which
    perturbs only its own copy and restores each element after use, so the
    result does not depend on the thread count.
    """
    n_chunks = scratch_flat.shape[0]
    n = scratch_flat.shape[1]
    chunk = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        start = c * chunk
        stop = min(n, start + chunk)
        if start >= stop:
            continue
        mine = scratch_flat[c]
        for i in range(n):
            mine[i] = x_flat[i]
        xc = scratch[c]
        for i in range(start, stop):
            tmp = mine[i]
            mine[i] = np.float64(tmp) + h_up
            fxh1 = np.float64(f(xc))
            mine[i] = tmp - h_down
            fxh2 = np.float64(f(xc))
            grad_flat[i] = (fxh1 - fxh2) / two_h
            mine[i] = tmp


# --------------------------------------------------------------------------
# Network numerical gradient, incremental: shared helpers
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
def logit_moments(Eb, W, n, hidden, k_classes, mom, wmax):
    """Per row r and hidden unit j, the moments of the logit row r's softmax terms along W[j, :].

    Eb : (n*K,) exp(z - max z) of the unperturbed logits; W : (hidden*K,) the
    logits layer's weights. Writes mom[(r*hidden + j)*5 + m - 1] = sum_k Eb[r, k]
    * W[j, k]**m for m = 1..5 and wmax[j] = max_k |W[j, k]|.

    With them, moving hidden unit j of row r by dc moves the softmax
    denominator by sum_k e_k (exp(dc W[j, k]) - 1) = sum_m dc**m mom_m / m!,
    a five-term polynomial instead of K exponentials (exact to rounding while
    |dc| * wmax[j] < 1e-3: the sixth term is below 1.4e-21 of the sum).
    """
    for j in range(hidden):
        mx = 0.0
        for k in range(k_classes):
            mx = max(mx, abs(W[j * k_classes + k]))
        wmax[j] = mx
    for r in range(n):
        for j in range(hidden):
            o = (r * hidden + j) * 5
            for m in range(5):
                mom[o + m] = 0.0
            for k in range(k_classes):
                e = Eb[r * k_classes + k]
                w = W[j * k_classes + k]
                p = e
                for m in range(5):
                    p *= w
                    mom[o + m] += p


@kernel(inline="always")  # a call passing arrays costs refcounting per row
def _logit_row_change(dc, r, j, t, k_classes, hidden, wo2, Wf, Eb, Sx, lgb, mom, wmax):
    """log(y[r, t] + 1e-7) after hidden unit j of row r moves by dc, minus its unperturbed value.

    The logits of row r move by dc * W[j, :] (W[j, k] = Wf[wo2 + k]). While
    |dc| * max |W[j, :]| < 1e-3 this is log1p((y' - y) / (y + 1e-7)) with
    y' - y from ``logit_moments`` (no exp over the K logits, no cancellation);
    otherwise the K exponentials, shifted by the unperturbed maximum.
    """
    et = Eb[r * k_classes + t]
    if abs(dc) * wmax[j] < 1e-3:
        o = (r * hidden + j) * 5
        s0 = Sx[r * k_classes] + Eb[r * k_classes]  # the unperturbed sum
        ds = dc * (mom[o] + dc * (mom[o + 1] * 0.5 + dc * (mom[o + 2] * (1.0 / 6.0) + dc * (
            mom[o + 3] * (1.0 / 24.0) + dc * mom[o + 4] * (1.0 / 120.0)))))
        det = et * _expm1_small(dc * Wf[wo2 + t])
        dy = (det * s0 - et * ds) / (s0 * (s0 + ds))
        return _log1p_small(dy / (et / s0 + CEE_DELTA))
    ssum = 0.0
    for k in range(k_classes):
        ek = Eb[r * k_classes + k] * _exp_small(dc * Wf[wo2 + k])
        ssum += ek
        if k == t:
            et = ek
    return math.log(et / ssum + CEE_DELTA) - lgb[r]


@kernel
def _activate(v, act):
    """The layer's activation of one value: ReLU (x <= 0 -> 0), sigmoid 1 / (1 + exp(-x)), or none."""
    if act == ACT_RELU:
        return v if v > 0.0 else 0.0
    if act == ACT_SIGMOID:
        return 1.0 / (1.0 + math.exp(-v))
    return v


@kernel
def _bn_column(buf, off, stride, n, gamma, beta, xn_out, write_xn):
    """Batch-normalise in place the n values buf[off + r*stride] (train mode, the book's eps).

    Writes gamma * xn + beta back into buf and, when write_xn, xn into
    xn_out[off + r*stride]. The base forward and every perturbed column go
    through this one function, so an unchanged column is reproduced bitwise.
    """
    s = 0.0
    for r in range(n):
        s += buf[off + r * stride]
    mu = s / n
    v = 0.0
    for r in range(n):
        c = buf[off + r * stride] - mu
        v += c * c
    std = math.sqrt(v / n + BN_EPS)
    for r in range(n):
        xn = (buf[off + r * stride] - mu) / std
        if write_xn:
            xn_out[off + r * stride] = xn
        buf[off + r * stride] = gamma * xn + beta


@kernel
def dense_post_activation(z, n, d, hasbn, gamma, beta, act, mask, xn_out, a_out):
    """One hidden layer's unperturbed output from its pre-activation (base forward).

    z, mask, xn_out, a_out : ndarray of shape (n*d,), rows of d features.
    Writes xn_out (batch-norm xn, only when hasbn) and
    a_out = act(batchnorm(z)) * mask in place. gamma, beta : (d,).
    """
    for idx in range(n * d):
        a_out[idx] = z[idx]
    if hasbn:
        for c in range(d):
            _bn_column(a_out, c, d, n, gamma[c], beta[c], xn_out, True)
    for idx in range(n * d):
        a_out[idx] = _activate(a_out[idx], act) * mask[idx]


@kernel
def dense_log_probs(logits, n, k_classes, labels, out, e_out, sx_out):
    """The loss terms of the unperturbed logits, and what a small change of them needs.

    logits, e_out, sx_out : ndarray of shape (n*K,); out : (n,); all written but logits.
    out[r] = log(softmax(logits row r)[labels[r]] + 1e-7) (as ``_log_prob_row``),
    e_out[r, k] = exp(z[r, k] - max_k z[r]), sx_out[r, j] = sum over k != j of e_out[r, k].
    """
    for r in range(n):
        off = r * k_classes
        out[r] = _log_prob_row(logits, off, k_classes, labels[r])
        m = logits[off]
        for k in range(1, k_classes):
            if logits[off + k] > m:
                m = logits[off + k]
        for k in range(k_classes):
            e_out[off + k] = math.exp(logits[off + k] - m)
        for j in range(k_classes):
            sx = 0.0
            for k in range(k_classes):
                if k != j:
                    sx += e_out[off + k]
            sx_out[off + j] = sx


@kernel
def _propagate_rows(m, dims, woff, boff, aoff, hasbn, act, Wf, gf, tf, maskf, labels, Zb, Ab, lgb,
                    bufZ, bufA, flags, n):
    """Sum over rows of the change of log(y[t] + 1e-7), given layer m's changed pre-activations.

    bufZ (n*D_{m+1},) holds layer m's pre-batch-norm values for the rows with
    flags[r] != 0; the other rows are the cached base. Goes forward layer by
    layer (batch norm makes every row change), each next pre-activation as
    base + (changed input - base input) @ W, ending at the logits.
    """
    n_layers = dims.size - 1
    while True:
        d = dims[m + 1]
        zo = aoff[m]
        if m == n_layers - 1:
            acc = 0.0
            for r in range(n):
                if flags[r]:
                    acc += _log_prob_row(bufZ, r * d, d, labels[r]) - lgb[r]
            return acc
        if hasbn[m]:
            # a changed row moves every column's mean and variance: all rows change
            for r in range(n):
                if not flags[r]:
                    for k in range(d):
                        bufZ[r * d + k] = Zb[zo + r * d + k]
                    flags[r] = 1
            bo = boff[m]
            for k in range(d):
                _bn_column(bufZ, k, d, n, gf[bo + k], tf[bo + k], bufZ, False)
        a = act[m]
        d2 = dims[m + 2]
        zo2 = aoff[m + 1]
        wo = woff[m + 1]
        for r in range(n):
            if not flags[r]:
                continue
            for k in range(d):
                bufZ[r * d + k] = _activate(bufZ[r * d + k], a) * maskf[zo + r * d + k]
            for k in range(d2):
                bufA[r * d2 + k] = Zb[zo2 + r * d2 + k]
            changed = False
            for i in range(d):
                di = bufZ[r * d + i] - Ab[zo + r * d + i]
                if di != 0.0:
                    changed = True
                    for k in range(d2):
                        bufA[r * d2 + k] += di * Wf[wo + i * d2 + k]
            if not changed:
                flags[r] = 0
        bufZ, bufA = bufA, bufZ
        m += 1


@kernel
def _eval_dense(kind, l, p, v, w, dims, woff, boff, aoff, hasbn, act, Wf, gf, tf, maskf, X0,
                labels, Zb, XNb, Ab, lgb, Eb, Sx, bufZ, bufA, colv, flags):
    """Sum over rows of the change of log(y[t] + 1e-7) when element p of a parameter goes w -> v.

    kind 0: W_l (p = i*D_{l+1} + j); 1: b_l; 2: gamma_l; 3: beta_l (p = j).
    """
    n_layers = dims.size - 1
    n = labels.size
    d_in = dims[l]
    d = dims[l + 1]
    zo = aoff[l]
    if kind == 0:
        i = p // d
        j = p % d
    else:
        i = 0
        j = p
    if kind <= 1:
        # column j of layer l's pre-activation: a weight moves it by x[:, i] * (v - w)
        delta = v - w
        any_row = False
        for r in range(n):
            if kind == 0:
                xin = X0[r * d_in + i] if l == 0 else Ab[aoff[l - 1] + r * d_in + i]
                colv[r] = Zb[zo + r * d + j] + xin * delta
            else:
                colv[r] = Zb[zo + r * d + j] + delta
            if colv[r] != Zb[zo + r * d + j]:
                flags[r] = 1
                any_row = True
            else:
                flags[r] = 0
        if not any_row:
            return 0.0
        if l == n_layers - 1:
            # a logit column: only logit j of the changed rows moves, so
            # sum_k exp(z_k - m) = (the cached sum over k != j) + e_j * exp(dz)
            acc = 0.0
            for r in range(n):
                if flags[r]:
                    ej = Eb[r * d + j] * _exp_small(colv[r] - Zb[zo + r * d + j])
                    t = labels[r]
                    et = ej if t == j else Eb[r * d + t]
                    acc += math.log(et / (Sx[r * d + j] + ej) + CEE_DELTA) - lgb[r]
            return acc
        if hasbn[l]:
            _bn_column(colv, 0, 1, n, gf[boff[l] + j], tf[boff[l] + j], colv, False)
            for r in range(n):
                flags[r] = 1
    else:
        g = gf[boff[l] + j]
        beta = tf[boff[l] + j]
        if kind == 2:
            g = v
        else:
            beta = v
        for r in range(n):
            colv[r] = g * XNb[zo + r * d + j] + beta
            flags[r] = 1
    # through the activation and the dropout mask: colv becomes the change of A_l[:, j]
    a = act[l]
    any_row = False
    for r in range(n):
        if flags[r]:
            dc = _activate(colv[r], a) * maskf[zo + r * d + j] - Ab[zo + r * d + j]
            colv[r] = dc
            if dc != 0.0:
                any_row = True
            else:
                flags[r] = 0
    if not any_row:
        return 0.0
    # a rank-1 change of the next layer's pre-activation: dA[:, j] outer W_{l+1}[j, :]
    m = l + 1
    d2 = dims[m + 1]
    zo2 = aoff[m]
    wo = woff[m] + j * d2
    if m == n_layers - 1:
        # the logits of row r move by colv[r] * W[j, :]: exp(z_k - m) = e_k * exp(that)
        acc = 0.0
        for r in range(n):
            if flags[r]:
                t = labels[r]
                s = 0.0
                et = 0.0
                for k in range(d2):
                    e = Eb[r * d2 + k] * _exp_small(colv[r] * Wf[wo + k])
                    s += e
                    if k == t:
                        et = e
                acc += math.log(et / s + CEE_DELTA) - lgb[r]
        return acc
    for r in range(n):
        if flags[r]:
            for k in range(d2):
                bufZ[r * d2 + k] = Zb[zo2 + r * d2 + k] + colv[r] * Wf[wo + k]
    return _propagate_rows(m, dims, woff, boff, aoff, hasbn, act, Wf, gf, tf, maskf, labels, Zb, Ab,
                           lgb, bufZ, bufA, flags, n)


@parallel_kernel
def dense_param_grad(tkind, tlayer, tstart, grad, h, lam, dims, woff, boff, aoff, hasbn, act, Wf, bf, gf,
                     tf, maskf, X0, labels, Zb, XNb, Ab, lgb, Eb, Sx, mom, wmax, ptroff, nzptr, nzrows,
                     nzvals, bufZ, bufA, colv, flags):
    """Numerical gradient of the loss over every element of a list of parameters of a dense chain.

    Parameters
    ----------
    tkind, tlayer : ndarray of shape (T,) int64, the parameters: kind (0 W_l of
        shape (D_l, D_{l+1}), 1 b_l, 2 gamma_l, 3 beta_l, (D_{l+1},)) and layer l
    tstart : ndarray of shape (T + 1,) int64, parameter u's elements are
        grad[tstart[u]:tstart[u + 1]] (C order)
    grad : ndarray of shape (tstart[T],), written in place
    h : float64, the step; lam : float64, weight-decay lambda (applies to W only)
    dims .. lgb : the chain and its unperturbed activations (module docstring)
    Eb, Sx : (N*K,) from ``dense_log_probs``
    mom, wmax : ``logit_moments`` of the logits layer (size 0 when no listed
        parameter belongs to the layer that feeds the logits)
    ptroff (L + 1,), nzptr, nzrows, nzvals : the nonzero entries of each layer's
        input by feature: feature i of layer l's input is nonzero in rows
        nzrows[q] (values nzvals[q]) for q in nzptr[ptroff[l] + i] .. nzptr[ptroff[l] + i + 1]
    bufZ, bufA : (S, N * max D), colv : (S, N) float64, flags : (S, N) int8: per-slot scratch

    Notes
    -----
    One launch for all the parameters. Slot s (one per thread) handles the
    elements s, s + S, s + 2S, ... of the concatenated list with its own
    scratch; an element's value depends only on the inputs, so the result is
    bitwise the same for any slot count. Each element follows the book:
    v = w + h and w - h, loss difference over 2h; the weight-decay term of a
    weight changes by 0.5 * lam * (v**2 - w**2).
    """
    n_slots = bufZ.shape[0]
    n = labels.size
    total = grad.size
    n_layers = dims.size - 1
    k_classes = dims[n_layers]
    for s in prange(n_slots):
        u = 0
        for p in range(s, total, n_slots):
            while tstart[u + 1] <= p:
                u += 1
            kind = tkind[u]
            l = tlayer[u]
            e = p - tstart[u]
            d = dims[l + 1]
            zo = aoff[l]
            po = ptroff[l]
            if kind == 0:
                w = Wf[woff[l] + e]
                i = e // d
                j = e % d
            else:
                i = 0
                j = e
                if kind == 1:
                    w = bf[boff[l] + e]
                elif kind == 2:
                    w = gf[boff[l] + e]
                else:
                    w = tf[boff[l] + e]
            wp = w + h
            wm = w - h
            dloss = 0.5 * lam * (wp * wp - wm * wm) if kind == 0 else 0.0
            # a weight whose input is zero in every row changes no activation
            # (the common case for image borders)
            if kind == 0 and nzptr[po + i] == nzptr[po + i + 1]:
                grad[p] = dloss / (2.0 * h)
                continue
            if kind <= 1 and l == n_layers - 2 and not hasbn[l]:
                # the hot case (a hidden layer feeding the logits, no batch norm:
                # TwoLayerNet's W1, b1), row by changed row, without the generic machinery
                a = act[l]
                wo2 = woff[l + 1] + j * k_classes
                dp = wp - w
                dm = wm - w
                sp = 0.0
                sm = 0.0
                q0 = nzptr[po + i] if kind == 0 else 0
                q1 = nzptr[po + i + 1] if kind == 0 else n
                for q in range(q0, q1):
                    # both steps of one row share its loads
                    r = nzrows[q] if kind == 0 else q
                    x = nzvals[q] if kind == 0 else 1.0
                    z0 = Zb[zo + r * d + j]
                    cp = z0 + x * dp
                    cm = z0 + x * dm
                    if cp == z0 and cm == z0:
                        continue
                    mk = maskf[zo + r * d + j]
                    a0 = Ab[zo + r * d + j]
                    dcp = _activate(cp, a) * mk - a0 if cp != z0 else 0.0
                    dcm = _activate(cm, a) * mk - a0 if cm != z0 else 0.0
                    if dcp != 0.0:
                        sp += _logit_row_change(dcp, r, j, labels[r], k_classes, d, wo2, Wf, Eb, Sx, lgb,
                                                mom, wmax)
                    if dcm != 0.0:
                        sm += _logit_row_change(dcm, r, j, labels[r], k_classes, d, wo2, Wf, Eb, Sx, lgb,
                                                mom, wmax)
            else:
                sp = _eval_dense(kind, l, e, wp, w, dims, woff, boff, aoff, hasbn, act, Wf, gf, tf, maskf,
                                 X0, labels, Zb, XNb, Ab, lgb, Eb, Sx, bufZ[s], bufA[s], colv[s], flags[s])
                sm = _eval_dense(kind, l, e, wm, w, dims, woff, boff, aoff, hasbn, act, Wf, gf, tf, maskf,
                                 X0, labels, Zb, XNb, Ab, lgb, Eb, Sx, bufZ[s], bufA[s], colv[s], flags[s])
            grad[p] = (dloss + -(sp - sm) / n) / (2.0 * h)


@kernel
def conv_relu_pool(conv, pool_h, pool_w, pool_stride, out):
    """max over pool windows of relu(conv): conv (N, FN, OH, OW) -> out (N, FN, PH, PW), written."""
    n, fn, ph, pw = out.shape
    for r in range(n):
        for f in range(fn):
            for py in range(ph):
                for px in range(pw):
                    mx = -np.inf
                    for wy in range(pool_h):
                        for wx in range(pool_w):
                            c = conv[r, f, py * pool_stride + wy, px * pool_stride + wx]
                            c = c if c > 0.0 else 0.0
                            if c > mx:
                                mx = c
                    out[r, f, py, px] = mx


@kernel
def _eval_conv(kind, f, c, ky, kx, delta, xpad, stride, conv, pooled, pool_h, pool_w, pool_stride,
               dims, woff, boff, aoff, hasbn, act, Wf, gf, tf, maskf, labels, Zb, Ab, lgb,
               bufZ, bufA, dP, flags):
    """Sum over rows of the change of log(y[t] + 1e-7) when one conv parameter moves by delta.

    kind 0: filter element W[f, c, ky, kx]; 1: bias b[f]. Only output channel f
    changes: its relu-pooled values change block f of the dense chain's input.
    """
    n = labels.size
    ph = pooled.shape[2]
    pw = pooled.shape[3]
    pp = ph * pw
    d1 = dims[1]
    wo = woff[0]
    any_row = False
    for r in range(n):
        row_changed = False
        for py in range(ph):
            for px in range(pw):
                mx = -np.inf
                for wy in range(pool_h):
                    for wx in range(pool_w):
                        oy = py * pool_stride + wy
                        ox = px * pool_stride + wx
                        if kind == 0:
                            cv = conv[r, f, oy, ox] + delta * xpad[r, c, oy * stride + ky, ox * stride + kx]
                        else:
                            cv = conv[r, f, oy, ox] + delta
                        cv = cv if cv > 0.0 else 0.0
                        if cv > mx:
                            mx = cv
                dp = mx - pooled[r, f, py, px]
                dP[py * pw + px] = dp
                if dp != 0.0:
                    row_changed = True
        if row_changed:
            any_row = True
            flags[r] = 1
            for k in range(d1):
                bufZ[r * d1 + k] = Zb[r * d1 + k]
            for q in range(pp):
                dq = dP[q]
                if dq != 0.0:
                    base = wo + (f * pp + q) * d1
                    for k in range(d1):
                        bufZ[r * d1 + k] += dq * Wf[base + k]
        else:
            flags[r] = 0
    if not any_row:
        return 0.0
    return _propagate_rows(0, dims, woff, boff, aoff, hasbn, act, Wf, gf, tf, maskf, labels, Zb, Ab, lgb,
                           bufZ, bufA, flags, n)


@parallel_kernel
def conv_param_grad(kind, grad, h, xpad, Wc, bc, stride, conv, pooled, pool_h, pool_w, pool_stride,
                    dims, woff, boff, aoff, hasbn, act, Wf, gf, tf, maskf, labels, Zb, Ab, lgb,
                    bufZ, bufA, dP, flags):
    """Numerical gradient of the loss over every element of a Conv - ReLU - max-pool layer's W or b.

    Parameters
    ----------
    kind : int, 0 for W (FN, C, FH, FW), 1 for b (FN,)
    grad : ndarray of shape (size of the parameter,), written in place
    xpad : ndarray of shape (N, C, H + 2*pad, W + 2*pad), the zero-padded input
    Wc : (FN, C, FH, FW); bc : (FN,); stride : int
    conv : (N, FN, OH, OW) the unperturbed convolution; pooled : (N, FN, PH, PW)
        its relu-pooled values, flattened (f, py, px) into the dense chain's input
    dims .. lgb : the dense chain after the pooling (module docstring)
    bufZ, bufA : (S, N * max D), dP : (S, PH * PW), flags : (S, N) int8: per-slot scratch

    Notes
    -----
    Slot s handles elements s, s + S, ...; results do not depend on S.
    """
    n_slots = bufZ.shape[0]
    n = labels.size
    size = grad.size
    fn, ch, fh, fw = Wc.shape
    for s in prange(n_slots):
        for p in range(s, size, n_slots):
            if kind == 0:
                f = p // (ch * fh * fw)
                rem = p % (ch * fh * fw)
                c = rem // (fh * fw)
                ky = (rem // fw) % fh
                kx = rem % fw
                w = Wc[f, c, ky, kx]
            else:
                f = p
                c = 0
                ky = 0
                kx = 0
                w = bc[f]
            wp = w + h
            wm = w - h
            sp = _eval_conv(kind, f, c, ky, kx, wp - w, xpad, stride, conv, pooled, pool_h, pool_w,
                            pool_stride, dims, woff, boff, aoff, hasbn, act, Wf, gf, tf, maskf, labels,
                            Zb, Ab, lgb, bufZ[s], bufA[s], dP[s], flags[s])
            sm = _eval_conv(kind, f, c, ky, kx, wm - w, xpad, stride, conv, pooled, pool_h, pool_w,
                            pool_stride, dims, woff, boff, aoff, hasbn, act, Wf, gf, tf, maskf, labels,
                            Zb, Ab, lgb, bufZ[s], bufA[s], dP[s], flags[s])
            grad[p] = (-(sp - sm) / n) / (2.0 * h)
