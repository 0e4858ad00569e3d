"""fastscratch: the layer API of "Deep Learning from Scratch", made fast with Numba kernels.

Drop-in for the book's packages: ``fastscratch.layers`` for ``common.layers``,
``fastscratch.dataset.mnist`` for ``dataset.mnist`` and so on. The book's own
NumPy code lives on as ``fastscratch.reference``.
"""
import importlib.util as _ilu
import os as _os
import sys as _sys

__version__ = "0.1.0"

# How idle threads wait. Kernels and BLAS take turns on the cores (every GEMM is
# a NumPy call between two kernels), so neither pool may keep spinning while the
# other works:
# - OMP_WAIT_POLICY=PASSIVE: with OpenMP's default, Numba's idle threads spin
#   after a kernel returns and steal the cores from BLAS (a SimpleConvNet step
#   took ~1.5x longer on 2 cores). Read when Numba starts its OpenMP pool (first
#   parallel kernel).
# - OPENBLAS_THREAD_TIMEOUT=4 (2**4 cycles): OpenBLAS's idle threads spin for
#   2**28 cycles (~0.1 s) after each GEMM, so one core was always taken during
#   the kernels between two GEMMs (SimpleConvNet step ~48 -> ~40 ms, DeepConvNet
#   ~357 -> ~301 ms without it). Read once, when NumPy loads: it takes effect only
#   if fastscratch is imported before NumPy (as `python -m fastscratch ...` and
#   the `fastscratch` command are) or if the environment sets it.
# A value the environment sets wins; FASTSCRATCH_THREAD_DEFAULTS=0 sets neither.
#: The environment's own values of these variables, before fastscratch's defaults (None: unset).
USER_THREAD_ENV = {name: _os.environ.get(name) for name in ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")}
if _os.environ.get("FASTSCRATCH_THREAD_DEFAULTS", "1") != "0":
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    if "numpy" not in _sys.modules:
        _os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
#: OpenBLAS's thread timeout as NumPy's OpenBLAS read it (None: its default, 2**28 cycles),
#: assuming a value in the environment was there when NumPy loaded. Shown by `fastscratch info`.
BLAS_THREAD_TIMEOUT = _os.environ.get("OPENBLAS_THREAD_TIMEOUT")


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

from . import functions, gradient, layers, optimizer, trainer, util  # noqa: E402,F401
from .deep_convnet import DeepConvNet  # noqa: E402
from .multi_layer_net import MultiLayerNet  # noqa: E402
from .multi_layer_net_extend import MultiLayerNetExtend  # noqa: E402
from .simple_convnet import SimpleConvNet  # noqa: E402
from .trainer import Trainer  # noqa: E402
from .two_layer_net import TwoLayerNet  # noqa: E402

__all__ = ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet",
           "Trainer", "functions", "gradient", "layers", "optimizer", "trainer", "util"]
from ._threads import get_num_threads, set_num_threads  # noqa: E402
__all__ += ["get_num_threads", "set_num_threads"]
