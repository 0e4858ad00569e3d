"""Tolerances of the kernel-vs-reference comparisons, one entry per dtype.

Widening an entry needs a comment saying why.
"""
import numpy as np

TOL = {
    np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6),
    np.dtype(np.float64): dict(rtol=1e-12, atol=1e-12),
}


def tol(dtype):
    """assert_allclose keyword arguments for results of the given dtype."""
    return TOL[np.dtype(dtype)]
