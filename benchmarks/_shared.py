"""The one timing helper and the one table of shapes, loaded from this checkout's files.

``fastscratch bench`` and this suite share ``fastscratch/_timing.py`` and
``fastscratch/_bench_shapes.py``. asv runs the suite of the working tree
against every commit it measures, including commits older than those two
modules, so the suite reads them from the checkout it lives in (both import
nothing but the standard library) rather than from the fastscratch installed in
asv's environment: the method and the shapes then stay those of the suite for
every commit of the history.
"""
import importlib.util
import os

_PACKAGE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "fastscratch")


def _load(name):
    spec = importlib.util.spec_from_file_location(f"benchmarks._fastscratch{name}",
                                                  os.path.join(_PACKAGE, f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


timing = _load("_timing")
shapes = _load("_bench_shapes")
