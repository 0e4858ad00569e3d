# coding: utf-8
# Chapter 4: the gradient of a simple function, then a few steps of training by numerical gradient.
import sys, os
sys.path.append(os.pardir)
import numpy as np
from dataset.mnist import load_mnist
from common.gradient import numerical_gradient
from two_layer_net import TwoLayerNet


def function_2(x):
    return x[0]**2 + x[1]**2


print("grad at (3,4):", " ".join(str(v) for v in numerical_gradient(function_2, np.array([3.0, 4.0]))))

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True, one_hot_label=True)
x_train, t_train = x_train[:100].astype(np.float64), t_train[:100]

network = TwoLayerNet(input_size=784, hidden_size=2, output_size=10, weight_init_std=0.1)
iters_num = 2
batch_size = 5
learning_rate = 0.5
for i in range(iters_num):
    batch_mask = np.random.choice(x_train.shape[0], batch_size)
    x_batch = x_train[batch_mask]
    t_batch = t_train[batch_mask]
    grad = network.numerical_gradient(x_batch, t_batch)
    for key in ('W1', 'b1', 'W2', 'b2'):
        network.params[key] -= learning_rate * grad[key]
    print("train loss:" + str(network.loss(x_batch, t_batch)))
