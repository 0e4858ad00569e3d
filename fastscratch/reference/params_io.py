"""Parameter files: the book's pickle format (loaded without running code) and ``.npz``.

``save_params(params, path)`` / ``load_params(path)`` choose the format by the
file name: ``.npz`` is NumPy's zip of arrays (read with allow_pickle=False);
anything else is a pickled dict of arrays, the book's format. Pickles are read
by an unpickler that admits only containers, numbers, strings and NumPy arrays,
so a parameter file can never execute code.
"""
import io
import os
import pickle

import numpy as np

# The only globals a pickled dict of NumPy arrays needs (NumPy 1.x and 2.x module names).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("collections", "OrderedDict"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("builtins", "set"),
    ("builtins", "frozenset"),
    ("builtins", "complex"),
    ("builtins", "bytearray"),
}


class UnsafePickleError(pickle.UnpicklingError):
    """A parameter pickle asked for something other than containers, numbers, strings and arrays."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"refusing to load {module}.{name} from a parameter file: only dicts, lists, "
            "tuples, numbers, strings and NumPy arrays are allowed")


def safe_pickle_load(file):
    """Unpickle from a binary file object, admitting only plain data and NumPy arrays."""
    return _RestrictedUnpickler(file).load()


def _is_npz(file_name):
    return os.fspath(file_name).lower().endswith(".npz")


def save_params(params, file_name):
    """Write a dict of arrays to file_name: ``.npz`` if it ends so, else the book's pickle."""
    if _is_npz(file_name):
        np.savez(file_name, **{k: np.asarray(v) for k, v in params.items()})
    else:
        with open(file_name, "wb") as f:
            pickle.dump(dict(params), f)


def load_params(file_name):
    """Read a dict of arrays written by save_params (or by the book's networks)."""
    if _is_npz(file_name):
        with np.load(file_name, allow_pickle=False) as data:
            return {k: data[k] for k in data.files}
    with open(file_name, "rb") as f:
        params = safe_pickle_load(io.BufferedReader(f))
    if not isinstance(params, dict):
        raise ValueError(f"{os.fspath(file_name)!r}: expected a pickled dict of arrays, "
                         f"got {type(params).__name__}")
    return params


def check_param_shapes(loaded, expected, file_name):
    """Raise ValueError naming the first parameter whose shape differs from the network's."""
    for key, ref in expected.items():
        if key not in loaded:
            raise ValueError(f"{os.fspath(file_name)!r}: parameter {key!r} is missing "
                             f"(expected shape {np.shape(ref)})")
        if np.shape(loaded[key]) != np.shape(ref):
            raise ValueError(f"{os.fspath(file_name)!r}: parameter {key!r} has shape "
                             f"{np.shape(loaded[key])}, the network expects {np.shape(ref)}")
