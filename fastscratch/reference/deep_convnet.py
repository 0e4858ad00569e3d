"""Chapter 8's DeepConvNet: six 3x3 convolutions with He init, three poolings, dropout."""
import numpy as np

from .network_base import NetworkBase, batched_accuracy

_DEFAULT_CONV = (
    {'filter_num': 16, 'filter_size': 3, 'pad': 1, 'stride': 1},
    {'filter_num': 16, 'filter_size': 3, 'pad': 1, 'stride': 1},
    {'filter_num': 32, 'filter_size': 3, 'pad': 1, 'stride': 1},
    {'filter_num': 32, 'filter_size': 3, 'pad': 2, 'stride': 1},
    {'filter_num': 64, 'filter_size': 3, 'pad': 1, 'stride': 1},
    {'filter_num': 64, 'filter_size': 3, 'pad': 1, 'stride': 1},
)


class DeepConvNet(NetworkBase):
    """conv-relu-conv-relu-pool x3, Affine(W7)-Relu-Dropout(0.5)-Affine(W8)-Dropout(0.5), SoftmaxWithLoss.

    ``layers`` is a list; the weighted ones sit at indices 0, 2, 5, 7, 10, 12, 15, 18.
    predict(x, train_flg=False); loss predicts with train_flg=True (dropout on).
    dtype: floating dtype of the parameters (default float64, the book's): the
    book's float64 draws, rounded; x and one-hot t are converted to it.
    """

    _weighted_layers = tuple(enumerate((0, 2, 5, 7, 10, 12, 15, 18), start=1))

    def __init__(self, input_dim=(1, 28, 28),
                 conv_param_1=_DEFAULT_CONV[0], conv_param_2=_DEFAULT_CONV[1],
                 conv_param_3=_DEFAULT_CONV[2], conv_param_4=_DEFAULT_CONV[3],
                 conv_param_5=_DEFAULT_CONV[4], conv_param_6=_DEFAULT_CONV[5],
                 hidden_size=50, output_size=10, dtype=np.float64):
        # He initialisation: fan-in of each weighted layer
        pre_node_nums = np.array([1 * 3 * 3, 16 * 3 * 3, 16 * 3 * 3, 32 * 3 * 3, 32 * 3 * 3,
                                  64 * 3 * 3, 64 * 4 * 4, hidden_size])
        weight_init_scales = np.sqrt(2.0 / pre_node_nums)

        conv_params = [conv_param_1, conv_param_2, conv_param_3,
                       conv_param_4, conv_param_5, conv_param_6]
        self.params = {}
        pre_channel_num = input_dim[0]
        for idx, cp in enumerate(conv_params):
            self.params['W' + str(idx + 1)] = weight_init_scales[idx] * np.random.randn(
                cp['filter_num'], pre_channel_num, cp['filter_size'], cp['filter_size'])
            self.params['b' + str(idx + 1)] = np.zeros(cp['filter_num'])
            pre_channel_num = cp['filter_num']
        self.params['W7'] = weight_init_scales[6] * np.random.randn(64 * 4 * 4, hidden_size)
        self.params['b7'] = np.zeros(hidden_size)
        self.params['W8'] = weight_init_scales[7] * np.random.randn(hidden_size, output_size)
        self.params['b8'] = np.zeros(output_size)
        self._set_dtype(dtype)

        L = self.layer_lib
        self.layers = []
        for block in range(3):
            for k in (2 * block, 2 * block + 1):
                cp = conv_params[k]
                self.layers.append(L.Convolution(self.params['W' + str(k + 1)],
                                                 self.params['b' + str(k + 1)],
                                                 cp['stride'], cp['pad']))
                self.layers.append(L.Relu())
            self.layers.append(L.Pooling(pool_h=2, pool_w=2, stride=2))
        self.layers.append(L.Affine(self.params['W7'], self.params['b7']))
        self.layers.append(L.Relu())
        self.layers.append(L.Dropout(0.5))
        self.layers.append(L.Affine(self.params['W8'], self.params['b8']))
        self.layers.append(L.Dropout(0.5))
        self.last_layer = L.SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        x = self._input(x)
        for layer in self.layers:
            if isinstance(layer, self.layer_lib.Dropout):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def loss(self, x, t):
        y = self.predict(x, train_flg=True)
        return self.last_layer.forward(y, self._target(t))

    def accuracy(self, x, t, batch_size=100):
        return batched_accuracy(self, x, t, batch_size)

    def numerical_gradient(self, x, t):
        loss_w = lambda w: self.loss(x, t)
        return {key: self.numerical_gradient_fn(loss_w, self.params[key]) for key in self.params}

    def gradient(self, x, t):
        self.loss(x, t)
        self._backprop()
        return self._layer_gradients()
