"""The fixed work partition of the flat element-wise kernels (dense.py, optim.py).

A flat array of n elements is cut into chunks of ``CHUNK`` elements, one
parallel task each: every thread owns the elements it writes, and the cut does
not depend on the thread count, so results are bitwise the same for any.

The helpers that loop over a chunk, ``for i in range(np.uint64(start),
np.uint64(stop))``, index with unsigned integers: a signed index whose sign the
compiler cannot prove (a chunk's start is a run-time value) gets Numba's
negative-index wrap-around on every access, which keeps LLVM from vectorising
the loop. A loop from a literal 0 or over ``range(n)`` needs no such care.
"""
from ._jit import kernel

#: Elements per parallel task.
CHUNK = 1 << 13


@kernel
def nchunks(n, chunk):
    """Number of chunks of ``chunk`` elements in n elements."""
    return (n + chunk - 1) // chunk
