"""The book's ``common/multi_layer_net.py``: a fully connected net with weight decay."""
from collections import OrderedDict

import numpy as np

from ._promotion import weak
from .network_base import NetworkBase, plain_accuracy


def init_affine_weights(params, size_list, weight_init_std):
    """Draw W1..Wn (randn, in order) and zero b1..bn for consecutive sizes in size_list.

    weight_init_std: a number, 'relu'/'he' (sqrt(2/fan_in)) or 'sigmoid'/'xavier' (sqrt(1/fan_in)).
    """
    for idx in range(1, len(size_list)):
        scale = weight_init_std
        if str(weight_init_std).lower() in ('relu', 'he'):
            scale = np.sqrt(2.0 / size_list[idx - 1])
        elif str(weight_init_std).lower() in ('sigmoid', 'xavier'):
            scale = np.sqrt(1.0 / size_list[idx - 1])
        params['W' + str(idx)] = scale * np.random.randn(size_list[idx - 1], size_list[idx])
        params['b' + str(idx)] = np.zeros(size_list[idx])


class MultiLayerNet(NetworkBase):
    """(Affine - activation) x len(hidden_size_list), then Affine - SoftmaxWithLoss.

    activation: 'relu' or 'sigmoid'. The loss adds 0.5 * weight_decay_lambda * sum(W**2) per W.
    dtype: floating dtype of the parameters (default float64, the book's): the
    book's float64 draws, rounded; x and one-hot t are converted to it.
    """

    def __init__(self, input_size, hidden_size_list, output_size,
                 activation='relu', weight_init_std='relu', weight_decay_lambda=0, dtype=np.float64):
        self.input_size = input_size
        self.output_size = output_size
        self.hidden_size_list = hidden_size_list
        self.hidden_layer_num = len(hidden_size_list)
        self.weight_decay_lambda = weight_decay_lambda
        self.params = {}
        init_affine_weights(self.params, [input_size] + list(hidden_size_list) + [output_size],
                            weight_init_std)
        self._set_dtype(dtype)  # before the hidden layers: batch norm's gamma/beta take it

        L = self.layer_lib
        activation_layer = {'sigmoid': L.Sigmoid, 'relu': L.Relu}
        self.layers = OrderedDict()
        for idx in range(1, self.hidden_layer_num + 1):
            self.layers['Affine' + str(idx)] = L.Affine(self.params['W' + str(idx)],
                                                        self.params['b' + str(idx)])
            self._add_hidden_layers(idx, activation_layer[activation])
        idx = self.hidden_layer_num + 1
        self.layers['Affine' + str(idx)] = L.Affine(self.params['W' + str(idx)],
                                                    self.params['b' + str(idx)])
        self.last_layer = L.SoftmaxWithLoss()

    def _add_hidden_layers(self, idx, activation_cls):
        """What follows hidden Affine number idx: here only the activation."""
        self.layers['Activation_function' + str(idx)] = activation_cls()

    def predict(self, x):
        return self._forward(x)

    def _weight_decay(self):
        weight_decay = self.dtype.type(0)  # not a Python 0, which NumPy 1 adds to a float32 in float64
        for idx in range(1, self.hidden_layer_num + 2):
            W = self.params['W' + str(idx)]
            squares = self.sum_of_squares(W)
            # W's dtype under NumPy 1 too (see _promotion); the book's 0.5 * lambda * sum(W**2)
            weight_decay += weak(0.5 * self.weight_decay_lambda, squares) * squares
        return weight_decay

    def loss(self, x, t):
        y = self.predict(x)
        return self.last_layer.forward(y, self._target(t)) + self._weight_decay()

    def accuracy(self, x, t):
        return plain_accuracy(self.predict(x), t)

    def _param_keys(self):
        keys = []
        for idx in range(1, self.hidden_layer_num + 2):
            keys += ['W' + str(idx), 'b' + str(idx)]
        return keys

    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)
        return {key: self.numerical_gradient_fn(loss_W, self.params[key]) for key in self._param_keys()}

    def gradient(self, x, t):
        self.loss(x, t)
        self._backprop()
        grads = {}
        for idx in range(1, self.hidden_layer_num + 2):
            affine = self.layers['Affine' + str(idx)]
            grads['W' + str(idx)] = affine.dW + self.weight_decay_lambda * affine.W
            grads['b' + str(idx)] = affine.db
        return grads
