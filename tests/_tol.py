"""Tolerances of the kernel-vs-reference comparisons, one entry per dtype.

Widening an entry needs a comment saying why.
"""
import numpy as np

TOL = {
    # float16 has no kernels (fastscratch/_core/dtypes.py): every layer runs the
    # reference's NumPy expressions on it, so results differ only where a sum
    # is taken in another order or a NumPy routine rounds once instead of per
    # operation. Two units in the last place of float16 (eps 2**-10).
    np.dtype(np.float16): dict(rtol=2e-3, atol=1e-3),
    # The float32 reference (the book's NumPy code run in float32) is the oracle
    # of the float32 kernels: a few float32 ulps (eps 1.2e-7) over sums of tens
    # of terms in another order (BLAS blocking, per-thread partial sums).
    np.dtype(np.float32): dict(rtol=1e-5, atol=1e-6),
    np.dtype(np.float64): dict(rtol=1e-12, atol=1e-12),
}

#: Seeded training runs, fast network against the reference network of the same dtype:
#: the largest parameter difference after the run, relative to the largest |parameter|.
STEPS_TOL = {
    # 10 Adam steps in float32 (issue 13's bound). The two runs' gradients differ by float32
    # rounding (~1e-7 relative, sums in another order) at every step, and each update
    # carries the previous ones' differences forward. Elements whose exact gradient is 0
    # (biases feeding a batch norm) are pure rounding noise, which Adam's m / sqrt(v)
    # scales to up to lr per step: the tests leave those out, saying so.
    np.dtype(np.float32): 1e-4,
}

#: Test-set accuracy of the book's published weights run in float32, against the book's
#: float64 figure (issue 13): a few of 10,000 images near a decision boundary may flip.
ACCURACY_FLOAT32 = 0.002


def tol(dtype):
    """assert_allclose keyword arguments for results of the given dtype."""
    return TOL[np.dtype(dtype)]
