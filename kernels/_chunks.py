"""The fixed work partition of the flat element-wise kernels (dense.py, optim.py).

A flat array of n elements is cut into chunks of ``CHUNK`` elements, one
parallel task each: every thread owns the elements it writes, and the cut does
not depend on the thread count, so results are bitwise the same for any.
"""
from ._jit import kernel

#: Elements per parallel task.
CHUNK = 1 << 13


@kernel
def nchunks(n, chunk):
    """Number of chunks of ``chunk`` elements in n elements."""
    return (n + chunk - 1) // chunk
