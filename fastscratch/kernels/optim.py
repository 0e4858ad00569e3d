"""Fused in-place optimizer updates: one pass over a parameter and its state per step.

Every kernel takes C-contiguous arrays viewed flat, all of shape (n,) and one
float dtype, and updates the parameter ``p`` and the state arrays in place.
Each element is computed with the reference's operations in the reference's
order (no fused multiply-add: Numba does not contract without fastmath), so a
step matches NumPy's to the last bit. Scalars come cast by the caller the way
NumPy casts them (a Python float takes the array's dtype; Adam's ``lr_t`` comes
rounded to the array's dtype, as the reference rounds it), so float32 stays float32.

Parallel kernels split the elements into fixed chunks, one thread per chunk;
the ``*_serial`` twins serve small parameters (biases), where starting the
thread pool costs more than the update. They are written out rather than
generated: see ``_jit.serial_twin``.
"""
import numpy as np

from ._chunks import CHUNK, nchunks
from ._jit import kernel, parallel_kernel, prange


# ---------------------------------------------------------------- SGD
@kernel
def _sgd_range(p, g, lr, start, stop):
    for i in range(np.uint64(start), np.uint64(stop)):
        p[i] -= lr * g[i]


@parallel_kernel
def sgd(p, g, lr):
    """p -= lr * g. p written in place."""
    n = p.shape[0]
    for c in prange(nchunks(n, CHUNK)):
        _sgd_range(p, g, lr, c * CHUNK, min(n, (c + 1) * CHUNK))


@kernel
def sgd_serial(p, g, lr):
    """Serial twin of :func:`sgd`."""
    _sgd_range(p, g, lr, 0, p.shape[0])


# ---------------------------------------------------------------- Momentum
@kernel
def _momentum_range(p, g, v, momentum, lr, start, stop):
    for i in range(np.uint64(start), np.uint64(stop)):
        vi = momentum * v[i] - lr * g[i]
        v[i] = vi
        p[i] += vi


@parallel_kernel
def momentum(p, g, v, momentum, lr):
    """v = momentum * v - lr * g; p += v. p and v written in place."""
    n = p.shape[0]
    for c in prange(nchunks(n, CHUNK)):
        _momentum_range(p, g, v, momentum, lr, c * CHUNK, min(n, (c + 1) * CHUNK))


@kernel
def momentum_serial(p, g, v, momentum, lr):
    """Serial twin of :func:`momentum`."""
    _momentum_range(p, g, v, momentum, lr, 0, p.shape[0])


# ---------------------------------------------------------------- Nesterov
@kernel
def _nesterov_range(p, g, v, mm, c, momentum, lr, start, stop):
    for i in range(np.uint64(start), np.uint64(stop)):
        gi = g[i]
        vi = v[i]
        p[i] += mm * vi      # p += m*m*v (old v)
        p[i] -= c * gi       # p -= (1+m)*lr*g
        vi = vi * momentum   # v *= m
        v[i] = vi - lr * gi  # v -= lr*g


@parallel_kernel
def nesterov(p, g, v, mm, c, momentum, lr):
    """p += mm*v; p -= c*g; v *= momentum; v -= lr*g (mm = m*m, c = (1+m)*lr). p, v in place."""
    n = p.shape[0]
    for k in prange(nchunks(n, CHUNK)):
        _nesterov_range(p, g, v, mm, c, momentum, lr, k * CHUNK, min(n, (k + 1) * CHUNK))


@kernel
def nesterov_serial(p, g, v, mm, c, momentum, lr):
    """Serial twin of :func:`nesterov`."""
    _nesterov_range(p, g, v, mm, c, momentum, lr, 0, p.shape[0])


# ---------------------------------------------------------------- AdaGrad
@kernel
def _adagrad_range(p, g, h, lr, eps, start, stop):
    for i in range(np.uint64(start), np.uint64(stop)):
        gi = g[i]
        hi = h[i] + gi * gi
        h[i] = hi
        p[i] -= lr * gi / (np.sqrt(hi) + eps)


@parallel_kernel
def adagrad(p, g, h, lr, eps):
    """h += g*g; p -= lr * g / (sqrt(h) + eps). p, h in place."""
    n = p.shape[0]
    for c in prange(nchunks(n, CHUNK)):
        _adagrad_range(p, g, h, lr, eps, c * CHUNK, min(n, (c + 1) * CHUNK))


@kernel
def adagrad_serial(p, g, h, lr, eps):
    """Serial twin of :func:`adagrad`."""
    _adagrad_range(p, g, h, lr, eps, 0, p.shape[0])


# ---------------------------------------------------------------- RMSprop
@kernel
def _rmsprop_range(p, g, h, lr, decay, one_minus_decay, eps, start, stop):
    for i in range(np.uint64(start), np.uint64(stop)):
        gi = g[i]
        hi = h[i] * decay
        hi = hi + one_minus_decay * gi * gi
        h[i] = hi
        p[i] -= lr * gi / (np.sqrt(hi) + eps)


@parallel_kernel
def rmsprop(p, g, h, lr, decay, one_minus_decay, eps):
    """h *= decay; h += (1-decay)*g*g; p -= lr * g / (sqrt(h) + eps). p, h in place."""
    n = p.shape[0]
    for c in prange(nchunks(n, CHUNK)):
        _rmsprop_range(p, g, h, lr, decay, one_minus_decay, eps, c * CHUNK, min(n, (c + 1) * CHUNK))


@kernel
def rmsprop_serial(p, g, h, lr, decay, one_minus_decay, eps):
    """Serial twin of :func:`rmsprop`."""
    _rmsprop_range(p, g, h, lr, decay, one_minus_decay, eps, 0, p.shape[0])


# ---------------------------------------------------------------- Adam
@kernel
def _adam_range(p, g, m, v, lr_t, one_minus_b1, one_minus_b2, eps, start, stop):
    for i in range(np.uint64(start), np.uint64(stop)):
        gi = g[i]
        mi = m[i] + one_minus_b1 * (gi - m[i])
        vi = v[i] + one_minus_b2 * (gi * gi - v[i])
        m[i] = mi
        v[i] = vi
        p[i] -= lr_t * mi / (np.sqrt(vi) + eps)


@parallel_kernel
def adam(p, g, m, v, lr_t, one_minus_b1, one_minus_b2, eps):
    """m += (1-b1)(g-m); v += (1-b2)(g*g-v); p -= lr_t * m / (sqrt(v) + eps). p, m, v in place.

    lr_t and the other scalars are of p's dtype (as the reference rounds them).
    """
    n = p.shape[0]
    for c in prange(nchunks(n, CHUNK)):
        _adam_range(p, g, m, v, lr_t, one_minus_b1, one_minus_b2, eps,
                    c * CHUNK, min(n, (c + 1) * CHUNK))


@kernel
def adam_serial(p, g, m, v, lr_t, one_minus_b1, one_minus_b2, eps):
    """Serial twin of :func:`adam`."""
    _adam_range(p, g, m, v, lr_t, one_minus_b1, one_minus_b2, eps, 0, p.shape[0])
