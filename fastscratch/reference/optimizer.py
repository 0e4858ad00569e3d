"""Optimizers of the book's ``common/optimizer.py``: update(params, grads) changes params in place."""
import numpy as np


def _zeros_like_all(params):
    """An optimizer's fresh state: key -> zeros of ``params[key]``'s shape and dtype."""
    return {key: np.zeros_like(val) for key, val in params.items()}


class SGD:
    """p -= lr * g"""

    def __init__(self, lr=0.01):
        self.lr = lr

    def update(self, params, grads):
        for key in params.keys():
            self._step(params, grads, key)

    def _step(self, params, grads, key):
        """The update of one key (the fast optimizer's fallback runs it too)."""
        params[key] -= self.lr * grads[key]


class Momentum:
    """v = momentum*v - lr*g; p += v"""

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        if self.v is None:
            self.v = _zeros_like_all(params)
        for key in params.keys():
            self._step(params, grads, key)

    def _step(self, params, grads, key):
        """The update of one key (the fast optimizer's fallback runs it too)."""
        self.v[key] = self.momentum * self.v[key] - self.lr * grads[key]
        params[key] += self.v[key]


class Nesterov:
    """Nesterov's accelerated gradient (http://arxiv.org/abs/1212.0901), the book's corrected form.

    p += m*m*v - (1+m)*lr*g with the previous v; then v = m*v - lr*g.
    """

    def __init__(self, lr=0.01, momentum=0.9):
        self.lr = lr
        self.momentum = momentum
        self.v = None

    def update(self, params, grads):
        if self.v is None:
            self.v = _zeros_like_all(params)
        for key in params.keys():
            self._step(params, grads, key)

    def _step(self, params, grads, key):
        """The update of one key (the fast optimizer's fallback runs it too)."""
        params[key] += self.momentum * self.momentum * self.v[key]
        params[key] -= (1 + self.momentum) * self.lr * grads[key]
        self.v[key] *= self.momentum
        self.v[key] -= self.lr * grads[key]


class AdaGrad:
    """h += g*g; p -= lr * g / (sqrt(h) + 1e-7)"""

    def __init__(self, lr=0.01):
        self.lr = lr
        self.h = None

    def update(self, params, grads):
        if self.h is None:
            self.h = _zeros_like_all(params)
        for key in params.keys():
            self._step(params, grads, key)

    def _step(self, params, grads, key):
        """The update of one key (the fast optimizer's fallback runs it too)."""
        self.h[key] += grads[key] * grads[key]
        params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


class RMSprop:
    """h = decay*h + (1-decay)*g*g; p -= lr * g / (sqrt(h) + 1e-7)"""

    def __init__(self, lr=0.01, decay_rate=0.99):
        self.lr = lr
        self.decay_rate = decay_rate
        self.h = None

    def update(self, params, grads):
        if self.h is None:
            self.h = _zeros_like_all(params)
        for key in params.keys():
            self._step(params, grads, key)

    def _step(self, params, grads, key):
        """The update of one key (the fast optimizer's fallback runs it too)."""
        self.h[key] *= self.decay_rate
        self.h[key] += (1 - self.decay_rate) * grads[key] * grads[key]
        params[key] -= self.lr * grads[key] / (np.sqrt(self.h[key]) + 1e-7)


def adam_step_size(lr_t, param):
    """lr_t in param's floating dtype (the book's arithmetic under NumPy 1); as given for anything else."""
    dtype = getattr(param, "dtype", None)
    if dtype is not None and dtype.kind == "f":
        return dtype.type(lr_t)
    return lr_t


class Adam:
    """Adam (http://arxiv.org/abs/1412.6980v8) as the book writes it.

    lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t);
    m += (1-beta1)(g - m); v += (1-beta2)(g*g - v); p -= lr_t * m / (sqrt(v) + 1e-7)

    lr_t (a NumPy float64 scalar) is rounded to each floating parameter's dtype,
    as NumPy 1 did by value-based casting when the book was written: under
    NumPy 2 it would widen a float32 update to float64. A float64 step is unchanged.
    """

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr = lr
        self.beta1 = beta1
        self.beta2 = beta2
        self.iter = 0
        self.m = None
        self.v = None

    def update(self, params, grads):
        if self.m is None:
            self.m = _zeros_like_all(params)
            self.v = _zeros_like_all(params)
        self.iter += 1
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for key in params.keys():
            self._step(params, grads, key, adam_step_size(lr_t, params[key]))

    def _step(self, params, grads, key, step):
        """The update of one key with the step size lr_t in the parameter's dtype (the fast fallback runs it too)."""
        self.m[key] += (1 - self.beta1) * (grads[key] - self.m[key])
        self.v[key] += (1 - self.beta2) * (grads[key] ** 2 - self.v[key])
        params[key] -= step * self.m[key] / (np.sqrt(self.v[key]) + 1e-7)
