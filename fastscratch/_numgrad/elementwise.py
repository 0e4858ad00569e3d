"""The implementation of ``fastscratch.gradient`` (the book's ``common/gradient.py``): numerical differentiation, made fast.

``numerical_gradient(f, x)`` has the book's signature and results (h = 1e-4,
central differences, element by element):

- f a Numba-compiled function (``numba.njit`` dispatcher): the whole loop runs
  as one parallel kernel (``fastscratch.kernels.numgrad.numgrad_compiled``).
  Each thread perturbs its own private copy of x, so the caller's x is never
  written. The kernel takes f as an argument and so compiles once per distinct
  f (and dtype/ndim of x): the first call with a new f pays that compilation.
- the book's closure over a network, ``lambda W: self.loss(x, t)`` with x one
  of the network's parameter arrays (float64): the network's layers (or, for
  chapter 4's network built from functions, one traced call of its loss) are
  read once and only what each element changes is recomputed
  (``fastscratch._numgrad.closure``, which takes this path only where it can
  show the result is the element loop's, and otherwise falls through).
- any other callable: a tighter Python loop than the book's ``nditer`` with
  bitwise identical results. It perturbs x IN PLACE and restores each element,
  as the book does, because the book's networks pass an f that ignores its
  argument and reads the parameter array that *is* x.

``gradient_check(network, x, t)`` is chapter 5's gradient_check.py as a function.

The fast networks' ``numerical_gradient(x, t)`` methods do not go through this
element loop at all where they can: see ``fastscratch._numgrad.incremental`` (incremental
network numerical gradients, milliseconds instead of seconds).
"""
import numba
import numpy as np
from numba.core.registry import CPUDispatcher

from fastscratch._numgrad import closure as _closure
from fastscratch._core.dtypes import KERNEL_DTYPES
from fastscratch._core.not_supported import NotSupported
from fastscratch._core.validate import check_array, check_callable
from fastscratch.reference.gradient import _by_rows, _descend

__all__ = ["numerical_gradient", "numerical_gradient_1d", "numerical_gradient_2d", "gradient_descent", "gradient_check"]

#: The book's step.
H = 1e-4


def _python_loop(f, x, grad):
    """The book's loop over the elements of x with f a plain Python callable; x perturbed in place.

    Each step is the book's arithmetic (``float(tmp) + h``, then ``tmp - h`` in
    x's dtype), so the result is bitwise the reference's. Elements are visited
    in x's memory order, as the book's ``nditer`` does, when x is C- or
    F-contiguous (views over the same memory); any other layout goes in C
    order (``np.ndindex``), which matters only to an f with side effects.
    """
    if x.flags.c_contiguous or x.flags.f_contiguous:
        # x.T of an F-contiguous x is C-contiguous: its flat view walks memory order
        xv = x.reshape(-1) if x.flags.c_contiguous else x.T.reshape(-1)
        gv = grad.reshape(-1) if x.flags.c_contiguous else grad.T.reshape(-1)
        indices = range(xv.size)
    else:
        xv, gv, indices = x, grad, np.ndindex(x.shape)
    for idx in indices:
        tmp_val = xv[idx]
        xv[idx] = float(tmp_val) + H
        fxh1 = f(x)
        xv[idx] = tmp_val - H
        fxh2 = f(x)
        gv[idx] = (fxh1 - fxh2) / (2 * H)
        xv[idx] = tmp_val
    return grad


def _compiled_loop(f, x, grad):
    """The loop as one parallel kernel for a compiled f; x is copied, never written."""
    xc = np.ascontiguousarray(x)
    n_chunks = max(1, min(numba.get_num_threads(), xc.size))
    scratch = np.empty((n_chunks,) + xc.shape, dtype=xc.dtype)
    gflat = np.empty(xc.size, dtype=xc.dtype)
    from fastscratch.kernels import numgrad as _k  # on first use: not needed to train

    _k.numgrad_compiled(f, xc.reshape(-1), scratch, scratch.reshape(n_chunks, -1), gflat,
                        H, xc.dtype.type(H), 2 * H)
    grad[...] = gflat.reshape(x.shape)
    return grad


def _use_kernel(f, x):
    # The kernel path needs a compiled f and a float array it can copy (an int x
    # would be perturbed by truncation: the book's loop handles that as it does).
    return (isinstance(f, CPUDispatcher) and x.dtype in KERNEL_DTYPES
            and x.ndim >= 1 and x.size > 0)


def numerical_gradient(f, x):
    """Gradient of the scalar function f at x (any ndim), by central differences.

    Parameters
    ----------
    f : callable, f(x) -> real scalar
        A ``numba.njit`` function runs the loop in one parallel kernel (it
        compiles once per distinct f). The book's closure over a network
        (``lambda W: self.loss(x, t)``, x one of its float64 parameter arrays)
        is computed incrementally where ``fastscratch._numgrad.closure`` can
        show the result is the loop's. Any other callable runs the book's loop.
    x : ndarray of any shape
        With a Python f, perturbed in place one element at a time and restored,
        as in the book (f may read x, or a network parameter that *is* x).
        With a compiled f, left untouched (threads perturb private copies).

    Returns
    -------
    grad : ndarray of x's shape and dtype

    Notes
    -----
    grad[i] = (f(x with x[i] = float(x[i]) + h) - f(x with x[i] = x[i] - h)) / (2h),
    h = 1e-4, each perturbed value computed as the book computes it.
    """
    check_callable(f, "f")
    check_array(x, "x")
    if _use_kernel(f, x):
        return _compiled_loop(f, x, np.zeros_like(x))
    try:
        return _closure.closure_numerical_gradient(f, x)
    except NotSupported:
        pass
    return _python_loop(f, x, np.zeros_like(x))


def numerical_gradient_1d(f, x):
    """The book's 1-D variant: the gradient of f at a 1-D x (as numerical_gradient)."""
    check_array(x, "x")
    if x.ndim != 1:
        # the book's loop indexes x[idx] for idx < x.size: keep its behaviour exactly
        from fastscratch.reference.gradient import numerical_gradient_1d as book_1d
        return book_1d(f, x)
    return numerical_gradient(f, x)


def numerical_gradient_2d(f, X):
    """The book's 2-D variant: for a 2-D X, the 1-D gradient of f at each row (f sees the row)."""
    check_array(X, "X")
    return _by_rows(numerical_gradient_1d, f, X)


def gradient_descent(f, init_x, lr=0.01, step_num=100):
    """Chapter 4's gradient descent: x -= lr * grad, step_num times (init_x updated in place)."""
    return _descend(numerical_gradient, f, init_x, lr, step_num)


def gradient_check(network, x, t, verbose=True):
    """Chapter 5's gradient_check.py: backprop against the numerical gradient, per parameter.

    Runs ``network.numerical_gradient(x, t)`` then ``network.gradient(x, t)``
    (the book's order, which fixes the random draws of a dropout net) and, when
    verbose, prints the book's line ``key + ":" + str(mean abs diff)`` per
    parameter, then ``"max:" + str(largest abs diff over all parameters)``.

    Returns
    -------
    dict
        key -> (mean abs diff, max abs diff), as Python floats.
    """
    grad_numerical = network.numerical_gradient(x, t)
    grad_backprop = network.gradient(x, t)
    diffs = {}
    for key in grad_numerical:
        d = np.abs(grad_backprop[key] - grad_numerical[key])
        diffs[key] = (float(np.average(d)), float(np.max(d)) if d.size else 0.0)
        if verbose:
            print(key + ":" + str(np.average(d)))
    if verbose:
        print("max:" + str(max((v[1] for v in diffs.values()), default=0.0)))
    return diffs
