"""Kernels loaded from the on-disk cache in a new process run, and give what the compiling process gave.

Numba 0.59-0.62 crash (a segmentation fault) when a process loads from the
cache a serial kernel that calls a parallel one (numba/numba#8578): the
threading layer is never started. ``fastscratch/kernels/_cache_fix.py`` starts it; these
tests run the case in child processes, each pair sharing a fresh
``NUMBA_CACHE_DIR``: the first compiles and fills it, the second loads from it.
The kernel pair is the smallest case; the second test is a learner's session:
the book's chapter 7 im2col example (the first kernel it loads calls parallel
ones; a process whose first kernel is a parallel one starts the threading layer
itself and never crashed), then SimpleConvNet and DeepConvNet training steps.
"""
import json
import os
import sys
import textwrap

import numba
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _subproc import describe, run_python

from fastscratch.kernels import _cache_fix
from fastscratch.kernels import conv as _conv


def test_the_fix_applies_exactly_to_the_numbas_with_the_bug():
    assert _cache_fix.needs_fix((0, 59)) and _cache_fix.needs_fix((0, 62))
    assert not _cache_fix.needs_fix((0, 63)) and not _cache_fix.needs_fix((1, 0))
    wrapped = "load_overload" in vars(_conv.im2col._cache)  # an instance attribute: the wrapper
    assert wrapped == _cache_fix.needs_fix(), numba.__version__


def _twice(code, tmp_path, what):
    """Run code in two new processes sharing the empty cache tmp_path; the JSON each prints last."""
    results = []
    for run in ("compiling", "loading from the cache"):
        proc = run_python(code, env={"NUMBA_CACHE_DIR": tmp_path}, timeout=900)
        assert proc.returncode == 0, describe(proc, f"{what}, {run} (numba {numba.__version__})")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    return results


#: A serial kernel calling a parallel one, both made by the project's decorators, in a
#: module of their own (written to the cache directory, so the cache keys its file).
PAIR_MODULE = textwrap.dedent("""
    from fastscratch.kernels._jit import kernel, parallel_kernel, prange

    @parallel_kernel
    def double(x, out):
        for i in prange(x.shape[0]):
            out[i] = 2 * x[i]

    @kernel
    def caller(x, out):
        double(x, out)
""")

PAIR_RUN = """
import json, sys
import numpy as np
sys.path.insert(0, {where!r})
import cache_pair
x = np.arange(1000.0); out = np.empty_like(x)
cache_pair.caller(x, out)
st = cache_pair.caller.stats
print(json.dumps(dict(total=float(out.sum()), hits=sum(st.cache_hits.values()), misses=sum(st.cache_misses.values()))))
"""


@pytest.mark.slow  # child processes
def test_cached_serial_kernel_calling_a_parallel_one_runs_in_a_new_process(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "cache_pair.py").write_text(PAIR_MODULE)
    first, second = _twice(PAIR_RUN.format(where=str(src)), tmp_path / "cache", "a serial kernel calling a parallel one")
    assert (first["misses"], first["hits"]) == (1, 0), first    # compiled
    assert (second["misses"], second["hits"]) == (0, 1), second  # loaded from the cache
    assert first["total"] == second["total"] == 999000.0


#: The book's chapter 7 im2col example first (so the first kernel this process loads is a
#: serial one calling parallel ones: the crash), then two training steps of each conv net
#: of the book (its defaults, float32 MNIST-like batches against float64 weights, as
#: load_mnist(normalize=True) gives), then the loss.
STEPS = """
import importlib, json, pkgutil
import numba
import numpy as np
import fastscratch
import fastscratch.kernels
from fastscratch.optimizer import Adam
from fastscratch._layers.im2col import im2col
out = {"im2col": float(im2col(np.arange(147.0).reshape(1, 3, 7, 7), 5, 5, stride=1, pad=0).sum())}
for name in ("SimpleConvNet", "DeepConvNet"):
    np.random.seed(0)
    net = getattr(fastscratch, name)()
    rng = np.random.default_rng(1)
    x = rng.random((20, 1, 28, 28)).astype(np.float32)
    t = rng.integers(0, 10, 20)
    opt = Adam()
    for _ in range(2):
        opt.update(net.params, net.gradient(x, t))
    out[name] = float(net.loss(x, t))
hits = misses = 0
for info in pkgutil.iter_modules(fastscratch.kernels.__path__):
    for obj in vars(importlib.import_module("fastscratch.kernels." + info.name)).values():
        if isinstance(obj, numba.core.registry.CPUDispatcher):
            hits += sum(obj.stats.cache_hits.values())
            misses += sum(obj.stats.cache_misses.values())
out["hits"], out["misses"] = hits, misses
print(json.dumps(out))
"""


@pytest.mark.slow  # child processes, compiling the conv nets' kernels into an empty cache
def test_conv_net_steps_from_the_cache_give_the_compiling_processs_losses(tmp_path):
    first, second = _twice(STEPS, tmp_path, "SimpleConvNet and DeepConvNet training steps")
    assert first["misses"] > 0 and first["hits"] == 0, first    # the first compiled
    assert second["misses"] == 0 and second["hits"] > 0, second  # the second loaded everything
    for name in ("im2col", "SimpleConvNet", "DeepConvNet"):
        assert first[name] == second[name], (name, first[name], second[name])
