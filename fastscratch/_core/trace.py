"""Recording stand-ins for a network's parameter arrays: one run of a loss, kept as a graph of NumPy operations.

``trace_loss(f, x, params)`` runs f once with every array of the ``params``
dict (and f's argument, x) replaced by a ``Traced`` stand-in. A stand-in
holds the real array and computes every operation on real values too, so
the code under trace sees true shapes and takes its shape-dependent branches
(``if y.ndim == 1``) as it would; what each operation was is recorded on the
result: its NumPy function or ufunc, its arguments (stand-ins or constants)
and its keyword arguments. NumPy hands a stand-in to us through
``__array_ufunc__`` (``+``, ``@``, ``np.exp``, ``np.matmul`` ...) and
``__array_function__`` (``np.dot``, ``np.sum``, ``np.max`` ...).

Anything the graph cannot hold stops the trace with ``Untraceable``: a value
read as a Python number or truth value (a value-dependent branch such as
``if loss > 1``), a conversion to a plain array (``ndarray.dot``, ``np.asarray``),
in-place writes, ``out=`` arguments. NumPy's global generator and Python's
``random`` must not move during the trace (a dropout mask, noise): the trace
is then refused too.
The params dict and the generator are put back as they were in every case.

This module imports NumPy only: ``fastscratch.functions`` checks for a
stand-in on every call.
"""
import operator
import random

import numpy as np

from fastscratch._core.not_supported import NotSupported

#: The op of a stand-in for a parameter array (its ``key`` names the entry of params).
PARAM = "param"


class Untraceable(NotSupported):
    """The loss did something a trace cannot record faithfully."""


#: Matrix products (their values take BLAS under trace: _common_float_dtype).
_PRODUCTS = (np.dot, np.matmul)


def _stop(*_args, **_kwargs):
    raise Untraceable("the loss reads a traced value as a number, a truth value or a plain array")


def _value_of(arg):
    """arg with every stand-in replaced by its real value (through tuples, lists and dicts)."""
    if isinstance(arg, Traced):
        return arg.value
    if isinstance(arg, (tuple, list)):
        return type(arg)(_value_of(a) for a in arg)
    if isinstance(arg, dict):
        return {k: _value_of(v) for k, v in arg.items()}
    return arg


def _common_float_dtype(a, b):
    """a, b with the one of another float dtype widened to the other's: NumPy's product of mixed dtypes.

    NumPy's np.dot of float32 images and float64 weights takes a loop without
    BLAS; with the operands widened first it takes BLAS and gives the same
    product to rounding (the traced loss is compared with a tolerance, never bitwise with f's).
    """
    if (type(a) is np.ndarray and type(b) is np.ndarray and a.dtype != b.dtype
            and a.dtype.kind == "f" and b.dtype.kind == "f"):
        common = np.result_type(a, b)
        return a.astype(common, copy=False), b.astype(common, copy=False)
    return a, b


def record(op, args, kwargs=None):
    """The stand-in for op(*args, **kwargs), computed on the real values."""
    kwargs = dict(kwargs or {})
    if kwargs.get("out") is not None or "where" in kwargs:
        raise Untraceable("an out= or where= argument")
    values = _value_of(tuple(args))
    if op in _PRODUCTS and len(values) == 2 and not kwargs:
        values = _common_float_dtype(*values)
    value = op(*values, **_value_of(kwargs))
    if not isinstance(value, (np.ndarray, np.generic)) or isinstance(value, np.bool_):
        raise Untraceable(f"{getattr(op, '__name__', op)} gives a {type(value).__name__}")
    return Traced(value, op, tuple(args), kwargs)


def _binary(ufunc):
    return (lambda self, other: ufunc(self, other)), (lambda self, other: ufunc(other, self))


#: NumPy functions that only read a shape: answered from the real value, not recorded.
_SHAPE_QUERIES = (np.shape, np.ndim, np.size)


