"""Bad-input battery over the whole fast API, each case under a crash guard.

The cases live in tests/_bad_input_cases.py (one table: call, exception type,
message regex naming the argument; plus positive cases compared with the
reference: floored output sizes, int/bool inputs, NaN/Inf). They run in child
processes, a batch per child: a case that crashes the child (a kernel reading
or writing out of bounds; Numba does no bounds checking) fails with its name,
and the rest of the batch goes on in a fresh child.
"""
import json
import re
import sys

import pytest

import _bad_input_cases as cases
from _subproc import describe, run_python

pytestmark = pytest.mark.slow  # a battery of child processes (a bad input may crash one)


def run_batch(kind, ids):
    """{case id: result dict} for the cases run in children; a crashed case gets {'crashed': message}."""
    results, todo = {}, list(ids)
    while todo:
        code = ("import sys; sys.path.insert(0, 'tests'); import _bad_input_cases as c; "
                f"c.main({kind!r}, {todo!r})")
        proc = run_python(code, timeout=900)
        started = None
        for line in proc.stdout.splitlines():
            if line.startswith("START "):
                started = line[6:]
            elif line.startswith("RESULT "):
                res = json.loads(line[7:])
                results[res.pop("id")] = res
                started = None
        if proc.returncode == 0:
            break
        if started is None:  # died outside any case (import error, ...): report on every case left
            for case_id in todo:
                results.setdefault(case_id, {"crashed": describe(proc, "the case runner")})
            break
        results[started] = {"crashed": describe(proc, f"case {started}")}
        todo = todo[todo.index(started) + 1:]
    return results


@pytest.fixture(scope="module")
def error_results():
    return run_batch("error", [c[0] for c in cases.ERROR_CASES])


@pytest.fixture(scope="module")
def positive_results():
    return run_batch("positive", [c[0] for c in cases.POSITIVE_CASES])


@pytest.mark.parametrize("case_id", [c[0] for c in cases.ERROR_CASES])
def test_bad_input_raises_naming_the_argument(error_results, case_id):
    _, _, exc, pattern = cases.ERROR_BY_ID[case_id]
    res = error_results[case_id]
    assert "crashed" not in res, res["crashed"]
    raised = res["raised"]
    assert raised is not None, f"{case_id}: no exception (expected {exc.__name__} matching {pattern!r})"
    assert raised["type"] == exc.__name__, f"{case_id}: raised {raised['type']}: {raised['msg']}"
    assert re.search(pattern, raised["msg"]), f"{case_id}: message {raised['msg']!r} does not match {pattern!r}"


@pytest.mark.parametrize("case_id", [c[0] for c in cases.POSITIVE_CASES])
def test_accepted_input_agrees_with_reference(positive_results, case_id):
    res = positive_results[case_id]
    assert "crashed" not in res, res["crashed"]
    assert res["problem"] is None, f"{case_id}: {res['problem']}"


def test_random_bad_shapes_raise():
    code = "import sys; sys.path.insert(0, 'tests'); import _bad_input_cases as c; print(c.hypothesis_bad_shapes())"
    proc = run_python(code, timeout=900)
    last = [line for line in proc.stdout.splitlines() if line.startswith("START ")][-1:]
    assert proc.returncode == 0, describe(proc, f"hypothesis bad shapes (last example: {last})")
    assert proc.stdout.strip().endswith("ok")


def test_crash_guard_names_the_crashing_case(monkeypatch):
    # the guard itself: a case that kills its process is reported with its name and the batch goes on
    monkeypatch.setattr(sys.modules[__name__], "run_python", _fake_crashing_run)
    res = run_batch("error", ["a", "b", "c"])
    assert "crashed" in res["b"] and "case b" in res["b"]["crashed"] and "signal 11" in res["b"]["crashed"]
    assert res["a"] == {"raised": None} and res["c"] == {"raised": None}


class _Proc:
    def __init__(self, rc, out):
        self.returncode, self.stdout, self.stderr = rc, out, ""


def _fake_crashing_run(code, timeout=None):
    ids = eval(code[code.index("['"):code.rindex("]") + 1])  # the ids of this batch
    out = []
    for case_id in ids:
        out.append(f"START {case_id}")
        if case_id == "b":
            return _Proc(-11, "\n".join(out))
        out.append("RESULT " + json.dumps({"id": case_id, "raised": None}))
    return _Proc(0, "\n".join(out))
