# coding: utf-8
# Chapter 8: load trained DeepConvNet parameters and measure test accuracy on a few images.
# Usage: evaluate_deepnet.py [PARAMS.pkl]  (default deep_convnet_params.pkl beside this script)
import sys, os
sys.path.append(os.pardir)
import numpy as np
from dataset.mnist import load_mnist
from deep_convnet import DeepConvNet

params_file = sys.argv[1] if len(sys.argv) > 1 else "deep_convnet_params.pkl"
(x_train, t_train), (x_test, t_test) = load_mnist(flatten=False)
network = DeepConvNet()
network.load_params(params_file)
print("calculating test accuracy ... ")
acc = network.accuracy(x_test[:100], t_test[:100])
print("test accuracy:" + str(acc))
