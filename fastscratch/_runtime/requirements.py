"""The oldest NumPy and Numba fastscratch runs on, refused below at import (docs/supported-versions.md).

``pyproject.toml``, the README, docs/supported-versions.md and the CI's
min-versions lane (``.ci/min-versions.txt``, these versions pinned exactly)
state the same floors; tests/test_supported_versions.py checks they agree.
pip keeps older versions out, but an environment made with ``--no-deps``,
conda or a preinstalled image can hold one: it gets one line naming the
version and the fix, not an obscure failure (or a crash) later.
"""
import re

#: The oldest NumPy: float32 networks stay float32 from here on (fastscratch/reference/_promotion.py).
NUMPY_MIN = (1, 24, 4)
#: The oldest Numba: kernels loaded from the on-disk cache run from here on (fastscratch/kernels/_cache_fix.py).
NUMBA_MIN = (0, 59, 1)


def version_tuple(text):
    """The leading numbers of a version string: "1.24.4" -> (1, 24, 4), "2.1.0rc1" -> (2, 1, 0), "0.61.0dev0+3.g1" -> (0, 61, 0)."""
    return tuple(int(part) for part in re.findall(r"\d+", re.match(r"[\d.]*", text).group())[:3])


def _dotted(version):
    return ".".join(map(str, version))


def check(name, installed, minimum):
    """Raise ImportError (one line, with the fix) when the ``installed`` version string of ``name`` is below ``minimum``."""
    if version_tuple(installed) < minimum:
        raise ImportError(f"fastscratch needs {name} {_dotted(minimum)} or later, but {name} {installed} is installed: "
                          f"pip install '{name.lower()}>={_dotted(minimum)}'")


def check_installed():
    """Check the NumPy, then the Numba, of this environment (NumPy first: an old NumPy fails Numba's own import)."""
    import numpy

    check("NumPy", numpy.__version__, NUMPY_MIN)
    import numba

    check("Numba", numba.__version__, NUMBA_MIN)
