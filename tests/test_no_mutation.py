"""No hidden mutation: public calls leave the caller's arrays as the reference leaves them.

Two properties, each checked against ``fastscratch.reference`` on the same inputs:

1. After a call, every input array holds what it holds after the reference's
   call (unchanged, except where the reference itself writes: Relu.backward
   zeroes dout in place, optimizers update params, a Python f's
   numerical_gradient perturbs and restores x).
2. A layer keeps no view of the caller's array that the reference does not
   keep: if the caller changes x in place after forward, backward gives what
   it gives without the change wherever the reference's backward does.
"""
import copy

import numpy as np
import pytest

import fastscratch
import fastscratch.reference as ref

LAYOUTS = ["contiguous", "strided"]


def layout(a, how):
    a = np.ascontiguousarray(a)
    if how == "contiguous":
        return a
    big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), dtype=a.dtype)
    big[..., ::2] = a
    return big[..., ::2]  # a non-contiguous view


def _r(seed=0):
    return np.random.default_rng(seed)


def _layer_run(make, method_calls):
    def run(lib, a):
        layer = make(lib, a)
        return [getattr(layer, m)(*[a[n] if isinstance(n, str) else n for n in args])
                for m, args in method_calls]
    return run


# name -> (inputs builder(rng, dtype), run(lib, inputs) -> outputs)
def _cases():
    C = {}
    C["im2col"] = (lambda r, dt: {"x": r.standard_normal((2, 3, 7, 6)).astype(dt)},
                   lambda lib, a: [lib.util.im2col(a["x"], 3, 2, 2, 1)])
    C["col2im"] = (lambda r, dt: {"col": r.standard_normal((2 * 4 * 4, 3 * 6)).astype(dt)},
                   lambda lib, a: [lib.util.col2im(a["col"], (2, 3, 7, 6), 3, 2, 2, 1)])
    for fn in ["sigmoid", "relu", "softmax", "sigmoid_grad", "relu_grad", "step_function"]:
        C[f"functions.{fn}"] = (lambda r, dt: {"x": r.standard_normal((5, 7)).astype(dt)},
                                lambda lib, a, fn=fn: [getattr(lib.functions, fn)(a["x"])])
    for fn in ["cross_entropy_error", "softmax_loss"]:
        C[f"functions.{fn}"] = (
            lambda r, dt: {"y": np.abs(r.standard_normal((5, 7))).astype(dt), "t": r.integers(0, 7, 5)},
            lambda lib, a, fn=fn: [getattr(lib.functions, fn)(a["y"], a["t"])])
    C["Relu"] = (lambda r, dt: {"x": r.standard_normal((6, 5)).astype(dt), "dout": r.standard_normal((6, 5)).astype(dt)},
                 _layer_run(lambda lib, a: lib.layers.Relu(), [("forward", ["x"]), ("backward", ["dout"])]))
    C["Sigmoid"] = (lambda r, dt: {"x": r.standard_normal((6, 5)).astype(dt), "dout": r.standard_normal((6, 5)).astype(dt)},
                    _layer_run(lambda lib, a: lib.layers.Sigmoid(), [("forward", ["x"]), ("backward", ["dout"])]))
    C["Affine"] = (lambda r, dt: {"x": r.standard_normal((4, 2, 3)).astype(dt), "W": r.standard_normal((6, 5)).astype(dt),
                                  "b": r.standard_normal(5).astype(dt), "dout": r.standard_normal((4, 5)).astype(dt)},
                   _layer_run(lambda lib, a: lib.layers.Affine(a["W"], a["b"]),
                              [("forward", ["x"]), ("backward", ["dout"])]))
    C["SoftmaxWithLoss-labels"] = (
        lambda r, dt: {"x": r.standard_normal((6, 4)).astype(dt), "t": r.integers(0, 4, 6)},
        _layer_run(lambda lib, a: lib.layers.SoftmaxWithLoss(), [("forward", ["x", "t"]), ("backward", [])]))
    C["SoftmaxWithLoss-onehot"] = (
        lambda r, dt: {"x": r.standard_normal((6, 4)).astype(dt), "t": np.eye(4, dtype=dt)[r.integers(0, 4, 6)]},
        _layer_run(lambda lib, a: lib.layers.SoftmaxWithLoss(), [("forward", ["x", "t"]), ("backward", [])]))
    C["Dropout"] = (lambda r, dt: {"x": r.standard_normal((6, 5)).astype(dt), "dout": r.standard_normal((6, 5)).astype(dt)},
                    _layer_run(lambda lib, a: lib.layers.Dropout(0.4),
                               [("forward", ["x"]), ("backward", ["dout"]), ("forward", ["x", False])]))
    C["BatchNormalization"] = (
        lambda r, dt: {"x": r.standard_normal((6, 5)).astype(dt), "gamma": r.standard_normal(5).astype(dt),
                       "beta": r.standard_normal(5).astype(dt), "dout": r.standard_normal((6, 5)).astype(dt)},
        _layer_run(lambda lib, a: lib.layers.BatchNormalization(a["gamma"], a["beta"]),
                   [("forward", ["x"]), ("backward", ["dout"]), ("forward", ["x", False])]))
    C["Convolution"] = (
        lambda r, dt: {"x": r.standard_normal((2, 3, 7, 6)).astype(dt), "W": r.standard_normal((4, 3, 3, 2)).astype(dt),
                       "b": r.standard_normal(4).astype(dt), "dout": r.standard_normal((2, 4, 4, 4)).astype(dt)},
        _layer_run(lambda lib, a: lib.layers.Convolution(a["W"], a["b"], 2, 1),
                   [("forward", ["x"]), ("backward", ["dout"])]))
    C["Pooling"] = (
        lambda r, dt: {"x": r.standard_normal((2, 3, 7, 6)).astype(dt), "dout": r.standard_normal((2, 3, 4, 4)).astype(dt)},
        _layer_run(lambda lib, a: lib.layers.Pooling(2, 2, 2, 1), [("forward", ["x"]), ("backward", ["dout"])]))
    for name in ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]:
        def run(lib, a, name=name):
            opt = getattr(lib.optimizer, name)()
            params = {"W": a["W"], "b": a["b"]}
            opt.update(params, {"W": a["gW"], "b": a["gb"]})
            opt.update(params, {"W": a["gW"], "b": a["gb"]})
            return [params["W"], params["b"]]
        C[f"optimizer.{name}"] = (
            lambda r, dt: {"W": r.standard_normal((4, 5)).astype(dt), "b": r.standard_normal(5).astype(dt),
                           "gW": r.standard_normal((4, 5)).astype(dt), "gb": r.standard_normal(5).astype(dt)},
            run)
    C["numerical_gradient-python-f"] = (
        lambda r, dt: {"x": r.standard_normal((3, 4)).astype(dt)},
        lambda lib, a: [lib.gradient.numerical_gradient(lambda v: float(np.sum(v ** 3)), a["x"])])
    return C


