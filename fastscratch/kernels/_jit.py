"""The one place that sets Numba's options for every kernel.

``kernel`` : cache=True (on-disk cache, so a new process does not recompile),
error_model="numpy" (division by zero gives inf/nan as NumPy does, and no
exception branch in hot loops), no fastmath (it would assume no NaN/Inf, and the
reference propagates them).

``parallel_kernel`` adds parallel=True for kernels with a ``prange``;
``serial_twin`` compiles the same Python function without it (``prange`` then
runs as ``range``), for inputs too small to be worth waking the thread pool.
``use_parallel`` / ``pick`` are the one policy that chooses between the two.
"""
import types

import numba

from ._cache_fix import cache_safe

_OPTIONS = dict(cache=True, error_model="numpy", nogil=True)


def kernel(fn=None, **overrides):
    """njit with the project's defaults; use for serial kernels and inlined helpers."""
    opts = {**_OPTIONS, **overrides}
    if fn is None:
        return lambda f: cache_safe(numba.njit(**opts)(f))
    return cache_safe(numba.njit(**opts)(fn))


def parallel_kernel(fn=None, **overrides):
    """njit(parallel=True) with the project's defaults; the kernel's outer loop is a prange."""
    return kernel(fn, parallel=True, **overrides)


prange = numba.prange


def serial_twin(parallel):
    """The serial twin of a parallel kernel: the same Python function compiled without parallel=True.

    ``prange`` runs as ``range``: the twin does the parallel kernel's loop, one
    iteration after another, with the same operations in the same order, so its
    results are bitwise the parallel kernel's.

    Numba's on-disk cache keys an entry by the function's module, qualified name
    and line, and by the signature, not by the compile flags: decorating the same
    function a second time with parallel=False would load the parallel kernel's
    cached code (or the reverse). The twin is therefore a copy of the function
    under its own name, ``<name>_serial``, which gets its own cache files.

    Used where the parallel loop run serially is what a serial kernel would
    write anyway (softmax_ce.py: one helper call per row). Kernels whose loop is
    over blocks of a range (dense.py, norm.py, optim.py) keep hand-written twins
    that call their helper once over the whole range: a helper call inside a
    loop, even a loop of one iteration, compiles to much slower code on the
    small inputs the twins exist for (docs/performance.md).
    """
    fn = parallel.py_func
    copy = types.FunctionType(fn.__code__, fn.__globals__, fn.__name__ + "_serial", fn.__defaults__, fn.__closure__)
    copy.__qualname__ = fn.__qualname__ + "_serial"
    copy.__module__ = fn.__module__
    copy.__doc__ = f"Serial twin of :func:`{fn.__name__}` (same arguments, same results)."
    return kernel(copy)


#: Element count from which a compute-bound parallel kernel (exp, per-row or
#: per-column reductions) is worth its thread-pool start.
PARALLEL_MIN = 1 << 15
#: The same for memory-bound element-wise kernels (Relu, Dropout, bias add, db,
#: optimizer updates): higher, since a pass over a few cached arrays is over
#: before a woken thread has done much, and a parallel region stalls whenever
#: one of its threads is descheduled on a busy machine.
PARALLEL_MIN_MEMORY_BOUND = 1 << 16


def use_parallel(size, memory_bound=False):
    """True when an array of ``size`` elements is big enough for the parallel kernels."""
    return size >= (PARALLEL_MIN_MEMORY_BOUND if memory_bound else PARALLEL_MIN)


def pick(size, parallel, serial, memory_bound=False):
    """``parallel`` or its ``serial`` twin for an input of ``size`` elements (see ``use_parallel``)."""
    return parallel if use_parallel(size, memory_bound) else serial


def _ensure_cache_location():
    """Make sure Numba has somewhere to write the kernels' on-disk cache.

    Numba caches next to the source (``kernels/__pycache__``), else, for a
    read-only install, in the user's cache directory (``$XDG_CACHE_HOME/numba``
    or ``~/.cache/numba``), and when neither is writable it refuses to decorate
    a ``cache=True`` function, so ``import fastscratch`` would fail. In that last
    case only, point Numba at a private per-user directory under the system's
    temporary directory (or a fresh one if that name is taken by someone else).
    An explicit ``NUMBA_CACHE_DIR`` always wins.
    """
    import os
    import tempfile

    if numba.config.CACHE_DIR:
        return
    try:
        from numba.core.caching import InTreeCacheLocator, UserWideCacheLocator
    except ImportError:  # another Numba layout: leave Numba's own behaviour alone
        return
    for locator in (InTreeCacheLocator, UserWideCacheLocator):
        if locator.from_function(_ensure_cache_location, __file__) is not None:
            return
    uid = os.getuid() if hasattr(os, "getuid") else None
    path = os.path.join(tempfile.gettempdir(), f"fastscratch-numba-cache-{uid}")
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
        st = os.stat(path)
        # Numba unpickles what it finds there: use the directory only if it is ours alone
        private = uid is None or (st.st_uid == uid and not st.st_mode & 0o022)
    except OSError:
        private = False
    numba.config.CACHE_DIR = path if private else tempfile.mkdtemp(prefix="fastscratch-numba-cache-")


_ensure_cache_location()
