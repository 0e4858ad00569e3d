"""The book's own network files, recognised beside a script, and the fast classes put in their place.

The book's chapters 4, 5, 7 and 8 bring their network in a file beside the
scripts (``two_layer_net.py``, ``simple_convnet.py``, ``deep_convnet.py``), and
a file beside the script wins over every package, so under ``fastscratch run``
those classes would build from fast layers but keep the book's element-loop
numerical gradient and compute the first layer's dx. When such a file is the
book's (recognised by ``fingerprint``), ``fastscratch run`` answers its class
with fastscratch's, which follows the book's class step by step: same params
dict, same random draws in the same order, same printed numbers.

Recognition is by the file's code, not its text: editions and translations
differ in comments, docstrings, the ``sys.path`` line, an ``import numpy as np``
more or less and the names of local variables, none of which changes what the
file does, so the fingerprint hashes the file's normal form
(``fastscratch._substitution.normal_form``), which leaves them out. Any other change (an
edited formula, an extra layer, a different default) gives another
fingerprint, and the file runs as written. A recognised class is then checked
against its substitute (``check``): built from the same seed, both must give
bitwise equal params and draw the same random numbers, and on a small instance
the file's class must compute what the substitute's reference twin computes
(predict, loss, accuracy, gradient, numerical gradient), else nothing is
substituted. The check computes on NumPy alone, compiling no kernel, and
restores NumPy's global random state, so the script's own draws are unchanged.
"""
import ast
import dataclasses
import hashlib
import importlib
import importlib.util

import numpy as np

from fastscratch._substitution import probes as _probes
from fastscratch._substitution.normal_form import normal_form

#: How far the probe lets two numerical gradients differ (the fast networks' documented bound).
NUMGRAD_ATOL = 1e-7

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
    probe_numerical : bool
        Whether the probe compares ``numerical_gradient`` too (the two-layer
        networks: a few dozen parameters, milliseconds in NumPy).
    """

    file: str
    class_name: str
    fast: str
    probe_kwargs: dict
    probe_input: tuple
    probe_numerical: bool = False


_TWO_LAYER = {"input_size": 6, "hidden_size": 5, "output_size": 3}

# Fingerprints of the book's files (oreilly-japan/deep-learning-from-scratch,
# the copies in ../shared/book-networks); tests/test_book_networks.py checks
# each against that copy.
KNOWN = {
    "45bdfecbaf6359d8590ade1ca16d9d32": BookNetwork(
        "ch04/two_layer_net.py", "TwoLayerNet", "fastscratch.ch04_two_layer_net:TwoLayerNet",
        _TWO_LAYER, (4, 6), True),
    "3aeebded2ab47bf87f8c6e8baa512fbf": BookNetwork(
        "ch05/two_layer_net.py", "TwoLayerNet", "fastscratch.two_layer_net:TwoLayerNet",
        _TWO_LAYER, (4, 6), True),
    "c2f1d2e62ef902e4d3018a62ac5abe62": BookNetwork(
        "ch07/simple_convnet.py", "SimpleConvNet", "fastscratch.simple_convnet:SimpleConvNet",
        {"input_dim": (1, 8, 8), "conv_param": {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1},
         "hidden_size": 4, "output_size": 3},
        (2, 1, 8, 8)),
    "ed28937e791309ec0ad0682b50eb8394": BookNetwork(
        "ch08/deep_convnet.py", "DeepConvNet", "fastscratch.deep_convnet:DeepConvNet",
        {"output_size": 3}, (1, 1, 28, 28)),
}


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
    """A short hash of what source does: its syntax tree in normal form (``fastscratch._substitution.normal_form``).

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
    text = _canonical(normal_form(tree))
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

    ``fastscratch run`` asks ``check``, which probes the file's class twice
    (construction against the fast class, computation on the reference's
    code), so that the probe compiles no kernel.

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
                result["accuracy"] = net.accuracy(x, t)
                np.random.seed(2)
                result["gradient"] = net.gradient(x, t)
                if book.probe_numerical:
                    result["numerical_gradient"] = net.numerical_gradient(x, t)
                result["params after"] = {k: v.copy() for k, v in net.params.items()}
            results.append(result)
    except Exception as exc:  # whatever fails, the file then runs as written
        return f"the probe raised {type(exc).__name__}: {exc}"
    finally:
        np.random.set_state(state)
    for what in results[0]:
        if what == "numerical_gradient":
            # the fast classes' incremental numerical gradient promises the loop's within 1e-7
            agree = _probes.same(results[0][what], results[1][what], atol=NUMGRAD_ATOL, rtol=0)
        else:
            agree = _same(results[0][what], results[1][what])
        if not agree:
            return f"{what} differs from the book's class"
    return None


def check(book, book_cls, fast_cls):
    """What ``fastscratch run`` asks before substituting fast_cls for a recognised file's book_cls.

    Construction (params and random draws, bitwise) against fast_cls itself,
    then every computation of ``probe`` against fast_cls's reference twin, both
    on NumPy alone (``fastscratch._substitution.probes.on_reference``: a book file's
    ``from common.layers import *`` hands its class fastscratch's layers under
    ``fastscratch run``, whose kernels the probe would otherwise compile, seconds
    on a fresh machine): that the fast class computes what its twin computes is
    what the project's equivalence tests check.

    Returns
    -------
    str or None
        None when both agree, else what differed.
    """
    reason = probe(book, book_cls, fast_cls, compute=False)
    if reason is not None:
        return reason
    module_name, class_name = book.fast.split(":")
    twin = getattr(importlib.import_module(module_name.replace("fastscratch.", "fastscratch.reference.", 1)),
                   class_name)
    try:
        book_cls = _probes.on_reference(book_cls)
    except Exception as exc:  # a class that cannot be copied is not the book's
        return f"the probe raised {type(exc).__name__}: {exc}"
    return probe(book, book_cls, twin)
