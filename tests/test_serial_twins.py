"""Every ``*_serial`` kernel is generated from its parallel kernel (kernels/_jit.py serial_twin).

Numba's on-disk cache keys entries by module, qualified name, line and signature,
not by compile flags, so a twin must carry a name of its own or it would load the
parallel kernel's cached code. Checked without compiling anything.
"""
import importlib
import pkgutil

import numba
import numpy as np
import pytest

import fastscratch.kernels

TWINS = []
for info in pkgutil.iter_modules(fastscratch.kernels.__path__):
    mod = importlib.import_module("fastscratch.kernels." + info.name)
    for name, obj in sorted(vars(mod).items()):
        if name.endswith("_serial") and isinstance(obj, numba.core.registry.CPUDispatcher):
            TWINS.append(pytest.param(getattr(mod, name[: -len("_serial")]), obj, id=f"{info.name}.{name}"))


def test_there_are_twins():
    assert len(TWINS) >= 20


@pytest.mark.parametrize("parallel, serial", TWINS)
def test_twin_is_the_parallel_code_compiled_serially(parallel, serial):
    assert serial.py_func.__code__ is parallel.py_func.__code__      # generated, not hand-written
    assert parallel.targetoptions.get("parallel") is True
    assert not serial.targetoptions.get("parallel")
    assert serial.py_func.__qualname__ == parallel.py_func.__qualname__ + "_serial"  # own cache entry
    assert type(serial._cache).__name__ == "FunctionCache"         # on-disk cache, like every kernel


def test_twin_gives_the_parallel_kernels_bits():
    from fastscratch.kernels import softmax_ce as ks
    x = np.random.default_rng(0).standard_normal((37, 11))
    t = np.arange(37) % 11
    outs = []
    for kern in (ks.softmax_ce, ks.softmax_ce_serial):
        y, rowlog = np.empty_like(x), np.empty(37)
        total = kern(x, t, y, rowlog)
        outs.append((y.tobytes(), rowlog.tobytes(), float(total)))
    assert outs[0] == outs[1]
