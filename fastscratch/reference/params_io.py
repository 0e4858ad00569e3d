"""Parameter files: the book's pickle format (loaded without running code) and ``.npz``.

``save_params(params, path)`` / ``load_params(path)`` choose the format by the
file name: ``.npz`` is NumPy's zip of arrays (read with allow_pickle=False);
anything else is a pickled dict of arrays, the book's format. Pickles are read
by an unpickler that admits only containers, numbers, strings and NumPy arrays,
so a parameter file can never execute code; what it holds must then be a dict
of numeric arrays. Files are written atomically (a temporary file in the same
directory, then ``os.replace``), so an interrupted save never leaves half a file.
"""
import contextlib
import importlib
import os
import pickle
import stat
import tempfile

import numpy as np


def _latin1_encode(obj, encoding="latin1", errors="strict"):
    # Protocol-2 pickles written by Python 3 store bytes (an array's raw data) as
    # _codecs.encode(text, "latin1"). Admit that call and no other codec.
    if encoding not in ("latin1", "latin-1") or not isinstance(obj, str) or errors != "strict":
        raise UnsafePickleError(f"refusing _codecs.encode with encoding {encoding!r} in a parameter file")
    return obj.encode("latin1")


# The only globals a pickled dict of NumPy arrays needs (NumPy 1.x and 2.x module names).
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),   # ndarray, protocols 2-4
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),       # ndarray, protocol 5
    ("numpy._core.numeric", "_frombuffer"),
    ("numpy.core.multiarray", "scalar"),         # NumPy scalars such as np.float64(0.5)
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
    ("__builtin__", "set"),                      # Python 2 names, mapped by pickle's fix_imports
    ("__builtin__", "frozenset"),
}
_SPECIAL_GLOBALS = {("_codecs", "encode"): _latin1_encode}


class UnsafePickleError(pickle.UnpicklingError):
    """A parameter pickle asked for something other than containers, numbers, strings and arrays."""


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _SPECIAL_GLOBALS:
            return _SPECIAL_GLOBALS[module, name]
        if (module, name) not in _ALLOWED_GLOBALS:
            raise UnsafePickleError(
                f"refusing to load {module}.{name} from a parameter file: only dicts, lists, "
                "tuples, numbers, strings and NumPy arrays are allowed (the file may try to run code)")
        if module.startswith("numpy._core") or module.startswith("numpy.core"):
            # A file written under NumPy 2 names numpy._core, under NumPy 1 numpy.core:
            # look the function up in whichever this NumPy has, without its deprecation shim.
            tail = module.split(".", 2)[2]
            for prefix in ("numpy._core.", "numpy.core."):
                try:
                    return getattr(importlib.import_module(prefix + tail), name)
                except (ImportError, AttributeError):
                    continue
        return super().find_class(module, name)


def safe_pickle_load(file):
    """Unpickle from a binary file object, admitting only plain data and NumPy arrays.

    Raises UnsafePickleError (a pickle.UnpicklingError) before anything in the
    file that is not plain data can be called.
    """
    # latin1: Python 2 pickles store an array's bytes as str; NumPy documents this encoding.
    return _RestrictedUnpickler(file, encoding="latin1").load()


def _is_npz(file_name):
    return os.fspath(file_name).lower().endswith(".npz")


def _umask():
    """The process's umask, read without changing it where Linux tells it (else set and restored)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(file_name):
    """The permission bits open() would leave file_name with: its own if it exists, else 0o666 & ~umask."""
    try:
        return stat.S_IMODE(os.stat(file_name).st_mode)
    except OSError:
        pass
    return 0o666 & ~_umask()


@contextlib.contextmanager
def atomic_file(file_name, mode="wb"):
    """Open a temporary file beside file_name; on success replace file_name with it.

    On an exception (or Ctrl-C) the temporary file is removed and file_name is
    left as it was. The file gets the mode a plain ``open(file_name, "w")``
    would give it (an existing file's mode, else 0o666 less the umask), not
    the temporary file's private 0o600.
    """
    file_name = os.fspath(file_name)
    directory = os.path.dirname(os.path.abspath(file_name))
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(file_name) + ".", suffix=".tmp",
                               dir=directory)
    try:
        os.chmod(tmp, _mode_for(file_name))
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, file_name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


def save_params(params, file_name):
    """Write a dict of arrays to file_name: ``.npz`` if it ends so, else the book's pickle."""
    with atomic_file(file_name) as f:
        if _is_npz(file_name):
            np.savez(f, **{k: np.asarray(v) for k, v in params.items()})
        else:
            pickle.dump(dict(params), f)


def _check_param_dict(params, file_name):
    """The loaded object must be a dict mapping names to numeric arrays; return it with arrays."""
    if not isinstance(params, dict):
        raise ValueError(f"{os.fspath(file_name)!r}: expected a pickled dict of arrays, "
                         f"got {type(params).__name__}")
    checked = {}
    for key, val in params.items():
        if not isinstance(key, str):
            raise ValueError(f"{os.fspath(file_name)!r}: parameter names must be strings; got {key!r}")
        arr = val if isinstance(val, np.ndarray) else np.asarray(val) if np.isscalar(val) else None
        if arr is None or arr.dtype.kind not in "biuf":
            what = f"dtype {arr.dtype}" if arr is not None else type(val).__name__
            raise ValueError(f"{os.fspath(file_name)!r}: parameter {key!r} must be a numeric array; "
                             f"got {what}")
        checked[key] = arr
    return checked


def load_params(file_name):
    """Read a dict of arrays written by save_params (or by the book's networks).

    Raises
    ------
    UnsafePickleError
        The pickle names anything but containers, numbers, strings and arrays.
    ValueError
        The file does not hold a dict of numeric arrays.
    """
    if _is_npz(file_name):
        data = np.load(file_name, allow_pickle=False)
        if not isinstance(data, np.lib.npyio.NpzFile):
            raise ValueError(f"{os.fspath(file_name)!r}: expected an .npz archive of arrays, "
                             "got a single .npy array")
        with data:
            params = {k: data[k] for k in data.files}
    else:
        with open(file_name, "rb") as f:
            params = safe_pickle_load(f)
    return _check_param_dict(params, file_name)


def check_param_shapes(loaded, expected, file_name):
    """Raise ValueError naming the first parameter whose shape differs from the network's."""
    for key, ref in expected.items():
        if key not in loaded:
            raise ValueError(f"{os.fspath(file_name)!r}: parameter {key!r} is missing "
                             f"(expected shape {np.shape(ref)})")
        if np.shape(loaded[key]) != np.shape(ref):
            raise ValueError(f"{os.fspath(file_name)!r}: parameter {key!r} has shape "
                             f"{np.shape(loaded[key])}, the network expects {np.shape(ref)}")
