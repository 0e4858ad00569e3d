"""Argument checks for the public API: one helper per kind of check, called before any kernel.

Numba kernels do no bounds checking, so every shape, dtype and hyper-parameter
is checked here first. Messages name the argument, what was expected and what
was given ("x must be 4-D (N, C, H, W); got shape (5, 5)"). Errors are
ValueError for bad values and shapes, TypeError for bad types and dtypes.
"""
import numbers

import numpy as np


def check_array(x, name):
    """x must be a NumPy array (not a list, scalar or None); returns it unchanged."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name} must be a NumPy array; got {type(x).__name__}")
    return x


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
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int >= {minimum}; got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return int(value)


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
