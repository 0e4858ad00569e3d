"""Chapter 7's SimpleConvNet: Conv - Relu - Pool - Affine - Relu - Affine - SoftmaxWithLoss."""
from collections import OrderedDict

import numpy as np

from .network_base import NetworkBase, batched_accuracy


class SimpleConvNet(NetworkBase):
    """input_dim (C, H, W); conv_param filter_num, filter_size, pad, stride; 2x2 max pooling, stride 2.

    W1 (FN, C, fs, fs), W2 (FN*(conv_out/2)**2, hidden_size), W3 (hidden_size, output_size),
    drawn with randn in that order and scaled by weight_init_std.
    dtype: floating dtype of the parameters (default float64, the book's): the
    book's float64 draws, rounded; x and one-hot t are converted to it.
    """

    _weighted_layers = ((1, 'Conv1'), (2, 'Affine1'), (3, 'Affine2'))

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param={'filter_num': 30, 'filter_size': 5, 'pad': 0, 'stride': 1},
                 hidden_size=100, output_size=10, weight_init_std=0.01, dtype=np.float64):
        filter_num = conv_param['filter_num']
        filter_size = conv_param['filter_size']
        filter_pad = conv_param['pad']
        filter_stride = conv_param['stride']
        input_size = input_dim[1]
        conv_output_size = (input_size - filter_size + 2 * filter_pad) / filter_stride + 1
        pool_output_size = int(filter_num * (conv_output_size / 2) * (conv_output_size / 2))

        self.params = {}
        self.params['W1'] = weight_init_std * np.random.randn(filter_num, input_dim[0],
                                                              filter_size, filter_size)
        self.params['b1'] = np.zeros(filter_num)
        self.params['W2'] = weight_init_std * np.random.randn(pool_output_size, hidden_size)
        self.params['b2'] = np.zeros(hidden_size)
        self.params['W3'] = weight_init_std * np.random.randn(hidden_size, output_size)
        self.params['b3'] = np.zeros(output_size)
        self._set_dtype(dtype)

        L = self.layer_lib
        self.layers = OrderedDict()
        self.layers['Conv1'] = L.Convolution(self.params['W1'], self.params['b1'],
                                             conv_param['stride'], conv_param['pad'])
        self.layers['Relu1'] = L.Relu()
        self.layers['Pool1'] = L.Pooling(pool_h=2, pool_w=2, stride=2)
        self.layers['Affine1'] = L.Affine(self.params['W2'], self.params['b2'])
        self.layers['Relu2'] = L.Relu()
        self.layers['Affine2'] = L.Affine(self.params['W3'], self.params['b3'])
        self.last_layer = L.SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        # train_flg is accepted for a common accuracy loop; this net has no dropout.
        return self._forward(x)

    def loss(self, x, t):
        return self.last_layer.forward(self.predict(x), self._target(t))

    def accuracy(self, x, t, batch_size=100):
        return batched_accuracy(self, x, t, batch_size)

    def numerical_gradient(self, x, t):
        loss_w = lambda w: self.loss(x, t)
        grads = {}
        for idx in (1, 2, 3):
            grads['W' + str(idx)] = self.numerical_gradient_fn(loss_w, self.params['W' + str(idx)])
            grads['b' + str(idx)] = self.numerical_gradient_fn(loss_w, self.params['b' + str(idx)])
        return grads

    def gradient(self, x, t):
        self.loss(x, t)
        self._backprop()
        return self._layer_gradients()
