"""Numerical gradients: a compiled f, the book's networks, chapter 4's training.

Measures ``fastscratch/kernels/numgrad.py`` (the compiled-f loop) and ``fastscratch/kernels/netgrad.py`` (the
incremental network gradients over layer records, through ``fastscratch/_numgrad/incremental.py``
and ``fastscratch/_numgrad/closure.py``).

- ``numerical_gradient(f, x)`` with f a Numba-compiled loss of a small
  Affine-ReLU-Affine-softmax network over a flat parameter vector of 9,950
  elements: the book's loop calling f from Python vs one parallel kernel.
- ``TwoLayerNet(784, 50, 10).numerical_gradient`` on the first 3 / 100 MNIST
  training images (chapter 5's gradient check): the reference re-runs the
  network twice per parameter element (batch 100 is skipped on the reference,
  it takes minutes), the kernels
  re-evaluate only what each element changes.
- ``numerical_gradient(lambda W: net.loss(x, t), net.params[key])`` for a
  network typed in the book's style (an OrderedDict of layers, 784-50-10,
  batch 3): the reference's element loop vs the closure path.
- Chapter 4's own TwoLayerNet (sigmoid, no layers, 784-50-10, batch 10):
  ``numerical_gradient``, reference vs fast.
- Chapter 4's training loop with the numerical gradient (TwoLayerNet hidden
  50, batch 100, SGD lr 0.1), 100 iterations, on the kernels only.
"""

import functools
import time

import numba
import numpy as np

from .common import IMPLS, Benchmark, api, best_time

#: Affine(D_IN, HIDDEN) - ReLU - Affine(HIDDEN, K): 60*140 + 140 + 140*10 + 10 = 9,950 parameters
D_IN, HIDDEN, K, BATCH = 60, 140, 10, 2


def _mnist(n):
    from fastscratch.dataset.mnist import load_mnist
    (x, t), _ = load_mnist(one_hot_label=True)
    return x[:n], t[:n]


