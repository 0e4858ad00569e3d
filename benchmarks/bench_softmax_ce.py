"""SoftmaxWithLoss forward + backward (kernels/softmax_ce.py: one pass per row each), label targets; reference vs kernels."""
from fastscratch._bench_shapes import SOFTMAX as SHAPES

from .common import IMPLS, Benchmark, api, impl_speedup, rng


def inputs(label):
    N, K = SHAPES[label]
    r = rng(0)
    return r.standard_normal((N, K)), r.integers(0, K, N)


def _step(layer, x, t):
    layer.forward(x, t)
    layer.backward()


class SoftmaxWithLoss(Benchmark):
    params = (list(SHAPES), IMPLS)
    param_names = ["shape", "impl"]

    def setup(self, label, impl):
        self.x, self.t = inputs(label)
        self.layer = api(impl).layers.SoftmaxWithLoss()
        _step(self.layer, self.x, self.t)  # compile outside the timing

    def time_forward_backward(self, label, impl):
        _step(self.layer, self.x, self.t)


class SoftmaxWithLossSpeedup(Benchmark):
    params = (list(SHAPES),)
    param_names = ["shape"]
    unit = "x"

    def setup(self, label):
        self.x, self.t = inputs(label)
        self.layers = {impl: api(impl).layers.SoftmaxWithLoss() for impl in IMPLS}
        for layer in self.layers.values():
            _step(layer, self.x, self.t)

    def track_speedup_forward_backward(self, label):
        return impl_speedup(self.layers, lambda layer: _step(layer, self.x, self.t),
                       number=200 if label == "100x10" else 3)
