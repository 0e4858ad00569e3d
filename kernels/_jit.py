"""The one place that sets Numba's options for every kernel.

``kernel`` : cache=True (on-disk cache, so a new process does not recompile),
error_model="numpy" (division by zero gives inf/nan as NumPy does, and no
exception branch in hot loops), no fastmath (it would assume no NaN/Inf, and the
reference propagates them).

``parallel_kernel`` adds parallel=True for kernels with a ``prange``.
"""
import numba

_OPTIONS = dict(cache=True, error_model="numpy", nogil=True)


def kernel(fn=None, **overrides):
    """njit with the project's defaults; use for serial kernels and inlined helpers."""
    opts = {**_OPTIONS, **overrides}
    if fn is None:
        return lambda f: numba.njit(**opts)(f)
    return numba.njit(**opts)(fn)


def parallel_kernel(fn=None, **overrides):
    """njit(parallel=True) with the project's defaults; the kernel's outer loop is a prange."""
    return kernel(fn, parallel=True, **overrides)


prange = numba.prange
