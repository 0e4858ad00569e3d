"""Chapter 4's TwoLayerNet: Affine - sigmoid - Affine - softmax written with the book's functions, no layers.

Its ``gradient`` is the chapter's analytic backward pass (the book's "fast
version"); ``numerical_gradient`` is the element loop over a closure, as in
the book. Chapter 5's layer-based TwoLayerNet is ``two_layer_net``.
"""
import numpy as np

from . import functions as _reference_functions
from .gradient import numerical_gradient as _reference_numerical_gradient


class TwoLayerNet:
    """W1 (input_size, hidden_size), W2 (hidden_size, output_size): scaled randn draws in that order; b zeros.

    predict(x (N, input_size)) -> softmax(sigmoid(x W1 + b1) W2 + b2), (N, output_size).
    t is one-hot (N, output_size); ``loss`` also takes labels, ``accuracy`` does not (the book's argmax).
    """

    #: Module holding sigmoid, sigmoid_grad, softmax and cross_entropy_error.
    function_lib = _reference_functions
    #: The matrix product of predict and gradient (the fast network's GEMMs replace it).
    dot = staticmethod(np.dot)
    #: numerical_gradient(f, x) used by the numerical_gradient method.
    numerical_gradient_fn = staticmethod(_reference_numerical_gradient)

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01):
        self.params = {}
        self.params['W1'] = weight_init_std * np.random.randn(input_size, hidden_size)
        self.params['b1'] = np.zeros(hidden_size)
        self.params['W2'] = weight_init_std * np.random.randn(hidden_size, output_size)
        self.params['b2'] = np.zeros(output_size)

    def predict(self, x):
        F = self.function_lib
        W1, W2 = self.params['W1'], self.params['W2']
        b1, b2 = self.params['b1'], self.params['b2']
        a1 = self.dot(x, W1) + b1
        z1 = F.sigmoid(a1)
        a2 = self.dot(z1, W2) + b2
        return F.softmax(a2)

    def loss(self, x, t):
        return self.function_lib.cross_entropy_error(self.predict(x), t)

    def accuracy(self, x, t):
        y = np.argmax(self.predict(x), axis=1)
        t = np.argmax(t, axis=1)
        return np.sum(y == t) / float(x.shape[0])

    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)  # the book's closure: f ignores W, reads the parameter that is x
        grads = {}
        for key in ('W1', 'b1', 'W2', 'b2'):
            grads[key] = self.numerical_gradient_fn(loss_W, self.params[key])
        return grads

    def gradient(self, x, t):
        """The analytic gradient: {'W1', 'b1', 'W2', 'b2'} for one-hot t, by the chapter's backward pass."""
        F = self.function_lib
        W1, W2 = self.params['W1'], self.params['W2']
        b1, b2 = self.params['b1'], self.params['b2']
        grads = {}
        batch_num = x.shape[0]
        # forward
        a1 = self.dot(x, W1) + b1
        z1 = F.sigmoid(a1)
        a2 = self.dot(z1, W2) + b2
        y = F.softmax(a2)
        # backward
        dy = (y - t) / batch_num
        grads['W2'] = self.dot(z1.T, dy)
        grads['b2'] = np.sum(dy, axis=0)
        dz1 = self.dot(dy, W2.T)
        da1 = F.sigmoid_grad(a1) * dz1
        grads['W1'] = self.dot(x.T, da1)
        grads['b1'] = np.sum(da1, axis=0)
        return grads
