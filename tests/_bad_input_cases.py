"""The bad-input battery's case table, run in child processes by tests/test_bad_inputs.py.

ERROR_CASES: (id, call, exception type, message regex). ``call(fs)`` makes one
call into the fast API ``fs`` that must raise that exception, with a message
naming the argument. POSITIVE_CASES: (id, call) where ``call(lib)`` runs on
both the fast API and ``fastscratch.reference`` and the results must agree
(values with equal_nan, dtypes, shapes). Nothing here runs at import: building
the table only makes lambdas, so the parent process can list the ids cheaply.

``main(ids)`` runs the named cases in this process, printing ``START id``
before each (flushed, so a crash names its case) and one JSON result line
after each.
"""
import json
import sys

import numpy as np

ERROR_CASES = []
POSITIVE_CASES = []


def err(case_id, exc, msg):
    def deco(fn):
        ERROR_CASES.append((case_id, fn, exc, msg))
        return fn
    return deco


def pos(case_id):
    def deco(fn):
        POSITIVE_CASES.append((case_id, fn))
        return fn
    return deco


def _x(shape, dtype=np.float64, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


def _add(case_id, exc, msg, fn):
    ERROR_CASES.append((case_id, fn, exc, msg))


# ---------------------------------------------------------------- im2col / col2im
X4 = (2, 3, 7, 6)
_add("im2col-not-array", TypeError, r"input_data must be a NumPy array; got list",
     lambda fs: fs.util.im2col(_x(X4).tolist(), 2, 2))
_add("im2col-ndim3", ValueError, r"input_data must be 4-D \(N, C, H, W\); got shape \(3, 7, 6\)",
     lambda fs: fs.util.im2col(_x(X4[1:]), 2, 2))
for _dt in ("complex128", "object", "U3"):
    _add(f"im2col-dtype-{_dt}", TypeError, r"input_data must have a real numeric dtype",
         lambda fs, dt=_dt: fs.util.im2col(np.zeros(X4, dtype=dt), 2, 2))
_add("im2col-stride0", ValueError, r"stride must be >= 1; got 0", lambda fs: fs.util.im2col(_x(X4), 2, 2, 0))
_add("im2col-stride-neg", ValueError, r"stride must be >= 1; got -1", lambda fs: fs.util.im2col(_x(X4), 2, 2, -1))
_add("im2col-stride-2.5", TypeError, r"stride must be an int", lambda fs: fs.util.im2col(_x(X4), 2, 2, 2.5))
_add("im2col-stride-bool", TypeError, r"stride must be an int", lambda fs: fs.util.im2col(_x(X4), 2, 2, True))
_add("im2col-pad-neg", ValueError, r"pad must be >= 0; got -1", lambda fs: fs.util.im2col(_x(X4), 2, 2, 1, -1))
_add("im2col-pad-float", TypeError, r"pad must be an int", lambda fs: fs.util.im2col(_x(X4), 2, 2, 1, 1.0))
_add("im2col-filter_h0", ValueError, r"filter_h must be >= 1; got 0", lambda fs: fs.util.im2col(_x(X4), 0, 2))
_add("im2col-filter_w-float", TypeError, r"filter_w must be an int", lambda fs: fs.util.im2col(_x(X4), 2, 2.0))
_add("im2col-window-too-tall", ValueError, r"window height 10 does not fit in the input height 7",
     lambda fs: fs.util.im2col(_x(X4), 10, 2))
_add("im2col-window-too-wide-with-pad", ValueError, r"window width 9 does not fit in the input width 6 \+ 2\*pad 1",
     lambda fs: fs.util.im2col(_x(X4), 2, 9, 1, 1))

COL = (2 * 6 * 5, 3 * 4)  # X4 with a 2x2 window, stride 1, pad 0
_add("col2im-not-array", TypeError, r"col must be a NumPy array", lambda fs: fs.util.col2im(None, X4, 2, 2))
_add("col2im-ndim3", ValueError, r"col must be 2-D", lambda fs: fs.util.col2im(_x((2,) + COL), X4, 2, 2))
_add("col2im-complex", TypeError, r"col must have a real numeric dtype",
     lambda fs: fs.util.col2im(np.zeros(COL, complex), X4, 2, 2))
_add("col2im-shape-mismatch", ValueError, r"col must have shape \(60, 12\); got \(59, 12\)",
     lambda fs: fs.util.col2im(_x((COL[0] - 1, COL[1])), X4, 2, 2))
_add("col2im-shape-mismatch-columns", ValueError, r"col must have shape \(60, 12\); got \(60, 13\)",
     lambda fs: fs.util.col2im(_x((COL[0], COL[1] + 1)), X4, 2, 2))
_add("col2im-input_shape-len3", ValueError, r"input_shape must have 4 entries",
     lambda fs: fs.util.col2im(_x(COL), X4[1:], 2, 2))
_add("col2im-input_shape-not-seq", TypeError, r"input_shape must be a tuple of 4 ints",
     lambda fs: fs.util.col2im(_x(COL), 7, 2, 2))
_add("col2im-input_shape-float", TypeError, r"input_shape\[2\] must be an int",
     lambda fs: fs.util.col2im(_x(COL), (2, 3, 7.0, 6), 2, 2))
_add("col2im-input_shape-negative", ValueError, r"input_shape\[0\] must be >= 0",
     lambda fs: fs.util.col2im(_x(COL), (-2, 3, 7, 6), 2, 2))
_add("col2im-stride0", ValueError, r"stride must be >= 1", lambda fs: fs.util.col2im(_x(COL), X4, 2, 2, 0))
_add("col2im-stride-2.5", TypeError, r"stride must be an int", lambda fs: fs.util.col2im(_x(COL), X4, 2, 2, 2.5))
_add("col2im-pad-neg", ValueError, r"pad must be >= 0", lambda fs: fs.util.col2im(_x(COL), X4, 2, 2, 1, -1))
_add("col2im-window-too-big", ValueError, r"does not fit", lambda fs: fs.util.col2im(_x(COL), X4, 8, 2))


# ---------------------------------------------------------------- Convolution
def _conv(fs, W_shape=(4, 3, 3, 3), b_shape=(4,), stride=1, pad=0, W=None, b=None):
    W = _x(W_shape) if W is None else W
    b = _x(b_shape) if b is None else b
    return fs.layers.Convolution(W, b, stride, pad)


_add("Convolution-x-not-array", TypeError, r"x must be a NumPy array", lambda fs: _conv(fs).forward(_x(X4).tolist()))
_add("Convolution-x-ndim3", ValueError, r"x must be 4-D \(N, C, H, W\); got shape \(3, 7, 6\)",
     lambda fs: _conv(fs).forward(_x(X4[1:])))
_add("Convolution-x-channels", ValueError, r"x has 2 channels.*expected 3",
     lambda fs: _conv(fs).forward(_x((2, 2, 7, 6))))
_add("Convolution-x-complex", TypeError, r"x must have a real numeric dtype",
     lambda fs: _conv(fs).forward(np.zeros(X4, complex)))
_add("Convolution-x-object", TypeError, r"x must have a real numeric dtype",
     lambda fs: _conv(fs).forward(np.zeros(X4, object)))
_add("Convolution-x-empty-batch", ValueError, r"x has an empty batch", lambda fs: _conv(fs).forward(_x((0, 3, 7, 6))))
_add("Convolution-W-ndim3", ValueError, r"W must be 4-D", lambda fs: _conv(fs, W_shape=(4, 3, 3)).forward(_x(X4)))
_add("Convolution-W-not-array", TypeError, r"W must be a NumPy array",
     lambda fs: _conv(fs, W=[[1.0]]).forward(_x(X4)))
_add("Convolution-W-complex", TypeError, r"W must have a real numeric dtype",
     lambda fs: _conv(fs, W=np.zeros((4, 3, 3, 3), complex)).forward(_x(X4)))
_add("Convolution-b-shape", ValueError, r"b must have shape \(4,\); got \(5,\)",
     lambda fs: _conv(fs, b_shape=(5,)).forward(_x(X4)))
_add("Convolution-b-2d", ValueError, r"b must have shape \(4,\); got \(1, 4\)",
     lambda fs: _conv(fs, b_shape=(1, 4)).forward(_x(X4)))
_add("Convolution-stride0", ValueError, r"stride must be >= 1", lambda fs: _conv(fs, stride=0).forward(_x(X4)))
_add("Convolution-stride-neg", ValueError, r"stride must be >= 1", lambda fs: _conv(fs, stride=-2).forward(_x(X4)))
_add("Convolution-stride-2.5", TypeError, r"stride must be an int", lambda fs: _conv(fs, stride=2.5).forward(_x(X4)))
_add("Convolution-pad-neg", ValueError, r"pad must be >= 0", lambda fs: _conv(fs, pad=-1).forward(_x(X4)))
_add("Convolution-window-too-big", ValueError, r"window height 9 does not fit",
     lambda fs: _conv(fs, W_shape=(4, 3, 9, 3)).forward(_x(X4)))
_add("Convolution-backward-before-forward", ValueError, r"Convolution\.backward called before.*forward",
     lambda fs: _conv(fs).backward(_x((2, 4, 5, 4))))


def _conv_fwd(fs):
    layer = _conv(fs)
    layer.forward(_x(X4))
    return layer


_add("Convolution-dout-shape", ValueError, r"dout must have shape \(2, 4, 5, 4\); got \(2, 4, 4, 5\)",
     lambda fs: _conv_fwd(fs).backward(_x((2, 4, 4, 5))))
_add("Convolution-dout-not-array", TypeError, r"dout must be a NumPy array",
     lambda fs: _conv_fwd(fs).backward(1.0))
_add("Convolution-dout-complex", TypeError, r"dout must have a real numeric dtype",
     lambda fs: _conv_fwd(fs).backward(np.zeros((2, 4, 5, 4), complex)))


# ---------------------------------------------------------------- Pooling
def _pool(fs, ph=2, pw=2, stride=2, pad=0):
    return fs.layers.Pooling(ph, pw, stride, pad)


_add("Pooling-x-not-array", TypeError, r"x must be a NumPy array", lambda fs: _pool(fs).forward(5))
_add("Pooling-x-ndim2", ValueError, r"x must be 4-D", lambda fs: _pool(fs).forward(_x((7, 6))))
_add("Pooling-x-complex", TypeError, r"x must have a real numeric dtype",
     lambda fs: _pool(fs).forward(np.zeros(X4, complex)))
_add("Pooling-window-larger-than-input", ValueError, r"window height 8 does not fit in the input height 7",
     lambda fs: _pool(fs, 8, 2).forward(_x(X4)))
_add("Pooling-pool_h0", ValueError, r"pool_h must be >= 1", lambda fs: _pool(fs, 0, 2).forward(_x(X4)))
_add("Pooling-pool_w-float", TypeError, r"pool_w must be an int", lambda fs: _pool(fs, 2, 2.0).forward(_x(X4)))
_add("Pooling-stride0", ValueError, r"stride must be >= 1", lambda fs: _pool(fs, stride=0).forward(_x(X4)))
_add("Pooling-stride-2.5", TypeError, r"stride must be an int", lambda fs: _pool(fs, stride=2.5).forward(_x(X4)))
_add("Pooling-pad-neg", ValueError, r"pad must be >= 0", lambda fs: _pool(fs, pad=-1).forward(_x(X4)))
_add("Pooling-backward-before-forward", ValueError, r"Pooling\.backward called before.*forward",
     lambda fs: _pool(fs).backward(_x((2, 3, 3, 3))))


def _pool_fwd(fs):
    layer = _pool(fs)
    layer.forward(_x(X4))
    return layer


_add("Pooling-dout-shape", ValueError, r"dout must have shape \(2, 3, 3, 3\); got \(2, 3, 3, 4\)",
     lambda fs: _pool_fwd(fs).backward(_x((2, 3, 3, 4))))
_add("Pooling-dout-not-array", TypeError, r"dout must be a NumPy array", lambda fs: _pool_fwd(fs).backward([1.0]))


# ---------------------------------------------------------------- Affine
def _affine(fs, W_shape=(6, 5), b_shape=(5,), W=None):
    return fs.layers.Affine(_x(W_shape) if W is None else W, _x(b_shape))


_add("Affine-x-not-array", TypeError, r"x must be a NumPy array", lambda fs: _affine(fs).forward([[1.0] * 6]))
_add("Affine-x-features", ValueError, r"x has 7 features per sample.*expected 6",
     lambda fs: _affine(fs).forward(_x((4, 7))))
_add("Affine-x-features-4d", ValueError, r"x has 8 features per sample.*expected 6",
     lambda fs: _affine(fs).forward(_x((4, 2, 2, 2))))
_add("Affine-x-0d", ValueError, r"x must be at least 1-D", lambda fs: _affine(fs).forward(np.array(1.0)))
_add("Affine-x-empty-batch", ValueError, r"x has an empty batch", lambda fs: _affine(fs).forward(_x((0, 6))))
_add("Affine-x-complex", TypeError, r"x must have a real numeric dtype",
     lambda fs: _affine(fs).forward(np.zeros((4, 6), complex)))
_add("Affine-x-string", TypeError, r"x must have a real numeric dtype",
     lambda fs: _affine(fs).forward(np.zeros((4, 6), "U2")))
_add("Affine-W-1d", ValueError, r"W must be 2-D", lambda fs: _affine(fs, W_shape=(6,)).forward(_x((4, 6))))
_add("Affine-W-not-array", TypeError, r"W must be a NumPy array",
     lambda fs: _affine(fs, W=[[1.0] * 5] * 6).forward(_x((4, 6))))
_add("Affine-b-shape", ValueError, r"b must have shape \(5,\); got \(4,\)",
     lambda fs: _affine(fs, b_shape=(4,)).forward(_x((4, 6))))
_add("Affine-backward-before-forward", ValueError, r"Affine\.backward called before",
     lambda fs: _affine(fs).backward(_x((4, 5))))


def _affine_fwd(fs):
    layer = _affine(fs)
    layer.forward(_x((4, 6)))
    return layer


_add("Affine-dout-shape", ValueError, r"dout must have shape \(4, 5\); got \(4, 6\)",
     lambda fs: _affine_fwd(fs).backward(_x((4, 6))))
_add("Affine-dout-not-array", TypeError, r"dout must be a NumPy array", lambda fs: _affine_fwd(fs).backward(None))


# ---------------------------------------------------------------- Relu, Sigmoid, Dropout
for _name in ("Relu", "Sigmoid", "Dropout"):
    _add(f"{_name}-x-not-array", TypeError, r"x must be a NumPy array",
         lambda fs, n=_name: getattr(fs.layers, n)().forward([1.0, -1.0]))
    _add(f"{_name}-x-complex", TypeError, r"x must have a real numeric dtype",
         lambda fs, n=_name: getattr(fs.layers, n)().forward(np.zeros(3, complex)))
    _add(f"{_name}-backward-before-forward", ValueError, rf"{_name}\.backward called before",
         lambda fs, n=_name: getattr(fs.layers, n)().backward(_x((3, 4))))

    def _fwd(fs, n=_name):
        layer = getattr(fs.layers, n)()
        layer.forward(_x((3, 4)))
        return layer

    _add(f"{_name}-dout-shape", ValueError, r"dout must have shape \(3, 4\); got \(4, 3\)",
         lambda fs, f=_fwd: f(fs).backward(_x((4, 3))))
    _add(f"{_name}-dout-not-array", TypeError, r"dout must be a NumPy array",
         lambda fs, f=_fwd: f(fs).backward([[0.0] * 4] * 3))


# ---------------------------------------------------------------- SoftmaxWithLoss
def _swl(fs, x, t):
    return fs.layers.SoftmaxWithLoss().forward(x, t)


_add("SoftmaxWithLoss-x-not-array", TypeError, r"x must be a NumPy array",
     lambda fs: _swl(fs, [[1.0, 2.0]], np.array([0])))
_add("SoftmaxWithLoss-t-not-array", TypeError, r"t must be a NumPy array", lambda fs: _swl(fs, _x((3, 4)), [0, 1, 2]))
_add("SoftmaxWithLoss-t-shape", ValueError, r"t must be one-hot of shape \(3, 4\) or labels of shape \(3,\); got shape \(4,\)",
     lambda fs: _swl(fs, _x((3, 4)), np.array([0, 1, 2, 3])))
_add("SoftmaxWithLoss-t-onehot-shape", ValueError, r"t must be one-hot of shape \(3, 4\)",
     lambda fs: _swl(fs, _x((3, 4)), np.eye(5)[:3]))
_add("SoftmaxWithLoss-label-too-big", ValueError, r"t labels must be in \[0, 4\); got values from 0 to 4",
     lambda fs: _swl(fs, _x((3, 4)), np.array([0, 4, 1])))
_add("SoftmaxWithLoss-label-negative", ValueError, r"t labels must be in \[0, 4\)",
     lambda fs: _swl(fs, _x((3, 4)), np.array([0, -1, 1])))
_add("SoftmaxWithLoss-label-huge", ValueError, r"t labels must be in \[0, 4\)",
     lambda fs: _swl(fs, _x((3, 4)), np.array([0, 10 ** 12, 1])))
_add("SoftmaxWithLoss-label-uint-too-big", ValueError, r"t labels must be in \[0, 4\)",
     lambda fs: _swl(fs, _x((3, 4)), np.array([0, 7, 1], dtype=np.uint8)))
_add("SoftmaxWithLoss-label-int32-strided", ValueError, r"t labels must be in \[0, 4\)",
     lambda fs: _swl(fs, _x((3, 4))[:, ::-1], np.array([0, 0, 4, 0, 1, 0], dtype=np.int32)[::2]))
_add("SoftmaxWithLoss-float-labels", TypeError, r"t holds class labels and must have an integer dtype; got float64",
     lambda fs: _swl(fs, _x((3, 4)), np.array([0.0, 1.0, 2.0])))
_add("SoftmaxWithLoss-complex-t", TypeError, r"t must have a real numeric dtype",
     lambda fs: _swl(fs, _x((3, 4)), np.zeros((3, 4), complex)))
_add("SoftmaxWithLoss-x-3d", ValueError, r"x must be 1-D or 2-D", lambda fs: _swl(fs, _x((2, 3, 4)), np.array([0, 1])))
_add("SoftmaxWithLoss-x-empty-batch", ValueError, r"x has an empty batch",
     lambda fs: _swl(fs, _x((0, 4)), np.zeros(0, dtype=int)))
_add("SoftmaxWithLoss-x-no-classes", ValueError, r"x has no classes",
     lambda fs: _swl(fs, _x((3, 0)), np.zeros(3, dtype=int)))
_add("SoftmaxWithLoss-x-complex", TypeError, r"x must have a real numeric dtype",
     lambda fs: _swl(fs, np.zeros((3, 4), complex), np.array([0, 1, 2])))
_add("SoftmaxWithLoss-1d-label-out-of-range", ValueError, r"t labels must be in \[0, 4\)",
     lambda fs: _swl(fs, _x(4), np.array(4)))
_add("SoftmaxWithLoss-backward-before-forward", ValueError, r"SoftmaxWithLoss\.backward called before",
     lambda fs: fs.layers.SoftmaxWithLoss().backward())


# ---------------------------------------------------------------- BatchNormalization
def _bn(fs, D=5, gshape=None, bshape=None):
    return fs.layers.BatchNormalization(np.ones(gshape or D), np.zeros(bshape or D))


_add("BatchNormalization-x-not-array", TypeError, r"x must be a NumPy array", lambda fs: _bn(fs).forward([[1.0] * 5]))
_add("BatchNormalization-x-1d", ValueError, r"x must be at least 2-D", lambda fs: _bn(fs).forward(_x(5)))
_add("BatchNormalization-x-complex", TypeError, r"x must have a real numeric dtype",
     lambda fs: _bn(fs).forward(np.zeros((3, 5), complex)))
_add("BatchNormalization-x-empty-batch", ValueError, r"x has an empty batch", lambda fs: _bn(fs).forward(_x((0, 5))))
_add("BatchNormalization-gamma-shape", ValueError, r"gamma must have shape \(5,\); got \(4,\)",
     lambda fs: _bn(fs, gshape=4).forward(_x((3, 5))))
_add("BatchNormalization-beta-shape", ValueError, r"beta must have shape \(5,\); got \(6,\)",
     lambda fs: _bn(fs, bshape=6).forward(_x((3, 5))))
_add("BatchNormalization-features-4d", ValueError, r"gamma must have shape \(12,\); got \(5,\)",
     lambda fs: _bn(fs).forward(_x((3, 3, 2, 2))))
_add("BatchNormalization-backward-before-forward", ValueError, r"BatchNormalization\.backward called before",
     lambda fs: _bn(fs).backward(_x((3, 5))))


def _bn_fwd(fs):
    layer = _bn(fs)
    layer.forward(_x((3, 5)))
    return layer


_add("BatchNormalization-dout-shape", ValueError, r"dout must have shape \(3, 5\); got \(3, 4\)",
     lambda fs: _bn_fwd(fs).backward(_x((3, 4))))
_add("BatchNormalization-dout-not-array", TypeError, r"dout must be a NumPy array",
     lambda fs: _bn_fwd(fs).backward(1.0))


def _bn_test_mode_bad_running(fs):
    layer = _bn(fs)
    layer.running_mean, layer.running_var = np.zeros(4), np.ones(4)
    return layer.forward(_x((3, 5)), train_flg=False)


_add("BatchNormalization-running_mean-shape", ValueError, r"running_mean must have shape \(5,\); got \(4,\)",
     _bn_test_mode_bad_running)


# ---------------------------------------------------------------- functions
F = "functions"
_add("softmax-not-array", TypeError, r"x must be a NumPy array", lambda fs: fs.functions.softmax("abc"))
_add("softmax-complex", TypeError, r"x must have a real numeric dtype",
     lambda fs: fs.functions.softmax(np.zeros(3, complex)))
_add("softmax-0d", ValueError, r"x must have at least 1 dimension", lambda fs: fs.functions.softmax(np.array(1.0)))
_add("softmax-no-classes", ValueError, r"x has no classes", lambda fs: fs.functions.softmax(np.zeros((3, 0))))
_add("sigmoid-complex", TypeError, r"x must have a real numeric dtype",
     lambda fs: fs.functions.sigmoid(np.zeros(3, complex)))
_add("relu-object", TypeError, r"x must have a real numeric dtype",
     lambda fs: fs.functions.relu(np.zeros(3, object)))
for _fn, _y in (("cross_entropy_error", "y"), ("softmax_loss", "X")):
    _add(f"{_fn}-{_y}-not-array", TypeError, rf"{_y} must be a NumPy array",
         lambda fs, f=_fn: getattr(fs.functions, f)([[0.5, 0.5]], np.array([0])))
    _add(f"{_fn}-{_y}-3d", ValueError, rf"{_y} must be 1-D or 2-D",
         lambda fs, f=_fn: getattr(fs.functions, f)(np.full((2, 2, 2), 0.5), np.array([0, 1])))
    _add(f"{_fn}-t-shape", ValueError, r"t must be one-hot of shape \(3, 4\) or labels of shape \(3,\)",
         lambda fs, f=_fn: getattr(fs.functions, f)(np.full((3, 4), 0.25), np.array([0, 1])))
    _add(f"{_fn}-label-out-of-range", ValueError, r"t labels must be in \[0, 4\)",
         lambda fs, f=_fn: getattr(fs.functions, f)(np.full((3, 4), 0.25), np.array([0, 1, 9])))
    _add(f"{_fn}-float-labels", TypeError, r"t holds class labels and must have an integer dtype",
         lambda fs, f=_fn: getattr(fs.functions, f)(np.full((3, 4), 0.25), np.array([0.0, 1.0, 2.0])))
    _add(f"{_fn}-t-not-array", TypeError, r"t must be a NumPy array",
         lambda fs, f=_fn: getattr(fs.functions, f)(np.full((3, 4), 0.25), [0, 1, 2]))
    _add(f"{_fn}-empty-batch", ValueError, rf"{_y} has an empty batch",
         lambda fs, f=_fn: getattr(fs.functions, f)(np.zeros((0, 4)), np.zeros(0, dtype=int)))
    _add(f"{_fn}-complex", TypeError, rf"{_y} must have a real numeric dtype",
         lambda fs, f=_fn: getattr(fs.functions, f)(np.zeros((3, 4), complex), np.array([0, 1, 2])))


# ---------------------------------------------------------------- optimizers
OPTIMIZERS = ["SGD", "Momentum", "Nesterov", "AdaGrad", "RMSprop", "Adam"]


def _params():
    return {"W": _x((4, 5)), "b": _x(5)}


for _opt in OPTIMIZERS:
    _add(f"{_opt}-params-not-dict", TypeError, r"params must be a dict",
         lambda fs, o=_opt: getattr(fs.optimizer, o)().update([_x(3)], {"W": _x(3)}))
    _add(f"{_opt}-grads-not-dict", TypeError, r"grads must be a dict",
         lambda fs, o=_opt: getattr(fs.optimizer, o)().update(_params(), [_x((4, 5)), _x(5)]))
    _add(f"{_opt}-grads-missing-key", KeyError, r"grads has no entry for parameter\(s\) \['b'\]",
         lambda fs, o=_opt: getattr(fs.optimizer, o)().update(_params(), {"W": _x((4, 5))}))
    _add(f"{_opt}-grads-shape", ValueError, r"grads\['W'\] must have shape \(4, 5\); got \(5,\)",
         lambda fs, o=_opt: getattr(fs.optimizer, o)().update(_params(), {"W": _x(5), "b": _x(5)}))
    _add(f"{_opt}-grads-shape-transposed", ValueError, r"grads\['W'\] must have shape \(4, 5\); got \(5, 4\)",
         lambda fs, o=_opt: getattr(fs.optimizer, o)().update(_params(), {"W": _x((5, 4)), "b": _x(5)}))
    _add(f"{_opt}-grads-not-array", TypeError, r"grads\['b'\] must be a NumPy array",
         lambda fs, o=_opt: getattr(fs.optimizer, o)().update(_params(), {"W": _x((4, 5)), "b": [0.0] * 5}))
    _add(f"{_opt}-grads-complex", TypeError, r"grads\['W'\] must have a real numeric dtype",
         lambda fs, o=_opt: getattr(fs.optimizer, o)().update(_params(), {"W": np.zeros((4, 5), complex),
                                                                          "b": _x(5)}))


# ---------------------------------------------------------------- numerical_gradient
_add("numerical_gradient-x-list", TypeError, r"x must be a NumPy array",
     lambda fs: fs.gradient.numerical_gradient(lambda v: 0.0, [1.0, 2.0]))
_add("numerical_gradient-x-scalar", TypeError, r"x must be a NumPy array",
     lambda fs: fs.gradient.numerical_gradient(lambda v: 0.0, 3.0))
_add("numerical_gradient-f-not-callable", TypeError, r"f must be callable",
     lambda fs: fs.gradient.numerical_gradient(None, _x(3)))
_add("numerical_gradient_2d-x-list", TypeError, r"X must be a NumPy array",
     lambda fs: fs.gradient.numerical_gradient_2d(lambda v: 0.0, [[1.0]]))


# ---------------------------------------------------------------- networks
def _two_layer(fs):
    np.random.seed(0)
    return fs.TwoLayerNet(input_size=6, hidden_size=4, output_size=3)


def _convnet(fs):
    np.random.seed(0)
    return fs.SimpleConvNet(input_dim=(2, 8, 8), conv_param={"filter_num": 3, "filter_size": 3, "pad": 0,
                                                               "stride": 1}, hidden_size=5, output_size=3)


_add("TwoLayerNet-loss-x-features", ValueError, r"x has 7 features per sample.*expected 6",
     lambda fs: _two_layer(fs).loss(_x((4, 7)), np.array([0, 1, 2, 0])))
_add("TwoLayerNet-gradient-x-features", ValueError, r"x has 7 features per sample.*expected 6",
     lambda fs: _two_layer(fs).gradient(_x((4, 7)), np.array([0, 1, 2, 0])))
_add("TwoLayerNet-gradient-label-out-of-range", ValueError, r"t labels must be in \[0, 3\)",
     lambda fs: _two_layer(fs).gradient(_x((4, 6)), np.array([0, 1, 3, 0])))
_add("TwoLayerNet-numerical_gradient-x-features", ValueError, r"x has 7 features per sample.*expected 6",
     lambda fs: _two_layer(fs).numerical_gradient(_x((4, 7)), np.array([0, 1, 2, 0])))
_add("TwoLayerNet-numerical_gradient-label-out-of-range", ValueError, r"t labels must be in \[0, 3\)",
     lambda fs: _two_layer(fs).numerical_gradient(_x((4, 6)), np.array([0, 1, 3, 0])))
_add("TwoLayerNet-numerical_gradient-t-shape", ValueError, r"t must be one-hot of shape \(4, 3\)",
     lambda fs: _two_layer(fs).numerical_gradient(_x((4, 6)), np.array([0, 1, 2])))
_add("SimpleConvNet-loss-x-channels", ValueError, r"x has 1 channels.*expected 2",
     lambda fs: _convnet(fs).loss(_x((2, 1, 8, 8)), np.array([0, 1])))
_add("SimpleConvNet-gradient-x-3d", ValueError, r"x must be 4-D",
     lambda fs: _convnet(fs).gradient(_x((2, 8, 8)), np.array([0, 1])))
_add("SimpleConvNet-gradient-x-size", ValueError, r"x has \d+ features per sample.*expected 27",
     lambda fs: _convnet(fs).gradient(_x((2, 2, 10, 10)), np.array([0, 1])))
_add("SimpleConvNet-numerical_gradient-x-channels", ValueError, r"x has 1 channels.*expected 2",
     lambda fs: _convnet(fs).numerical_gradient(_x((2, 1, 8, 8)), np.array([0, 1])))
_add("SimpleConvNet-numerical_gradient-label-out-of-range", ValueError, r"t labels must be in \[0, 3\)",
     lambda fs: _convnet(fs).numerical_gradient(_x((2, 2, 8, 8)), np.array([0, 5])))


# ---------------------------------------------------------------- positive cases: agree with the reference
@pos("im2col-floored-output-size")  # H=7, filter 2, stride 2 -> out 3, as the book floors it
def _(lib):
    col = lib.util.im2col(_x((2, 3, 7, 7)), 2, 2, 2, 0)
    assert col.shape == (2 * 3 * 3, 12), col.shape
    return [col]


@pos("col2im-floored-output-size")
def _(lib):
    return [lib.util.col2im(_x((2 * 3 * 3, 12)), (2, 3, 7, 7), 2, 2, 2, 0)]


@pos("Convolution-floored-output-size")
def _(lib):
    layer = lib.layers.Convolution(_x((4, 3, 2, 2)), _x(4), 2, 0)
    y = layer.forward(_x((2, 3, 7, 8)))
    assert y.shape == (2, 4, 3, 4), y.shape
    return [y, layer.backward(_x(y.shape, seed=1)), layer.dW, layer.db]


@pos("Pooling-floored-output-size")
def _(lib):
    layer = lib.layers.Pooling(2, 2, 2, 0)
    y = layer.forward(_x((2, 3, 7, 5)))
    assert y.shape == (2, 3, 3, 2), y.shape
    return [y, layer.backward(_x(y.shape, seed=1))]


@pos("Pooling-window-equals-padded-input")
def _(lib):
    layer = lib.layers.Pooling(9, 8, 1, 1)
    y = layer.forward(_x((2, 3, 7, 6)))
    return [y, layer.backward(_x(y.shape, seed=1))]


for _dt in ("int64", "int32", "uint8", "bool"):
    def _ints(shape, dt=_dt):
        return (np.arange(int(np.prod(shape))).reshape(shape) % 5 - 2).astype(dt)

    @pos(f"im2col-{_dt}-input")
    def _(lib, mk=_ints):
        return [lib.util.im2col(mk((2, 3, 5, 4)), 2, 3, 1, 1)]

    @pos(f"col2im-{_dt}-input")
    def _(lib, mk=_ints):
        return [lib.util.col2im(mk((2 * 4 * 4, 3 * 6)), (2, 3, 5, 4), 2, 3, 1, 1)]

    @pos(f"Convolution-{_dt}-x")
    def _(lib, mk=_ints):
        layer = lib.layers.Convolution(_x((4, 3, 2, 2)), _x(4), 1, 0)
        y = layer.forward(mk((2, 3, 5, 4)))
        return [y, layer.backward(_x(y.shape, seed=1)), layer.dW, layer.db]

    @pos(f"Pooling-{_dt}-x")
    def _(lib, mk=_ints):
        layer = lib.layers.Pooling(2, 2, 2, 0)
        y = layer.forward(mk((2, 3, 5, 4)))
        return [y, layer.backward(_x(y.shape, seed=1))]

    @pos(f"Affine-{_dt}-x")
    def _(lib, mk=_ints):
        layer = lib.layers.Affine(_x((6, 5)), _x(5))
        y = layer.forward(mk((4, 6)))
        return [y, layer.backward(_x(y.shape, seed=1)), layer.dW, layer.db]

    @pos(f"Relu-Sigmoid-{_dt}-x")
    def _(lib, mk=_ints):
        r, s = lib.layers.Relu(), lib.layers.Sigmoid()
        return [r.forward(mk((3, 4))), s.forward(mk((3, 4))), s.backward(_x((3, 4)))]

    if _dt not in ("int64", "int32"):
        # softmax of uint8/int8/bool: the reference wraps around in x - max(x) (uint8),
        # returns float16, or refuses bool; the fast API computes in float64 (a deviation on purpose)
        continue

    @pos(f"functions-{_dt}-x")
    def _(lib, mk=_ints):
        x = mk((3, 4))
        return [lib.functions.softmax(x), lib.functions.sigmoid(x), lib.functions.relu(x)]

    @pos(f"SoftmaxWithLoss-{_dt}-x")
    def _(lib, mk=_ints):
        layer = lib.layers.SoftmaxWithLoss()
        return [layer.forward(mk((3, 4)), np.array([0, 3, 1])), layer.backward()]


@pos("im2col-float32-stays-float32")
def _(lib):
    col = lib.util.im2col(_x((2, 3, 5, 4), np.float32), 2, 2, 1, 1)
    assert col.dtype == np.float32
    return [col]


@pos("im2col-float16-as-reference")
def _(lib):
    return [lib.util.im2col(_x((2, 3, 5, 4), np.float16), 2, 2, 1, 1)]


@pos("Pooling-empty-batch-as-reference")
def _(lib):
    layer = lib.layers.Pooling(2, 2, 2, 0)
    y = layer.forward(_x((0, 3, 4, 4)))
    return [y, layer.backward(_x(y.shape))]


@pos("im2col-empty-batch-as-reference")
def _(lib):
    return [lib.util.im2col(_x((0, 3, 4, 4)), 2, 2, 1, 0)]


@pos("SoftmaxWithLoss-onehot-int-t")
def _(lib):
    layer = lib.layers.SoftmaxWithLoss()
    return [layer.forward(_x((3, 4)), np.eye(4, dtype=int)[[0, 3, 1]]), layer.backward()]


def _with_nonfinite(shape, seed=0):
    x = _x(shape, seed=seed)
    flat = x.reshape(-1)
    flat[::7] = np.nan
    flat[3::11] = np.inf
    flat[5::13] = -np.inf
    return x


@pos("nonfinite-im2col-col2im")
def _(lib):
    x = _with_nonfinite((2, 3, 7, 6))
    col = lib.util.im2col(x, 3, 2, 2, 1)
    return [col, lib.util.col2im(col, x.shape, 3, 2, 2, 1)]


@pos("nonfinite-Convolution")
def _(lib):
    layer = lib.layers.Convolution(_x((4, 3, 3, 3)), _x(4), 1, 1)
    y = layer.forward(_with_nonfinite((2, 3, 6, 5)))
    return [y, layer.backward(_x(y.shape, seed=1)), layer.dW, layer.db]


@pos("nonfinite-Pooling")
def _(lib):
    layer = lib.layers.Pooling(2, 2, 2, 0)
    y = layer.forward(_with_nonfinite((2, 3, 6, 6)))
    return [y, layer.arg_max, layer.backward(_with_nonfinite(y.shape, seed=1))]


@pos("nonfinite-Affine")
def _(lib):
    layer = lib.layers.Affine(_x((6, 5)), _x(5))
    y = layer.forward(_with_nonfinite((4, 6)))
    return [y, layer.backward(_with_nonfinite(y.shape, 1)), layer.dW, layer.db]


@pos("nonfinite-Relu-Sigmoid-Dropout")
def _(lib):
    x = _with_nonfinite((5, 6))
    r, s, d = lib.layers.Relu(), lib.layers.Sigmoid(), lib.layers.Dropout(0.5)
    np.random.seed(1)
    out = [r.forward(x), r.backward(_with_nonfinite((5, 6), 1)), s.forward(x), s.backward(_x((5, 6))),
           d.forward(x), d.backward(_with_nonfinite((5, 6), 2)), d.forward(x, False)]
    return out


@pos("nonfinite-softmax-SoftmaxWithLoss")
def _(lib):
    x = _with_nonfinite((6, 5))
    layer = lib.layers.SoftmaxWithLoss()
    return [lib.functions.softmax(x), layer.forward(x, np.array([0, 1, 2, 3, 4, 0])), layer.backward(),
            lib.functions.cross_entropy_error(np.abs(x), np.array([0, 1, 2, 3, 4, 0]))]


@pos("nonfinite-BatchNormalization")
def _(lib):
    layer = lib.layers.BatchNormalization(np.ones(6), np.zeros(6))
    y = layer.forward(_with_nonfinite((5, 6)))
    return [y, layer.backward(_x((5, 6))), layer.dgamma, layer.dbeta, layer.forward(_x((5, 6)), False)]


@pos("nonfinite-optimizers")
def _(lib):
    out = []
    for name in OPTIMIZERS:
        params = {"W": _x((4, 5)), "b": _x(5)}
        getattr(lib.optimizer, name)().update(params, {"W": _with_nonfinite((4, 5)), "b": _x(5)})
        out += [params["W"], params["b"]]
    return out


# ---------------------------------------------------------------- hypothesis: random bad shapes
def hypothesis_bad_shapes(max_examples=40):
    """Random x/W/b/t shape mismatches for Convolution, Pooling, Affine, SoftmaxWithLoss, col2im.

    Each example must raise ValueError naming the argument (never crash or
    return); prints START before each example so a crash names it.
    """
    import re

    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    import fastscratch as fs

    dims = st.integers(1, 6)

    def expect(call, pattern, label):
        print("START", label, flush=True)
        try:
            call()
        except ValueError as e:
            assert re.search(pattern, str(e)), f"{label}: message {e!r} does not match {pattern!r}"
        else:
            raise AssertionError(f"{label}: no ValueError")

    cfg = settings(max_examples=max_examples, deadline=None, derandomize=True, database=None,
                   suppress_health_check=list(HealthCheck))

    @cfg
    @given(N=dims, C=dims, Cw=dims, H=dims, W=dims, F=dims, k=st.integers(1, 4), data=st.data())
    def conv(N, C, Cw, H, W, F, k, data):
        if C != Cw:
            expect(lambda: fs.layers.Convolution(_x((F, Cw, 1, 1)), _x(F)).forward(_x((N, C, H, W))),
                   r"x has \d+ channels", f"conv-channels {N, C, Cw, H, W, F}")
        big = data.draw(st.integers(H + 1, H + 5))
        expect(lambda: fs.layers.Convolution(_x((F, C, big, 1)), _x(F)).forward(_x((N, C, H, W))),
               r"does not fit", f"conv-window {N, C, H, W, big}")
        expect(lambda: fs.layers.Pooling(big, 1, 1, 0).forward(_x((N, C, H, W))), r"does not fit",
               f"pool-window {N, C, H, W, big}")
        nb = data.draw(st.integers(0, 6).filter(lambda v: v != F))
        expect(lambda: fs.layers.Convolution(_x((F, C, 1, 1)), _x(nb)).forward(_x((N, C, H, W))),
               r"b must have shape", f"conv-bias {F, nb}")
        # col2im: a col one row or column off
        oh, ow = H - k + 1 if k <= H else None, W
        if oh:
            rows, cols = N * oh * ow, C * k
            dr, dc = data.draw(st.sampled_from([(1, 0), (-1, 0), (0, 1), (0, -1)]))
            if rows + dr > 0 and cols + dc > 0:
                expect(lambda: fs.util.col2im(_x((rows + dr, cols + dc)), (N, C, H, W), k, 1),
                       r"col must have shape", f"col2im {N, C, H, W, k, dr, dc}")

    @cfg
    @given(N=dims, D=dims, M=dims, dD=st.integers(1, 3), K=st.integers(2, 6), data=st.data())
    def dense(N, D, M, dD, K, data):
        expect(lambda: fs.layers.Affine(_x((D, M)), _x(M)).forward(_x((N, D + dD))),
               r"x has \d+ features per sample", f"affine {N, D, M, dD}")
        lab = data.draw(st.integers(K, K + 100) | st.integers(-100, -1))
        t = np.zeros(N, dtype=np.int64)
        t[data.draw(st.integers(0, N - 1))] = lab
        expect(lambda: fs.layers.SoftmaxWithLoss().forward(_x((N, K)), t), r"t labels must be in",
               f"swl-label {N, K, lab}")
        expect(lambda: fs.layers.SoftmaxWithLoss().forward(_x((N, K)), np.zeros(N + dD, dtype=int)),
               r"t must be one-hot of shape", f"swl-t-shape {N, K, dD}")

    conv()
    dense()
    return "ok"


# ---------------------------------------------------------------- the child's runner
def _describe_exc(e):
    return {"type": type(e).__name__, "msg": str(e)}


def run_error_case(fs, case_id):
    _, call, _, _ = ERROR_BY_ID[case_id]
    try:
        call(fs)
    except Exception as e:
        return {"raised": _describe_exc(e)}
    return {"raised": None}


def _same(a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return f"shape/dtype {a.shape} {a.dtype} vs the reference's {b.shape} {b.dtype}"
    if a.dtype.kind == "f":
        tol = dict(rtol=1e-5, atol=1e-6) if a.dtype.itemsize < 8 else dict(rtol=1e-12, atol=1e-12)
        if not np.allclose(a, b, equal_nan=True, **tol):
            return "values differ from the reference's (NaN/Inf compared as equal where both have them)"
    elif not np.array_equal(a, b):
        return "values differ from the reference's"
    return None


def run_positive_case(fs, ref, case_id):
    call = POSITIVE_BY_ID[case_id]
    results = {}
    for name, lib in (("reference", ref), ("fast", fs)):
        np.random.seed(0)
        try:
            with np.errstate(all="ignore"):
                results[name] = call(lib)
        except Exception as e:
            results[name] = e
    r, f = results["reference"], results["fast"]
    if isinstance(r, Exception) or isinstance(f, Exception):
        if isinstance(r, Exception) and isinstance(f, Exception):
            return {"problem": None, "note": f"both raise: {_describe_exc(r)} / {_describe_exc(f)}"}
        which = "fast" if isinstance(f, Exception) else "reference"
        e = f if which == "fast" else r
        return {"problem": f"only the {which} raises {type(e).__name__}: {e}"}
    if len(r) != len(f):
        return {"problem": "different number of outputs"}
    for i, (a, b) in enumerate(zip(f, r)):
        msg = _same(a, b)
        if msg:
            return {"problem": f"output {i}: {msg}"}
    return {"problem": None}


ERROR_BY_ID = {c[0]: c for c in ERROR_CASES}
POSITIVE_BY_ID = dict(POSITIVE_CASES)
assert len(ERROR_BY_ID) == len(ERROR_CASES) and len(POSITIVE_BY_ID) == len(POSITIVE_CASES), "duplicate case ids"


def main(kind, ids):
    import fastscratch as fs
    import fastscratch.reference as ref
    for case_id in ids:
        print("START", case_id, flush=True)
        if kind == "error":
            res = run_error_case(fs, case_id)
        else:
            res = run_positive_case(fs, ref, case_id)
        print("RESULT", json.dumps({"id": case_id, **res}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