class Traced:
    """A stand-in for an array under trace: its real value and the operation that made it.

    Attributes
    ----------
    value : ndarray or NumPy scalar, the real result
    op : PARAM, a NumPy function or ufunc, or ``operator.getitem``
    args : tuple, the operation's arguments (stand-ins or constants)
    kwargs : dict, its keyword arguments
    key : the params key of a parameter's stand-in (None otherwise)
    """

    __slots__ = ("value", "op", "args", "kwargs", "key")

    def __init__(self, value, op, args=(), kwargs=None, key=None):
        self.value, self.op, self.args, self.kwargs, self.key = value, op, args, kwargs or {}, key

    # what NumPy calls with a stand-in among the arguments
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__":
            raise Untraceable(f"ufunc method {ufunc.__name__}.{method}")
        return record(ufunc, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        if func in _SHAPE_QUERIES:
            return func(*_value_of(args), **kwargs)
        return record(func, args, kwargs)

    __array__ = __bool__ = __float__ = __int__ = __index__ = __complex__ = __iter__ = _stop
    __setitem__ = __iadd__ = __isub__ = __imul__ = __itruediv__ = __imatmul__ = _stop

    # static facts: shapes are part of what the trace is taken for
    shape = property(lambda self: self.value.shape)
    ndim = property(lambda self: self.value.ndim)
    size = property(lambda self: self.value.size)
    dtype = property(lambda self: self.value.dtype)
    T = property(lambda self: np.transpose(self))

    def __len__(self):
        return len(self.value)

    def __str__(self):  # a print in the loss prints what the real call would
        return str(self.value)

    def __format__(self, spec):
        return format(self.value, spec)

    def __repr__(self):
        return f"Traced({getattr(self.op, '__name__', self.op)}, shape={np.shape(self.value)})"

    __add__, __radd__ = _binary(np.add)
    __sub__, __rsub__ = _binary(np.subtract)
    __mul__, __rmul__ = _binary(np.multiply)
    __truediv__, __rtruediv__ = _binary(np.true_divide)
    __matmul__, __rmatmul__ = _binary(np.matmul)
    __pow__, __rpow__ = _binary(np.power)
    __lt__ = lambda self, other: np.less(self, other)  # noqa: E731
    __le__ = lambda self, other: np.less_equal(self, other)  # noqa: E731
    __gt__ = lambda self, other: np.greater(self, other)  # noqa: E731
    __ge__ = lambda self, other: np.greater_equal(self, other)  # noqa: E731
    __eq__ = lambda self, other: np.equal(self, other)  # noqa: E731
    __ne__ = lambda self, other: np.not_equal(self, other)  # noqa: E731
    __neg__ = lambda self: np.negative(self)  # noqa: E731
    __hash__ = object.__hash__

    def __getitem__(self, index):
        return record(operator.getitem, (self, index))

    # the ndarray methods a loss calls, as the NumPy functions they are
    def reshape(self, *shape, **kwargs):
        return np.reshape(self, shape[0] if len(shape) == 1 else shape, **kwargs)

    def transpose(self, *axes):
        if not axes:
            return np.transpose(self)
        return np.transpose(self, axes[0] if len(axes) == 1 else axes)

    def dot(self, other):
        return np.dot(self, other)

    def sum(self, *args, **kwargs):
        return np.sum(self, *args, **kwargs)

    def max(self, *args, **kwargs):
        return np.max(self, *args, **kwargs)

    def mean(self, *args, **kwargs):
        return np.mean(self, *args, **kwargs)

    def argmax(self, *args, **kwargs):
        return np.argmax(self, *args, **kwargs)


def is_traced(x):
    """Whether x is a stand-in under trace (``fastscratch.functions`` then takes the reference's NumPy code)."""
    return isinstance(x, Traced)


def same_random_state(a, b):
    """Whether two ``np.random.get_state()`` tuples are the same state."""
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and tuple(a[2:]) == tuple(b[2:])


def trace_loss(f, x, params):
    """f(x) run once with the arrays of params (x among them) replaced by stand-ins.

    Parameters
    ----------
    f : callable, f(x) -> the loss
    x : ndarray, one of the values of params
    params : dict, the network's parameters (put back as they were on return)

    Returns
    -------
    Traced, the loss with the graph that computed it (parameters as PARAM stand-ins)

    Raises
    ------
    NotSupported
        Where the trace is refused (see the module notes) or f raises: the
        caller's fallback runs f for real and lets f's own errors surface there.
    """
    saved = dict(params)
    stand_ins = {key: Traced(value, PARAM, key=key) for key, value in saved.items() if type(value) is np.ndarray}
    stand_in_x = next((s for s in stand_ins.values() if s.value is x), None)
    if stand_in_x is None:
        raise Untraceable("x is not an array of params")
    state, python_state = np.random.get_state(), random.getstate()
    try:
        params.update(stand_ins)
        loss = f(stand_in_x)
    except NotSupported:
        raise
    except Exception as error:  # the code under trace refused a stand-in (or f fails: the fallback shows it)
        raise Untraceable(f"the loss raised {type(error).__name__} under trace") from None
    finally:
        params.clear()
        params.update(saved)
        moved = not same_random_state(state, np.random.get_state())
        if moved:
            np.random.set_state(state)
    if moved:
        raise Untraceable("the loss draws from NumPy's global generator")
    if random.getstate() != python_state:
        random.setstate(python_state)
        raise Untraceable("the loss draws from Python's random module")
    if not isinstance(loss, Traced) or np.ndim(loss.value) != 0:
        raise Untraceable("the loss is not a scalar computed from the parameters")
    return loss
