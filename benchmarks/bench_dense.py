"""Dense layers: Affine (GEMM + fused bias / db kernels), Relu; reference vs kernels (float64).

The chapter 4-6 shapes (``SMALL_AFFINE``, float64 and float32) and chapter 5's
TwoLayerNet gradient time the overheads around a few microseconds of BLAS.

Measures the kernels of ``fastscratch/kernels/dense.py`` (bias add, column sums, ReLU) through the
layers of ``fastscratch/_layers/dense.py``, and the GEMMs of ``fastscratch/kernels/gemm.py``.
"""
import numpy as np

from ._shared import shapes as _shapes
from .common import IMPLS, Benchmark, _LayerSpeedup, _LayerTimes, api, rng, settled_speedup

AFFINE, RELU = _shapes.AFFINE, _shapes.RELU  # label -> (x shape, W shape); label -> x shape


#: The book's chapter 4-6 dense layers at batch 100 (label -> (x shape, W shape)), where the
#: Python and thread-pool overheads around a few microseconds of BLAS decide the speed.
SMALL_AFFINE = {"100x100x10": ((100, 100), (100, 10)), "100x50x10": ((100, 50), (50, 10)),
                "100x784x50": ((100, 784), (784, 50))}


def affine_inputs(label, dtype="float64"):
    x_shape, w_shape = AFFINE[label] if label in AFFINE else SMALL_AFFINE[label]
    r = rng(0)
    x, W, b = r.standard_normal(x_shape), 0.01 * r.standard_normal(w_shape), r.standard_normal(w_shape[1])
    return tuple(a.astype(dtype) for a in (x, W, b, r.standard_normal((x_shape[0], w_shape[1]))))


class Affine(_LayerTimes, Benchmark):
    params = (list(AFFINE), IMPLS)
    param_names = ["shape", "impl"]

    def setup(self, label, impl):
        self.x, W, b, self.dout = affine_inputs(label)
        self.layer = api(impl).layers.Affine(W, b)
        self.layer.forward(self.x)
        self.layer.backward(self.dout)  # compile outside the timing


class AffineSpeedup(_LayerSpeedup, Benchmark):
    params = (list(AFFINE),)
    param_names = ["shape"]
    calls = {"100x100x10": 20}

    def setup(self, label):
        self.x, W, b, self.dout = affine_inputs(label)
        self.layers = {impl: api(impl).layers.Affine(W, b) for impl in IMPLS}
        self.warm_up()


class SmallAffine(_LayerTimes, Benchmark):
    """Affine forward + backward at the chapter 4-6 shapes, float64 and float32."""
    params = (list(SMALL_AFFINE), IMPLS, ["float64", "float32"])
    param_names = ["shape", "impl", "dtype"]

    def setup(self, label, impl, dtype):
        self.x, W, b, self.dout = affine_inputs(label, dtype)
        self.layer = api(impl).layers.Affine(W, b)
        self.layer.forward(self.x)
        self.layer.backward(self.dout)  # compile outside the timing


class SmallAffineSpeedup(Benchmark):
    """Reference over kernels time of Affine forward + backward at the chapter 4-6 shapes (``settled_speedup``)."""
    unit = "x"
    params = (list(SMALL_AFFINE), ["float64", "float32"])
    param_names = ["shape", "dtype"]

    def setup(self, label, dtype):
        self.x, W, b, self.dout = affine_inputs(label, dtype)
        self.layers = {impl: api(impl).layers.Affine(W, b) for impl in IMPLS}
        for layer in self.layers.values():
            self._step(layer)

    def _step(self, layer):
        layer.forward(self.x)
        layer.backward(self.dout)

    def track_speedup_forward_backward(self, label, dtype):
        return settled_speedup(self.layers, self._step, number=20)


def _chapter5_net(impl):
    """Chapter 5's TwoLayerNet(784, 50, 10), seeded, and a batch of 100 MNIST-like float64 images with labels."""
    np.random.seed(0)
    net = api(impl).TwoLayerNet(784, 50, 10)
    r = rng(0)
    return net, r.random((100, 784)), r.integers(0, 10, 100)


class TwoLayerNetGradient(Benchmark):
    """Chapter 5's backprop ``gradient`` of TwoLayerNet(784, 50, 10) at batch 100 (float64)."""
    params = (IMPLS,)
    param_names = ["impl"]

    def setup(self, impl):
        self.net, self.x, self.t = _chapter5_net(impl)
        self.net.gradient(self.x, self.t)  # compile outside the timing

    def time_gradient(self, impl):
        self.net.gradient(self.x, self.t)


class TwoLayerNetGradientSpeedup(Benchmark):
    """Reference over kernels time of that gradient (``settled_speedup``)."""
    unit = "x"

    def setup(self):
        self.nets = {}
        for impl in IMPLS:
            net, self.x, self.t = _chapter5_net(impl)
            net.gradient(self.x, self.t)
            self.nets[impl] = net

    def track_speedup_gradient(self):
        return settled_speedup(self.nets, lambda net: net.gradient(self.x, self.t), number=10)


class WeightDecay(Benchmark):
    """The loss's 0.5 * lambda * sum(W**2) over chapter 6's MultiLayerNet(784, [100] * 6, 10) weights."""
    params = (IMPLS,)
    param_names = ["impl"]

    def setup(self, impl):
        self.network = api(impl).MultiLayerNet(784, [100] * 6, 10, weight_decay_lambda=0.1)
        self.network._weight_decay()  # compile outside the timing

    def time_weight_decay(self, impl):
        self.network._weight_decay()


def relu_inputs(label):
    """x and dout of a Relu benchmark; backward zeroes dout in place, so repeating a step is idempotent."""
    return rng(0).standard_normal(RELU[label]), rng(1).standard_normal(RELU[label])


class Relu(Benchmark):
    params = (list(RELU), IMPLS)
    param_names = ["shape", "impl"]

    def setup(self, label, impl):
        self.x, self.dout = relu_inputs(label)
        self.layer = api(impl).layers.Relu()
        self.time_forward_backward(label, impl)  # compile outside the timing

    def time_forward_backward(self, label, impl):
        self.layer.forward(self.x)
        self.layer.backward(self.dout)


class ReluSpeedup(_LayerSpeedup, Benchmark):
    params = (list(RELU),)
    param_names = ["shape"]
    calls = {"100x100": 50}

    def setup(self, label):
        self.x, self.dout = relu_inputs(label)
        self.layers = {impl: api(impl).layers.Relu() for impl in IMPLS}
        self.warm_up()
