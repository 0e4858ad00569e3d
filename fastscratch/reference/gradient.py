"""Numerical differentiation of the book's ``common/gradient.py``, in NumPy.

Central differences with h = 1e-4, one element at a time: f is called twice
per element with that element perturbed in place, and the element restored.
"""
import numpy as np

H = 1e-4


def _numerical_gradient_1d(f, x):
    """Gradient of f at a 1-D x, element by element. x is perturbed in place and restored."""
    grad = np.zeros_like(x)
    for idx in range(x.size):
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + H
        fxh1 = f(x)
        x[idx] = tmp_val - H
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * H)
        x[idx] = tmp_val
    return grad


def numerical_gradient_1d(f, x):
    """The book's 1-D variant (``_numerical_gradient_1d``), public under this name too."""
    return _numerical_gradient_1d(f, x)


def numerical_gradient_2d(f, X):
    """The book's 2-D variant: for a 2-D X, the 1-D gradient of each row."""
    if X.ndim == 1:
        return _numerical_gradient_1d(f, X)
    grad = np.zeros_like(X)
    for idx, x in enumerate(X):
        grad[idx] = _numerical_gradient_1d(f, x)
    return grad


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
        tmp_val = x[idx]
        x[idx] = float(tmp_val) + H
        fxh1 = f(x)
        x[idx] = tmp_val - H
        fxh2 = f(x)
        grad[idx] = (fxh1 - fxh2) / (2 * H)
        x[idx] = tmp_val
        it.iternext()
    return grad


def gradient_descent(f, init_x, lr=0.01, step_num=100):
    """Chapter 4's gradient descent: x -= lr * grad, step_num times (init_x updated in place)."""
    x = init_x
    for _ in range(step_num):
        x -= lr * numerical_gradient(f, x)
    return x
