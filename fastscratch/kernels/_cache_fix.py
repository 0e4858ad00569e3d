"""Numba 0.59-0.62: start Numba's threading layer before a cached kernel is loaded.

A kernel compiled without ``parallel=True`` that calls a ``parallel=True``
kernel (``conv.im2col`` calls ``_pad_images`` and ``_im2col_inside``; many
layer kernels call parallel helpers) links the parallel code into its own
library. Numba records, for each parallel function, a step to run when its
code is loaded from the on-disk cache: start the threading layer
(``numba.np.ufunc.parallel._launch_threads``). Before Numba 0.63 the calling
function's cache entry does not carry that step of the functions it calls, so
a new process that loads the caller from the cache, before any parallel
function of its own was compiled or loaded, runs the parallel region on a
threading layer that was never started: a segmentation fault, on every run
after the one that filled the cache. Numba bug numba/numba#8578 (also #4807,
#9938), fixed by numba/numba#9950, released in Numba 0.63.0.

``cache_safe`` adds the missing step on those versions: the kernel's cache
starts the threading layer before it loads an entry. That is what Numba does
anyway when it loads or compiles a parallel function, and it happens at the
first call of a kernel, never at import (the fastscratch command and
``fastscratch.tune_process()`` set OpenMP's wait policy after import, and the
threading layer reads it when it starts). On Numba 0.63 and later
``cache_safe`` returns the kernel unchanged.
"""
import numba

#: The first Numba whose cache entries start the threading layer for the parallel functions they call.
FIXED_IN = (0, 63)


def needs_fix(version=None):
    """True for a Numba (``(major, minor)``, default the installed one) older than ``FIXED_IN``."""
    return tuple(version or numba.version_info.short) < FIXED_IN


def cache_safe(dispatcher):
    """The kernel ``dispatcher``, whose on-disk cache first starts the threading layer on Numba < 0.63.

    Parameters
    ----------
    dispatcher : a Numba dispatcher made with cache=True (anything else, e.g.
        the plain function under NUMBA_DISABLE_JIT, is returned as it is)

    Returns
    -------
    dispatcher itself, its cache's ``load_overload`` wrapped where needed.
    """
    cache = getattr(dispatcher, "_cache", None)
    load = getattr(cache, "load_overload", None)
    if load is None or not needs_fix():
        return dispatcher
    from numba.np.ufunc.parallel import _launch_threads

    def load_overload(sig, target_context):
        _launch_threads()  # returns at once once the layer is running
        return load(sig, target_context)

    cache.load_overload = load_overload
    return dispatcher
