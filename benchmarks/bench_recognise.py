"""The book's network files as a translated edition prints them, under ``fastscratch run``.

A translated edition's ``two_layer_net.py`` differs from the upstream file in
more than comments (another ``sys.path`` line, renamed locals, an import more
or less, translated docstrings: ``edition`` below makes one from the upstream
file in ../shared/book-networks). ``fastscratch run`` recognises it by its
normal form and its behaviour and puts fastscratch's class in its place
(``fastscratch._substitution.book_networks``); before that, such a file ran as written, its
numerical gradient at the reference's speed.

- chapter 4's and chapter 5's ``numerical_gradient`` on MNIST (batch 10 and
  3): the edition's file as written on the reference (``--reference``) over
  the class ``fastscratch run`` answers it with, and the largest difference
  between their results;
- chapter 4's training step by numerical gradient at batch 100 (gradient and
  SGD update), the same two ways; the reference's step takes tens of seconds;
- the cost of recognising: the normal-form fingerprint of a file, the check
  of its class (construction against the fast class, computation on the
  reference's code), and ``substitute_definitions`` for the cells of the chapter 5 test
  notebook that define the book's functions, layers, numerical_gradient and TwoLayerNet.

Skipped where ../shared/book-networks is absent or this fastscratch predates
the pieces timed.
"""
import contextlib
import importlib
import io
import os
import re
import sys
import tempfile

import numpy as np

from .bench_notebook import pasted_namespace
from .common import Benchmark, best_time
from ._shared import private

_SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared",
                       "book-networks")
#: Locals a translated edition renames (chapter 4's backward pass swaps da1 and dz1).
_RENAMES = {"ch04": {"da1": "dz1", "dz1": "da1", "batch_num": "n_batch"},
            "ch05": {"dout": "d_out", "layers": "layer_list"}}


def _upstream(chapter):
    path = os.path.join(_SHARED, chapter, "two_layer_net.py")
    if not os.path.exists(path):
        raise NotImplementedError(f"the book's network files are not here ({path})")
    with open(path, encoding="utf-8") as f:
        return f.read()


def edition(chapter):
    """The upstream file of chapter as a translated edition has it (see the module docstring)."""
    source = _upstream(chapter).replace("sys.path.append(os.pardir)",
                                        "sys.path.append(os.path.join(os.path.dirname(__file__), '..'))")
    renames = _RENAMES[chapter]
    # locals only: not after a dot (self.layers) and not a keyword argument
    source = re.sub(r"(?<![.\w])(" + "|".join(renames) + r")\b",
                    lambda m: renames[m.group(1)], source)
    source = re.sub(r"#[^\n]*", "# 번역된 주석", source)
    return source.replace("import numpy as np\n", "").replace("class TwoLayerNet:\n",
                                                            'class TwoLayerNet:\n    """两层神经网络"""\n')


def load(chapter, reference):
    """The edition's TwoLayerNet as ``fastscratch run`` (or ``run --reference``) hands it to a script.

    Returns the class and what the runner said on stderr.
    """
    runner = private("fastscratch._substitution.runner", "fastscratch.runner")
    saved = list(sys.meta_path), list(sys.path), set(sys.modules)
    hooks = [runner.BookImportHook(reference=reference)] + ([] if reference else [runner.BookNetworkFinder()])
    said = io.StringIO()
    with tempfile.TemporaryDirectory(prefix=f"fastscratch-edition-{chapter}-") as directory:
        with open(os.path.join(directory, "two_layer_net.py"), "w", encoding="utf-8") as f:
            f.write(edition(chapter))
        sys.meta_path[:0] = hooks
        sys.path.insert(0, directory)
        try:
            with contextlib.redirect_stderr(said):
                cls = importlib.import_module("two_layer_net").TwoLayerNet
        finally:
            sys.meta_path[:], sys.path[:] = saved[0], saved[1]
            for name in set(sys.modules) - saved[2]:
                del sys.modules[name]
    return cls, said.getvalue()


def _mnist(n):
    from fastscratch.dataset.mnist import load_mnist
    (x, t), _ = load_mnist(normalize=True, one_hot_label=True)
    return x[:n], t[:n]


def _nets(chapter, batch):
    nets = {}
    for impl, reference in (("reference", True), ("kernels", False)):
        cls, _ = load(chapter, reference)
        np.random.seed(0)
        nets[impl] = cls(input_size=784, hidden_size=50, output_size=10)
    return nets, _mnist(batch)


def _max_difference(a, b):
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


