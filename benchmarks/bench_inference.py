"""MNIST inference: DeepConvNet's accuracy over 1,000 test images in batches of 100.

As the book's chapter 8 scripts call it: ``network.accuracy(x_test, t_test)``
on the images load_mnist(flatten=False) gives (float32 in [0, 1], shape
(N, 1, 28, 28)) with the network's float64 weights (seeded He initialisation:
the speed does not depend on whether the weights are trained).
"""
from ._networks import build_network, speedup
from .common import IMPLS, Benchmark

N_IMAGES = 1000
BATCH = 100


def _test_images():
    from fastscratch.dataset import mnist
    (_, _), (x_test, t_test) = mnist.load_mnist(flatten=False)
    return x_test[:N_IMAGES], t_test[:N_IMAGES]


class MnistInference(Benchmark):
    """Wall time of DeepConvNet.accuracy over the first 1,000 MNIST test images."""

    params = [["DeepConvNet"], IMPLS]
    param_names = ["network", "impl"]
    number = 1
    repeat = (1, 5, 10.0)
    timeout = 300

    def setup(self, network, impl):
        self.x, self.t = _test_images()
        self.network = build_network(impl, network)
        self.network.accuracy(self.x[:BATCH], self.t[:BATCH], BATCH)  # compile before timing

    def time_accuracy(self, network, impl):
        self.network.accuracy(self.x, self.t, BATCH)


class MnistInferenceSpeedup(Benchmark):
    """Reference time over kernels time for the same accuracy call, both measured in this process."""

    params = [["DeepConvNet"]]
    param_names = ["network"]
    unit = "x"
    timeout = 300

    def setup(self, network):
        self.x, self.t = _test_images()
        self.reference = build_network("reference", network)
        self.kernels = build_network("kernels", network)
        # Warm both on one batch: the kernels compile, and the reference's first batch
        # (fresh allocations, page faults) is slower than the next ones.
        self.kernels.accuracy(self.x[:BATCH], self.t[:BATCH], BATCH)
        self.reference.accuracy(self.x[:BATCH], self.t[:BATCH], BATCH)

    def track_speedup_inference(self, network):
        return speedup(lambda: self.reference.accuracy(self.x, self.t, BATCH),
                       lambda: self.kernels.accuracy(self.x, self.t, BATCH))
