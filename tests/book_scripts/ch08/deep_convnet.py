# coding: utf-8
# Chapter 8's DeepConvNet as the book's folder has it: its own file, reading the book's parameter pickle.
import sys, os
sys.path.append(os.pardir)
import pickle
import numpy as np
from common.layers import *


class DeepConvNet:
    """conv-relu-conv-relu-pool x3 - affine-relu-dropout - affine-dropout - softmax."""

    def __init__(self, input_dim=(1, 28, 28),
                 conv_params=({'filter_num': 16, 'filter_size': 3, 'pad': 1, 'stride': 1},
                              {'filter_num': 16, 'filter_size': 3, 'pad': 1, 'stride': 1},
                              {'filter_num': 32, 'filter_size': 3, 'pad': 1, 'stride': 1},
                              {'filter_num': 32, 'filter_size': 3, 'pad': 2, 'stride': 1},
                              {'filter_num': 64, 'filter_size': 3, 'pad': 1, 'stride': 1},
                              {'filter_num': 64, 'filter_size': 3, 'pad': 1, 'stride': 1}),
                 hidden_size=50, output_size=10):
        pre_node_nums = np.array([1*3*3, 16*3*3, 16*3*3, 32*3*3, 32*3*3, 64*3*3, 64*4*4, hidden_size])
        wight_init_scales = np.sqrt(2.0 / pre_node_nums)  # He init

        self.params = {}
        pre_channel_num = input_dim[0]
        for idx, conv_param in enumerate(conv_params):
            self.params['W' + str(idx+1)] = wight_init_scales[idx] * np.random.randn(
                conv_param['filter_num'], pre_channel_num, conv_param['filter_size'], conv_param['filter_size'])
            self.params['b' + str(idx+1)] = np.zeros(conv_param['filter_num'])
            pre_channel_num = conv_param['filter_num']
        self.params['W7'] = wight_init_scales[6] * np.random.randn(64*4*4, hidden_size)
        self.params['b7'] = np.zeros(hidden_size)
        self.params['W8'] = wight_init_scales[7] * np.random.randn(hidden_size, output_size)
        self.params['b8'] = np.zeros(output_size)

        self.layers = []
        for block in range(3):
            for k in (2*block, 2*block + 1):
                self.layers.append(Convolution(self.params['W' + str(k+1)], self.params['b' + str(k+1)],
                                               conv_params[k]['stride'], conv_params[k]['pad']))
                self.layers.append(Relu())
            self.layers.append(Pooling(pool_h=2, pool_w=2, stride=2))
        self.layers.append(Affine(self.params['W7'], self.params['b7']))
        self.layers.append(Relu())
        self.layers.append(Dropout(0.5))
        self.layers.append(Affine(self.params['W8'], self.params['b8']))
        self.layers.append(Dropout(0.5))
        self.last_layer = SoftmaxWithLoss()

    def predict(self, x, train_flg=False):
        for layer in self.layers:
            if isinstance(layer, Dropout):
                x = layer.forward(x, train_flg)
            else:
                x = layer.forward(x)
        return x

    def accuracy(self, x, t, batch_size=100):
        acc = 0.0
        for i in range(int(x.shape[0] / batch_size)):
            tx = x[i*batch_size:(i+1)*batch_size]
            tt = t[i*batch_size:(i+1)*batch_size]
            y = np.argmax(self.predict(tx, train_flg=False), axis=1)
            acc += np.sum(y == tt)
        return acc / x.shape[0]

    def load_params(self, file_name="params.pkl"):
        with open(file_name, 'rb') as f:
            params = pickle.load(f)
        for key, val in params.items():
            self.params[key] = val
        for i, layer_idx in enumerate((0, 2, 5, 7, 10, 12, 15, 18)):
            self.layers[layer_idx].W = self.params['W' + str(i+1)]
            self.layers[layer_idx].b = self.params['b' + str(i+1)]
