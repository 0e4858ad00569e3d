"""Drop-in for the book's ``common.functions``: kernels where the functions are hot, the reference elsewhere.

``relu``, ``softmax``, ``cross_entropy_error`` and ``softmax_loss`` run on Numba
kernels for float32/float64 arrays large enough to pay for a kernel call and
return what the reference returns (same values to rounding, same dtypes, same
shapes); everything else is the reference's code. The implementation is
``fastscratch._layers.functions``.
"""
from fastscratch._layers.functions import *  # noqa: F403
from fastscratch._layers.functions import __all__  # noqa: F401
