"""fastscratch: the layer API of "Deep Learning from Scratch", made fast with Numba kernels.

Drop-in for the book's packages: ``fastscratch.layers`` for ``common.layers``,
``fastscratch.dataset.mnist`` for ``dataset.mnist`` and so on. The book's own
NumPy code lives on as ``fastscratch.reference``.
"""
import importlib.util as _ilu
import os as _os
import sys as _sys

__version__ = "0.1.0"

# The fastscratch command (only) tunes the process it owns, before anything loads
# NumPy; an ordinary import changes nothing: see fastscratch/_process_defaults.py.
from . import _process_defaults

_process_defaults.tune_if_command()

# A NumPy or Numba older than the supported range: one line with the fix, not a crash later.
from . import _requirements  # noqa: E402

_requirements.check_installed()


def _mount_kernels():
    # Installed, `kernels/` is the subpackage fastscratch.kernels (setuptools
    # package-dir). Run from a source checkout without installing (pytest from
    # the repository root), it sits beside this package: mount it under the
    # same name, so there is never a top-level `kernels` import.
    if "fastscratch.kernels" in _sys.modules or _ilu.find_spec("fastscratch.kernels") is not None:
        return
    src = _os.path.join(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))), "kernels")
    init = _os.path.join(src, "__init__.py")
    if not _os.path.exists(init):
        raise ImportError("fastscratch.kernels is missing: reinstall fastscratch")
    spec = _ilu.spec_from_file_location("fastscratch.kernels", init,
                                        submodule_search_locations=[src])
    module = _ilu.module_from_spec(spec)
    _sys.modules["fastscratch.kernels"] = module
    spec.loader.exec_module(module)
    globals()["kernels"] = module


_mount_kernels()

from . import functions, gradient, layers, optimizer, trainer, util  # noqa: E402
from .deep_convnet import DeepConvNet  # noqa: E402
from .multi_layer_net import MultiLayerNet  # noqa: E402
from .multi_layer_net_extend import MultiLayerNetExtend  # noqa: E402
from .simple_convnet import SimpleConvNet  # noqa: E402
from .trainer import Trainer  # noqa: E402
from .two_layer_net import TwoLayerNet  # noqa: E402

__all__ = ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet",
           "Trainer", "functions", "gradient", "layers", "optimizer", "trainer", "util"]
from ._threads import get_num_threads, set_num_threads  # noqa: E402
from ._process_defaults import tune_process  # noqa: E402
__all__ += ["get_num_threads", "set_num_threads", "tune_process"]


def load_ipython_extension(ipython):
    """``%load_ext fastscratch``: the book's code in this kernel runs on fastscratch (see fastscratch._notebook)."""
    from ._notebook import load_ipython_extension as load
    load(ipython)


def unload_ipython_extension(ipython):
    """``%unload_ext fastscratch``: undo ``%load_ext fastscratch``."""
    from ._notebook import unload_ipython_extension as unload
    unload(ipython)
