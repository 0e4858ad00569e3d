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


#: First runs timed by ColdStart, each a fresh interpreter with an empty Numba cache:
#: the clock starts before fastscratch is imported and stops when the work is done.
COLD_SCRIPTS = {
    # the book's ch07/gradient_check.py: SimpleConvNet on one 10x10 image
    "ch07_gradient_check": """
net = fs.SimpleConvNet(input_dim=(1, 10, 10), conv_param={'filter_num': 10, 'filter_size': 3, 'pad': 0,
                       'stride': 1}, hidden_size=10, output_size=10, weight_init_std=0.01)
X = np.random.rand(100).reshape((1, 1, 10, 10)); T = np.array([1]).reshape((1, 1))
net.numerical_gradient(X, T); net.gradient(X, T)
""",
    # the book's ch05/gradient_check.py: TwoLayerNet(784, 10, 10) on 3 images
    "ch05_gradient_check": """
net = fs.TwoLayerNet(input_size=784, hidden_size=10, output_size=10)
x = r.random((3, 784)); t = np.eye(10)[r.integers(0, 10, 3)]
net.numerical_gradient(x, t); net.gradient(x, t)
""",
    # fastscratch train's steps: batch 100, Adam, and one prediction
    "simple_convnet_step": """
net = fs.SimpleConvNet(); x = r.random((100, 1, 28, 28)); t = r.integers(0, 10, 100)
fs.optimizer.Adam().update(net.params, net.gradient(x, t)); net.accuracy(x, t)
""",
    "deep_convnet_step": """
net = fs.DeepConvNet(); x = r.random((100, 1, 28, 28)); t = r.integers(0, 10, 100)
fs.optimizer.Adam().update(net.params, net.gradient(x, t)); net.accuracy(x, t)
""",
}

_COLD_PRELUDE = """
import time
t0 = time.perf_counter()
import numpy as np
import fastscratch as fs
np.random.seed(0)
r = np.random.default_rng(0)
"""


class ColdStart(Benchmark):
    """Seconds of each first run in COLD_SCRIPTS with an empty Numba cache, and of ``fastscratch warmup``.

    What a reader waits for on a fresh install (docs/cold-start.md); the warm
    figures of the same work are in bench_training and bench_numgrad.
    """

    unit = "s"
    timeout = 1800

    def setup_cache(self):
        times = {}
        for name, body in COLD_SCRIPTS.items():
            cache_dir = tempfile.mkdtemp(prefix="fastscratch-numba-cache-")
            try:
                script = _COLD_PRELUDE + body + "print(time.perf_counter() - t0)\n"
                times[name] = float(run_child(script, numba_cache_dir=cache_dir, timeout=900))
            finally:
                shutil.rmtree(cache_dir, ignore_errors=True)
        cache_dir = tempfile.mkdtemp(prefix="fastscratch-numba-cache-")
        try:
            script = ("import importlib\n"
                      "for name in ('fastscratch._apps.warmup', 'fastscratch._warmup'):\n"
                      "    try:\n"
                      "        warmup = importlib.import_module(name)\n"
                      "        break\n"
                      "    except ImportError:\n"
                      "        warmup = None\n"
                      "print('nan' if warmup is None else warmup.run(quiet=True)[0])\n")
            times["warmup"] = float(run_child(script, numba_cache_dir=cache_dir, timeout=900))
        finally:
            shutil.rmtree(cache_dir, ignore_errors=True)
        return times

    def track_cold_ch07_gradient_check(self, times):
        """The book's chapter 7 gradient check, first run (its reference takes well under a second)."""
        return times["ch07_gradient_check"]

    def track_cold_ch05_gradient_check(self, times):
        """The book's chapter 5 gradient check, first run."""
        return times["ch05_gradient_check"]

    def track_cold_simple_convnet_step(self, times):
        """A SimpleConvNet training step and prediction, first run."""
        return times["simple_convnet_step"]

    def track_cold_deep_convnet_step(self, times):
        """A DeepConvNet training step and prediction, first run."""
        return times["deep_convnet_step"]

    def track_warmup(self, times):
        """``fastscratch warmup`` into an empty cache (NaN on commits without it)."""
        return times["warmup"]
