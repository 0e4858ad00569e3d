"""Chapter 5's layer-based TwoLayerNet: Affine - Relu - Affine - SoftmaxWithLoss."""
from collections import OrderedDict

import numpy as np

from .network_base import NetworkBase, plain_accuracy


class TwoLayerNet(NetworkBase):
    """W1 (input_size, hidden_size), W2 (hidden_size, output_size), scaled randn draws in that order.

    dtype : floating dtype of the parameters (default float64, the book's). The
        draws are the book's float64 ones, then rounded to dtype; inputs x (and
        one-hot targets) are converted to dtype at predict/loss.
    """

    def __init__(self, input_size, hidden_size, output_size, weight_init_std=0.01, dtype=np.float64):
        self.params = {}
        self.params['W1'] = weight_init_std * np.random.randn(input_size, hidden_size)
        self.params['b1'] = np.zeros(hidden_size)
        self.params['W2'] = weight_init_std * np.random.randn(hidden_size, output_size)
        self.params['b2'] = np.zeros(output_size)
        self._set_dtype(dtype)

        L = self.layer_lib
        self.layers = OrderedDict()
        self.layers['Affine1'] = L.Affine(self.params['W1'], self.params['b1'])
        self.layers['Relu1'] = L.Relu()
        self.layers['Affine2'] = L.Affine(self.params['W2'], self.params['b2'])
        # the book calls it lastLayer here and last_layer elsewhere: both names work
        self.lastLayer = self.last_layer = L.SoftmaxWithLoss()

    def predict(self, x):
        return self._forward(x)

    def loss(self, x, t):
        return self.last_layer.forward(self.predict(x), self._target(t))

    def accuracy(self, x, t):
        return plain_accuracy(self.predict(x), t)

    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)
        grads = {}
        for key in ('W1', 'b1', 'W2', 'b2'):
            grads[key] = self.numerical_gradient_fn(loss_W, self.params[key])
        return grads

    def gradient(self, x, t):
        self.loss(x, t)
        self._backprop()
        return {'W1': self.layers['Affine1'].dW, 'b1': self.layers['Affine1'].db,
                'W2': self.layers['Affine2'].dW, 'b2': self.layers['Affine2'].db}
