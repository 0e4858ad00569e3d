"""fastscratch._substitution.numpy_aliases: NumPy's removed builtin aliases answer inside the block, and only there.

The runner's use of it (both modes, the notice, the switch-off) is tested in
tests/test_runner.py; here the hook itself, in this process, against numpy's
own __getattr__ and against stand-ins for it where a NumPy version's behaviour
is needed that the installed NumPy does not have.
"""
import warnings

import numpy
import pytest

from _subproc import run_python
from fastscratch._substitution import numpy_aliases as _numpy_aliases

#: what NumPy 1.23 answered for each alias (its documentation, numpy.org/doc/1.23)
BUILTINS = {"int": int, "float": float, "complex": complex, "bool": bool,
            "object": object, "str": str, "long": int, "unicode": str}


def numpy_refusal(name):
    """numpy's own AttributeError text for name, outside any block, or None where numpy answers."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # np.object, np.str: numpy's FutureWarning on the way
        try:
            getattr(numpy, name)
        except AttributeError as exc:
            return str(exc)
    return None


def test_the_table_is_numpys_former_aliases():
    assert _numpy_aliases.REMOVED == BUILTINS


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_alias_answers_only_where_numpy_refuses(name):
    defined = vars(numpy).get(name)
    refused = numpy_refusal(name)
    told = []
    with _numpy_aliases.answering(lambda *a: told.append(a)):
        got = getattr(numpy, name)
        again = getattr(numpy, name)
    if refused is None:
        # NumPy 2's np.bool and np.long are its own types: untouched, no notice
        assert got is again is getattr(numpy, name) and told == []
        if defined is not None:
            assert got is defined
    else:
        assert got is again is BUILTINS[name]
        assert told == [(name, BUILTINS[name])]  # once, however often it is read
        assert numpy_refusal(name) == refused    # and removed again afterwards


def test_installed_numpy_refuses_np_int_and_defines_np_bool():
    # the situation the book's ch03/step_function.py meets; if NumPy changes it, the table above is moot
    assert numpy_refusal("int") is not None
    if int(numpy.__version__.split(".")[0]) >= 2:
        assert vars(numpy)["bool"] is numpy.bool_


def test_numpy_dtype_use_as_in_the_book():
    with _numpy_aliases.answering(lambda *a: None):
        arr = numpy.array(numpy.arange(-2.0, 2.0) > 0, dtype=numpy.int)
    assert arr.dtype == numpy.array([1]).dtype and arr.tolist() == [0, 0, 0, 1]


def test_other_names_get_numpys_own_answers_and_errors():
    # names NumPy 2 refuses (float_ and NINF with its own "removed in the NumPy 2.0 release")
    for name in ("no_such_thing", "float_", "NINF"):
        refused = numpy_refusal(name)
        with _numpy_aliases.answering(lambda *a: pytest.fail(f"notice for {a}")):
            if refused is None:   # an older NumPy still has it
                assert getattr(numpy, name) is vars(numpy)[name]
                continue
            with pytest.raises(AttributeError) as exc:
                getattr(numpy, name)
        assert str(exc.value) == refused
    with _numpy_aliases.answering(lambda *a: None):
        assert numpy.float64 is vars(numpy)["float64"]


def test_restores_numpys_getattr_after_an_error():
    before = vars(numpy)["__getattr__"]
    with pytest.raises(ZeroDivisionError):
        with _numpy_aliases.answering(lambda *a: None):
            assert vars(numpy)["__getattr__"] is not before
            raise ZeroDivisionError
    assert vars(numpy)["__getattr__"] is before
    assert numpy_refusal("int") is not None


def test_nested_blocks_unwind():
    before = vars(numpy)["__getattr__"]
    with _numpy_aliases.answering(lambda *a: None):
        outer = vars(numpy)["__getattr__"]
        with _numpy_aliases.answering(lambda *a: None):
            assert numpy.int is int
        assert vars(numpy)["__getattr__"] is outer and numpy.int is int
    assert vars(numpy)["__getattr__"] is before


def test_numpy_answering_an_alias_itself_is_passed_on_with_its_warning(monkeypatch):
    # NumPy 1.20-1.23: np.int is int with a DeprecationWarning; the hook must not get in the way,
    # and the warning must point at the line that read np.int, as numpy's stacklevel=2 does.
    sentinel = object()

    def numpy_1_23(name):
        if name == "int":
            warnings.warn("`np.int` is a deprecated alias", DeprecationWarning, stacklevel=2)
            return sentinel
        raise AttributeError(f"numpy's own words for {name}")

    monkeypatch.setattr(numpy, "__getattr__", numpy_1_23)
    with _numpy_aliases.answering(lambda *a: pytest.fail(f"notice for {a}")):
        with pytest.warns(DeprecationWarning, match="deprecated alias") as record:
            got = numpy.int
        with pytest.raises(AttributeError, match="^numpy's own words for lazy_thing$"):
            _ = numpy.lazy_thing
    assert got is sentinel
    assert [w.filename for w in record] == [__file__]
    assert vars(numpy)["__getattr__"] is numpy_1_23


def test_numpys_future_warning_is_dropped_when_the_alias_answers(monkeypatch):
    # NumPy 1.24+ warns that np.object will become its scalar, then refuses it; the notice replaces that.
    def numpy_1_24(name):
        warnings.warn(f"In the future `np.{name}` will be defined as the corresponding NumPy scalar.",
                      FutureWarning, stacklevel=2)
        raise AttributeError(f"module 'numpy' has no attribute {name!r}")

    monkeypatch.setattr(numpy, "__getattr__", numpy_1_24)
    told = []
    with _numpy_aliases.answering(lambda *a: told.append(a)):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            assert numpy.object is object and numpy.str is str
    assert caught == [] and told == [("object", object), ("str", str)]


def test_numpy_without_getattr(monkeypatch):
    monkeypatch.delattr(numpy, "__getattr__")
    with _numpy_aliases.answering(lambda *a: None):
        assert numpy.int is int
        with pytest.raises(AttributeError, match="^module 'numpy' has no attribute 'no_such_thing'$"):
            _ = numpy.no_such_thing
    assert "__getattr__" not in vars(numpy)


def test_importing_fastscratch_leaves_numpy_alone_in_this_process():
    import fastscratch._substitution.runner  # noqa: F401  (the module that uses the hook, imported but not run)
    assert vars(numpy)["__getattr__"].__module__ == "numpy"
    assert numpy_refusal("int") is not None


@pytest.mark.slow  # child process
def test_import_fastscratch_leaves_numpys_getattr_alone():
    res = run_python(
        "import numpy\n"
        "before = vars(numpy).get('__getattr__')\n"
        "import fastscratch, fastscratch._substitution.runner, fastscratch.reference\n"
        "assert vars(numpy).get('__getattr__') is before\n"
        "try:\n"
        "    numpy.int\n"
        "except AttributeError:\n"
        "    print('refused')\n")
    assert res.returncode == 0, res.stderr
    assert res.stdout == "refused\n"
