"""Bitwise determinism of every kernel-backed public op.

The same inputs give bitwise-identical outputs on a repeated call, in a new
process, and with 1, 2, 3 or 4 kernel threads: every kernel promises a fixed
work partition that does not depend on the thread count (fastscratch/kernels/conv.py,
dense.py, norm.py, optim.py, softmax_ce.py docstrings). The cases
(tests/_determinism_cases.py) are sized above the parallel thresholds, and
the tests check that every parallel kernel of the package ran, so the thread
counts are compared on the parallel kernels, not only on their serial twins.
The serial twins themselves are compared with their parallel kernels in
process, with the thresholds forced (quick lane).
"""
import numba
import numpy as np
import pytest

import fastscratch
from _subproc import run_json
from fastscratch.kernels import _jit

#: the thread counts compared in one process launched with NUMBA_NUM_THREADS=4 (the
#: machine may have fewer cores: over-subscribed threads still get their own share of work)
THREADS = (2, 1, 3, 4)


def _run(pool, threads):
    args = ", ".join(map(str, threads))
    code = f"import sys; sys.path.insert(0, 'tests'); import _determinism_cases as d; d.main(({args},))"
    return run_json(code, f"the determinism cases with NUMBA_NUM_THREADS={pool}",
                    env={"NUMBA_NUM_THREADS": pool}, timeout=1200)


@pytest.fixture(scope="module")
def runs():
    # two independent processes, started together (they mostly wait on imports and compilation)
    from concurrent.futures import ThreadPoolExecutor
    with ThreadPoolExecutor(2) as pool:
        counts = pool.submit(_run, 4, THREADS)
        other = pool.submit(_run, 2, (2,))
        return {"counts": counts.result(), "other": other.result()}


def _differing(a, b):
    assert set(a) == set(b)
    return sorted(case for case in a if a[case] != b[case])


@pytest.mark.slow
def test_repeated_call_is_bitwise_identical(runs):
    for label, run in runs.items():
        bad = _differing(run["digests"]["2"], run["again"])
        assert not bad, f"a second call in the same process ({label}) differs: {bad}"


@pytest.mark.slow
def test_new_process_is_bitwise_identical(runs):
    bad = _differing(runs["counts"]["digests"]["2"], runs["other"]["digests"]["2"])
    assert not bad, f"differs in a new process: {bad}"


@pytest.mark.slow
def test_thread_count_does_not_change_results(runs):
    run = runs["counts"]
    assert run["pool"] == 4 and sorted(run["digests"]) == sorted(map(str, THREADS))
    bad = {n: _differing(run["digests"]["2"], run["digests"][str(n)]) for n in THREADS[1:]}
    bad = {n: cases for n, cases in bad.items() if cases}
    assert not bad, f"differs from 2 threads at {{thread count: [cases]}}: {bad}"


@pytest.mark.slow
def test_every_parallel_kernel_ran(runs):
    # a kernel that never ran was compared on its serial twin (or not at all)
    for label, run in runs.items():
        assert len(run["kernels"]) >= 40, run["kernels"]
        missing = sorted(set(run["kernels"]) - set(run["ran"]))
        assert not missing, f"parallel kernels no case reached ({label}): {missing}"


@pytest.mark.slow
def test_cases_cover_every_op(runs):
    names = set(runs["counts"]["again"])
    for op in ["im2col", "col2im", "Convolution-im2col", "Convolution-direct", "Convolution-taps",
               "Convolution-unfold", "Convolution-mixed", "Pooling", "Affine", "Relu", "Dropout",
               "SoftmaxWithLoss", "BatchNormalization", "gemm-blocks", "gemm-tn", "gemm-widen", "SGD",
               "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam", "numerical_gradient-njit", "functions",
               "TwoLayerNet", "SimpleConvNet"]:
        assert any(n.startswith(op) for n in names), op


# ----------------------------------------------------------------- in process, thresholds forced

def _twin_cases():
    """(name, thunk) pairs: small inputs of every op that picks between a parallel kernel and its twin."""
    import _determinism_cases as d
    out = {}
    for dt in (np.float32, np.float64):
        d._dense_layer_cases(fastscratch, out, dt, 203)  # 203 x 96: several chunks, the last one short
        # (rows, 10) just above PARALLEL_MIN: below it functions.* answer with NumPy, never a kernel
        d._softmax_cases(fastscratch, out, dt, _jit.PARALLEL_MIN // 10 + 203)
    d._optimizer_cases(fastscratch, out)
    return out


@pytest.fixture
def forced(monkeypatch):
    """forced(parallel): run _twin_cases with every size-based choice (fastscratch/kernels/_jit.py pick) made as given.

    Returns the digests and the sizes the choice was asked about (proof that the cases went through it).
    """
    import _determinism_cases as d
    real = numba.get_num_threads()

    def run(parallel, threads=None):
        asked = []
        monkeypatch.setattr(_jit, "use_parallel",
                            lambda size, memory_bound=False: asked.append(size) or parallel)
        if threads is not None:
            numba.set_num_threads(threads)
        try:
            return {k: d.digest(v) for k, v in _twin_cases().items()}, asked
        finally:
            numba.set_num_threads(real)
    return run


def test_serial_twins_give_the_parallel_kernels_bits(forced):
    serial, asked_serial = forced(False)
    parallel, asked_parallel = forced(True)
    assert asked_serial and asked_parallel == asked_serial
    bad = _differing(parallel, serial)
    assert not bad, f"the serial twins differ from the parallel kernels on: {bad}"


def test_forced_parallel_kernels_ran(forced):
    from fastscratch.kernels import dense, norm, optim, softmax_ce
    forced(True)
    for mod in (dense, norm, optim, softmax_ce):
        for name, obj in vars(mod).items():
            twin = getattr(mod, name + "_serial", None)
            if isinstance(twin, numba.core.registry.CPUDispatcher):
                assert obj.signatures, f"{mod.__name__}.{name} never ran"


def test_forced_parallel_kernels_bitwise_for_any_thread_count(forced):
    pool = numba.config.NUMBA_NUM_THREADS
    if pool < 2:
        pytest.skip("Numba has one thread: there is no other thread count to compare "
                    "(the slow tests launch processes with NUMBA_NUM_THREADS=4)")
    one, _ = forced(True, threads=1)
    many, _ = forced(True, threads=pool)
    bad = _differing(many, one)
    assert not bad, f"the parallel kernels differ between 1 and {pool} threads on: {bad}"
