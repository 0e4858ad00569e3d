"""Drop-in for the book's ``common.layers``: the same layers, running on Numba kernels.

Dense layers (Relu, Sigmoid, Affine, SoftmaxWithLoss, Dropout,
BatchNormalization) live in ``fastscratch._layers.dense``; Convolution and
Pooling in ``fastscratch._layers.conv``. ``from fastscratch.layers import *``
also brings the functions and im2col/col2im, as the book's module does.
"""
from fastscratch._layers import Affine, BatchNormalization, Convolution, Dropout, Pooling, Relu, Sigmoid, SoftmaxWithLoss
from fastscratch._layers.functions import *  # noqa: F403  (the book's layers module star-imports its functions)
from fastscratch._layers.functions import __all__ as _functions_all
from fastscratch._layers.im2col import col2im, im2col

__all__ = ["Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "Dropout", "BatchNormalization",
           "Convolution", "Pooling", "im2col", "col2im"] + list(_functions_all)