CASES = _cases()
IDS = sorted(CASES)


@pytest.mark.parametrize("how", LAYOUTS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", IDS)
def test_inputs_after_call_as_reference_leaves_them(name, dtype, how):
    build, run = CASES[name]
    original = {k: layout(v, how) for k, v in build(_r(1), dtype).items()}
    fast_in, ref_in = copy.deepcopy(original), copy.deepcopy(original)
    np.random.seed(0)
    run(fastscratch, fast_in)
    np.random.seed(0)
    run(ref, ref_in)
    for key in original:
        # bitwise as the reference leaves it (unchanged unless the reference writes)
        np.testing.assert_array_equal(fast_in[key], ref_in[key], err_msg=f"{name}: {key} after the call")
        if not (name == "Relu" and key == "dout") and not name.startswith("optimizer"):
            np.testing.assert_array_equal(fast_in[key], original[key], err_msg=f"{name} changed {key}")


def test_relu_backward_writes_into_dout_like_the_reference():
    x = np.array([[-1.0, 2.0], [3.0, -4.0]])
    for lib in (ref, fastscratch):
        layer = lib.layers.Relu()
        layer.forward(x)
        dout = np.ones((2, 2))
        dx = layer.backward(dout)
        assert dx is dout, lib.__name__  # the book's quirk: the same array, zeroed in place
        np.testing.assert_array_equal(dout, [[0.0, 1.0], [1.0, 0.0]])


# layer -> (builder(rng) -> (layer args, x, dout), names of the gradient attributes)
LAYERS = {
    "Relu": (lambda lib, r: (lib.layers.Relu(), r.standard_normal((4, 5)), r.standard_normal((4, 5))), []),
    "Sigmoid": (lambda lib, r: (lib.layers.Sigmoid(), r.standard_normal((4, 5)), r.standard_normal((4, 5))), []),
    "Affine": (lambda lib, r: (lib.layers.Affine(r.standard_normal((6, 5)), r.standard_normal(5)),
                               r.standard_normal((4, 2, 3)), r.standard_normal((4, 5))), ["dW", "db"]),
    "Dropout": (lambda lib, r: (lib.layers.Dropout(0.5), r.standard_normal((4, 5)), r.standard_normal((4, 5))), []),
    "BatchNormalization": (lambda lib, r: (lib.layers.BatchNormalization(r.standard_normal(5), r.standard_normal(5)),
                                           r.standard_normal((4, 5)), r.standard_normal((4, 5))), ["dgamma", "dbeta"]),
    "Convolution": (lambda lib, r: (lib.layers.Convolution(r.standard_normal((4, 3, 3, 3)), r.standard_normal(4), 1, 1),
                                    r.standard_normal((2, 3, 5, 5)), r.standard_normal((2, 4, 5, 5))), ["dW", "db"]),
    "Pooling": (lambda lib, r: (lib.layers.Pooling(2, 2, 2, 0), r.standard_normal((2, 3, 6, 6)),
                                r.standard_normal((2, 3, 3, 3))), []),
}


def _backward_after_caller_edit(lib, name, edit):
    build, grads = LAYERS[name]
    np.random.seed(0)
    layer, x, dout = build(lib, _r(2))
    layer.forward(x)
    if edit:
        x[...] = 123.0  # the caller reuses its buffer after forward
    dx = layer.backward(dout.copy())
    return [dx] + [getattr(layer, g) for g in grads]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_caller_editing_x_after_forward(name):
    ref_clean = _backward_after_caller_edit(ref, name, False)
    ref_edit = _backward_after_caller_edit(ref, name, True)
    ref_unaffected = all(np.array_equal(a, b) for a, b in zip(ref_clean, ref_edit))
    fast_clean = _backward_after_caller_edit(fastscratch, name, False)
    fast_edit = _backward_after_caller_edit(fastscratch, name, True)
    fast_unaffected = all(np.array_equal(a, b) for a, b in zip(fast_clean, fast_edit))
    if ref_unaffected:
        assert fast_unaffected, f"{name}.backward reads the caller's x after forward; the reference does not"
    for a, b in zip(fast_edit, ref_edit):  # and with the edit, the fast layer still agrees with the reference
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_softmax_with_loss_caller_editing_x_after_forward():
    # The reference keeps a new y (x edits after forward do not matter): so must the
    # fast layer. (It also keeps the caller's t itself, so editing t changes its
    # backward; the fast layer may or may not follow that quirk, nothing relies on it.)
    for onehot in (False, True):
        res = {}
        for lib in (ref, fastscratch):
            for edit in (False, True):
                x = _r(3).standard_normal((5, 4))
                t = np.array([0, 1, 2, 3, 0])
                layer = lib.layers.SoftmaxWithLoss()
                layer.forward(x, np.eye(4)[t] if onehot else t)
                if edit:
                    x[...] = 7.0
                res[lib.__name__, edit] = layer.backward()
        for lib in ("fastscratch", "fastscratch.reference"):
            np.testing.assert_array_equal(res[lib, True], res[lib, False])
        np.testing.assert_allclose(res["fastscratch", True], res["fastscratch.reference", True],
                                   rtol=1e-12, atol=1e-15)
