"""Warm start: kernels compile lazily, cache on disk, and a new process loads them instead of compiling.

Never asserts a time (the machine is shared): compilation is detected through
Numba's per-dispatcher cache statistics and the cache directory's contents.
Running this file as a script prints the cold and warm figures of one
SimpleConvNet training step in a new process: ``python tests/test_warm_start.py``.
"""
import importlib
import importlib.util
import inspect
import json
import os
import pkgutil
import re
import sys
import tempfile
import time

import numba
import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _subproc import ROOT, describe, run_python

if __name__ == "__main__":
    sys.path.insert(0, ROOT)  # run as a script from a source checkout
import fastscratch
import fastscratch.kernels

pytestmark = pytest.mark.slow  # new processes with cold and warm caches

KERNELS_DIR = os.path.join(ROOT, "kernels")

#: One SimpleConvNet training step (book defaults, batch 100, MNIST-like float32
#: input): gradient + Adam update, in a new process. Prints import/step times,
#: Numba's cache statistics summed over every kernel, and the cache directory.
STEP = r"""
import time
t0 = time.perf_counter()
import importlib, json, pkgutil
import numba
import numpy as np
import fastscratch
from fastscratch.optimizer import Adam
t1 = time.perf_counter()
np.random.seed(0)
net = fastscratch.SimpleConvNet()
x = np.random.rand(100, 1, 28, 28).astype(np.float32)
t = np.random.randint(0, 10, size=100)
opt = Adam()
grads = net.gradient(x, t)
opt.update(net.params, grads)
t2 = time.perf_counter()
hits = misses = 0
compiled = []
for info in pkgutil.iter_modules(fastscratch.kernels.__path__):
    mod = importlib.import_module("fastscratch.kernels." + info.name)
    for name, obj in vars(mod).items():
        if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.py_func.__module__ == mod.__name__:
            hits += sum(obj.stats.cache_hits.values())
            misses += sum(obj.stats.cache_misses.values())
            if obj.signatures:
                compiled.append(info.name + "." + name)
from fastscratch.kernels import conv
print(json.dumps(dict(import_s=t1 - t0, step_s=t2 - t1, hits=hits, misses=misses,
                      used=sorted(compiled), loss=float(net.loss(x, t)),
                      cache_dir=conv.im2col._cache._cache_path)))
"""


def kernel_dispatchers():
    """(qualified name, dispatcher) of every kernel defined in fastscratch.kernels."""
    for info in pkgutil.iter_modules(fastscratch.kernels.__path__):
        mod = importlib.import_module(f"fastscratch.kernels.{info.name}")
        for name, obj in vars(mod).items():
            if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.py_func.__module__ == mod.__name__:
                yield f"{info.name}.{name}", obj


def run_step(cache_dir=None, env=None):
    """The training step in a new process; cache_dir None: the default cache (NUMBA_CACHE_DIR if set)."""
    env = dict(env or {})
    if cache_dir:
        env["NUMBA_CACHE_DIR"] = cache_dir
    start = time.perf_counter()
    proc = run_python(STEP, env=env, timeout=900)
    wall = time.perf_counter() - start
    assert proc.returncode == 0, describe(proc, "the SimpleConvNet training step")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["wall_s"] = wall
    return result


def snapshot(directory):
    """{file: (mtime, size)} of Numba's index (.nbi) and code (.nbc) files under directory."""
    out = {}
    for d, _, files in os.walk(directory):
        for f in files:
            if f.endswith((".nbi", ".nbc")):
                st = os.stat(os.path.join(d, f))
                out[os.path.relpath(os.path.join(d, f), directory)] = (st.st_mtime_ns, st.st_size)
    return out


def test_nothing_compiles_at_import():
    code = """
import importlib, json, pkgutil, numba, fastscratch, fastscratch.kernels
import fastscratch.layers, fastscratch.functions, fastscratch.optimizer, fastscratch.gradient, fastscratch.util
out = {}
for info in pkgutil.iter_modules(fastscratch.kernels.__path__):
    mod = importlib.import_module("fastscratch.kernels." + info.name)
    for name, obj in vars(mod).items():
        if isinstance(obj, numba.core.registry.CPUDispatcher):
            out[info.name + "." + name] = [str(s) for s in obj.signatures]
print(json.dumps(out))
"""
    proc = run_python(code)
    assert proc.returncode == 0, describe(proc, "import fastscratch")
    sigs = json.loads(proc.stdout.strip().splitlines()[-1])
    assert sigs, "found no kernels"
    compiled = {k: v for k, v in sigs.items() if v}
    assert not compiled, f"compiled at import time: {compiled}"


