"""Dense layers: Affine (GEMM + fused bias / db kernels), Relu; reference vs kernels (float64)."""
from fastscratch._bench_shapes import AFFINE, RELU  # label -> (x shape, W shape); label -> x shape

from .common import IMPLS, Benchmark, _LayerTimes, api, impl_speedup, rng



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


class AffineSpeedup(Benchmark):
    params = (list(AFFINE),)
    param_names = ["shape"]
    unit = "x"

    def setup(self, label):
        self.x, W, b, self.dout = affine_inputs(label)
        self.layers = {impl: api(impl).layers.Affine(W, b) for impl in IMPLS}
        for layer in self.layers.values():
            layer.forward(self.x)
            layer.backward(self.dout)

    def track_speedup_forward_backward(self, label):
        return impl_speedup(self.layers, lambda layer: (layer.forward(self.x), layer.backward(self.dout)),
                       number=20 if label == "100x100x10" else 3)


class Relu(Benchmark):
    params = (list(RELU), IMPLS)
    param_names = ["shape", "impl"]

    def setup(self, label, impl):
        self.x = rng(0).standard_normal(RELU[label])
        self.dout = rng(1).standard_normal(RELU[label])  # backward zeroes it in place: idempotent
        self.layer = api(impl).layers.Relu()
        self.layer.forward(self.x)
        self.layer.backward(self.dout)

    def time_forward_backward(self, label, impl):
        self.layer.forward(self.x)
        self.layer.backward(self.dout)


class ReluSpeedup(Benchmark):
    params = (list(RELU),)
    param_names = ["shape"]
    unit = "x"

    def setup(self, label):
        self.x = rng(0).standard_normal(RELU[label])
        self.dout = rng(1).standard_normal(RELU[label])
        self.layers = {impl: api(impl).layers.Relu() for impl in IMPLS}
        for layer in self.layers.values():
            layer.forward(self.x)
            layer.backward(self.dout)

    def track_speedup_forward_backward(self, label):
        return impl_speedup(self.layers, lambda layer: (layer.forward(self.x), layer.backward(self.dout)),
                       number=50 if label == "100x100" else 3)
