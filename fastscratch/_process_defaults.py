"""Process-wide settings fastscratch makes when it is imported: how idle threads wait, and how freed memory is kept.

Runs before anything imports NumPy (``fastscratch/__init__.py`` imports it first)
and imports nothing heavy. A value the environment already sets wins;
``FASTSCRATCH_PROCESS_DEFAULTS=0`` makes none of these settings.

Idle threads. Kernels and BLAS take turns on the cores (every GEMM is a NumPy
call between two kernels), so neither pool may keep spinning while the other
works:

- ``OMP_WAIT_POLICY=PASSIVE``: with OpenMP's default, Numba's idle threads spin
  after a kernel returns and steal the cores from BLAS. Read when Numba starts
  its OpenMP pool.
- ``OPENBLAS_THREAD_TIMEOUT=4`` (2**4 cycles): OpenBLAS's idle threads spin for
  2**28 cycles after each GEMM, so one core stays taken during the kernels
  between two GEMMs. Read once, when NumPy loads: set only if NumPy is not
  loaded yet (``python -m fastscratch ...`` and the ``fastscratch`` command
  import fastscratch first), else it would do nothing.

Freed memory (glibc only). A training step makes and drops arrays of tens of
MB (layer outputs, GEMM results). glibc returns such blocks to the system when
they are freed (anything over 128 KiB at first is mmap'ed), so the next step
page-faults every page of them again. ``mallopt`` makes blocks up to 32 MiB
come from the heap and keeps up to 1 GiB of freed heap for reuse. The cost:
memory freed by the process is kept (up to 1 GiB) instead of returned to the
system. What each setting does to a training step: docs/performance.md.
"""
import ctypes
import os
import sys

#: The environment's own values of the thread variables, before fastscratch's defaults (None: unset).
USER_THREAD_ENV = {name: os.environ.get(name) for name in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}

ENABLED = os.environ.get("FASTSCRATCH_PROCESS_DEFAULTS", "1") != "0"

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit systems
_TRIM_THRESHOLD = 1 << 30


def _keep_freed_memory():
    """Set glibc's malloc thresholds (see the module docstring); False where there is no glibc mallopt."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # glibc only: musl's mallopt does nothing
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


MALLOC_TUNED = False
if ENABLED:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
    # an explicit malloc setting in the environment wins
    if not any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                                 "GLIBC_TUNABLES")):
        MALLOC_TUNED = _keep_freed_memory()

#: OpenBLAS's thread timeout as NumPy's OpenBLAS read it (None: its default, 2**28 cycles),
#: assuming a value in the environment was there when NumPy loaded. Shown by `fastscratch info`.
BLAS_THREAD_TIMEOUT = os.environ.get("OPENBLAS_THREAD_TIMEOUT")
