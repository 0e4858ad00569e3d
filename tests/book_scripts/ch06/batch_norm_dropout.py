# coding: utf-8
# Chapter 6: batch normalization and dropout with MultiLayerNetExtend and the Trainer.
import sys, os
sys.path.append(os.pardir)
import numpy as np
from dataset.mnist import load_mnist
from common.multi_layer_net_extend import MultiLayerNetExtend
from common.trainer import Trainer

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
x_train, t_train = x_train[:300], t_train[:300]
x_test, t_test = x_test[:200], t_test[:200]

network = MultiLayerNetExtend(input_size=784, hidden_size_list=[50, 50, 50], output_size=10,
                              use_batchnorm=True, use_dropout=True, dropout_ration=0.2)
trainer = Trainer(network, x_train, t_train, x_test, t_test,
                  epochs=3, mini_batch_size=100,
                  optimizer='adam', optimizer_param={'lr': 0.01}, verbose=True)
trainer.train()
print("test acc list:", " ".join(str(a) for a in trainer.test_acc_list))
