"""The fixed work partition of the flat element-wise kernels (dense.py, optim.py).

A flat array of n elements is cut into chunks of ``CHUNK`` elements, one
parallel task each: every thread owns the elements it writes, and the cut does
not depend on the thread count, so results are bitwise the same for any.
"""
from ._jit import kernel

#: Elements per parallel task.
CHUNK = 1 << 13


@kernel
def nchunks(n):
    """Number of chunks of n elements."""
    return (n + CHUNK - 1) // CHUNK


@kernel
def chunk_stop(c, n):
    """One past the last element of chunk c (its first is ``c * CHUNK``)."""
    return min(n, (c + 1) * CHUNK)