def _compiled_loss():
    """A compiled loss of a flat parameter vector, and a starting point (9,950 float64 elements)."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH, D_IN))
    labels = rng.integers(0, K, size=BATCH)

    @numba.njit(cache=False)  # a closure over the data: nothing to cache across processes
    def loss(w):
        W1 = w[:D_IN * HIDDEN].reshape(D_IN, HIDDEN)
        o = D_IN * HIDDEN
        b1 = w[o:o + HIDDEN]
        o += HIDDEN
        W2 = w[o:o + HIDDEN * K].reshape(HIDDEN, K)
        b2 = w[o + HIDDEN * K:]
        total = 0.0
        hid = np.empty(HIDDEN)
        z = np.empty(K)
        for n in range(BATCH):
            for j in range(HIDDEN):
                s = b1[j]
                for i in range(D_IN):
                    s += x[n, i] * W1[i, j]
                hid[j] = s if s > 0.0 else 0.0
            for k in range(K):
                s = b2[k]
                for j in range(HIDDEN):
                    s += hid[j] * W2[j, k]
                z[k] = s
            m = z.max()
            e = np.exp(z - m)
            total -= np.log(e[labels[n]] / e.sum() + 1e-7)
        return total / BATCH

    w = rng.normal(scale=0.1, size=D_IN * HIDDEN + HIDDEN + HIDDEN * K + K)
    return loss, w


@numba.njit(cache=False)  # compiled per f, a closure that cannot be cached either
def _call_f(f, x, n_calls):
    """n_calls evaluations of f(x), back to back, in compiled code."""
    total = 0.0
    for _ in range(n_calls):
        total += f(x)
    return total


def _best(fn, repeat):
    return best_time(fn, repeat=repeat)


class NumgradCompiledF(Benchmark):
    """numerical_gradient(f, x) for a compiled f of 9,950 elements."""

    params = [IMPLS]
    param_names = ["impl"]
    number = 1
    repeat = (1, 5, 30.0)
    timeout = 300

    def setup(self, impl):
        self.numerical_gradient = api(impl).gradient.numerical_gradient
        self.f, self.w = _compiled_loss()
        self.numerical_gradient(self.f, self.w)  # compiles f (and, for the kernels, the kernel with f)

    def time_numerical_gradient(self, impl):
        self.numerical_gradient(self.f, self.w)


class NumgradCompiledFSpeedup(Benchmark):
    """Reference loop time over kernel time for the same compiled f, in this process."""

    unit = "x"
    timeout = 300

    def setup(self):
        self.f, self.w = _compiled_loss()
        self.ref = api("reference").gradient.numerical_gradient
        self.fast = api("kernels").gradient.numerical_gradient
        self.fast(self.f, self.w)

    def track_speedup_numgrad_compiled_f(self):
        return _best(lambda: self.ref(self.f, self.w), 1) / _best(lambda: self.fast(self.f, self.w), 5)

    def track_speedup_bound_numgrad_compiled_f(self):
        """The most any implementation could gain: the reference's time over 2n calls of f split over the threads.

        A central difference needs f(x + h e_i) and f(x - h e_i) for every element
        i, and a black-box f reads all of x on each call, so 2n calls of f, run
        back to back in compiled code and shared perfectly among the threads, are
        the floor. The kernel's speedup above sits against this ceiling.
        """
        n_calls = 2 * self.w.size
        _call_f(self.f, self.w, 1)
        floor = _best(lambda: _call_f(self.f, self.w, n_calls), 3) / numba.get_num_threads()
        return _best(lambda: self.ref(self.f, self.w), 1) / floor


def _two_layer_net(impl, batch):
    np.random.seed(0)
    net = api(impl).TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
    x, t = _mnist(batch)
    return net, x, t


def step_gradient(net, x, t):
    """``net.numerical_gradient(x, t)`` after moving one parameter element by 1e-9, as a training step would.

    The closure path keeps its last analysis (and its results) while the network
    and data are unchanged: a benchmark that called it again and again on the same
    values would time that cache, not a step.
    """
    last = list(net.params.values())[-1]
    last.flat[0] += 1e-9
    return net.numerical_gradient(x, t)


class _NetworkNumgrad(Benchmark):
    """``self.net.numerical_gradient(self.x, self.t)`` per implementation, for a net that ``build(*params)`` returns.

    The subclass names the timed method (``time_... = _NetworkNumgrad.run``)
    and gives ``build`` returning (net, x, t); the last parameter is the impl.
    The leading underscore keeps asv from collecting this class itself.
    """

    params = [IMPLS]
    param_names = ["impl"]
    number = 1
    repeat = (1, 10, 20.0)
    timeout = 300

    def setup(self, *params):
        self.net, self.x, self.t = self.build(*params)
        if params[-1] == "kernels":
            self.run()  # not timing the JIT compilation

    def run(self, *params):
        step_gradient(self.net, self.x, self.t)


def _net_speedup(nets, fast_repeat):
    """Reference over kernels time of ``net.numerical_gradient(x, t)``, nets being impl -> (net, x, t)."""
    ref, fast = nets["reference"], nets["kernels"]
    return (best_time(lambda: step_gradient(*ref), repeat=1)
            / best_time(lambda: step_gradient(*fast), repeat=fast_repeat))


def _network_net(batch, impl):
    if impl == "reference" and batch != "3":
        raise NotImplementedError("the reference takes minutes at batch 100")
    return _two_layer_net(impl, int(batch))


class NumgradNetwork(_NetworkNumgrad):
    """TwoLayerNet(784, 50, 10).numerical_gradient on the first `batch` MNIST images."""

    params = [["3", "100"], IMPLS]
    param_names = ["batch", "impl"]
    build = staticmethod(_network_net)
    time_network_numerical_gradient = _NetworkNumgrad.run


class NumgradNetworkSpeedup(Benchmark):
    """Reference over kernels for chapter 5's gradient check set-up (batch 3), in this process."""

    unit = "x"
    timeout = 300

    def setup(self):
        self.nets = {impl: _two_layer_net(impl, 3) for impl in IMPLS}
        net, x, t = self.nets["kernels"]
        net.numerical_gradient(x, t)

    def track_speedup_numgrad_network(self):
        return _net_speedup(self.nets, 20)


