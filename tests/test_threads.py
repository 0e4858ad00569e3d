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
    # np.dot in njit needs SciPy: GEMMs go through fastscratch._layers.matmul, whose kernels
    # (fastscratch/kernels/gemm.py) call OpenBLAS by address with BLAS set to one thread.
    found = list(_kernel_dispatchers())
    assert found, "no kernels found"
    blas = re.compile(r"\bdot\(|\bmatmul\(|\bvdot\(|\beinsum\(|\binner\(|\btensordot\(|[\w\])]\s*@\s*[\w(]")
    for name, disp in found:
        body = inspect.getsource(disp.py_func).split("\n", 1)[1]  # drop the decorator line
        body = "\n".join(line.split("#", 1)[0] for line in body.splitlines())
        body = re.sub(r'"""[\s\S]*?"""', "", body)
        assert not blas.search(body), f"kernel {name} calls BLAS"


# --------------------------------------------------------------------------- no process-wide side effects

# One SimpleConvNet step: loads every layer kind, starts Numba's threading layer and runs the GEMM kernels.
_STEP = """
np.random.seed(0)
net = fastscratch.SimpleConvNet()
x = np.random.rand(4, 1, 28, 28); t = np.array([1, 2, 3, 4])
fastscratch.optimizer.Adam().update(net.params, net.gradient(x, t))
"""

_ENV_PROBE = """
import json, os
before = dict(os.environ)
{first}
{second}
""" + _STEP + """
after = dict(os.environ)
print(json.dumps(dict(changed=sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)))))
"""


@pytest.mark.parametrize("first, second", [("import numpy as np", "import fastscratch"),
                                           ("import fastscratch", "import numpy as np")],
                         ids=["numpy-first", "fastscratch-first"])
def test_import_leaves_the_environment_alone(first, second):
    env = {"OMP_WAIT_POLICY": None, "OPENBLAS_THREAD_TIMEOUT": None, "FASTSCRATCH_PROCESS_DEFAULTS": None}
    proc = run_python(_ENV_PROBE.format(first=first, second=second), env=env)
    assert proc.returncode == 0, describe(proc, "import fastscratch and train a step")
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == {"changed": []}


