"""How the process set-up and the thread count change a training step (float64, batch 100, Adam).

Each case runs in fresh child processes, so the import order and the thread
counts are those of a user's script:

- ``time_step_numpy_first``: the step in this process, where NumPy was
  imported before fastscratch (asv and every benchmark module import NumPy
  first, as users' scripts do);
- ``track_import_order_ratio``: best step time with ``import numpy`` first over
  best step time with ``import fastscratch`` first, in two child processes
  (1.0: the order does not matter);
- ``track_two_thread_speedup``: best step time on 1 thread over 2 threads
  (``NUMBA_NUM_THREADS`` and ``OPENBLAS_NUM_THREADS`` set together), in two
  child processes.
"""
import json
import textwrap

from ._networks import TrainingStep, run_child
from .common import Benchmark

NETS = ["SimpleConvNet", "DeepConvNet"]

#: Child script: the best of several steps of one network, after warm-up steps.
_CHILD = textwrap.dedent("""
    import json, time
    {imports}
    import numpy as np
    import fastscratch
    np.random.seed(0)
    net = getattr(fastscratch, {net!r})()
    adam = fastscratch.optimizer.Adam()
    r = np.random.default_rng(0)
    x, t = r.random((100, 1, 28, 28)), r.integers(0, 10, 100)
    def step():
        adam.update(net.params, net.gradient(x, t))
    step(); step()
    times = []
    start = time.perf_counter()
    while len(times) < 20 and (len(times) < 5 or time.perf_counter() - start < 10):
        t0 = time.perf_counter(); step(); times.append(time.perf_counter() - t0)
    print(json.dumps(min(times)))
""")


def _best_step(net, imports, **env):
    out = run_child(_CHILD.format(imports=imports, net=net), env=env)
    return json.loads(out.strip().splitlines()[-1])


class StepNumpyFirst(Benchmark):
    """A training step of the kernels in asv's process (NumPy imported first)."""

    params = [NETS]
    param_names = ["network"]
    number = 1
    repeat = (1, 5, 10.0)
    timeout = 300

    def setup(self, network):
        self.step = TrainingStep("kernels", network)
        self.step()

    def time_step_numpy_first(self, network):
        self.step()


class _ChildRatio(Benchmark):
    """A ratio of two best step times, each from a child process, per network (collected through its subclasses)."""

    params = [NETS]
    param_names = ["network"]
    unit = "ratio"
    timeout = 600


class ImportOrder(_ChildRatio):
    """Best step time with NumPy imported first over fastscratch imported first (child processes)."""

    def track_import_order_ratio(self, network):
        numpy_first = _best_step(network, "import numpy\nimport fastscratch")
        fastscratch_first = _best_step(network, "import fastscratch\nimport numpy")
        return numpy_first / fastscratch_first


class TwoThreadSpeedup(_ChildRatio):
    """Best step time on 1 thread over 2 threads (kernels and BLAS), child processes."""

    def track_two_thread_speedup(self, network):
        one = _best_step(network, "import numpy", NUMBA_NUM_THREADS=1, OPENBLAS_NUM_THREADS=1)
        two = _best_step(network, "import numpy", NUMBA_NUM_THREADS=2, OPENBLAS_NUM_THREADS=2)
        return one / two
