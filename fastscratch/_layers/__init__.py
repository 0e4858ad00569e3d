"""The fast layers and functions behind ``fastscratch.layers``, ``fastscratch.functions`` and ``fastscratch.util``.

This package is the fast networks' ``layer_lib``: the reference's network code
looks its layer classes up here by the book's names.
"""
from fastscratch._layers.conv import Convolution, Pooling
from fastscratch._layers.dense import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss

__all__ = ["Affine", "BatchNormalization", "Convolution", "Dropout", "Pooling", "Relu", "Sigmoid", "SoftmaxWithLoss"]
