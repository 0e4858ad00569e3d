"""NumPy's OpenBLAS, reached through ctypes: its thread count and its cblas_?gemm entry points.

``openblas()`` finds the OpenBLAS that NumPy's core extension links (NumPy's
wheels, most distributions), or None where NumPy's BLAS is something else;
nothing is looked up before the first call. ``blas_single_threaded`` scopes
OpenBLAS to one thread: the layers' GEMMs (``fastscratch._layers.matmul``) run
their blocks on Numba's threads inside it.
"""
import ctypes
import itertools
import threading

import numpy as np

scope_lock = threading.Lock()
_lib = None          # the _OpenBLAS found on first use, or False where there is none


class _OpenBLAS:
    """Entry points of NumPy's OpenBLAS: its thread-count functions and cblas_dgemm/cblas_sgemm."""

    def __init__(self, dll, prefix, suffix):
        def sym(name):
            return getattr(dll, f"{prefix}{name}{suffix}")

        self.get_num_threads = sym("openblas_get_num_threads")
        self.get_num_threads.restype = ctypes.c_int
        self.get_num_threads.argtypes = []
        self.set_num_threads = sym("openblas_set_num_threads")
        self.set_num_threads.restype = None
        self.set_num_threads.argtypes = [ctypes.c_int]
        #: the two functions' addresses, for the kernels that set the count themselves (``gemm_one``)
        self.threads = tuple(ctypes.cast(f, ctypes.c_void_p).value
                             for f in (self.get_num_threads, self.set_num_threads))
        self.gemm = {np.dtype(np.float64): ctypes.cast(sym("cblas_dgemm"), ctypes.c_void_p).value,
                     np.dtype(np.float32): ctypes.cast(sym("cblas_sgemm"), ctypes.c_void_p).value}
        config = sym("openblas_get_config")
        config.restype = ctypes.c_char_p
        ilp64 = suffix != "" or b"USE64BITINT" in (config() or b"")
        #: a zero of the BLAS integer type: selects the kernels' int32 or int64 signature
        self.width = np.int64(0) if ilp64 else np.int32(0)


def _numpy_dll():
    """A handle on NumPy's core extension: symbol look-ups through it reach the BLAS it links."""
    try:
        from numpy._core import _multiarray_umath as core
    except ImportError:  # NumPy 1.x
        from numpy.core import _multiarray_umath as core
    return ctypes.CDLL(core.__file__)


def _find():
    try:
        dll = _numpy_dll()
    except OSError:
        return False
    for prefix, suffix in itertools.product(("scipy_", ""), ("64_", "_64", "")):
        try:
            return _OpenBLAS(dll, prefix, suffix)
        except AttributeError:
            continue
    return False


def openblas():
    """NumPy's OpenBLAS (an _OpenBLAS), or None where NumPy's BLAS is something else."""
    global _lib
    if _lib is None:
        with scope_lock:
            if _lib is None:
                _lib = _find()
    return _lib or None


def single_enter(lib):
    """Open a one-thread scope of OpenBLAS (``blas_single_threaded``); pair each call with ``single_exit``."""
    with scope_lock:
        if blas_single_threaded._depth == 0:
            saved = blas_single_threaded._saved = lib.get_num_threads()
            if saved != 1:
                lib.set_num_threads(1)
        blas_single_threaded._depth += 1


def single_exit(lib):
    """Close the scope ``single_enter`` opened; the last one out restores the thread count."""
    with scope_lock:
        blas_single_threaded._depth -= 1
        if blas_single_threaded._depth == 0 and blas_single_threaded._saved != 1:
            lib.set_num_threads(blas_single_threaded._saved)


class blas_single_threaded:
    """Context manager: OpenBLAS runs on one thread inside; its previous thread count is restored on exit.

    Restored on any exit, exceptions included. Nested scopes, and scopes of
    several Python threads at once, share one saving: the first to enter saves
    the count, the last to leave restores it. Does nothing where NumPy's BLAS
    is not OpenBLAS. The GEMMs below call ``single_enter`` / ``single_exit``
    themselves (the same scope, without a context manager object per GEMM).
    """

    _depth = 0
    _saved = 1

    def __enter__(self):
        lib = openblas()
        if lib is not None:
            single_enter(lib)
        return self

    def __exit__(self, *exc):
        lib = openblas()
        if lib is not None:
            single_exit(lib)
        return False
