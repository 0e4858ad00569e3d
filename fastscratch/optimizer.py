"""Drop-in for the book's ``common.optimizer``: the same optimizers, one fused kernel pass per parameter.

``update(params, grads)`` changes every ``params[key]`` in place (the layers
hold references to the same arrays, so a parameter is never rebound) with the
reference's formulas, operation order and state attributes (``v``, ``h``,
``m``, ``iter``), so a step agrees with ``fastscratch.reference.optimizer`` to
rounding. State arrays are updated in place too (the reference rebinds
``Momentum.v[key]`` to a new array each step; the values are the same).

A key whose parameter is not a C-contiguous float32/float64 array, or whose
gradient has another shape or dtype, takes the reference's own update of that key
(``_step``) instead.
"""
import numpy as np

from fastscratch._core.dtypes import KERNEL_DTYPES
from fastscratch._core.validate import check_array, check_real_dtype, check_shape
from fastscratch.kernels import optim as _k
from fastscratch.kernels._jit import pick as _pick_kernel
from fastscratch.reference import optimizer as _reference

#: The reference's epsilon in the AdaGrad/RMSprop/Adam denominators.
EPS = 1e-7


def _check_dicts(params, grads):
    if not isinstance(params, dict):
        raise TypeError(f"params must be a dict of arrays; got {type(params).__name__}")
    if not isinstance(grads, dict):
        raise TypeError(f"grads must be a dict of arrays; got {type(grads).__name__}")
    missing = [key for key in params if key not in grads]
    if missing:
        raise KeyError(f"grads has no entry for parameter(s) {missing}")
    for key, p in params.items():
        if isinstance(p, np.ndarray):
            # the reference would broadcast a wrong-shaped gradient silently (or fail naming no argument)
            name = f"grads[{key!r}]"
            check_shape(check_real_dtype(check_array(grads[key], name), name), name, p.shape)


def _flat(p, g, *state):
    """Flat views of a parameter, its gradient and state for the kernels; None -> use the reference formula."""
    if (type(p) is not np.ndarray or p.dtype not in KERNEL_DTYPES or not p.flags.c_contiguous
            or not p.flags.writeable):
        return None
    check_array(g, "grads[key]")
    if g.shape != p.shape or g.dtype != p.dtype:
        return None
    for s in state:
        if type(s) is not np.ndarray or s.dtype != p.dtype or s.shape != p.shape or not s.flags.c_contiguous:
            return None
    g = np.ascontiguousarray(g)  # a copy only for a strided gradient, never written
    return (p.reshape(-1), g.reshape(-1)) + tuple(s.reshape(-1) for s in state)


def _pick(size, parallel, serial):
    # the updates are memory-bound: the memory-bound threshold of the one policy
    return _pick_kernel(size, parallel, serial, memory_bound=True)


class SGD(_reference.SGD):
    __doc__ = _reference.SGD.__doc__

    def update(self, params, grads):
        _check_dicts(params, grads)
        for key in params.keys():
            p, g = params[key], grads[key]
            arrs = _flat(p, g)
            if arrs is None:
                self._step(params, grads, key)  # the reference's formula
                continue
            pf, gf = arrs
            _pick(pf.size, _k.sgd, _k.sgd_serial)(pf, gf, p.dtype.type(self.lr))


class Momentum(_reference.Momentum):
    __doc__ = _reference.Momentum.__doc__

    def update(self, params, grads):
        _check_dicts(params, grads)
        if self.v is None:
            self.v = _reference._zeros_like_all(params)
        for key in params.keys():
            p, g = params[key], grads[key]
            arrs = _flat(p, g, self.v[key])
            if arrs is None:
                self._step(params, grads, key)  # the reference's formula
                continue
            t = p.dtype.type
            _pick(p.size, _k.momentum, _k.momentum_serial)(*arrs, t(self.momentum), t(self.lr))


class Nesterov(_reference.Nesterov):
    __doc__ = _reference.Nesterov.__doc__

    def update(self, params, grads):
        _check_dicts(params, grads)
        if self.v is None:
            self.v = _reference._zeros_like_all(params)
        m, lr = self.momentum, self.lr
        for key in params.keys():
            p, g = params[key], grads[key]
            arrs = _flat(p, g, self.v[key])
            if arrs is None:
                self._step(params, grads, key)  # the reference's formula
                continue
            t = p.dtype.type
            # the reference's Python-float products, cast once as NumPy casts them
            _pick(p.size, _k.nesterov, _k.nesterov_serial)(*arrs, t(m * m), t((1 + m) * lr), t(m), t(lr))


class AdaGrad(_reference.AdaGrad):
    __doc__ = _reference.AdaGrad.__doc__

    def update(self, params, grads):
        _check_dicts(params, grads)
        if self.h is None:
            self.h = _reference._zeros_like_all(params)
        for key in params.keys():
            p, g = params[key], grads[key]
            arrs = _flat(p, g, self.h[key])
            if arrs is None:
                self._step(params, grads, key)  # the reference's formula
                continue
            t = p.dtype.type
            _pick(p.size, _k.adagrad, _k.adagrad_serial)(*arrs, t(self.lr), t(EPS))


class RMSprop(_reference.RMSprop):
    __doc__ = _reference.RMSprop.__doc__

    def update(self, params, grads):
        _check_dicts(params, grads)
        if self.h is None:
            self.h = _reference._zeros_like_all(params)
        d = self.decay_rate
        for key in params.keys():
            p, g = params[key], grads[key]
            arrs = _flat(p, g, self.h[key])
            if arrs is None:
                self._step(params, grads, key)  # the reference's formula
                continue
            t = p.dtype.type
            _pick(p.size, _k.rmsprop, _k.rmsprop_serial)(*arrs, t(self.lr), t(d), t(1 - d), t(EPS))


class Adam(_reference.Adam):
    __doc__ = _reference.Adam.__doc__

    def update(self, params, grads):
        _check_dicts(params, grads)
        if self.m is None:
            self.m = _reference._zeros_like_all(params)
            self.v = _reference._zeros_like_all(params)
        self.iter += 1
        # the reference's expression, then rounded to each parameter's dtype as the reference rounds it
        lr_t = self.lr * np.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        b1, b2 = self.beta1, self.beta2
        for key in params.keys():
            p, g = params[key], grads[key]
            step = _reference.adam_step_size(lr_t, p)
            arrs = _flat(p, g, self.m[key], self.v[key])
            if arrs is None:
                self._step(params, grads, key, step)  # the reference's formula
                continue
            t = p.dtype.type
            _pick(p.size, _k.adam, _k.adam_serial)(*arrs, step, t(1 - b1), t(1 - b2), t(EPS))
