"""Drop-in for the book's ``common/gradient.py``: numerical differentiation, made fast.

``numerical_gradient(f, x)`` has the book's signature and results (h = 1e-4,
central differences, element by element): one parallel kernel for a
Numba-compiled f, the incremental network kernels for the book's closure over
a network's parameter, a tight Python loop otherwise. ``gradient_check(network,
x, t)`` is chapter 5's gradient_check.py as a function. The implementation is
``fastscratch._numgrad.elementwise``; see docs/numerical-gradient.md.
"""
from fastscratch._numgrad.elementwise import *  # noqa: F403
from fastscratch._numgrad.elementwise import H, __all__  # noqa: F401
