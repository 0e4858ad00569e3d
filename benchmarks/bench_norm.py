"""BatchNormalization forward + backward in training mode; reference vs kernels (float64)."""
from fastscratch._bench_shapes import BATCHNORM as SHAPES

from .common import IMPLS, Benchmark, api, impl_speedup, rng


def make(impl, label):
    shape = SHAPES[label]
    D = 1
    for s in shape[1:]:
        D *= s
    r = rng(0)
    layer = api(impl).layers.BatchNormalization(1 + 0.1 * r.standard_normal(D), 0.1 * r.standard_normal(D))
    return layer, r.standard_normal(shape), r.standard_normal(shape)


def _step(layer, x, dout):
    layer.forward(x, True)
    layer.backward(dout)


class BatchNorm(Benchmark):
    params = (list(SHAPES), IMPLS)
    param_names = ["shape", "impl"]

    def setup(self, label, impl):
        self.layer, self.x, self.dout = make(impl, label)
        _step(self.layer, self.x, self.dout)  # compile outside the timing

    def time_forward_backward(self, label, impl):
        _step(self.layer, self.x, self.dout)


class BatchNormSpeedup(Benchmark):
    params = (list(SHAPES),)
    param_names = ["shape"]
    unit = "x"

    def setup(self, label):
        self.layers = {}
        for impl in IMPLS:
            self.layers[impl], self.x, self.dout = make(impl, label)
            _step(self.layers[impl], self.x, self.dout)

    def track_speedup_forward_backward(self, label):
        return impl_speedup(self.layers, lambda layer: _step(layer, self.x, self.dout),
                       number=50 if label == "100x100" else 3)
