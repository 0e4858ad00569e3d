"""fastscratch.set_num_threads / get_num_threads, NUMBA_NUM_THREADS, and no BLAS inside kernels."""
import inspect
import json
import os
import pkgutil
import re

import numba
import pytest

import fastscratch
import fastscratch.kernels
from _subproc import describe, run_python


@pytest.fixture
def restore_threads():
    n = fastscratch.get_num_threads()
    yield
    fastscratch.set_num_threads(n)


def test_set_and_get_round_trip(restore_threads):
    top = numba.config.NUMBA_NUM_THREADS
    for n in sorted({1, top}):
        fastscratch.set_num_threads(n)
        assert fastscratch.get_num_threads() == n
        assert numba.get_num_threads() == n  # what the kernels' prange reads


@pytest.mark.parametrize("n, exc, msg", [
    (0, ValueError, r"n must be >= 1; got 0"),
    (-1, ValueError, r"n must be >= 1; got -1"),
    (numba.config.NUMBA_NUM_THREADS + 1, ValueError, r"n must be <= \d+ .*NUMBA_NUM_THREADS"),
    (1.0, TypeError, r"n must be an int"),
    (True, TypeError, r"n must be an int"),
    ("2", TypeError, r"n must be an int"),
    (None, TypeError, r"n must be an int"),
], ids=["zero", "negative", "above-pool", "float", "bool", "str", "none"])
def test_set_num_threads_refuses(n, exc, msg, restore_threads):
    before = fastscratch.get_num_threads()
    with pytest.raises(exc, match=msg):
        fastscratch.set_num_threads(n)
    assert fastscratch.get_num_threads() == before  # a refused call changes nothing


def test_numpy_integer_accepted(restore_threads):
    import numpy as np
    fastscratch.set_num_threads(np.int64(1))
    assert fastscratch.get_num_threads() == 1


def test_environment_variable_sets_the_pool():
    code = ("import fastscratch, numba; "
            "print(fastscratch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)")
    proc = run_python(code, env={"NUMBA_NUM_THREADS": 1})
    assert proc.returncode == 0, describe(proc, "import with NUMBA_NUM_THREADS=1")
    assert proc.stdout.split() == ["1", "1"]


def _kernel_dispatchers():
    for info in pkgutil.iter_modules(fastscratch.kernels.__path__):
        mod = __import__(f"fastscratch.kernels.{info.name}", fromlist=["_"])
        for name, obj in vars(mod).items():
            if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.py_func.__module__ == mod.__name__:
                yield f"{info.name}.{name}", obj


def test_no_blas_inside_kernels():
    # BLAS's thread pool and Numba's must never run at once (oversubscription), and
    # np.dot in njit needs SciPy: GEMMs are NumPy calls between kernels.
    found = list(_kernel_dispatchers())
    assert found, "no kernels found"
    blas = re.compile(r"\bdot\(|\bmatmul\(|\bvdot\(|\beinsum\(|\binner\(|\btensordot\(|[\w\])]\s*@\s*[\w(]")
    for name, disp in found:
        body = inspect.getsource(disp.py_func).split("\n", 1)[1]  # drop the decorator line
        body = "\n".join(line.split("#", 1)[0] for line in body.splitlines())
        body = re.sub(r'"""[\s\S]*?"""', "", body)
        assert not blas.search(body), f"kernel {name} calls BLAS"


# --------------------------------------------------------------------------- idle-thread defaults

_ENV_PROBE = """
import json, os, sys
{pre}
import fastscratch
print(json.dumps(dict(omp=os.environ.get("OMP_WAIT_POLICY"), blas=os.environ.get("OPENBLAS_THREAD_TIMEOUT"),
                      seen=fastscratch.BLAS_THREAD_TIMEOUT, user=fastscratch.USER_THREAD_ENV)))
"""


