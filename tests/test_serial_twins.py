"""Every ``*_serial`` kernel is a serial build of its parallel kernel's job, cached on disk under a name of its own.

Generated twins (fastscratch/kernels/_jit.py serial_twin) compile the parallel kernel's own
function; Numba's on-disk cache keys entries by module, qualified name, line and
signature, not by compile flags, so a generated twin must carry a name of its
own or it would load the parallel kernel's cached code. Checked without compiling.
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
def test_twin_is_serial_cached_and_named_apart(parallel, serial):
    assert parallel.targetoptions.get("parallel") is True
    assert not serial.targetoptions.get("parallel")
    assert type(serial._cache).__name__ == "FunctionCache"          # on-disk cache, like every kernel
    assert serial.py_func.__qualname__ == parallel.py_func.__qualname__ + "_serial"  # own cache entry
    if serial.py_func.__code__ is not parallel.py_func.__code__:      # hand-written: same arguments
        assert serial.py_func.__code__.co_varnames[:serial.py_func.__code__.co_argcount] == \
            parallel.py_func.__code__.co_varnames[:parallel.py_func.__code__.co_argcount]


def test_softmax_twins_are_generated():
    from fastscratch.kernels import softmax_ce as ks
    for name in ("softmax", "softmax_ce"):
        assert getattr(ks, name + "_serial").py_func.__code__ is getattr(ks, name).py_func.__code__


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_written_out_backward_twins_give_the_parallel_kernels_bits(dtype):
    from fastscratch.kernels import softmax_ce as ks
    rng = np.random.default_rng(1)
    y = rng.random((37, 11)).astype(dtype)
    labels = np.arange(37) % 11
    onehot = np.eye(11, dtype=dtype)[labels]
    for parallel, serial, t in ((ks.softmax_ce_backward_labels, ks.softmax_ce_backward_labels_serial, labels),
                                (ks.softmax_ce_backward_onehot, ks.softmax_ce_backward_onehot_serial, onehot)):
        a, b = np.empty_like(y), np.empty_like(y)
        parallel(y, t, a)
        serial(y, t, b)
        assert a.tobytes() == b.tobytes()


def test_generated_twin_gives_the_parallel_kernels_bits():
    from fastscratch.kernels import softmax_ce as ks
    x = np.random.default_rng(0).standard_normal((37, 11))
    t = np.arange(37) % 11
    outs = []
    for kern in (ks.softmax_ce, ks.softmax_ce_serial):
        y, rowlog = np.empty_like(x), np.empty(37)
        total = kern(x, t, y, rowlog)
        outs.append((y.tobytes(), rowlog.tobytes(), float(total)))
    assert outs[0] == outs[1]
