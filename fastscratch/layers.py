"""Drop-in for the book's ``common.layers``: the same layers, running on Numba kernels.

Dense layers (Relu, Sigmoid, Affine, SoftmaxWithLoss, Dropout,
BatchNormalization) live in ``_dense_layers``; Convolution and Pooling in
``_conv_layers``. ``from fastscratch.layers import *`` also brings the
functions and im2col/col2im, as the book's module does.
"""
from ._conv_layers import Convolution, Pooling
from ._dense_layers import Affine, BatchNormalization, Dropout, Relu, Sigmoid, SoftmaxWithLoss
from .functions import *  # noqa: F403  (the book's layers module star-imports its functions)
from .functions import __all__ as _functions_all
from .util import col2im, im2col

__all__ = ["Relu", "Sigmoid", "Affine", "SoftmaxWithLoss", "Dropout", "BatchNormalization",
           "Convolution", "Pooling", "im2col", "col2im"] + list(_functions_all)
