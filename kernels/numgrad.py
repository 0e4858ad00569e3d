"""Numerical-gradient kernels: central differences of a compiled f, and of the book's networks.

Two families:

``numgrad_compiled``
    The book's element-by-element loop (h = 1e-4, grad = (f(x+h) - f(x-h)) / 2h)
    for a Numba-compiled scalar function f passed in as a first-class function.
    The elements are split over threads in fixed chunks; each thread perturbs
    its own private copy of x, so the caller's array is never written.

``dense_param_grad`` / ``conv_param_grad``
    The numerical gradient of a network's loss with respect to every element of
    one parameter tensor, evaluated incrementally: the unperturbed activations
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
  log(y[n, t_n] + 1e-7) of the unperturbed network.

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
