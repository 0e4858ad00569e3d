"""fastscratch/_core/small.py: tiny layers and gradient checks run the reference's NumPy code.

The rule depends on sizes alone: on its side of the limit a fast layer gives
the reference's numbers bitwise (the same expressions), and a run takes the
same route whatever the cache holds. Above the limits the kernels run (the
other test files check them at every size, with the rule off).
"""
import json
import os
import sys

import numpy as np
import pytest

import fastscratch
import fastscratch.reference as reference
from fastscratch._core import small as _small

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _subproc import describe, run_python

pytestmark = pytest.mark.small_rule

#: The book's chapter 7 gradient check set-up (ch07/gradient_check.py).
CH07 = dict(input_dim=(1, 10, 10), conv_param={"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1},
            hidden_size=10, output_size=10, weight_init_std=0.01)


def _pair(cls_name, **kw):
    np.random.seed(3)
    ref = getattr(reference, cls_name)(**kw)
    np.random.seed(3)
    fast = getattr(fastscratch, cls_name)(**kw)
    return ref, fast


def test_ch05_gradient_check_is_the_reference_bitwise(mnist):
    (x_train, t_train), _ = mnist
    x, t = x_train[:3].astype(np.float64), np.eye(10)[t_train[:3]]
    ref, fast = _pair("TwoLayerNet", input_size=784, hidden_size=10, output_size=10)
    for name in ("numerical_gradient", "gradient"):
        g_ref, g_fast = getattr(ref, name)(x, t), getattr(fast, name)(x, t)
        for key in g_ref:
            np.testing.assert_array_equal(g_fast[key], g_ref[key], err_msg=f"{name} {key}")


def test_ch07_gradient_check_is_the_reference_bitwise():
    ref, fast = _pair("SimpleConvNet", **CH07)
    np.random.seed(5)
    X = np.random.rand(100).reshape((1, 1, 10, 10))
    T = np.array([1]).reshape((1, 1))
    for name in ("numerical_gradient", "gradient"):
        g_ref, g_fast = getattr(ref, name)(X, T), getattr(fast, name)(X, T)
        assert g_ref.keys() == g_fast.keys()
        for key in g_ref:
            assert g_fast[key].dtype == g_ref[key].dtype
            np.testing.assert_array_equal(g_fast[key], g_ref[key], err_msg=f"{name} {key}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_tiny_layers_match_the_reference_bitwise(dtype):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 6, 6)).astype(dtype)
    W, b = rng.standard_normal((4, 3, 3, 3)).astype(dtype), rng.standard_normal(4).astype(dtype)
    pairs = [(reference.layers.Convolution(W, b, 1, 1), fastscratch.layers.Convolution(W, b, 1, 1)),
             (reference.layers.Pooling(2, 2, 2), fastscratch.layers.Pooling(2, 2, 2)),
             (reference.layers.Relu(), fastscratch.layers.Relu())]
    assert _small.small_conv(2 * 6 * 6 * 27 * 4) and _small.small_layer(2 * 4 * 6 * 6)
    for ref, fast in pairs:
        out_ref, out_fast = ref.forward(x.copy()), fast.forward(x.copy())
        np.testing.assert_array_equal(out_fast, out_ref)
        dout = rng.standard_normal(out_ref.shape).astype(dtype)
        np.testing.assert_array_equal(fast.backward(dout.copy()), ref.backward(dout.copy()))
    Wa, ba = rng.standard_normal((108, 5)).astype(dtype), rng.standard_normal(5).astype(dtype)
    ref, fast = reference.layers.Affine(Wa, ba), fastscratch.layers.Affine(Wa, ba)
    np.testing.assert_array_equal(fast.forward(x), ref.forward(x))
    dout = rng.standard_normal((2, 5)).astype(dtype)
    ref.backward(dout)
    fast.backward(dout)
    np.testing.assert_array_equal(fast.db, ref.db)
    s_ref, s_fast = reference.layers.SoftmaxWithLoss(), fastscratch.layers.SoftmaxWithLoss()
    scores, labels = rng.standard_normal((2, 5)).astype(dtype), np.array([1, 4])
    assert s_fast.forward(scores, labels) == s_ref.forward(scores, labels)
    np.testing.assert_array_equal(s_fast.backward(), s_ref.backward())


def test_bad_labels_still_refused_on_the_numpy_route():
    layer = fastscratch.layers.SoftmaxWithLoss()
    with pytest.raises(ValueError, match="t"):
        layer.forward(np.zeros((2, 3)), np.array([0, 3]))


def test_the_rule_reads_sizes_only():
    assert _small.small_layer(_small.LAYER_ELEMENTS - 1) and not _small.small_layer(_small.LAYER_ELEMENTS)
    assert _small.small_conv(_small.CONV_WORK - 1) and not _small.small_conv(_small.CONV_WORK)
    # the book's chapter 7 check (1,820 parameters, one 10x10 image) and chapter 5's
    # (TwoLayerNet 784-10-10 on 3 images) take the loop; the benchmarks' 784-50-10 does not
    assert _small.small_numgrad(1820, 100)
    assert _small.small_numgrad(7960, 3 * 784)
    assert not _small.small_numgrad(39760, 3 * 784)
    # a training batch of the book's networks takes the kernels, down to its (100, 10) scores
    assert not _small.small_conv(100 * 24 * 24 * 25 * 30)
    assert not _small.small_layer(100 * 10)


@pytest.mark.slow
def test_ch07_gradient_check_compiles_nothing(tmp_path):
    # with an empty cache, the chapter 7 check must not wait for any kernel to compile
    code = """
import json, numpy as np, fastscratch
from fastscratch._apps import warmup as _warmup
np.random.seed(0)
net = fastscratch.SimpleConvNet(input_dim=(1, 10, 10), conv_param={'filter_num': 10, 'filter_size': 3,
                                'pad': 0, 'stride': 1}, hidden_size=10, output_size=10, weight_init_std=0.01)
X = np.random.rand(100).reshape((1, 1, 10, 10)); T = np.array([1]).reshape((1, 1))
net.numerical_gradient(X, T); net.gradient(X, T); net.accuracy(X, T.reshape(1))
print(json.dumps([k[1] for k, d in _warmup._kernel_dispatchers().items() if d.signatures]))
"""
    proc = run_python(code, env={"NUMBA_CACHE_DIR": tmp_path})
    assert proc.returncode == 0, describe(proc, "the chapter 7 gradient check")
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == []
