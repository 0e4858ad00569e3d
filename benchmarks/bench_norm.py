"""BatchNormalization forward + backward in training mode; reference vs kernels (float64)."""
from ._shared import shapes as _shapes
from .common import IMPLS, Benchmark, _LayerSpeedup, api, rng

SHAPES = _shapes.BATCHNORM


def make(impl, label):
    shape = SHAPES[label]
    D = 1
    for s in shape[1:]:
        D *= s
    r = rng(0)
    layer = api(impl).layers.BatchNormalization(1 + 0.1 * r.standard_normal(D), 0.1 * r.standard_normal(D))
    return layer, r.standard_normal(shape), r.standard_normal(shape)


class _Step:
    """One training step of ``layer`` on ``self.x`` / ``self.dout``: forward in training mode, then backward."""

    def step(self, layer):
        layer.forward(self.x, True)
        layer.backward(self.dout)


class BatchNorm(_Step, Benchmark):
    params = (list(SHAPES), IMPLS)
    param_names = ["shape", "impl"]

    def setup(self, label, impl):
        self.layer, self.x, self.dout = make(impl, label)
        self.step(self.layer)  # compile outside the timing

    def time_forward_backward(self, label, impl):
        self.step(self.layer)


class BatchNormSpeedup(_Step, _LayerSpeedup, Benchmark):
    params = (list(SHAPES),)
    param_names = ["shape"]
    calls = {"100x100": 50}

    def setup(self, label):
        self.layers = {}
        for impl in IMPLS:
            self.layers[impl], self.x, self.dout = make(impl, label)
        self.warm_up()