class EditionNumgradSpeedup(Benchmark):
    """Reference (the edition's file as written) over substituted, numerical_gradient, in this process."""

    unit = "x"
    timeout = 600

    def setup(self):
        self.cases = {"ch04": _nets("ch04", 10), "ch05": _nets("ch05", 3)}
        self.grads = {}
        for chapter, (nets, (x, t)) in self.cases.items():
            self.grads[chapter] = {impl: net.numerical_gradient(x, t) for impl, net in nets.items()}

    def _speedup(self, chapter):
        nets, (x, t) = self.cases[chapter]
        return (best_time(lambda: nets["reference"].numerical_gradient(x, t), repeat=1)
                / best_time(lambda: nets["kernels"].numerical_gradient(x, t), repeat=10))

    def track_speedup_numgrad_edition_ch04(self):
        return self._speedup("ch04")

    def track_speedup_numgrad_edition_ch05(self):
        return self._speedup("ch05")

    def track_max_difference_edition_ch04(self):
        return _max_difference(self.grads["ch04"]["reference"], self.grads["ch04"]["kernels"])

    def track_max_difference_edition_ch05(self):
        return _max_difference(self.grads["ch05"]["reference"], self.grads["ch05"]["kernels"])

    track_max_difference_edition_ch04.unit = track_max_difference_edition_ch05.unit = "max |difference|"


def training_step(network, x_batch, t_batch, learning_rate=0.1):
    """One step of chapter 4's train_neuralnet.py with the numerical gradient."""
    grad = network.numerical_gradient(x_batch, t_batch)
    for key in ('W1', 'b1', 'W2', 'b2'):
        network.params[key] -= learning_rate * grad[key]


class EditionChapter4TrainingStep(Benchmark):
    """Reference over substituted: one training step by numerical gradient at batch 100 (chapter 4's edition)."""

    unit = "x"
    timeout = 900

    def setup(self):
        self.nets, (self.x, self.t) = _nets("ch04", 100)
        training_step(self.nets["kernels"], self.x, self.t)   # not timing the compilation

    def track_speedup_training_step_edition_ch04(self):
        return (best_time(lambda: training_step(self.nets["reference"], self.x, self.t), repeat=1)
                / best_time(lambda: training_step(self.nets["kernels"], self.x, self.t), repeat=5))


class RecognitionCost(Benchmark):
    """What recognising costs: the fingerprint, the check of a file's class, a notebook cell's probe."""

    def setup(self):
        try:
            _book_networks = private("fastscratch._substitution.book_networks", "fastscratch._book_networks")
            _recognise = private("fastscratch._substitution.recognise", "fastscratch._recognise")
        except ImportError:
            raise NotImplementedError("this fastscratch does not recognise cells") from None
        self.source = edition("ch05")
        self.book = _book_networks.recognise(self.source)
        if self.book is None:
            raise NotImplementedError("this fastscratch does not recognise translated editions")
        self.cls, _ = load("ch05", reference=True)
        self.fast = _book_networks.fast_class(self.book)
        self.cell = {k: v for k, v in pasted_namespace(substitute=False).items() if k != "__builtins__"}

    def time_fingerprint(self):
        _book_networks = private("fastscratch._substitution.book_networks", "fastscratch._book_networks")
        _book_networks.fingerprint(self.source)

    def time_check_file_class(self):
        _book_networks = private("fastscratch._substitution.book_networks", "fastscratch._book_networks")
        _book_networks.check(self.book, self.cls, self.fast)

    def time_substitute_cell_definitions(self):
        _recognise = private("fastscratch._substitution.recognise", "fastscratch._recognise")
        namespace = dict(self.cell)
        _recognise.substitute_definitions(namespace, list(namespace), notice=lambda line: None)


if __name__ == "__main__":
    # python -m benchmarks.bench_recognise: the figures in one go
    import time
    for chapter in ("ch04", "ch05"):
        print(load(chapter, False)[1].strip())
    speed = EditionNumgradSpeedup()
    speed.setup()
    for chapter in ("ch04", "ch05"):
        print(f"{chapter} edition numerical_gradient: {speed._speedup(chapter):.0f}x the file as written "
              f"(max difference {_max_difference(*speed.grads[chapter].values()):.1e})")
    step = EditionChapter4TrainingStep()
    step.setup()
    t0 = time.perf_counter()
    training_step(step.nets["reference"], step.x, step.t)
    ref = time.perf_counter() - t0
    fast = best_time(lambda: training_step(step.nets["kernels"], step.x, step.t), repeat=5)
    print(f"ch04 edition training step at batch 100: {ref:.1f} s as written, {fast * 1e3:.1f} ms "
          f"substituted, {ref / fast:.0f}x")