def _probe(pre="", **env):
    clean = {"OMP_WAIT_POLICY": None, "OPENBLAS_THREAD_TIMEOUT": None, "FASTSCRATCH_PROCESS_DEFAULTS": None}
    proc = run_python(_ENV_PROBE.format(pre=pre), env={**clean, **env})
    assert proc.returncode == 0, describe(proc, "import fastscratch")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("pre, env, expected", [
    # imported before NumPy: both defaults, in time for OpenBLAS to read its timeout
    ("", {}, dict(omp="PASSIVE", blas="4", seen="4", user={"OMP_WAIT_POLICY": None, "OPENBLAS_THREAD_TIMEOUT": None})),
    # NumPy already loaded: setting the timeout now would do nothing, so it is not set (and `info` says so)
    ("import numpy", {}, dict(omp="PASSIVE", blas=None, seen=None,
                              user={"OMP_WAIT_POLICY": None, "OPENBLAS_THREAD_TIMEOUT": None})),
    # the environment's own values win
    ("", {"OMP_WAIT_POLICY": "ACTIVE", "OPENBLAS_THREAD_TIMEOUT": "8"},
     dict(omp="ACTIVE", blas="8", seen="8", user={"OMP_WAIT_POLICY": "ACTIVE", "OPENBLAS_THREAD_TIMEOUT": "8"})),
    # the opt-out sets neither
    ("", {"FASTSCRATCH_PROCESS_DEFAULTS": "0"},
     dict(omp=None, blas=None, seen=None, user={"OMP_WAIT_POLICY": None, "OPENBLAS_THREAD_TIMEOUT": None})),
], ids=["before-numpy", "after-numpy", "user-values", "opt-out"])
def test_idle_thread_defaults(pre, env, expected):
    assert _probe(pre, **env) == expected


def test_torch_is_timed_with_the_users_environment(monkeypatch):
    from fastscratch import bench
    monkeypatch.setattr(fastscratch, "USER_THREAD_ENV", {"OMP_WAIT_POLICY": None, "OPENBLAS_THREAD_TIMEOUT": "7"})
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    env = bench.torch_env()
    assert "OMP_WAIT_POLICY" not in env  # fastscratch's default undone
    assert env["OPENBLAS_THREAD_TIMEOUT"] == "7"
    assert env["FASTSCRATCH_PROCESS_DEFAULTS"] == "0"
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastscratch.__file__)))
    assert env["PYTHONPATH"].split(os.pathsep)[0] == root


def test_torch_times_come_from_a_child_process():
    from fastscratch import bench
    times = bench.torch_times(quick=True, repeat=1, threads=1)
    try:
        import torch  # noqa: F401
    except ImportError:
        assert times is None
        return
    with_torch = {case.name for case in bench.CASES if case.torch}
    assert set(times) == with_torch and all(t > 0 for t in times.values())


_RSS_PROBE = """
{pre}
import numpy as np
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
before = rss()
a = np.ones(20 << 17)  # 20 MiB, every page touched
del a
print((rss() - before) >> 20)
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux's /proc to read the resident size")
def test_freed_memory_is_kept_for_reuse_unless_opted_out():
    import fastscratch
    if not fastscratch.MALLOC_TUNED:
        pytest.skip("no glibc mallopt here: fastscratch leaves malloc alone")
    runs = {}
    for label, pre, env in [("tuned", "import fastscratch", {}),
                            ("opt-out", "import fastscratch", {"FASTSCRATCH_PROCESS_DEFAULTS": "0"}),
                            ("plain", "", {})]:
        proc = run_python(_RSS_PROBE.format(pre=pre), env={"FASTSCRATCH_PROCESS_DEFAULTS": None,
                                                           "MALLOC_MMAP_THRESHOLD_": None,
                                                           "MALLOC_TRIM_THRESHOLD_": None, **env})
        assert proc.returncode == 0, describe(proc, label)
        runs[label] = int(proc.stdout.strip().splitlines()[-1])
    # tuned: the freed 20 MiB stays in the heap for the next array; otherwise glibc unmaps it at once
    assert runs["tuned"] >= 18, runs
    assert runs["opt-out"] <= 2 and runs["plain"] <= 2, runs
