"""How many threads the kernels use: ``set_num_threads(n)`` and ``get_num_threads()``.

The kernels' thread pool is Numba's. Its size is fixed when Numba starts, from
the ``NUMBA_NUM_THREADS`` environment variable (default: the number of cores);
``set_num_threads(n)`` then uses only n of those threads, for kernels launched
from the calling thread (Numba keeps the setting per calling thread).

The layers' GEMMs run on the same pool (``fastscratch._layers.matmul``): fixed blocks,
each one single-threaded call of NumPy's OpenBLAS from a Numba thread, so no
second pool of BLAS threads competes for the cores. Outside those calls, BLAS's
own thread count (``OMP_NUM_THREADS`` / ``OPENBLAS_NUM_THREADS`` /
threadpoolctl) is the user's and applies to the user's own NumPy calls.
``import fastscratch`` sets no environment variable: see docs/threads.md.

Results do not depend on the thread count: every kernel splits its work into a
fixed partition (per image, per row block or per chunk of a fixed size) that
does not depend on how many threads run it; so does every GEMM.
"""
import numba

from fastscratch._core import validate as V

__all__ = ["set_num_threads", "get_num_threads"]


def set_num_threads(n):
    """Use n threads for the kernels launched from this thread.

    Parameters
    ----------
    n : int, 1 <= n <= ``numba.config.NUMBA_NUM_THREADS`` (the pool's size,
        set by the ``NUMBA_NUM_THREADS`` environment variable before import)

    Raises
    ------
    TypeError
        n is not an int (bool and float are refused).
    ValueError
        n is out of range.
    """
    n = V.check_int(n, "n", 1)
    V.check_at_most(n, "n", numba.config.NUMBA_NUM_THREADS,
                    "the thread pool's size, numba.config.NUMBA_NUM_THREADS; "
                    "set the NUMBA_NUM_THREADS environment variable before import for more")
    numba.set_num_threads(n)


def get_num_threads():
    """The number of threads the kernels launched from this thread use (an int >= 1)."""
    return int(numba.get_num_threads())
