"""The supported NumPy/Numba range: one floor in pyproject.toml, the README, the docs and the CI pins; older is refused at import."""
import os
import re

import numba
import numpy as np
import pytest

from fastscratch._runtime import requirements as req

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLOORS = {"numpy": req.NUMPY_MIN, "numba": req.NUMBA_MIN}


def _read(*path):
    with open(os.path.join(ROOT, *path)) as f:
        return f.read()


def _dotted(version):
    return ".".join(map(str, version))


def test_pyproject_admits_exactly_the_floors():
    deps = re.search(r"^dependencies = \[(.*)\]$", _read("pyproject.toml"), re.M).group(1)
    assert sorted(re.findall(r'"([^"]+)"', deps)) == sorted(f"{name}>={_dotted(v)}" for name, v in FLOORS.items())


def test_the_ci_lane_pins_the_floors_exactly():
    pins = dict(re.findall(r"^([a-z]+)==(\S+)$", _read(".ci", "min-versions.txt"), re.M))
    assert {name: pins.get(name) for name in FLOORS} == {name: _dotted(v) for name, v in FLOORS.items()}
    run = _read(".ci", "run")
    assert "-c .ci/min-versions.txt" in run
    for test in ("test_conv.py", "test_network_dtypes.py", "test_dense.py", "test_training_equivalence.py",
                 "test_cache_reload.py"):
        assert test in run, test


@pytest.mark.parametrize("doc", ["README.md", os.path.join("docs", "supported-versions.md")])
def test_docs_state_the_floors(doc):
    text = _read(doc)
    for name, version in (("NumPy", req.NUMPY_MIN), ("Numba", req.NUMBA_MIN)):
        assert re.search(rf"{name}\W+{re.escape(_dotted(version))} or later", text), (doc, name)


@pytest.mark.parametrize("text, want", [("1.24.4", (1, 24, 4)), ("2.1.0rc1", (2, 1, 0)), ("0.61.0dev0+3.g1a2b", (0, 61, 0)),
                                        ("0.59", (0, 59)), ("1.26.4+mkl", (1, 26, 4))])
def test_version_tuple(text, want):
    assert req.version_tuple(text) == want


def test_this_environment_is_in_the_range():
    assert req.version_tuple(np.__version__) >= req.NUMPY_MIN
    assert req.version_tuple(numba.__version__) >= req.NUMBA_MIN
    req.check_installed()


@pytest.mark.parametrize("module, name, old", [(numba, "Numba", "0.58.1"), (numba, "Numba", "0.59.0"), (np, "NumPy", "1.23.5")])
def test_an_older_version_is_refused_in_one_line_with_the_fix(monkeypatch, module, name, old):
    monkeypatch.setattr(module, "__version__", old)
    floor = _dotted(FLOORS[name.lower()])
    with pytest.raises(ImportError) as err:
        req.check_installed()
    msg = str(err.value)
    assert "\n" not in msg
    assert f"{name} {old} is installed" in msg and f"pip install '{name.lower()}>={floor}'" in msg, msg


def test_the_floor_itself_is_accepted():
    req.check("Numba", _dotted(req.NUMBA_MIN), req.NUMBA_MIN)
    req.check("NumPy", _dotted(req.NUMPY_MIN), req.NUMPY_MIN)
