"""Where the kernels' on-disk cache goes when the install location is read-only.

Numba's order (numba.core.caching.CacheImpl._locator_classes): NUMBA_CACHE_DIR
if set; else ``__pycache__`` next to the source if writable; else the user's
cache directory (``$XDG_CACHE_HOME/numba`` or ``~/.cache/numba``). When none is
writable Numba refuses to decorate a cache=True function, so fastscratch/kernels/_jit.py
then points it at a private per-user directory under the temporary directory.

The tests run as root, where chmod does not stop writes, so a read-only
install is simulated by making ``fastscratch/kernels/__pycache__`` a regular file (the
directory cannot be created, whoever you are), and an unwritable user cache by
pointing XDG_CACHE_HOME below a regular file.
"""
import json
import os
import shutil

import pytest

from _subproc import ROOT, describe, run_python

pytestmark = pytest.mark.slow  # child processes with their own installs and caches

#: A kernel module added to the copied install: decorated like every kernel, cheap to compile.
PROBE_MODULE = """
from ._jit import kernel


@kernel
def add_one(x):
    return x + 1
"""

CODE = """
import json, sys
# An editable install of the checkout (as CI makes) maps fastscratch.kernels to
# the checkout's fastscratch/kernels/; this test must import the read-only copy instead.
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in getattr(f, "__module__", "")]
from fastscratch.kernels import _probe
assert _probe.add_one(1.5) == 2.5
st = _probe.add_one.stats
print(json.dumps(dict(locator=type(_probe.add_one._cache._impl.locator).__name__,
                      path=_probe.add_one._cache._cache_path,
                      hits=sum(st.cache_hits.values()), misses=sum(st.cache_misses.values()))))
"""


@pytest.fixture
def readonly_install(tmp_path):
    """A copy of the package whose fastscratch/kernels/ directory cannot get a __pycache__."""
    pkg = tmp_path / "site"
    pkg.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(os.path.join(ROOT, "fastscratch"), pkg / "fastscratch", ignore=ignore)
    (pkg / "fastscratch" / "kernels" / "_probe.py").write_text(PROBE_MODULE)
    (pkg / "fastscratch" / "kernels" / "__pycache__").write_text("not a directory")
    return pkg


def run_twice(pkg, env):
    env = dict(env, PYTHONPATH=pkg, NUMBA_CACHE_DIR=env.get("NUMBA_CACHE_DIR"))
    runs = []
    for _ in range(2):
        proc = run_python(CODE, env=env, cwd=str(pkg))
        assert proc.returncode == 0, describe(proc, "a kernel from a read-only install")
        runs.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    assert (runs[0]["misses"], runs[0]["hits"]) == (1, 0), runs  # compiled and saved
    assert (runs[1]["misses"], runs[1]["hits"]) == (0, 1), runs  # loaded back in a new process
    return runs[1]


def test_readonly_install_caches_in_user_cache_dir(readonly_install, tmp_path):
    xdg = tmp_path / "xdg"
    run = run_twice(readonly_install, {"XDG_CACHE_HOME": xdg, "TMPDIR": tmp_path})
    assert run["locator"] == "UserWideCacheLocator"  # Numba's own fallback
    assert run["path"].startswith(str(xdg / "numba"))


def test_nothing_writable_falls_back_to_private_temp_dir(readonly_install, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    run = run_twice(readonly_install, {"XDG_CACHE_HOME": blocker / "sub", "TMPDIR": tmp})
    assert run["locator"] == "UserProvidedCacheLocator"  # fastscratch/kernels/_jit.py's fallback
    assert run["path"].startswith(str(tmp))
    cache_root = os.path.join(str(tmp), os.path.relpath(run["path"], str(tmp)).split(os.sep)[0])
    assert oct(os.stat(cache_root).st_mode & 0o777) == oct(0o700)


def test_explicit_numba_cache_dir_wins(readonly_install, tmp_path):
    mine = tmp_path / "mine"
    run = run_twice(readonly_install, {"NUMBA_CACHE_DIR": mine, "XDG_CACHE_HOME": tmp_path / "xdg"})
    assert run["locator"] == "UserProvidedCacheLocator"
    assert run["path"].startswith(str(mine))
