"""Bitwise determinism of every kernel-backed public op.

The same inputs give bitwise-identical outputs on a repeated call, in a new
process, and with 1 or 2 kernel threads (NUMBA_NUM_THREADS): every kernel
promises a fixed work partition that does not depend on the thread count
(kernels/conv.py, dense.py, norm.py, optim.py, softmax_ce.py docstrings).
"""
import json

import pytest

from _subproc import describe, run_python

pytestmark = pytest.mark.slow  # three child processes compile and run every op

CODE = "import sys; sys.path.insert(0, 'tests'); import _determinism_cases as d; d.main()"


def _run(threads):
    proc = run_python(CODE, env={"NUMBA_NUM_THREADS": threads}, timeout=900)
    assert proc.returncode == 0, describe(proc, f"the determinism cases with NUMBA_NUM_THREADS={threads}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def runs():
    # three independent processes, started together (they mostly wait on imports and compilation)
    from concurrent.futures import ThreadPoolExecutor
    labels = {"2 threads": 2, "2 threads again": 2, "1 thread": 1}
    with ThreadPoolExecutor(3) as pool:
        futures = {label: pool.submit(_run, n) for label, n in labels.items()}
        return {label: fut.result() for label, fut in futures.items()}


def test_repeated_call_is_bitwise_identical(runs):
    bad = [f"{case} ({label})" for label, digests in runs.items()
           for case, (first, second) in digests.items() if first != second]
    assert not bad, f"a second call in the same process differs: {bad}"


def test_new_process_is_bitwise_identical(runs):
    ref, again = runs["2 threads"], runs["2 threads again"]
    assert set(again) == set(ref)
    bad = [case for case in ref if again[case][0] != ref[case][0]]
    assert not bad, f"differs in a new process: {bad}"


def test_thread_count_does_not_change_results(runs):
    ref, one = runs["2 threads"], runs["1 thread"]
    assert set(one) == set(ref)
    bad = [case for case in ref if one[case][0] != ref[case][0]]
    assert not bad, f"differs with NUMBA_NUM_THREADS=1: {bad}"


def test_cases_cover_every_op(runs):
    names = set(runs["2 threads"])
    for op in ["im2col", "col2im", "Convolution", "Pooling", "Affine", "Relu", "Dropout", "SoftmaxWithLoss",
               "BatchNormalization", "SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam",
               "numerical_gradient-njit", "functions", "TwoLayerNet", "SimpleConvNet"]:
        assert any(n.startswith(op) for n in names), op
