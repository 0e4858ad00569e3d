"""The book's ``common/multi_layer_net_extend.py``: weight decay, dropout and batch norm."""
import numpy as np

from .multi_layer_net import MultiLayerNet
from .network_base import plain_accuracy


class MultiLayerNetExtend(MultiLayerNet):
    """Affine - [BatchNorm] - activation - [Dropout] per hidden layer, then Affine - SoftmaxWithLoss.

    ``dropout_ration`` keeps the book's spelling. gamma/beta parameters exist when use_batchnorm.
    dtype: floating dtype of every parameter (default float64), as in MultiLayerNet.
    """

    def __init__(self, input_size, hidden_size_list, output_size,
                 activation='relu', weight_init_std='relu', weight_decay_lambda=0,
                 use_dropout=False, dropout_ration=0.5, use_batchnorm=False, dtype=np.float64):
        self.use_dropout = use_dropout
        self.dropout_ration = dropout_ration
        self.use_batchnorm = use_batchnorm
        super().__init__(input_size, hidden_size_list, output_size, activation=activation,
                         weight_init_std=weight_init_std, weight_decay_lambda=weight_decay_lambda,
                         dtype=dtype)

    def _add_hidden_layers(self, idx, activation_cls):
        """[BatchNorm] - activation - [Dropout] after hidden Affine number idx."""
        L = self.layer_lib
        if self.use_batchnorm:
            size = self.hidden_size_list[idx - 1]
            self.params['gamma' + str(idx)] = np.ones(size, dtype=self.dtype)
            self.params['beta' + str(idx)] = np.zeros(size, dtype=self.dtype)
            self.layers['BatchNorm' + str(idx)] = L.BatchNormalization(
                self.params['gamma' + str(idx)], self.params['beta' + str(idx)])
        self.layers['Activation_function' + str(idx)] = activation_cls()
        if self.use_dropout:
            self.layers['Dropout' + str(idx)] = L.Dropout(self.dropout_ration)

    def predict(self, x, train_flg=False):
        x = self._input(x)
        for key, layer in self.layers.items():
            if "Dropout" in key or "BatchNorm" in key:
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def loss(self, x, t, train_flg=False):
        y = self.predict(x, train_flg)
        return self.last_layer.forward(y, self._target(t)) + self._weight_decay()

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
