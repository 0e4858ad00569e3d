"""Argument checks for the public API: one helper per kind of check, called before any kernel.

Numba kernels do no bounds checking, so every shape, dtype and hyper-parameter
is checked here first. Messages name the argument, what was expected and what
was given ("x must be 4-D (N, C, H, W); got shape (5, 5)"). Errors are
ValueError for bad values and shapes, TypeError for bad types and dtypes.

As in scikit-learn's ``utils/validation.py``, ``check_array`` checks an array
argument in one call (type, dtype kind, dimensions, shape) and ``check_scalar``
a hyper-parameter (type and bounds); the single-purpose helpers below them are
what they are built from, for wrappers that need one check at a time.
"""
import numbers

import numpy as np


def check_array(x, name, *, ndim=None, layout=None, real=False, floating=False, shape=None):
    """Check an array argument; returns it (as a floating array with ``floating=True``).

    Parameters
    ----------
    x : object
        Must be a NumPy array (not a list, scalar or None).
    name : str
        The argument's name, for the messages.
    ndim : int or tuple of int, optional
        Allowed numbers of dimensions.
    layout : str, optional
        The axes, for the message, e.g. ``"(N, C, H, W)"``.
    real : bool
        The dtype must be bool, integer or floating (implied by ``floating``).
    floating : bool
        Return a floating array: floats kept, bool/int converted to float64.
    shape : tuple of int, optional
        The exact shape required.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array; got {type(x).__name__}")
    if real or floating:
        check_real_dtype(x, name)
    if ndim is not None:
        check_ndim(x, name, ndim, layout)
    if shape is not None:
        check_shape(x, name, shape)
    return as_float(x, name) if floating else x


def check_scalar(value, name, kind=numbers.Integral, *, min_val=None, max_val=None):
    """Check a scalar hyper-parameter: its type and its bounds (inclusive); returns it.

    Parameters
    ----------
    value : object
    name : str
    kind : type or tuple of types
        ``numbers.Integral`` (bool refused, the value returned as int) or
        ``numbers.Real`` (int or float, returned as float).
    min_val, max_val : number, optional
        Inclusive bounds.
    """
    integral = kind is numbers.Integral
    what = "an int" if integral else "a number"
    bound = f" >= {min_val}" if min_val is not None else ""
    if isinstance(value, bool) or not isinstance(value, kind):
        raise TypeError(f"{name} must be {what}{bound}; got {value!r} ({type(value).__name__})")
    if min_val is not None and value < min_val:
        raise ValueError(f"{name} must be >= {min_val}; got {value}")
    if max_val is not None and value > max_val:
        raise ValueError(f"{name} must be <= {max_val}; got {value}")
    return int(value) if integral else float(value)


def check_image_batch(x, name):
    """x must be a 4-D (N, C, H, W) array of a real dtype; returns it as a floating array."""
    return check_array(x, name, ndim=4, layout="(N, C, H, W)", floating=True)


def check_real_dtype(x, name):
    """x's dtype must be bool, integer or floating; complex, object, strings are a TypeError."""
    if x.dtype.kind not in "biuf":
        raise TypeError(f"{name} must have a real numeric dtype (bool, int or float); got {x.dtype}")
    return x


def as_float(x, name):
    """A real-valued x as a floating array: floats kept, bool/int turned to float64 as NumPy would."""
    check_real_dtype(check_array(x, name), name)
    return x if x.dtype.kind == "f" else x.astype(np.float64)


def check_ndim(x, name, ndims, layout=None):
    """x.ndim must be in ndims (an int or a tuple of ints); layout names the axes in the message."""
    ndims = (ndims,) if isinstance(ndims, int) else tuple(ndims)
    if x.ndim not in ndims:
        want = " or ".join(f"{d}-D" for d in ndims)
        lay = f" {layout}" if layout else ""
        raise ValueError(f"{name} must be {want}{lay}; got shape {x.shape}")
    return x


def check_dim(name, got, expected, what):
    """A dimension (what, e.g. 'channels') of name must equal expected."""
    if got != expected:
        raise ValueError(f"{name} has {got} {what}, expected {expected}")


def check_shape(x, name, expected):
    """x.shape must equal expected (a tuple)."""
    if tuple(x.shape) != tuple(expected):
        raise ValueError(f"{name} must have shape {tuple(expected)}; got {tuple(x.shape)}")
    return x


def check_int(value, name, minimum):
    """value must be an integer (not bool, not float) >= minimum; returns it as int."""
    return check_scalar(value, name, numbers.Integral, min_val=minimum)


def check_nonempty(x, name, axis=0, what="batch"):
    """x must have at least one entry along axis (an empty batch has nothing to compute)."""
    if x.shape[axis] == 0:
        raise ValueError(f"{name} has an empty {what} (shape {x.shape}); expected at least one sample")
    return x


def check_window(name, size, window, pad, stride, axis):
    """A window of `window` cells must fit in size + 2*pad along axis; returns the output length.

    The output length is (size + 2*pad - window) // stride + 1, floored as the book does.
    """
    if window > size + 2 * pad:
        raise ValueError(f"{name}: window {axis} {window} does not fit in the input {axis} "
                         f"{size} + 2*pad {pad} = {size + 2 * pad}")
    return (size + 2 * pad - window) // stride + 1


def check_conv_hparams(filter_h, filter_w, stride, pad):
    """filter sizes >= 1, stride >= 1, pad >= 0; returns them as ints."""
    return (check_int(filter_h, "filter_h", 1), check_int(filter_w, "filter_w", 1),
            check_int(stride, "stride", 1), check_int(pad, "pad", 0))


def check_shape_tuple(shape, name, ndim, layout=None):
    """shape must be a sequence of ndim ints >= 0 (e.g. col2im's input_shape); returns it as a tuple of ints."""
    try:
        dims = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be a tuple of {ndim} ints; got {shape!r}") from None
    if len(dims) != ndim:
        lay = f" {layout}" if layout else ""
        raise ValueError(f"{name} must have {ndim} entries{lay}; got {shape!r}")
    return tuple(check_int(d, f"{name}[{i}]", 0) for i, d in enumerate(dims))


def check_forward_done(cached, layer):
    """A layer's backward needs what its forward cached; None means forward never ran."""
    if cached is None:
        raise ValueError(f"{layer}.backward called before {layer}.forward: run forward first")


def check_at_most(value, name, maximum, why):
    """An already checked int value must be <= maximum (why says where the bound comes from)."""
    if value > maximum:
        raise ValueError(f"{name} must be <= {maximum} ({why}); got {value}")
    return value


def check_min_ndim(x, name, minimum, layout=None):
    """x.ndim must be at least minimum; layout names the axes in the message."""
    if x.ndim < minimum:
        lay = f" {layout}" if layout else ""
        raise ValueError(f"{name} must be at least {minimum}-D{lay}; got shape {x.shape}")
    return x


def check_callable(f, name):
    """f must be callable (a function, a compiled function, ...); returns it unchanged."""
    if not callable(f):
        raise TypeError(f"{name} must be callable, f(x) -> scalar; got {type(f).__name__}")
    return f
