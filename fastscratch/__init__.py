"""fastscratch: the layer API of "Deep Learning from Scratch", made fast with Numba kernels.

Drop-in for the book's packages: ``fastscratch.layers`` for ``common.layers``,
``fastscratch.dataset.mnist`` for ``dataset.mnist`` and so on. The book's own
NumPy code lives on as ``fastscratch.reference``.
"""
__version__ = "0.1.0"

# The fastscratch command (only) tunes the process it owns, before anything loads
# NumPy; an ordinary import changes nothing: see fastscratch/_runtime/process_defaults.py.
from fastscratch._runtime import process_defaults as _process_defaults

_process_defaults.tune_if_command()

# A NumPy or Numba older than the supported range: one line with the fix, not a crash later.
from fastscratch._runtime import requirements as _requirements  # noqa: E402

_requirements.check_installed()

from fastscratch import functions, gradient, layers, optimizer, trainer, util  # noqa: E402
from fastscratch.deep_convnet import DeepConvNet  # noqa: E402
from fastscratch.multi_layer_net import MultiLayerNet  # noqa: E402
from fastscratch.multi_layer_net_extend import MultiLayerNetExtend  # noqa: E402
from fastscratch.simple_convnet import SimpleConvNet  # noqa: E402
from fastscratch.trainer import Trainer  # noqa: E402
from fastscratch.two_layer_net import TwoLayerNet  # noqa: E402

__all__ = ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet",
           "Trainer", "functions", "gradient", "layers", "optimizer", "trainer", "util"]
from fastscratch._runtime.threads import get_num_threads, set_num_threads  # noqa: E402
from fastscratch._runtime.process_defaults import tune_process  # noqa: E402
__all__ += ["get_num_threads", "set_num_threads", "tune_process"]


def load_ipython_extension(ipython):
    """``%load_ext fastscratch``: the book's code in this kernel runs on fastscratch (see fastscratch._apps.notebook)."""
    from fastscratch._apps.notebook import load_ipython_extension as load
    load(ipython)


def unload_ipython_extension(ipython):
    """``%unload_ext fastscratch``: undo ``%load_ext fastscratch``."""
    from fastscratch._apps.notebook import unload_ipython_extension as unload
    unload(ipython)
