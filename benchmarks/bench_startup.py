"""Start-up cost of the kernels: JIT compilation with an empty Numba cache, and loading from it.

A fresh interpreter with NUMBA_CACHE_DIR set to a new temporary directory runs
one SimpleConvNet and one TwoLayerNet training step (float64, Adam); the time
from before ``import fastscratch`` to after the second step is the cold start,
which compiles every kernel those steps call. A second interpreter with the same
cache directory gives the warm start: what every later process pays.
"""
import shutil
import tempfile

from ._networks import STARTUP_SCRIPT, run_child
from .common import Benchmark


class Startup(Benchmark):
    unit = "s"
    # Compiling every kernel can take a minute or more on a small machine.
    timeout = 900

    def setup_cache(self):
        cache_dir = tempfile.mkdtemp(prefix="fastscratch-numba-cache-")
        try:
            cold = float(run_child(STARTUP_SCRIPT, numba_cache_dir=cache_dir, timeout=800))
            warm = float(run_child(STARTUP_SCRIPT, numba_cache_dir=cache_dir, timeout=800))
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)
        return {"cold": cold, "warm": warm}

    def track_cold_start(self, times):
        """Seconds from import to the end of the two steps, compiling every kernel (empty cache)."""
        return times["cold"]

    def track_warm_start(self, times):
        """The same with the cache the cold start wrote: kernels loaded, not compiled."""
        return times["warm"]
