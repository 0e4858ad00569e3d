"""The book's ``common/multi_layer_net_extend.py``: weight decay, dropout and batch norm."""
from collections import OrderedDict

import numpy as np

from .multi_layer_net import MultiLayerNet, init_affine_weights
from .network_base import plain_accuracy


class MultiLayerNetExtend(MultiLayerNet):
    """Affine - [BatchNorm] - activation - [Dropout] per hidden layer, then Affine - SoftmaxWithLoss.

    ``dropout_ration`` keeps the book's spelling. gamma/beta parameters exist when use_batchnorm.
    """

    def __init__(self, input_size, hidden_size_list, output_size,
                 activation='relu', weight_init_std='relu', weight_decay_lambda=0,
                 use_dropout=False, dropout_ration=0.5, use_batchnorm=False):
        self.input_size = input_size
        self.output_size = output_size
        self.hidden_size_list = hidden_size_list
        self.hidden_layer_num = len(hidden_size_list)
        self.use_dropout = use_dropout
        self.weight_decay_lambda = weight_decay_lambda
        self.use_batchnorm = use_batchnorm
        self.params = {}
        init_affine_weights(self.params, [input_size] + list(hidden_size_list) + [output_size],
                            weight_init_std)

        L = self.layer_lib
        activation_layer = {'sigmoid': L.Sigmoid, 'relu': L.Relu}
        self.layers = OrderedDict()
        for idx in range(1, self.hidden_layer_num + 1):
            self.layers['Affine' + str(idx)] = L.Affine(self.params['W' + str(idx)],
                                                        self.params['b' + str(idx)])
            if self.use_batchnorm:
                self.params['gamma' + str(idx)] = np.ones(hidden_size_list[idx - 1])
                self.params['beta' + str(idx)] = np.zeros(hidden_size_list[idx - 1])
                self.layers['BatchNorm' + str(idx)] = L.BatchNormalization(
                    self.params['gamma' + str(idx)], self.params['beta' + str(idx)])
            self.layers['Activation_function' + str(idx)] = activation_layer[activation]()
            if self.use_dropout:
                self.layers['Dropout' + str(idx)] = L.Dropout(dropout_ration)
        idx = self.hidden_layer_num + 1
        self.layers['Affine' + str(idx)] = L.Affine(self.params['W' + str(idx)],
                                                    self.params['b' + str(idx)])
        self.last_layer = L.SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        for key, layer in self.layers.items():
            if "Dropout" in key or "BatchNorm" in key:
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def loss(self, x, t, train_flg=False):
        y = self.predict(x, train_flg)
        return self.last_layer.forward(y, t) + self._weight_decay()

    def accuracy(self, X, T):
        return plain_accuracy(self.predict(X, train_flg=False), T)

    def _param_keys(self):
        keys = []
        for idx in range(1, self.hidden_layer_num + 2):
            keys += ['W' + str(idx), 'b' + str(idx)]
            if self.use_batchnorm and idx != self.hidden_layer_num + 1:
                keys += ['gamma' + str(idx), 'beta' + str(idx)]
        return keys

    def numerical_gradient(self, X, T):
        loss_W = lambda W: self.loss(X, T, train_flg=True)
        return {key: self.numerical_gradient_fn(loss_W, self.params[key]) for key in self._param_keys()}

    def gradient(self, x, t):
        self.loss(x, t, train_flg=True)
        self._backprop()
        grads = {}
        for idx in range(1, self.hidden_layer_num + 2):
            grads['W' + str(idx)] = (self.layers['Affine' + str(idx)].dW
                                     + self.weight_decay_lambda * self.params['W' + str(idx)])
            grads['b' + str(idx)] = self.layers['Affine' + str(idx)].db
            if self.use_batchnorm and idx != self.hidden_layer_num + 1:
                grads['gamma' + str(idx)] = self.layers['BatchNorm' + str(idx)].dgamma
                grads['beta' + str(idx)] = self.layers['BatchNorm' + str(idx)].dbeta
        return grads
