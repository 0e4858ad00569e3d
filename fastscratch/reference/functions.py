"""Activation and loss functions of the book's ``common/functions.py``, in NumPy.

This is the oracle: same names, signatures and numerics as the book (with the
later corrections listed in the README), never faster than it needs to be.
"""
import numpy as np

from ._promotion import weak

#: Added inside the log of the cross-entropy so that log(0) never happens (the book's delta).
CEE_DELTA = 1e-7


def identity_function(x):
    return x


def step_function(x):
    """1 where x > 0, else 0, as int (the book's later ``dtype=int``)."""
    return np.array(x > 0, dtype=int)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def sigmoid_grad(x):
    return (1.0 - sigmoid(x)) * sigmoid(x)


def relu(x):
    return np.maximum(0, x)


def relu_grad(x):
    """1 where x >= 0, else 0 (the book's corrected ``zeros_like``)."""
    grad = np.zeros_like(x)
    grad[x >= 0] = 1
    return grad


def softmax(x):
    """Numerically stable softmax over the last axis.

    x : ndarray of shape (K,) or (N, K). Returns the same shape.
    """
    x = x - np.max(x, axis=-1, keepdims=True)  # overflow guard
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def sum_squared_error(y, t):
    """0.5 * sum((y - t)**2) over all elements (the book's 'mean_squared_error')."""
    return 0.5 * np.sum((y - t) ** 2)


#: The book's name for the same function.
mean_squared_error = sum_squared_error


def cross_entropy_error(y, t):
    """Mean cross-entropy of probabilities y against targets t.

    y : ndarray of shape (K,) or (N, K), probabilities.
    t : one-hot of y's shape, or labels of shape () / (N,).
    Adds ``CEE_DELTA`` inside the log, as the book does.
    """
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    # one-hot targets become label indices
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    total = -np.sum(np.log(y[np.arange(batch_size), t] + CEE_DELTA))
    return total / weak(batch_size, total)  # y's dtype under NumPy 1 too (see _promotion)


def softmax_loss(X, t):
    return cross_entropy_error(softmax(X), t)
