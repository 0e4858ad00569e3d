"""NumPy's removed aliases of Python's builtins (``np.int``, ``np.float``, ...) for the book's scripts.

NumPy 1.20 deprecated and NumPy 1.24 removed ``np.int``, ``np.float``,
``np.complex``, ``np.bool``, ``np.object``, ``np.str``, ``np.long`` and
``np.unicode``, each of which had been the builtin of that name. The book
predates the removal (``ch03/step_function.py`` writes ``dtype=np.int``).

Inside :func:`answering`, numpy's module ``__getattr__`` (PEP 562) is wrapped:
a name that numpy's own ``__getattr__`` refuses with AttributeError and that was
one of these aliases answers with the builtin, as NumPy 1.23 did. Every other
name goes to numpy's ``__getattr__`` unchanged, answers and error messages
alike. Names numpy defines (NumPy 2's ``np.bool`` and ``np.long`` are its own
scalar types) are found in the module before ``__getattr__`` is consulted, so
they are never touched. ``fastscratch run`` turns this on for the process it
owns; importing fastscratch does not.
"""
import contextlib
import warnings

import numpy

#: the aliases NumPy 1.24 removed: name -> the builtin it was
REMOVED = {"int": int, "float": float, "complex": complex, "bool": bool,
           "object": object, "str": str, "long": int, "unicode": str}


def _no_attribute(name):
    # what Python says for a module without __getattr__ (NumPy before PEP 562 support)
    raise AttributeError(f"module 'numpy' has no attribute {name!r}")


@contextlib.contextmanager
def answering(notice):
    """Within the block, numpy's removed builtin aliases answer with the builtins.

    Parameters
    ----------
    notice : callable(name, builtin)
        Called the first time each alias is answered, e.g. ``notice("int", int)``.

    Notes
    -----
    Warnings numpy's ``__getattr__`` gives on the way to refusing an alias
    (NumPy 1.24-1.26 and 2.x warn that ``np.object`` and ``np.str`` will become
    NumPy scalars) are dropped when the alias is answered, since notice says
    what happened; for an alias numpy answers itself, its warnings are given
    again at the caller's line. numpy's original ``__getattr__`` is put back on
    leaving the block.
    """
    original = vars(numpy).get("__getattr__")
    ask = original if original is not None else _no_attribute
    answered = set()

    def __getattr__(name):
        if name not in REMOVED:
            return ask(name)
        if name in answered:  # numpy refused it before and will again
            return REMOVED[name]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = ask(name)
            except AttributeError:
                answered.add(name)
        if name in answered:
            notice(name, REMOVED[name])
            return REMOVED[name]
        for w in caught:
            warnings.warn(w.message, w.category, stacklevel=2)
        return value

    numpy.__getattr__ = __getattr__
    try:
        yield
    finally:
        # LIFO: only our own hook is taken away, so a nested block unwinds correctly
        if vars(numpy).get("__getattr__") is __getattr__:
            if original is None:
                del numpy.__getattr__
            else:
                numpy.__getattr__ = original