class BookStyleTwoLayerNet:
    """Affine - Relu - Affine - SoftmaxWithLoss as a reader types it from the book, on impl's layers."""

    def __init__(self, impl, input_size, hidden_size, output_size):
        from collections import OrderedDict
        mod = api(impl)
        self.numerical_gradient_fn = mod.gradient.numerical_gradient
        self.params = {'W1': 0.01 * np.random.randn(input_size, hidden_size), 'b1': np.zeros(hidden_size),
                       'W2': 0.01 * np.random.randn(hidden_size, output_size), 'b2': np.zeros(output_size)}
        self.layers = OrderedDict()
        self.layers['Affine1'] = mod.layers.Affine(self.params['W1'], self.params['b1'])
        self.layers['Relu1'] = mod.layers.Relu()
        self.layers['Affine2'] = mod.layers.Affine(self.params['W2'], self.params['b2'])
        self.lastLayer = mod.layers.SoftmaxWithLoss()

    def loss(self, x, t):
        for layer in self.layers.values():
            x = layer.forward(x)
        return self.lastLayer.forward(x, t)

    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)  # noqa: E731  (the book's closure)
        return {key: self.numerical_gradient_fn(loss_W, self.params[key]) for key in ('W1', 'b1', 'W2', 'b2')}


def _book_style_net(impl, batch=3):
    np.random.seed(0)
    x, t = _mnist(batch)
    return BookStyleTwoLayerNet(impl, 784, 50, 10), x, t


def _chapter4_net(impl, batch=10):
    if impl == "reference":
        from fastscratch.reference.ch04_two_layer_net import TwoLayerNet
    else:
        from fastscratch.ch04_two_layer_net import TwoLayerNet
    np.random.seed(0)
    x, t = _mnist(batch)
    return TwoLayerNet(input_size=784, hidden_size=50, output_size=10), x, t


class NumgradClosure(_NetworkNumgrad):
    """numerical_gradient(lambda W: net.loss(x, t), W) over the four parameters of a book-style 784-50-10 net, batch 3."""

    build = staticmethod(_book_style_net)
    time_closure_numerical_gradient = _NetworkNumgrad.run


class NumgradChapter4Network(_NetworkNumgrad):
    """Chapter 4's TwoLayerNet(784, 50, 10).numerical_gradient on the first 10 MNIST images."""

    build = staticmethod(_chapter4_net)
    time_chapter4_numerical_gradient = _NetworkNumgrad.run


class NumgradClosureSpeedup(Benchmark):
    """Reference over kernels, in this process: the book-style closure (batch 3) and chapter 4's net (batch 10)."""

    unit = "x"
    timeout = 300

    def setup(self):
        self.closure = {impl: _book_style_net(impl) for impl in IMPLS}
        self.ch04 = {impl: _chapter4_net(impl) for impl in IMPLS}
        for nets in (self.closure, self.ch04):
            net, x, t = nets["kernels"]
            net.numerical_gradient(x, t)

    def track_speedup_numgrad_closure(self):
        return _net_speedup(self.closure, 10)

    def track_speedup_numgrad_chapter4(self):
        return _net_speedup(self.ch04, 10)


class NumgradChapter4Training(Benchmark):
    """Chapter 4's train_neuralnet.py with network.numerical_gradient: 100 iterations, batch 100, lr 0.1.

    Kernels only: the reference would take hours (about a minute per iteration).
    """

    number = 1
    repeat = (1, 3, 60.0)
    timeout = 300

    def setup(self):
        import fastscratch
        from fastscratch.dataset.mnist import load_mnist
        (self.x_train, self.t_train), _ = load_mnist(normalize=True, one_hot_label=True)
        np.random.seed(0)
        self.net = fastscratch.TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
        self.net.numerical_gradient(self.x_train[:100], self.t_train[:100])  # compile

    def time_train_100_iterations(self):
        train(self.net, self.x_train, self.t_train, iters_num=100)


def train(network, x_train, t_train, iters_num=100, batch_size=100, learning_rate=0.1):
    """The book's chapter 4 loop, with the numerical gradient; returns the loss of every iteration."""
    losses = []
    for _ in range(iters_num):
        batch_mask = np.random.choice(x_train.shape[0], batch_size)
        x_batch, t_batch = x_train[batch_mask], t_train[batch_mask]
        grad = network.numerical_gradient(x_batch, t_batch)
        for key in ('W1', 'b1', 'W2', 'b2'):
            network.params[key] -= learning_rate * grad[key]
        losses.append(network.loss(x_batch, t_batch))
    return losses


# ---------------------------------------------------------------- chapter 4's network as readers type it

def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


def _softmax(x):
    x = x - np.max(x, axis=-1, keepdims=True)
    return np.exp(x) / np.sum(np.exp(x), axis=-1, keepdims=True)