_MALLOPT_PROBE = """
import ctypes, json
looked_up = []
_getattr = ctypes.CDLL.__getattr__
def spy(self, name):
    looked_up.append(name)
    return _getattr(self, name)
ctypes.CDLL.__getattr__ = spy
import numpy as np
import fastscratch
""" + _STEP + """
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
before = rss()
a = np.ones(20 << 17)  # 20 MiB, every page touched
del a
print(json.dumps(dict(mallopt="mallopt" in looked_up, kept_mib=(rss() - before) >> 20)))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux's /proc to read the resident size")
def test_import_leaves_malloc_alone():
    env = {"FASTSCRATCH_PROCESS_DEFAULTS": None, "MALLOC_MMAP_THRESHOLD_": None, "MALLOC_TRIM_THRESHOLD_": None,
           "GLIBC_TUNABLES": None}
    proc = run_python(_MALLOPT_PROBE, env=env)
    assert proc.returncode == 0, describe(proc, "import fastscratch and train a step")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["mallopt"] is False
    # glibc's default mmap threshold: a freed 20 MiB block goes back to the system at once
    assert out["kept_mib"] <= 2, out


def _command(*args, **env):
    import subprocess
    import sys
    clean = {"OMP_WAIT_POLICY": None, "OPENBLAS_THREAD_TIMEOUT": None, "FASTSCRATCH_PROCESS_DEFAULTS": None,
             "MALLOC_MMAP_THRESHOLD_": None, "MALLOC_TRIM_THRESHOLD_": None, "GLIBC_TUNABLES": None}
    full = dict(os.environ)
    for key, val in {**clean, **env}.items():
        if val is None:
            full.pop(key, None)
        else:
            full[key] = val
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastscratch.__file__)))
    full["PYTHONPATH"] = root + os.pathsep + full.get("PYTHONPATH", "")
    return subprocess.run([sys.executable, "-m", "fastscratch", *args], check=False, env=full, capture_output=True,
                          text=True, timeout=300, cwd=root)


def _rows(proc):
    assert proc.returncode == 0, describe(proc, "fastscratch info")
    return {line[:23].strip(): line[23:].strip() for line in proc.stdout.splitlines()}


def test_the_command_tunes_its_own_process():
    rows = _rows(_command("info"))
    # the wait policy follows the machine's load as the command started (machine_is_busy)
    assert (rows["Idle threads"].startswith("OMP_WAIT_POLICY=PASSIVE (other tasks were running")
            or rows["Idle threads"].startswith("OMP_WAIT_POLICY unset (OpenMP's default: spin a while, then sleep) "
                                               "(the machine was quiet")), rows["Idle threads"]
    assert "; OPENBLAS_THREAD_TIMEOUT=4 " in rows["Idle threads"]
    assert "set by the fastscratch command" in rows["Idle threads"]  # not "the environment's"
    assert rows["Freed memory"].startswith("kept for reuse") or "glibc" not in rows["Freed memory"]


def test_the_command_keeps_the_environments_values_and_its_opt_out():
    rows = _rows(_command("info", OMP_WAIT_POLICY="ACTIVE", OPENBLAS_THREAD_TIMEOUT="8"))
    assert rows["Idle threads"].startswith("OMP_WAIT_POLICY=ACTIVE; OPENBLAS_THREAD_TIMEOUT=8 ")
    rows = _rows(_command("info", FASTSCRATCH_PROCESS_DEFAULTS="0"))
    assert rows["Idle threads"].startswith("OMP_WAIT_POLICY unset")
    assert "OpenBLAS's default timeout" in rows["Idle threads"]
    assert rows["Freed memory"].startswith("malloc's defaults")


_OPT_IN_PROBE = """
import json, os
import numpy as np
import fastscratch
{before}
first = fastscratch.tune_process()
again = fastscratch.tune_process()
print(json.dumps(dict(first=first, again=again, omp=os.environ.get("OMP_WAIT_POLICY"))))
"""


@pytest.mark.parametrize("before, omp", [("", True), ("fastscratch.layers.Relu().forward(np.ones((1000, 1100)))", False)],
                         ids=["before-any-kernel", "after-a-parallel-kernel"])
def test_scripts_may_opt_in_to_the_commands_settings(before, omp, tmp_path):
    env = {"OMP_WAIT_POLICY": None, "OPENBLAS_THREAD_TIMEOUT": None, "FASTSCRATCH_PROCESS_DEFAULTS": None,
           "MALLOC_MMAP_THRESHOLD_": None, "MALLOC_TRIM_THRESHOLD_": None, "GLIBC_TUNABLES": None}
    busy = tmp_path / "loadavg"
    busy.write_text("1.00 1.00 1.00 3/90 12345\n")  # two other runnable tasks: the machine counts as busy
    before = f"fastscratch._runtime.process_defaults._LOADAVG = {str(busy)!r}\n{before}"
    proc = run_python(_OPT_IN_PROBE.format(before=before), env=env)
    assert proc.returncode == 0, describe(proc, "fastscratch.tune_process()")
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    # OpenMP's policy only counts before Numba starts its threads; OpenBLAS's timeout only before NumPy loads
    assert out["first"]["OMP_WAIT_POLICY"] is omp and out["omp"] == ("PASSIVE" if omp else None)
    assert out["first"]["OPENBLAS_THREAD_TIMEOUT"] is False
    assert out["again"] == dict.fromkeys(("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT", "malloc"), False)


@pytest.mark.parametrize("argv0, orig_argv, main_file, expected", [
    ("-m", ["python", "-m", "fastscratch", "train"], None, True),
    ("-m", ["python", "-X", "importtime", "-mfastscratch"], None, True),
    ("-m", ["python", "-m", "benchmarks.measure"], None, False),   # another module importing fastscratch
    ("/venv/bin/fastscratch", ["python", "/venv/bin/fastscratch", "run"], "/venv/bin/fastscratch", True),
    ("train.py", ["python", "train.py"], "/home/me/train.py", False),
    ("fastscratch.py", ["python", "fastscratch.py"], "/home/me/fastscratch.py", False),
    ("", ["python"], None, False),  # the interactive interpreter
], ids=["dash-m", "dash-m-joined", "other-module", "console-script", "user-script", "script-named-fastscratch",
        "interactive"])
def test_launched_as_command(monkeypatch, argv0, orig_argv, main_file, expected):
    import sys
    import types

    from fastscratch._runtime import process_defaults as _process_defaults
    main = types.ModuleType("__main__")
    if main_file is not None:
        main.__file__ = main_file
    monkeypatch.setattr(sys, "argv", [argv0])
    monkeypatch.setattr(sys, "orig_argv", orig_argv, raising=False)
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert _process_defaults.launched_as_command() is expected


def test_torch_is_timed_with_the_users_environment(monkeypatch):
    from fastscratch._runtime import process_defaults as _process_defaults
    from fastscratch._apps import bench
    monkeypatch.setattr(_process_defaults, "USER_THREAD_ENV", {"OMP_WAIT_POLICY": None,
                                                               "OPENBLAS_THREAD_TIMEOUT": "7"})
    monkeypatch.setenv("OMP_WAIT_POLICY", "PASSIVE")
    env = bench.torch_env()
    assert "OMP_WAIT_POLICY" not in env  # the command's default undone
    assert env["OPENBLAS_THREAD_TIMEOUT"] == "7"
    assert env["FASTSCRATCH_PROCESS_DEFAULTS"] == "0"
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastscratch.__file__)))
    assert env["PYTHONPATH"].split(os.pathsep)[0] == root


def test_torch_times_come_from_a_child_process():
    from fastscratch._apps import bench
    times = bench.torch_times(quick=True, repeat=1, threads=1)
    try:
        import torch  # noqa: F401
    except ImportError:
        assert times is None
        return
    with_torch = {case.name for case in bench.CASES if case.torch}
    assert set(times) == with_torch and all(t > 0 for t in times.values())


@pytest.mark.parametrize("snapshots, busy", [(["1/80"] * 5, False), (["2/80"] * 5, True), (["1/80", "2/80"] * 2 + ["1/80"], False),
                                             (["3/80", "2/80", "1/80", "1/80", "1/80"], True),
                                             (["2/80", "1/80"], True), ([], True),
                                             (["garbled"], True)],
                         ids=["only-us", "one-more", "now-and-then", "a-burst", "on-the-threshold", "no-file",
                              "unreadable"])
def test_machine_is_busy_counts_the_other_runnable_tasks(tmp_path, monkeypatch, snapshots, busy):
    from fastscratch._runtime import process_defaults as _process_defaults
    path = tmp_path / "loadavg"
    reads = iter(snapshots)

    def fake_open(name, *args, **kwargs):
        assert name == str(path)
        try:
            value = next(reads)
        except StopIteration:
            raise OSError("no /proc/loadavg") from None
        path.write_text(f"0.10 0.20 0.30 {value} 999\n")
        return open_(name, *args, **kwargs)

    open_ = open
    monkeypatch.setattr(_process_defaults, "_LOADAVG", str(path))
    monkeypatch.setattr(_process_defaults, "open", fake_open, raising=False)
    assert _process_defaults.machine_is_busy(samples=max(len(snapshots), 1), interval=0) is busy


@pytest.mark.parametrize("busy", [True, False])
def test_the_command_sleeps_its_threads_only_on_a_busy_machine(monkeypatch, busy):
    from fastscratch._runtime import process_defaults as P
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.delenv("FASTSCRATCH_PROCESS_DEFAULTS", raising=False)
    for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLIBC_TUNABLES", "")  # leaves this test process's malloc alone
    monkeypatch.setattr(P, "TUNED", False)
    monkeypatch.setattr(P, "BUSY_AT_START", None)
    monkeypatch.setattr(P, "_numba_threads_started", lambda: False)
    monkeypatch.setattr(P, "machine_is_busy", lambda: busy)
    done = P.tune_process()
    assert done["OMP_WAIT_POLICY"] is busy and P.BUSY_AT_START is busy
    assert os.environ.get("OMP_WAIT_POLICY") == ("PASSIVE" if busy else None)
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
