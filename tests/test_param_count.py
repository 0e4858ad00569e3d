"""No function in fastscratch/ or fastscratch/kernels/ takes more than 12 parameters (the developers' guide).

Counted as written: positional-only, positional, keyword-only, *args and **kwargs
(self included), for every def and lambda, methods and nested functions too.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TREES = ("fastscratch",)
MAX_PARAMS = 12


def parameter_count(node):
    a = node.args
    return (len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)
            + (a.vararg is not None) + (a.kwarg is not None))


def functions_over_limit(source, filename):
    tree = ast.parse(source, filename=filename)
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            count = parameter_count(node)
            if count > MAX_PARAMS:
                yield f"{filename}:{node.lineno} {getattr(node, 'name', '<lambda>')} takes {count}"



def test_the_counter_counts_every_kind_of_parameter():
    # the check must be able to fail: 13 parameters, of every kind
    source = "def f(a, b, /, c, d, *args, e, f, g, h, i, j, k, **kw):\n    pass\n"
    assert list(functions_over_limit(source, "x.py")) == ["x.py:1 f takes 13"]
    assert list(functions_over_limit("g = lambda " + ", ".join(f"p{i}" for i in range(13)) + ": 0\n",
                                     "y.py")) == ["y.py:1 <lambda> takes 13"]
    assert list(functions_over_limit("def f(" + ", ".join(f"p{i}" for i in range(12)) + "): pass\n",
                                     "z.py")) == []


@pytest.mark.parametrize("tree", TREES)
def test_no_function_takes_more_than_12_parameters(tree):
    files = sorted((ROOT / tree).rglob("*.py"))
    assert files, f"no Python files under {tree}/"
    offenders = [line for path in files
                 for line in functions_over_limit(path.read_text(encoding="utf-8"),
                                                  str(path.relative_to(ROOT)))]
    assert offenders == [], "functions over 12 parameters:\n" + "\n".join(offenders)
