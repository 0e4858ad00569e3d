"""Fused optimizer kernels (fastscratch.kernels.optim) through fastscratch.optimizer, vs the reference."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from _dense_cases import SETTINGS, assert_bitwise, assert_close, dtypes
from fastscratch import optimizer as O
from fastscratch.reference import optimizer as RO

NAMES = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]
KWARGS = {"SGD": dict(lr=0.1), "Momentum": dict(lr=0.05, momentum=0.8), "Nesterov": dict(lr=0.05, momentum=0.85),
          "AdaGrad": dict(lr=0.1), "RMSprop": dict(lr=0.02, decay_rate=0.9), "Adam": dict(lr=0.01, beta2=0.99)}
STATE = {"Momentum": ("v",), "Nesterov": ("v",), "AdaGrad": ("h",), "RMSprop": ("h",), "Adam": ("m", "v")}

# SimpleConvNet-like parameter shapes; the large one takes the parallel kernels
SHAPES = {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (300, 200), "b2": (200,), "W3": (7, 3)}

shape_dicts = st.dictionaries(st.sampled_from(["W1", "b1", "W2", "gamma"]),
                              st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple),
                              min_size=1, max_size=4)


def _run(name, shapes, dtype, seed, steps=4, grad_dtype=None, kwargs=None):
    rng = np.random.default_rng(seed)
    p_ours = {k: rng.standard_normal(s).astype(dtype) for k, s in shapes.items()}
    p_ref = {k: v.copy() for k, v in p_ours.items()}
    ids = {k: id(v) for k, v in p_ours.items()}
    kw = KWARGS[name] if kwargs is None else kwargs
    ours, ref = getattr(O, name)(**kw), getattr(RO, name)(**kw)
    for _ in range(steps):
        grads = {k: rng.standard_normal(s).astype(grad_dtype or dtype) for k, s in shapes.items()}
        g0 = {k: v.copy() for k, v in grads.items()}
        ours.update(p_ours, grads)
        ref.update(p_ref, grads)
        for k in shapes:
            assert id(p_ours[k]) == ids[k]  # updated in place, never rebound
            assert_close(p_ours[k], p_ref[k], tol_dtype=dtype)
            assert_bitwise(grads[k], g0[k])
        for attr in STATE.get(name, ()):
            for k in shapes:
                assert_close(getattr(ours, attr)[k], getattr(ref, attr)[k], tol_dtype=dtype)
    if name == "Adam":
        assert ours.iter == ref.iter == steps
    return p_ours


@SETTINGS
@given(st.sampled_from(NAMES), shape_dicts, dtypes, st.integers(0, 2**16))
def test_optimizers_match_reference(name, shapes, dtype, seed):
    _run(name, shapes, dtype, seed)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_optimizers_simpleconvnet_sizes(name, dtype):
    a = _run(name, SHAPES, dtype, 7, steps=3)
    b = _run(name, SHAPES, dtype, 7, steps=3)
    for k in a:
        assert_bitwise(a[k], b[k])  # bitwise repeatable


@pytest.mark.parametrize("name", NAMES)
def test_optimizers_fallback_keys(name):
    # float32 params with float64 grads, non-contiguous and integer-free odd cases take the reference formula
    _run(name, {"W": (4, 5), "b": (5,)}, np.float32, 1, grad_dtype=np.float64)
    rng = np.random.default_rng(0)
    base = rng.standard_normal((6, 8))
    p_ours = {"W": base.copy()[:, ::2], "c": rng.standard_normal(3)}
    p_ref = {"W": base.copy()[:, ::2], "c": p_ours["c"].copy()}
    ours, ref = getattr(O, name)(**KWARGS[name]), getattr(RO, name)(**KWARGS[name])
    for _ in range(3):
        g = {"W": rng.standard_normal((6, 4)), "c": rng.standard_normal(3)[::-1]}
        ours.update(p_ours, g)
        ref.update(p_ref, g)
    for k in p_ours:
        assert_close(p_ours[k], p_ref[k])


def test_optimizer_errors():
    with pytest.raises(KeyError, match="no entry"):
        O.SGD().update({"W": np.ones(3)}, {})
    with pytest.raises(TypeError, match="params must be a dict"):
        O.Adam().update([np.ones(3)], {})


@pytest.mark.parametrize("name", NAMES)
def test_optimizers_parallel_kernels(name, monkeypatch):
    # every parameter through the parallel kernels (normally only from PARALLEL_MIN_MEMORY_BOUND elements)
    from fastscratch.kernels import _jit
    monkeypatch.setattr(_jit, "PARALLEL_MIN_MEMORY_BOUND", 0)
    a = _run(name, SHAPES, np.float64, 11, steps=2)
    b = _run(name, SHAPES, np.float64, 11, steps=2)
    for k in a:
        assert_bitwise(a[k], b[k])