def test_every_kernel_uses_the_disk_cache():
    found = dict(kernel_dispatchers())
    assert len(found) > 10
    for name, disp in found.items():
        if type(disp._cache).__name__ == "FunctionCache":
            continue
        # the allowed exception: cache=False with a comment saying why, just above the decorator
        src = inspect.getsource(sys.modules[disp.py_func.__module__])
        pattern = (r"\n#[^\n]*\n(?:#[^\n]*\n)*@\w+\([^)]*cache=False[^)]*\)\ndef "
                   + disp.py_func.__name__ + r"\(")
        assert re.search(pattern, src), f"kernel {name} is not cached on disk and no comment says why"


def test_kernels_only_use_the_project_decorators():
    # fastscratch/kernels/_jit.py sets cache=True, error_model and nogil for all: no kernel module calls numba directly
    for info in pkgutil.iter_modules([KERNELS_DIR]):
        if info.name == "_jit":
            continue
        src = open(os.path.join(KERNELS_DIR, info.name + ".py")).read()
        assert not re.search(r"\bnjit\b|numba\.jit\b|@jit\b|\bvectorize\b|\bguvectorize\b|\bcfunc\b", src), \
            f"fastscratch/kernels/{info.name}.py bypasses fastscratch/kernels/_jit.py"


def test_second_process_loads_kernels_from_disk():
    # The first run compiles into the default cache what the suite has not compiled
    # yet (a cost the other tests would pay anyway); the second must compile nothing.
    first = run_step()
    assert first["used"], first
    before = snapshot(first["cache_dir"])
    assert before, f"no cache files in {first['cache_dir']}"
    second = run_step()
    assert second["misses"] == 0, f"the second process compiled {second['misses']} kernel signatures: {second}"
    assert second["hits"] > 0, second
    assert set(second["used"]) <= set(first["used"])  # (inlined helpers only compile with their caller)
    assert second["loss"] == first["loss"]  # the same seeded step, the same result
    assert snapshot(second["cache_dir"]) == before, "the warm run wrote to the cache"


def test_empty_cache_compiles_then_persists(tmp_path):
    # The cold path, cheaply: one kernel into an empty NUMBA_CACHE_DIR, then loaded back.
    code = """
import json, numpy as np
from fastscratch.kernels import conv
x = np.ones((1, 1, 3, 3)); col = np.empty((4, 4))
conv.im2col(x, 2, 2, 1, 0, col)
st = conv.im2col.stats
print(json.dumps([sum(st.cache_hits.values()), sum(st.cache_misses.values())]))
"""
    env = {"NUMBA_CACHE_DIR": tmp_path}
    runs = []
    for _ in range(2):
        proc = run_python(code, env=env)
        assert proc.returncode == 0, describe(proc, "im2col into an empty cache")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert runs == [[0, 1], [1, 0]]  # compiled (a miss), then loaded (a hit)
    assert snapshot(tmp_path)


def _report(label, r):
    print(f"{label}: wall {r['wall_s']:.2f} s (import {r['import_s']:.2f} s, first step {r['step_s']:.2f} s), "
          f"{r['hits']} signatures loaded from cache, {r['misses']} compiled")


#: The same step with nothing else in the process: its wall time is the "in all" figure.
BARE_STEP = STEP.split("t2 = time.perf_counter()")[0]


def bare_wall(cache_dir):
    """Wall seconds of a new process that imports fastscratch and runs the step, nothing more."""
    start = time.perf_counter()
    proc = run_python(BARE_STEP, env={"NUMBA_CACHE_DIR": cache_dir}, timeout=900)
    wall = time.perf_counter() - start
    assert proc.returncode == 0, describe(proc, "the bare training step")
    return wall


if __name__ == "__main__":
    # Numba imports scipy.linalg (when installed) on its first kernel load, to
    # offer np.dot in compiled code: about 0.3 s more on this machine.
    has_scipy = importlib.util.find_spec("scipy") is not None
    print(f"python {sys.executable}; numba {numba.__version__}; scipy {'installed' if has_scipy else 'absent'}")
    with tempfile.TemporaryDirectory() as d:
        _report("cold (empty NUMBA_CACHE_DIR)", run_step(d))
        for _ in range(3):
            _report("warm", run_step(d))
        walls = sorted(bare_wall(d) for _ in range(5))
        print("warm, import + step in a bare process (5 runs): " + ", ".join(f"{w:.2f} s" for w in walls))
