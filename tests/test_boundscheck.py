"""NUMBA_BOUNDSCHECK=1 really turns an out-of-bounds access into an IndexError.

CI reruns the kernel equivalence tests with NUMBA_BOUNDSCHECK=1 (and a cache
directory of its own: the on-disk cache's key does not include the flag, so a
kernel compiled without checks would be loaded back). This test proves that the
flag works at all, so that a green boundscheck run means something.
"""
import os

import pytest

from _subproc import describe, run_python

pytestmark = pytest.mark.slow  # child processes compile kernels with bounds checking

PROBE = """
import numba, numpy as np
@numba.njit
def read_past_end(a, i):
    return a[i]
try:
    read_past_end(np.zeros(3), 10)
except IndexError as e:
    print("IndexError", e)
else:
    print("no error")
"""


def test_boundscheck_flag_raises_index_error(tmp_path):
    proc = run_python(PROBE, env={"NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": tmp_path})
    assert proc.returncode == 0, describe(proc, "the out-of-bounds probe with NUMBA_BOUNDSCHECK=1")
    assert proc.stdout.startswith("IndexError"), proc.stdout


def test_boundscheck_flag_applies_to_project_kernels(tmp_path):
    # A project kernel called with a too-small `out` (what the wrappers' checks
    # prevent) must raise instead of writing past the end.
    code = """
import numpy as np
from fastscratch.kernels import conv
x = np.ones((1, 1, 4, 4))
col = np.empty((3, 4))   # needs (9, 4) for a 2x2 window, stride 1
try:
    conv.im2col(x, 2, 2, 1, 0, col)
except Exception as e:
    # inside a prange the IndexError surfaces as a SystemError whose cause is the IndexError
    cause = e if isinstance(e, IndexError) else e.__cause__ or e.__context__
    print(type(cause).__name__, cause)
else:
    print("no error")
"""
    proc = run_python(code, env={"NUMBA_BOUNDSCHECK": "1", "NUMBA_CACHE_DIR": tmp_path})
    assert proc.returncode == 0, describe(proc, "conv.im2col with a short col and NUMBA_BOUNDSCHECK=1")
    assert proc.stdout.startswith("IndexError"), proc.stdout + proc.stderr
    assert os.listdir(tmp_path), "the kernel was not cached in the boundscheck cache directory"
