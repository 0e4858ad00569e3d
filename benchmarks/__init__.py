"""fastscratch's asv suite (one module per area; shared pieces in common.py)."""
import os

# What `import fastscratch` sets when it comes before NumPy (fastscratch/_process_defaults.py):
# OpenBLAS's idle threads sleep after 2**4 cycles instead of spinning 2**28 cycles on
# the cores the kernels need. Set here, in the package every benchmark module is
# imported through, before any of them loads NumPy, so the dashboard measures the
# kernels as `python -m fastscratch` runs them; the reference runs under the same
# setting, and PyTorch (MKL) does not read it. fastscratch's other default
# (OMP_WAIT_POLICY) is left to `import fastscratch`, so the PyTorch benchmarks,
# which never import it, keep the environment's own.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