def _cross_entropy_error(y, t):
    if y.ndim == 1:
        t = t.reshape(1, t.size)
        y = y.reshape(1, y.size)
    if t.size == y.size:
        t = t.argmax(axis=1)
    batch_size = y.shape[0]
    return -np.sum(np.log(y[np.arange(batch_size), t] + 1e-7)) / batch_size


class ReaderChapter4Net:
    """Chapter 4's TwoLayerNet typed in by a reader: params, np.dot or @, sigmoid, softmax, cross_entropy_error.

    functions: "common" (impl's ``functions`` module, which ``from common.functions import *``
    gives under ``python -m fastscratch run``) or "local" (defined in the same file);
    numerical_gradient(f, x) is impl's.
    """

    def __init__(self, impl, product, functions, input_size=784, hidden_size=50, output_size=10):
        mod = api(impl)
        self.numerical_gradient_fn = mod.gradient.numerical_gradient
        lib = mod.functions if functions == "common" else None
        self.sigmoid = lib.sigmoid if lib else _sigmoid
        self.softmax = lib.softmax if lib else _softmax
        self.cross_entropy_error = lib.cross_entropy_error if lib else _cross_entropy_error
        self.matmul = np.dot if product == "dot" else (lambda a, b: a @ b)
        self.params = {'W1': 0.01 * np.random.randn(input_size, hidden_size), 'b1': np.zeros(hidden_size),
                       'W2': 0.01 * np.random.randn(hidden_size, output_size), 'b2': np.zeros(output_size)}

    def predict(self, x):
        W1, W2 = self.params['W1'], self.params['W2']
        b1, b2 = self.params['b1'], self.params['b2']
        z1 = self.sigmoid(self.matmul(x, W1) + b1)
        return self.softmax(self.matmul(z1, W2) + b2)

    def loss(self, x, t):
        return self.cross_entropy_error(self.predict(x), t)

    def numerical_gradient(self, x, t):
        loss_W = lambda W: self.loss(x, t)  # noqa: E731  (the book's closure)
        return {key: self.numerical_gradient_fn(loss_W, self.params[key]) for key in ('W1', 'b1', 'W2', 'b2')}


def _reader_net(batch, product, functions, impl):
    np.random.seed(0)
    from fastscratch.dataset.mnist import load_mnist
    (x, t), _ = load_mnist(normalize=True, one_hot_label=True)
    return ReaderChapter4Net(impl, product, functions), x[:int(batch)], t[:int(batch)]


def reference_seconds(net, x, t, whole):
    """The reference's ``net.numerical_gradient(x, t)`` time: run whole, or extrapolated.

    Extrapolated: the reference's loop over every parameter but W1, scaled by
    the element count (each element costs two calls of the same f).
    """
    if whole:
        return best_time(lambda: step_gradient(net, x, t), repeat=1)
    f = lambda W: net.loss(x, t)  # noqa: E731
    keys = [key for key in net.params if key != 'W1']
    seconds = best_time(lambda: [net.numerical_gradient_fn(f, net.params[key]) for key in keys], repeat=1)
    return seconds * sum(p.size for p in net.params.values()) / sum(net.params[key].size for key in keys)


_READER_PARAMS = [["10", "100"], ["dot", "at"], ["common", "local"]]


class NumgradReaderChapter4(_NetworkNumgrad):
    """A reader's chapter 4 TwoLayerNet(784, 50, 10): numerical_gradient on the first `batch` MNIST images.

    The reference at batch 100 takes a minute or more: its speedup row extrapolates it.
    """

    params = _READER_PARAMS + [IMPLS]
    param_names = ["batch", "product", "functions", "impl"]
    timeout = 600

    @staticmethod
    def build(batch, product, functions, impl):
        if impl == "reference" and batch != "10":
            raise NotImplementedError("the reference takes minutes at batch 100")
        return _reader_net(batch, product, functions, impl)

    time_reader_chapter4_numerical_gradient = _NetworkNumgrad.run


