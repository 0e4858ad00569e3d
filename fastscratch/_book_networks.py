"""The book's own network files, recognised beside a script, and the fast classes put in their place.

The book's chapters 4, 5, 7 and 8 bring their network in a file beside the
scripts (``two_layer_net.py``, ``simple_convnet.py``, ``deep_convnet.py``), and
a file beside the script wins over every package, so under ``fastscratch run``
those classes would build from fast layers but keep the book's element-loop
numerical gradient and compute the first layer's dx. When such a file is the
book's (recognised by ``fingerprint``), ``fastscratch run`` answers its class
with fastscratch's, which follows the book's class step by step: same params
dict, same random draws in the same order, same printed numbers.

Recognition is by the file's code, not its text: comments, blank lines, the
``# coding`` line, docstrings and other bare string statements differ between
editions and translations and do not change what the file does, so they are
left out of the fingerprint. Any other change (an edited formula, an extra
layer, a different default) gives another fingerprint, and the file runs as
written. A recognised class is then probed against its substitute on a small
instance (``probe``): both built from the same seed must give bitwise equal
params and draw the same random numbers, else nothing is substituted. The
probe restores NumPy's global random state, so the script's own draws are
unchanged.
"""
import ast
import dataclasses
import hashlib
import importlib
import importlib.util

import numpy as np

#: Module names the book's scripts import their networks under.
MODULE_NAMES = ("two_layer_net", "simple_convnet", "deep_convnet")


@dataclasses.dataclass(frozen=True)
class BookNetwork:
    """One of the book's network files and what replaces its class.

    Attributes
    ----------
    file : str
        The file's place in the book's repository, e.g. ``"ch05/two_layer_net.py"``.
    class_name : str
        The class the file defines and the scripts import.
    fast : str
        ``"module:Class"`` of fastscratch's counterpart, imported on first use.
    probe_kwargs : dict
        Constructor arguments for the small instance the probe builds.
    probe_input : tuple of int
        Shape of the probe's input batch (its first axis is the batch).
    """

    file: str
    class_name: str
    fast: str
    probe_kwargs: dict
    probe_input: tuple


_TWO_LAYER = {"input_size": 6, "hidden_size": 5, "output_size": 3}

# Fingerprints of the book's files (oreilly-japan/deep-learning-from-scratch,
# the copies in ../shared/book-networks); tests/test_book_networks.py checks
# each against that copy.
KNOWN = {
    "8fc245b734893f0793f48faf31ad27ad": BookNetwork(
        "ch04/two_layer_net.py", "TwoLayerNet", "fastscratch.ch04_two_layer_net:TwoLayerNet",
        _TWO_LAYER, (4, 6)),
    "f63665fd5de75d7055b1b9391fb548c6": BookNetwork(
        "ch05/two_layer_net.py", "TwoLayerNet", "fastscratch.two_layer_net:TwoLayerNet",
        _TWO_LAYER, (4, 6)),
    "babb97f39d3f86de503be718854f3bc7": BookNetwork(
        "ch07/simple_convnet.py", "SimpleConvNet", "fastscratch.simple_convnet:SimpleConvNet",
        {"input_dim": (1, 8, 8), "conv_param": {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1},
         "hidden_size": 4, "output_size": 3},
        (2, 1, 8, 8)),
    "56846ce062fcac25ef1294fcd5c6ce4c": BookNetwork(
        "ch08/deep_convnet.py", "DeepConvNet", "fastscratch.deep_convnet:DeepConvNet",
        {"output_size": 3}, (2, 1, 28, 28)),
}


def _strip_strings(tree):
    """Drop bare string statements (docstrings and the like: they do nothing) from every body."""
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if isinstance(body, list):
                body[:] = [s for s in body if not (isinstance(s, ast.Expr)
                                                   and isinstance(s.value, ast.Constant)
                                                   and isinstance(s.value.value, str))]
    return tree


def _canonical(node):
    # ast.dump's text changes between Python versions (new optional fields such as
    # type_params); fields that are None or empty are left out so the text does not.
    if isinstance(node, ast.AST):
        fields = []
        for name in node._fields:
            value = getattr(node, name, None)
            if value is None or value == [] or name == "kind":   # kind: the u'' prefix, no meaning
                continue
            fields.append(f"{name}={_canonical(value)}")
        return f"{type(node).__name__}({','.join(fields)})"
    if isinstance(node, list):
        return "[" + ",".join(_canonical(v) for v in node) + "]"
    return repr(node)


def fingerprint(source):
    """A short hash of what source does: its syntax tree without comments, layout or string statements.

    Parameters
    ----------
    source : str or bytes
        Python source (bytes honour a ``# coding`` line).

    Returns
    -------
    str or None
        32 hex digits, or None when source is not valid Python.
    """
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    text = _canonical(_strip_strings(tree))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def recognise(source):
    """The BookNetwork whose file source is, or None."""
    return KNOWN.get(fingerprint(source))


def fast_class(book):
    """fastscratch's class for book, or None when its module is not part of this fastscratch."""
    module_name, class_name = book.fast.split(":")
    if importlib.util.find_spec(module_name) is None:
        return None
    return getattr(importlib.import_module(module_name), class_name)


def _same(a, b):
    if isinstance(a, dict):
        return (isinstance(b, dict) and list(a) == list(b)
                and all(_same(a[k], b[k]) for k in a))
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)


def probe(book, book_cls, fast_cls, compute=True):
    """Whether fast_cls behaves as book_cls on a small seeded instance; a reason string when not.

    Both are built from the same seed and must give bitwise equal params (same
    keys, order, dtypes) and leave NumPy's generator in the same state (the
    same draws); with compute, also equal predict output, loss and gradient.
    NumPy's global random state is restored afterwards.

    ``fastscratch run`` probes without compute: construction needs no kernel,
    so a script that never computes (chapter 7's filter plots) does not pay
    Numba's set-up for the probe; that the computations agree for each book
    file is what tests/test_book_networks.py and tests/test_runner.py check.

    Returns
    -------
    str or None
        None when they agree, else what differed.
    """
    rng = np.random.RandomState(12345)   # the probe's data: not from the global state
    x = rng.rand(*book.probe_input)
    n_out = book.probe_kwargs.get("output_size", 10)
    t = np.eye(n_out)[rng.randint(0, n_out, size=book.probe_input[0])]
    state = np.random.get_state()
    try:
        results = []
        for cls in (book_cls, fast_cls):
            np.random.seed(0)
            net = cls(**book.probe_kwargs)
            _, key, pos, has_gauss, gauss = np.random.get_state()
            result = {"params": {k: v.copy() for k, v in net.params.items()},
                      "random state": {"key": key, "pos": pos, "gauss": (has_gauss, gauss)}}
            if compute:
                result["predict"] = net.predict(x)
                np.random.seed(1)
                result["loss"] = net.loss(x, t)
                np.random.seed(2)
                result["gradient"] = net.gradient(x, t)
            results.append(result)
    except Exception as exc:  # whatever fails, the file then runs as written
        return f"the probe raised {type(exc).__name__}: {exc}"
    finally:
        np.random.set_state(state)
    for what in results[0]:
        if not _same(results[0][what], results[1][what]):
            return f"{what} differs from the book's class"
    return None
