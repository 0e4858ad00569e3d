"""The one timing helper and the one table of shapes, loaded from this checkout's files.

``fastscratch bench`` and this suite share ``fastscratch/_runtime/timing.py`` and
``fastscratch/_apps/bench_shapes.py``. asv runs the suite of the working tree
against every commit it measures, including commits older than those two
modules, so the suite reads them from the checkout it lives in (both import
nothing but the standard library) rather than from the fastscratch installed in
asv's environment: the method and the shapes then stay those of the suite for
every commit of the history.
"""
import importlib
import importlib.util
import os

_PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fastscratch")


def _load(path):
    name = path.replace("/", "_")
    spec = importlib.util.spec_from_file_location(f"benchmarks._fastscratch{name}",
                                                  os.path.join(_PACKAGE, *f"{path}.py".split("/")))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


timing = _load("_runtime/timing")
shapes = _load("_apps/bench_shapes")


def private(*names):
    """The first of ``names`` (dotted private modules of fastscratch) that the measured commit has.

    A private module's path changes when the package is re-laid; asv measures
    older commits with this suite too, so a benchmark names each path the module
    has had, newest first. Raises NotImplementedError (asv: skipped) where none exists.
    """
    for name in names:
        try:
            return importlib.import_module(name)
        except ImportError:
            continue
    raise NotImplementedError(f"this fastscratch has none of {', '.join(names)}")