class NumgradReaderChapter4Speedup(Benchmark):
    """Reference over kernels for a reader's chapter 4 network, in this process (batch 100: reference extrapolated)."""

    params = _READER_PARAMS
    param_names = ["batch", "product", "functions"]
    unit = "x"
    timeout = 600

    def setup(self, batch, product, functions):
        self.nets = {impl: _reader_net(batch, product, functions, impl) for impl in IMPLS}
        net, x, t = self.nets["kernels"]
        net.numerical_gradient(x, t)  # compiles

    def seconds(self, batch):
        """(reference, kernels) seconds of one numerical_gradient(x, t)."""
        ref, (net, x, t) = self.nets["reference"], self.nets["kernels"]
        return reference_seconds(*ref, whole=batch == "10"), best_time(lambda: step_gradient(net, x, t), repeat=5)

    def track_speedup_reader_chapter4(self, batch, product, functions):
        ref_s, fast_s = self.seconds(batch)
        return ref_s / fast_s


#: Steps of chapter 4's train_neuralnet.py the figure is for.
STEPS = 10_000


class NumgradReaderChapter4Training(Benchmark):
    """10,000 steps of chapter 4's training by numerical gradient (batch 100, lr 0.1), a reader's network, in minutes.

    Time per step (over 10 steps of ``train``) times 10,000; the reference's per
    step is its numerical gradient at batch 100, extrapolated (reference_seconds).
    """

    unit = "minutes"
    timeout = 600

    def setup(self):
        from fastscratch.dataset.mnist import load_mnist
        (self.x_train, self.t_train), _ = load_mnist(normalize=True, one_hot_label=True)
        np.random.seed(0)
        self.net = ReaderChapter4Net("kernels", "dot", "local")
        train(self.net, self.x_train, self.t_train, iters_num=1)  # compiles

    def track_minutes_10000_steps(self):
        return best_time(lambda: train(self.net, self.x_train, self.t_train, iters_num=10), repeat=1) * STEPS / 10 / 60

    def track_reference_minutes_10000_steps(self):
        net, x, t = _reader_net("100", "dot", "local", "reference")
        return reference_seconds(net, x, t, whole=False) * STEPS / 60


def reader_figures():
    """Chapter 4's reader network: speedups at batch 10 and 100, and the 10,000-step figure (printed)."""
    for batch in ("10", "100"):
        for product in ("dot", "at"):
            for functions in ("common", "local"):
                bench = NumgradReaderChapter4Speedup()
                bench.setup(batch, product, functions)
                ref_s, fast_s = bench.seconds(batch)
                print(f"reader chapter 4, batch {batch}, {product}, {functions} functions: reference {ref_s:.2f} s"
                      f"{' (extrapolated)' if batch != '10' else ''}, fastscratch {fast_s * 1e3:.1f} ms, "
                      f"{ref_s / fast_s:.0f}x", flush=True)
    for batch in (10, 100):  # fastscratch's own chapter 4 class, for comparison
        built = _chapter4_net("kernels", batch)
        step_gradient(*built)
        print(f"fastscratch.ch04_two_layer_net.TwoLayerNet, batch {batch}: "
              f"{best_time(functools.partial(step_gradient, *built), repeat=5) * 1e3:.1f} ms", flush=True)
    training = NumgradReaderChapter4Training()
    training.setup()
    start = time.perf_counter()
    losses = train(training.net, training.x_train, training.t_train, iters_num=100)
    per_step = (time.perf_counter() - start) / 100
    print(f"chapter 4 training by numerical gradient, reader's network: {per_step * 1e3:.0f} ms per step, "
          f"{STEPS:,} steps {per_step * STEPS / 60:.1f} min (loss {losses[0]:.3f} -> {losses[-1]:.3f}); "
          f"reference {training.track_reference_minutes_10000_steps() / 60 / 24:.1f} days (extrapolated)")


if __name__ == "__main__":
    # python -m benchmarks.bench_numgrad: the chapter 4 figure in one go
    # (python -m benchmarks.bench_numgrad reader: a reader's chapter 4 network, reader_figures)
    import sys

    if sys.argv[1:] == ["reader"]:
        reader_figures()
        sys.exit()

    import fastscratch
    from fastscratch.dataset.mnist import load_mnist
    (x_train, t_train), _ = load_mnist(normalize=True, one_hot_label=True)
    np.random.seed(0)
    net = fastscratch.TwoLayerNet(input_size=784, hidden_size=50, output_size=10)
    net.numerical_gradient(x_train[:100], t_train[:100])
    start = time.perf_counter()
    losses = train(net, x_train, t_train)
    print(f"chapter 4, 100 iterations by numerical gradient: {time.perf_counter() - start:.2f} s; "
          f"loss {losses[0]:.3f} -> {losses[-1]:.3f}")
