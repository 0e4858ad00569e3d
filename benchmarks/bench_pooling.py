"""Max pooling: reference vs kernels, 2x2 stride 2 on SimpleConvNet's (100, 30, 24, 24) (float64)."""
from ._shared import shapes as _shapes
from .common import IMPLS, Benchmark, _LayerTimes, api, impl_speedup, rng

POOL = _shapes.POOL

# label -> (x shape, pool, stride, pad)
SHAPES = POOL
LABELS = list(SHAPES)


def pool_inputs(label):
    x_shape, p, stride, pad = SHAPES[label]
    return rng(0).standard_normal(x_shape), p, stride, pad


class PoolingLayer(_LayerTimes, Benchmark):
    params = (LABELS, IMPLS)
    param_names = ["shape", "impl"]

    def setup(self, label, impl):
        self.x, p, stride, pad = pool_inputs(label)
        self.layer = api(impl).layers.Pooling(p, p, stride, pad)
        out = self.layer.forward(self.x)
        self.dout = rng(1).standard_normal(out.shape)
        self.layer.backward(self.dout)  # compile outside the timing


class PoolingSpeedup(Benchmark):
    """Kernels-vs-reference speedups, both measured in this process."""
    params = (LABELS,)
    param_names = ["shape"]
    unit = "x"

    def setup(self, label):
        self.x, p, stride, pad = pool_inputs(label)
        self.layers = {impl: api(impl).layers.Pooling(p, p, stride, pad) for impl in IMPLS}
        out = self.layers["reference"].forward(self.x)
        self.dout = rng(1).standard_normal(out.shape)
        for layer in self.layers.values():
            layer.forward(self.x)
            layer.backward(self.dout)

    def _ratio(self, run):
        return impl_speedup(self.layers, run, number=3)

    def track_speedup_forward(self, label):
        return self._ratio(lambda layer: layer.forward(self.x))

    def track_speedup_forward_backward(self, label):
        return self._ratio(lambda layer: (layer.forward(self.x), layer.backward(self.dout)))
