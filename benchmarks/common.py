"""Shared pieces of the asv suite: the timer, seeded data builders, the implementation switch."""
import os
import timeit

# What `import fastscratch` sets when it comes before NumPy (fastscratch/__init__.py):
# OpenBLAS's idle threads sleep after 2**4 cycles instead of spinning ~0.1 s on
# the cores the kernels need. Set here, before NumPy loads, so the dashboard
# measures the kernels as `python -m fastscratch` runs them; the reference runs
# under the same setting, and PyTorch (MKL) does not read it. The rest of
# fastscratch's defaults (OMP_WAIT_POLICY) is left to `import fastscratch`, so
# the PyTorch benchmarks, which never import it, keep the environment's own.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")

import numpy as np  # noqa: E402

IMPLS = ["reference", "kernels"]


class Benchmark:
    # asv's default timer is process_time, which adds CPU time over all threads
    # and so hides a parallel speedup: time the wall clock instead.
    timer = timeit.default_timer


def rng(seed=0):
    return np.random.default_rng(seed)


def api(impl):
    """The module namespace for an implementation: fastscratch.reference or fastscratch."""
    if impl == "reference":
        import fastscratch.reference as mod
    elif impl == "kernels":
        import fastscratch as mod
    else:
        raise NotImplementedError(impl)
    return mod
