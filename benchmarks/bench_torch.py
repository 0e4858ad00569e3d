"""PyTorch (CPU) at the shapes of the other modules, for comparison: skipped where torch is absent.

Everything float64, torch.set_num_threads equal to Numba's thread count, so the
figures sit beside bench_pooling and bench_training (the convolution's PyTorch
comparison is bench_conv.TorchConv). PyTorch is never a dependency of fastscratch: install it into
the environment that runs these (e.g. ``asv run -E existing ...``).
"""
from .common import Benchmark, rng

# label -> x shape of a 2x2 stride-2 max pooling. Label as in bench_pooling.
POOL_SHAPES = {"100x30x24x24-p2s2": (100, 30, 24, 24)}  # SimpleConvNet Pool1


def _torch():
    """torch with Numba's thread count; NotImplementedError (asv: skipped) when not importable."""
    try:
        import torch
    except ImportError:
        raise NotImplementedError("PyTorch is not installed") from None
    import numba
    torch.set_num_threads(numba.get_num_threads())
    return torch


def _grads(torch, out, inputs, dout):
    # autograd.grad returns fresh gradients: nothing accumulates between calls,
    # as the book's backward overwrites dW and db.
    return torch.autograd.grad(out, inputs, dout)


class TorchPooling(Benchmark):
    """F.max_pool2d 2x2 stride 2 forward, then the gradient of x."""

    params = [list(POOL_SHAPES)]
    param_names = ["shape"]

    def setup(self, label):
        torch = self.torch = _torch()
        self.x = torch.tensor(rng(0).standard_normal(POOL_SHAPES[label]), requires_grad=True)
        out = torch.nn.functional.max_pool2d(self.x, 2, 2)
        self.dout = torch.tensor(rng(1).standard_normal(tuple(out.shape)))
        self.time_forward_backward(label)

    def time_forward(self, label):
        with self.torch.no_grad():
            self.torch.nn.functional.max_pool2d(self.x, 2, 2)

    def time_forward_backward(self, label):
        _grads(self.torch, self.torch.nn.functional.max_pool2d(self.x, 2, 2), (self.x,), self.dout)


def _simple_convnet(nn):
    """The book's SimpleConvNet: conv 30x5x5 - relu - pool 2 - affine 100 - relu - affine 10."""
    return nn.Sequential(
        nn.Conv2d(1, 30, 5), nn.ReLU(), nn.MaxPool2d(2, 2), nn.Flatten(),
        nn.Linear(30 * 12 * 12, 100), nn.ReLU(), nn.Linear(100, 10))


def _deep_convnet(nn):
    """The book's DeepConvNet: (conv-relu-conv-relu-pool) x3, affine 50 - relu - dropout - affine 10 - dropout."""
    layers, c_in = [], 1
    convs = [(16, 1), (16, 1), (32, 1), (32, 2), (64, 1), (64, 1)]  # (filters, pad), all 3x3
    for i, (c_out, pad) in enumerate(convs):
        layers += [nn.Conv2d(c_in, c_out, 3, padding=pad), nn.ReLU()]
        c_in = c_out
        if i % 2 == 1:
            layers.append(nn.MaxPool2d(2, 2))
    layers += [nn.Flatten(), nn.Linear(64 * 4 * 4, 50), nn.ReLU(), nn.Dropout(0.5),
               nn.Linear(50, 10), nn.Dropout(0.5)]
    return nn.Sequential(*layers)


class TorchTrainingStep(Benchmark):
    """One training step in PyTorch: softmax cross-entropy, backward, Adam (lr 0.001), batch 100, float64."""

    params = [["SimpleConvNet", "DeepConvNet"]]
    param_names = ["network"]
    number = 1
    repeat = (1, 5, 10.0)

    def setup(self, network):
        torch = self.torch = _torch()
        torch.manual_seed(0)
        build = _simple_convnet if network == "SimpleConvNet" else _deep_convnet
        self.model = build(torch.nn).double().train()
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=0.001)
        r = rng(0)
        self.x = torch.tensor(r.random((100, 1, 28, 28)))
        self.t = torch.tensor(r.integers(0, 10, 100))
        self.time_step(network)

    def time_step(self, network):
        self.optimizer.zero_grad()
        loss = self.torch.nn.functional.cross_entropy(self.model(self.x), self.t)
        loss.backward()
        self.optimizer.step()
