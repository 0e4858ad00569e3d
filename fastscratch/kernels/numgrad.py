"""The book's element loop for a Numba-compiled f: ``numgrad_compiled``.

Central differences (h = 1e-4, grad = (f(x+h) - f(x-h)) / 2h) for a
Numba-compiled scalar function f passed in as a first-class function. The
elements are split over threads in fixed chunks; each thread perturbs its own
private copy of x, so the caller's array is never written.

Nothing here compiles at import time. ``numgrad_compiled`` takes f as an
argument, so it compiles once per distinct f (and x type) and is not cached
on disk (a function argument's type is tied to the live dispatcher object).
The incremental numerical gradient of networks is in ``netgrad``.
"""
import numpy as np

from ._jit import parallel_kernel, prange

# --------------------------------------------------------------------------
# numerical_gradient(f, x) for a compiled f
# --------------------------------------------------------------------------

# cache=False: the kernel's type includes f's dispatcher type, which is bound to
# the live dispatcher object, so an on-disk entry could never be reused.
@parallel_kernel(cache=False)
def numgrad_compiled(f, x_flat, scratch, scratch_flat, grad_flat, h_up, h_down, two_h):
    """Central differences of f over every element of x, in parallel.

    Parameters
    ----------
    f : Numba-compiled function, f(array of x's shape) -> real scalar
    x_flat : ndarray of shape (n,), C-contiguous; read only
    scratch : ndarray of shape (T,) + x.shape, C-contiguous, x's dtype
        One private copy of x per chunk (thread), overwritten.
    scratch_flat : ndarray of shape (T, n), a view of the same memory as scratch
    grad_flat : ndarray of shape (n,), written in place
    h_up : float64, h as added in float64 (float(x[i]) + h, as the book does)
    h_down : x's dtype, h as subtracted in x's dtype (x[i] - h, as NumPy does)
    two_h : float64, 2 * h

    Notes
    -----
    Chunk c of ceil(n / T) consecutive elements belongs to one thread, which
    perturbs only its own copy and restores each element after use, so the
    result does not depend on the thread count.
    """
    n_chunks = scratch_flat.shape[0]
    n = scratch_flat.shape[1]
    chunk = (n + n_chunks - 1) // n_chunks
    for c in prange(n_chunks):
        start = c * chunk
        stop = min(n, start + chunk)
        if start >= stop:
            continue
        mine = scratch_flat[c]
        for i in range(n):
            mine[i] = x_flat[i]
        xc = scratch[c]
        for i in range(start, stop):
            tmp = mine[i]
            mine[i] = np.float64(tmp) + h_up
            fxh1 = np.float64(f(xc))
            mine[i] = tmp - h_down
            fxh2 = np.float64(f(xc))
            grad_flat[i] = (fxh1 - fxh2) / two_h
            mine[i] = tmp
