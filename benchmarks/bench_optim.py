"""Optimizer updates over SimpleConvNet-sized parameters (one fused kernel pass per parameter); reference vs kernels."""
from .common import IMPLS, Benchmark, api, impl_speedup, rng

OPTIMIZERS = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]
# the default SimpleConvNet on MNIST: conv 30x1x5x5, Affine 4320x100, Affine 100x10
SHAPES = {"W1": (30, 1, 5, 5), "b1": (30,), "W2": (4320, 100), "b2": (100,), "W3": (100, 10), "b3": (10,)}


def make(impl, name):
    r = rng(0)
    params = {k: 0.01 * r.standard_normal(s) for k, s in SHAPES.items()}
    grads = {k: 0.01 * r.standard_normal(s) for k, s in SHAPES.items()}
    opt = getattr(api(impl).optimizer, name)()
    opt.update(params, grads)  # state allocated and kernels compiled outside the timing
    return opt, params, grads


class OptimizerUpdate(Benchmark):
    params = (OPTIMIZERS, IMPLS)
    param_names = ["optimizer", "impl"]

    def setup(self, name, impl):
        self.opt, self.params_, self.grads = make(impl, name)

    def time_update(self, name, impl):
        self.opt.update(self.params_, self.grads)


class OptimizerSpeedup(Benchmark):
    params = (OPTIMIZERS,)
    param_names = ["optimizer"]
    unit = "x"

    def setup(self, name):
        self.runs = {impl: make(impl, name) for impl in IMPLS}

    def track_speedup_update(self, name):
        return impl_speedup(self.runs, lambda run: run[0].update(run[1], run[2]), number=10)
