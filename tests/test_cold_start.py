"""Cold start: the compile notice (fastscratch/_runtime/compile_notice.py) and ``fastscratch warmup``'s cache merge.

Never asserts a time: what is compiled or loaded is read from Numba's
per-dispatcher cache statistics.
"""
import io
import json
import os
import sys
import time

import pytest
from numba.core import event

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _subproc import describe, run_python

from fastscratch._runtime import compile_notice as _compile_notice
from fastscratch.kernels import conv


def _fake_compile(listener, seconds):
    ev = event.Event("numba:compile", event.EventStatus.START, data=dict(dispatcher=conv.im2col))
    listener.on_start(ev)
    time.sleep(seconds)
    listener.on_end(event.Event("numba:compile", event.EventStatus.END, data=dict(dispatcher=conv.im2col)))


def test_notice_prints_once_after_the_delay():
    out = io.StringIO()
    notice = _compile_notice._Notice(out, delay=0.2)
    _fake_compile(notice, 0.05)  # short compiles say nothing
    assert out.getvalue() == ""
    _fake_compile(notice, 0.4)  # together past the delay: the line, once
    _fake_compile(notice, 0.4)
    text = out.getvalue()
    assert text.count("\n") == 1, text
    assert "conv.im2col" in text and _compile_notice.cache_dir() in text and "fastscratch warmup" in text


def test_start_is_idempotent():
    try:
        first = _compile_notice.start(io.StringIO())
        assert _compile_notice.start() is first
    finally:
        _compile_notice.stop()


def test_warmup_rejects_bad_jobs():
    from fastscratch.__main__ import main
    with pytest.raises(SystemExit) as exc:
        main(["warmup", "--jobs", "0"])
    assert exc.value.code == 2


#: Compiles one kernel in a private cache and prints where its entries are.
_COMPILE_PRIVATE = """
import json, numpy as np
from fastscratch._apps import warmup as _warmup
from fastscratch.kernels import conv
conv.im2col(np.ones((1, 1, 3, 3)), 2, 2, 1, 0, np.empty((4, 4)))
print(json.dumps(_warmup.cached_kernels()))
"""

_MERGE = """
import json, sys
from fastscratch._apps import warmup as _warmup
print(_warmup.merge_into_cache(json.loads({found!r})))
"""

_LOAD = """
import json, numpy as np
from fastscratch.kernels import conv
col = np.empty((4, 4)); conv.im2col(np.arange(9.0).reshape(1, 1, 3, 3), 2, 2, 1, 0, col)
st = conv.im2col.stats
print(json.dumps([sum(st.cache_hits.values()), sum(st.cache_misses.values()), col.tolist()]))
"""


@pytest.mark.slow
def test_merged_entries_load_in_a_later_run(tmp_path):
    private, final = tmp_path / "private", tmp_path / "final"
    proc = run_python(_COMPILE_PRIVATE, env={"NUMBA_CACHE_DIR": private})
    assert proc.returncode == 0, describe(proc, "compiling into a private cache")
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "im2col" in [k[1] for k in found]  # (with the helpers it compiled)
    proc = run_python(_MERGE.format(found=json.dumps(found)), env={"NUMBA_CACHE_DIR": final})
    assert proc.returncode == 0, describe(proc, "merging")
    assert int(proc.stdout.strip().splitlines()[-1]) == len(found)  # one signature each
    proc = run_python(_LOAD, env={"NUMBA_CACHE_DIR": final})
    assert proc.returncode == 0, describe(proc, "loading the merged entry")
    hits, misses, col = json.loads(proc.stdout.strip().splitlines()[-1])
    assert (hits, misses) == (1, 0)  # loaded, not compiled
    assert col == [[0.0, 1.0, 3.0, 4.0], [1.0, 2.0, 4.0, 5.0], [3.0, 4.0, 6.0, 7.0], [4.0, 5.0, 7.0, 8.0]]


@pytest.mark.slow  # compiles both dense numerical-gradient kernels
@pytest.mark.parametrize("hidden", [[10], [12, 8]])
def test_dense_numgrad_serial_and_parallel_give_the_same_bits(monkeypatch, hidden):
    import numpy as np

    from fastscratch.kernels import _jit
    from fastscratch.multi_layer_net import MultiLayerNet
    rng = np.random.default_rng(4)
    x, t = rng.random((5, 20)), rng.integers(0, 4, 5)
    grads = []
    for limit in (0, 1 << 40):  # every size parallel, then every size serial
        monkeypatch.setattr(_jit, "PARALLEL_MIN", limit)
        np.random.seed(0)
        grads.append(MultiLayerNet(20, hidden, 4, weight_decay_lambda=0.1).numerical_gradient(x, t))
    assert grads[0].keys() == grads[1].keys()
    for key in grads[0]:
        assert grads[0][key].tobytes() == grads[1][key].tobytes(), key
