# coding: utf-8
# Chapter 7: train SimpleConvNet (a small subset, one short epoch), save and reload its parameters.
import sys, os
sys.path.append(os.pardir)
import numpy as np
from dataset.mnist import load_mnist
from simple_convnet import SimpleConvNet
from common.trainer import Trainer
import common.layers

print("simple_convnet from:", SimpleConvNet.__module__)
print("common.layers is:", common.layers.__alias_of__)

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
x_train, t_train = x_train[:200], t_train[:200]
x_test, t_test = x_test[:100], t_test[:100]

network = SimpleConvNet(input_dim=(1, 28, 28),
                        conv_param={'filter_num': 8, 'filter_size': 5, 'pad': 0, 'stride': 1},
                        hidden_size=20, output_size=10, weight_init_std=0.01)
trainer = Trainer(network, x_train, t_train, x_test, t_test,
                  epochs=1, mini_batch_size=50,
                  optimizer='Adam', optimizer_param={'lr': 0.001},
                  evaluate_sample_num_per_epoch=100)
trainer.train()

network.save_params("params.pkl")
print("Saved Network Parameters!")

again = SimpleConvNet(input_dim=(1, 28, 28),
                      conv_param={'filter_num': 8, 'filter_size': 5, 'pad': 0, 'stride': 1},
                      hidden_size=20, output_size=10)
again.load_params("params.pkl")
print("reload max diff:", np.max(np.abs(again.predict(x_test) - network.predict(x_test))))
