"""Drop-in for the book's ``common/util.py``: im2col/col2im on Numba kernels.

``smooth_curve``, ``shuffle_dataset`` and ``conv_output_size`` are not hot and
are the reference's own functions. The implementation is ``fastscratch._layers.im2col``.
"""
from fastscratch._layers.im2col import *  # noqa: F403
from fastscratch._layers.im2col import __all__  # noqa: F401
