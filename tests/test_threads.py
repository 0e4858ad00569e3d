"""fastscratch.set_num_threads / get_num_threads, NUMBA_NUM_THREADS, and no BLAS inside kernels."""
import inspect
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
