"""Numba kernels of fastscratch, installed as ``fastscratch.kernels``.

Kernels take plain arrays and a preallocated ``out``, never validate and never
raise: the Python layer in ``fastscratch`` checks every argument first, because
Numba does no bounds checking. Nothing here compiles at import time; every
kernel compiles on first call and is cached on disk (see ``_jit``).
"""
