"""Run the asv suite's time_ benchmarks in this interpreter, best of several runs.

    python -m benchmarks.measure [module-regex]

asv measures the same benchmarks commit by commit; this prints one table from
the current checkout (after each benchmark's setup, so compilation is not
timed), for a quick look at one module's benchmarks. The README's speed table
comes from ``benchmarks.summary``, not from here.
"""
import functools
import importlib
import itertools
import pkgutil
import re
import sys

import benchmarks
from ._shared import timing as _timing

best_time = _timing.best_time


def _cases(pattern):
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda m: m.name):
        if not info.name.startswith("bench_") or not re.search(pattern, info.name):
            continue
        mod = importlib.import_module("benchmarks." + info.name)
        for cls in vars(mod).values():
            if not isinstance(cls, type) or cls.__module__ != mod.__name__:
                continue
            methods = [m for m in dir(cls) if m.startswith("time_")]  # inherited ones too (common._LayerTimes)
            if not methods:
                continue
            params = getattr(cls, "params", [])
            if params and not isinstance(params[0], (list, tuple)):
                params = [params]
            for combo in itertools.product(*params) if params else [()]:
                yield info.name, cls, methods, combo


def main(argv=None):
    pattern = (argv or sys.argv[1:] or [""])[0]
    for name, cls, methods, combo in _cases(pattern):
        if cls.__name__.startswith("Torch"):
            # PyTorch shares Numba's OpenMP runtime and its threads in this process: PyTorch
            # figures come from asv or `fastscratch bench --torch` (a process of its own)
            print(f"{name}.{cls.__name__}{combo}: skipped (time PyTorch in its own process)")
            continue
        bench = cls()
        try:
            bench.setup(*combo)
        except NotImplementedError as exc:
            print(f"{name}.{cls.__name__}{combo}: skipped ({exc})")
            continue
        for m in methods:
            fn = getattr(bench, m)
            call = functools.partial(fn, *combo)
            once = best_time(call, repeat=1)
            number = max(1, int(0.2 / max(once, 1e-6)))
            best = best_time(call, number=number, repeat=5 if once < 2 else 2)
            print(f"{name}.{cls.__name__}.{m}{combo}: {best * 1e3:.3f} ms", flush=True)
        if hasattr(bench, "teardown"):
            bench.teardown(*combo)


if __name__ == "__main__":
    main()
