"""Dense layers: Affine (GEMM + fused bias / db kernels), Relu; reference vs kernels (float64).

Measures the kernels of ``fastscratch/kernels/dense.py`` (bias add, column sums, ReLU) through the
layers of ``fastscratch/_layers/dense.py``, and the GEMMs of ``fastscratch/kernels/gemm.py``.
"""
from ._shared import shapes as _shapes
from .common import IMPLS, Benchmark, _LayerSpeedup, _LayerTimes, api, rng

AFFINE, RELU = _shapes.AFFINE, _shapes.RELU  # label -> (x shape, W shape); label -> x shape


def affine_inputs(label):
    x_shape, w_shape = AFFINE[label]
    r = rng(0)
    x, W, b = r.standard_normal(x_shape), 0.01 * r.standard_normal(w_shape), r.standard_normal(w_shape[1])
    return x, W, b, r.standard_normal((x_shape[0], w_shape[1]))


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
