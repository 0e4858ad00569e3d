"""Numerical differentiation of the book's ``common/gradient.py``, in NumPy.

Central differences with h = 1e-4, one element at a time: f is called twice
per element with that element perturbed in place, and the element restored.
"""
import numpy as np

H = 1e-4


def _central_difference(f, x, idx):
    """(f(x) at x[idx] = float(x[idx]) + H minus f(x) at x[idx] = x[idx] - H) / (2 H); x[idx] restored after."""
    tmp_val = x[idx]
    x[idx] = float(tmp_val) + H
    fxh1 = f(x)
    x[idx] = tmp_val - H
    fxh2 = f(x)
    x[idx] = tmp_val
    return (fxh1 - fxh2) / (2 * H)


def _numerical_gradient_1d(f, x):
    """Gradient of f at a 1-D x, element by element. x is perturbed in place and restored."""
    grad = np.zeros_like(x)
    for idx in range(x.size):
        grad[idx] = _central_difference(f, x, idx)
    return grad


def numerical_gradient_1d(f, x):
    """The book's 1-D variant (``_numerical_gradient_1d``), public under this name too."""
    return _numerical_gradient_1d(f, x)


def _by_rows(gradient_1d, f, X):
    """``gradient_1d(f, X)`` for a 1-D X; otherwise ``gradient_1d(f, row)`` for each row of X, stacked."""
    if X.ndim == 1:
        return gradient_1d(f, X)
    grad = np.zeros_like(X)
    for idx, x in enumerate(X):
        grad[idx] = gradient_1d(f, x)
    return grad


def numerical_gradient_2d(f, X):
    """The book's 2-D variant: for a 2-D X, the 1-D gradient of each row."""
    return _by_rows(_numerical_gradient_1d, f, X)


def numerical_gradient(f, x):
    """Gradient of the scalar function f at x (any ndim), by central differences.

    x : ndarray, perturbed in place one element at a time and restored, as in
        the book, so f may read x (or a network parameter that *is* x).
    Returns an array of x's shape and dtype.
    """
    grad = np.zeros_like(x)
    it = np.nditer(x, flags=["multi_index"], op_flags=[["readwrite"]])
    while not it.finished:
        idx = it.multi_index
        grad[idx] = _central_difference(f, x, idx)
        it.iternext()
    return grad


def _descend(gradient, f, init_x, lr, step_num):
    """``x -= lr * gradient(f, x)``, step_num times, with x = init_x updated in place; returns x."""
    x = init_x
    for _ in range(step_num):
        x -= lr * gradient(f, x)
    return x


def gradient_descent(f, init_x, lr=0.01, step_num=100):
    """Chapter 4's gradient descent: x -= lr * grad, step_num times (init_x updated in place)."""
    return _descend(numerical_gradient, f, init_x, lr, step_num)
