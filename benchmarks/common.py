"""Shared pieces of the asv suite: the timer, seeded data builders, the implementation switch."""
import time
import timeit

import numpy as np

from ._shared import timing as _timing

#: the one timing helper (fastscratch/_runtime/timing.py), re-exported
best_time, speedup = _timing.best_time, _timing.speedup

IMPLS = ["reference", "kernels"]


class Benchmark:
    # The wall clock (asv's default, timeit.default_timer = time.perf_counter),
    # stated here because a CPU timer such as process_time adds CPU time over
    # all threads and so would hide a parallel speedup.
    timer = timeit.default_timer


class _LayerTimes:
    """``time_forward`` and ``time_forward_backward`` of ``self.layer`` on ``self.x`` / ``self.dout``.

    Mixed into a layer's Benchmark, whose ``setup`` builds the three and calls
    forward and backward once (compilation is not timed). The leading
    underscore keeps asv from collecting this class itself.
    """

    def time_forward(self, *params):
        self.layer.forward(self.x)

    def time_forward_backward(self, *params):
        self.layer.forward(self.x)
        self.layer.backward(self.dout)


class _LayerSpeedup:
    """``track_speedup_forward_backward``: reference over kernels time of ``self.step`` on ``self.layers``.

    Mixed into a layer's speedup Benchmark (one parameter, the shape label),
    whose ``setup`` builds ``self.layers`` (impl -> layer) and the data ``step``
    reads, then calls ``warm_up`` (compilation is not timed). ``calls`` gives
    the steps per timing sample by shape label, 3 for a label not listed.
    """

    unit = "x"
    calls = {}

    def step(self, layer):
        layer.forward(self.x)
        layer.backward(self.dout)

    def warm_up(self):
        for layer in self.layers.values():
            self.step(layer)

    def track_speedup_forward_backward(self, label):
        return impl_speedup(self.layers, self.step, number=self.calls.get(label, 3))


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


def impl_speedup(objs, run, number=5, repeat=5):
    """Reference over kernels time of ``run(objs[impl])``, both measured in this process (best of repeats)."""
    return speedup(lambda: run(objs["reference"]), lambda: run(objs["kernels"]), number=number, repeat=repeat)


def settled_speedup(objs, run, number=10, rounds=5, pause=0.2):
    """Reference over kernels time of ``run(objs[impl])``, alternating, each timed round after a pause.

    After a GEMM of the reference OpenBLAS's idle threads spin for about 0.1 s
    and take a core from the kernels' threads that follow (Numba's OpenMP
    threads spin after a kernel in the same way): without the pause each side
    would partly time the other's leftovers, which a program training with
    one of them never pays. Best round of each side.
    """
    best = {impl: float("inf") for impl in IMPLS}
    for _ in range(rounds):
        for impl in IMPLS:
            time.sleep(pause)
            best[impl] = min(best[impl], best_time(lambda obj=objs[impl]: run(obj), number=number, repeat=1))
    return best["reference"] / best["kernels"]
