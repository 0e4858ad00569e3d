"""The book's pure-NumPy code, our own words: the oracle every kernel is tested against.

Modules mirror the book's ``common`` package: functions, gradient, layers, util,
optimizer, trainer, multi_layer_net, multi_layer_net_extend, plus the chapter
networks two_layer_net (ch. 5), simple_convnet (ch. 7) and deep_convnet (ch. 8).
This package never imports ``fastscratch.kernels``.
"""
from . import (deep_convnet, functions, gradient, layers, multi_layer_net,  # noqa: F401
               multi_layer_net_extend, optimizer, simple_convnet, trainer, two_layer_net, util)
from .deep_convnet import DeepConvNet
from .multi_layer_net import MultiLayerNet
from .multi_layer_net_extend import MultiLayerNetExtend
from .simple_convnet import SimpleConvNet
from .trainer import Trainer
from .two_layer_net import TwoLayerNet

__all__ = ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet",
           "DeepConvNet", "Trainer"]
