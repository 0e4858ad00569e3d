# coding: utf-8
# Chapter 6: SGD, Momentum, AdaGrad and Adam on the same MultiLayerNet, a few steps each.
import sys, os
sys.path.append(os.pardir)
import numpy as np
import matplotlib.pyplot as plt
from dataset.mnist import load_mnist
from common.util import smooth_curve
from common.multi_layer_net import MultiLayerNet
from common.optimizer import *

np.random.seed(0)
(x_train, t_train), (x_test, t_test) = load_mnist(normalize=True)
x_train, t_train = x_train[:500], t_train[:500]
train_size = x_train.shape[0]
batch_size = 50
max_iterations = 10

optimizers = {'SGD': SGD(), 'Momentum': Momentum(), 'AdaGrad': AdaGrad(), 'Adam': Adam()}
networks = {}
train_loss = {}
for key in optimizers.keys():
    networks[key] = MultiLayerNet(input_size=784, hidden_size_list=[20], output_size=10)
    train_loss[key] = []

for i in range(max_iterations):
    batch_mask = np.random.choice(train_size, batch_size)
    x_batch = x_train[batch_mask]
    t_batch = t_train[batch_mask]
    for key in optimizers.keys():
        grads = networks[key].gradient(x_batch, t_batch)
        optimizers[key].update(networks[key].params, grads)
        train_loss[key].append(networks[key].loss(x_batch, t_batch))

for key in optimizers.keys():
    print(key + ":" + str(train_loss[key][-1]))

markers = {"SGD": "o", "Momentum": "x", "AdaGrad": "s", "Adam": "D"}
for key in optimizers.keys():
    y = smooth_curve(train_loss[key])
    plt.plot(np.arange(len(y)), y, marker=markers[key], markevery=2, label=key)
plt.xlabel("iterations")
plt.ylabel("loss")
plt.legend()
plt.show()
