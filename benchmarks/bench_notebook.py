"""A reader's chapter 5 notebook without the Jupyter kernel: the pasted cells as written and as substituted.

tests/notebooks/ch05_backprop.ipynb pastes the book's functions, layers,
``numerical_gradient`` and ``TwoLayerNet`` into cells. Under ``%load_ext
fastscratch`` each definition is probed after its cell runs and, where it
behaves as the book's, rebound to fastscratch's (``fastscratch._substitution.recognise``).
Here those cells run in a plain namespace (magics dropped), once as they are
and once followed by ``substitute_definitions``, and the notebook's hot cells
are timed both ways: the numerical gradient at batch 3 (its ``%timeit`` and
gradient check) and a training step at batch 100 (its 10,000-step loop).
The whole notebook in a real kernel is timed by ``benchmarks/notebooks.py``,
which asv cannot run: its environments hold NumPy and Numba only.
"""
import json
import os

import numpy as np

from .common import Benchmark, best_time
from ._shared import private

_NOTEBOOK = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                         "tests", "notebooks", "ch05_backprop.ipynb")
#: The code cells that define things: after the set-up cell (sys.path, %matplotlib, pyplot), before MNIST.
_DEFINING_CELLS = slice(1, 4)


def _defining_source():
    if not os.path.exists(_NOTEBOOK):
        raise NotImplementedError(f"the test notebook is not here ({_NOTEBOOK})")
    with open(_NOTEBOOK, encoding="utf-8") as f:
        cells = [c for c in json.load(f)["cells"] if c["cell_type"] == "code"][_DEFINING_CELLS]
    lines = "".join("".join(c["source"]) + "\n" for c in cells).splitlines()
    return "\n".join(line for line in lines if not line.lstrip().startswith("%"))


def pasted_namespace(substitute):
    """The notebook's namespace after its defining cells, with fastscratch's substitutions or as written."""
    namespace = {"__name__": "__main__"}
    state = np.random.get_state()
    exec(compile(_defining_source(), "<ch05 cells>", "exec"), namespace)
    np.random.set_state(state)
    if substitute:
        try:
            _recognise = private("fastscratch._substitution.recognise", "fastscratch._recognise")
        except ImportError:
            raise NotImplementedError("this fastscratch does not recognise cells") from None
        done = _recognise.substitute_definitions(namespace, list(namespace), notice=lambda line: None)
        if "TwoLayerNet" not in done:
            raise NotImplementedError("the pasted TwoLayerNet was not substituted")
    return namespace


class PastedChapter5Speedup(Benchmark):
    """How much faster the pasted chapter 5 notebook's hot cells run once its definitions are substituted."""

    unit = "x"
    timeout = 300

    def setup(self):
        from fastscratch.dataset.mnist import load_mnist
        (x, t), _ = load_mnist(normalize=True, one_hot_label=True)
        self.x3, self.t3 = x[:3], t[:3]
        self.x100, self.t100 = x[:100], t[:100]
        self.nets = {}
        for substitute in (False, True):
            np.random.seed(0)
            self.nets[substitute] = pasted_namespace(substitute)["TwoLayerNet"](784, 50, 10)
        # compile the kernels outside the timed calls
        self.nets[True].numerical_gradient(self.x3, self.t3)
        self._step(True)

    def _step(self, substitute):
        net = self.nets[substitute]
        grads = net.gradient(self.x100, self.t100)
        for key in ("W1", "b1", "W2", "b2"):
            net.params[key] -= 0.1 * grads[key]

    def track_speedup_pasted_numgrad_batch3(self):
        as_written = best_time(lambda: self.nets[False].numerical_gradient(self.x3, self.t3), repeat=1)
        substituted = best_time(lambda: self.nets[True].numerical_gradient(self.x3, self.t3), repeat=5)
        return as_written / substituted

    def track_speedup_pasted_training_step(self):
        as_written = best_time(lambda: self._step(False), number=20, repeat=3)
        substituted = best_time(lambda: self._step(True), number=20, repeat=3)
        return as_written / substituted
