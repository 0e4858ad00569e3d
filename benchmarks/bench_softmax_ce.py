"""SoftmaxWithLoss forward + backward (fastscratch/kernels/softmax_ce.py: one pass per row each), label targets; reference vs kernels."""
from ._shared import shapes as _shapes
from .common import IMPLS, Benchmark, _LayerSpeedup, api, rng

SHAPES = _shapes.SOFTMAX


def inputs(label):
    N, K = SHAPES[label]
    r = rng(0)
    return r.standard_normal((N, K)), r.integers(0, K, N)


class _Step:
    """One training step of ``layer`` on ``self.x`` / ``self.t``: forward with the labels, then backward."""

    def step(self, layer):
        layer.forward(self.x, self.t)
        layer.backward()


class SoftmaxWithLoss(_Step, Benchmark):
    params = (list(SHAPES), IMPLS)
    param_names = ["shape", "impl"]

    def setup(self, label, impl):
        self.x, self.t = inputs(label)
        self.layer = api(impl).layers.SoftmaxWithLoss()
        self.step(self.layer)  # compile outside the timing

    def time_forward_backward(self, label, impl):
        self.step(self.layer)


class SoftmaxWithLossSpeedup(_Step, _LayerSpeedup, Benchmark):
    params = (list(SHAPES),)
    param_names = ["shape"]
    calls = {"100x10": 200}

    def setup(self, label):
        self.x, self.t = inputs(label)
        self.layers = {impl: api(impl).layers.SoftmaxWithLoss() for impl in IMPLS}
        self.warm_up()
