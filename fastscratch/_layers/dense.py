"""The book's dense layers on Numba kernels: Relu, Sigmoid, Affine, SoftmaxWithLoss, Dropout, BatchNormalization.

Each class subclasses its reference twin, so constructors, attribute names and
attribute values are the book's; only forward/backward differ. Arguments are
checked here, before any kernel runs (Numba does no bounds checking). Inputs
the kernels are not compiled for (integer arrays, mixed float widths that a
kernel would have to widen, ...) take the reference's NumPy code, which gives
the reference's dtypes by construction.

Book quirks kept on purpose: Relu.backward writes into ``dout`` and returns
it; SoftmaxWithLoss.backward ignores ``dout``; Dropout does not rescale while
training; BatchNormalization normalises every feature of a 4-D input (not per
channel).
"""
import numpy as np

from fastscratch._layers import matmul as _matmul
from fastscratch._core import small as _small
from fastscratch._layers import functions as _functions
from fastscratch._core.dtypes import KERNEL_CHARS
from fastscratch._core.validate import as_float, check_array, check_dim, check_forward_done, check_min_ndim, check_ndim, check_nonempty, check_shape
from fastscratch.kernels import dense as _kd
from fastscratch.kernels import norm as _kn
from fastscratch.kernels import softmax_ce as _ks
from fastscratch.kernels._jit import pick as _pick
from fastscratch.reference import functions as _ref_functions
from fastscratch.reference import layers as _reference
from fastscratch.reference.layers import BN_EPS


def _flat(a):
    """A C-contiguous flat view of a (a copy only when a is strided; the copy is never written)."""
    return np.ascontiguousarray(a).reshape(-1)


class Relu(_reference.Relu):
    __doc__ = _reference.Relu.__doc__

    def forward(self, x):
        check_array(x, "x", real=True)
        if x.dtype.char not in KERNEL_CHARS or _small.small_layer(x.size):
            return super().forward(x)
        out = np.empty(x.shape, dtype=x.dtype)
        mask = np.empty(x.shape, dtype=np.bool_)
        _pick(x.size, _kd.relu_forward, _kd.relu_forward_serial, True)(_flat(x), out.reshape(-1),
                                                                  mask.reshape(-1))
        self.mask = mask  # x <= 0, kept for backward
        return out

    def backward(self, dout):
        check_forward_done(self.mask, "Relu")
        check_array(dout, "dout", real=True)
        check_shape(dout, "dout", self.mask.shape)
        if (dout.dtype.char in KERNEL_CHARS and dout.flags.c_contiguous and dout.flags.writeable
                and not _small.small_layer(dout.size)):
            # in place, as the book does: the caller's dout is zeroed where x <= 0
            _pick(dout.size, _kd.relu_backward, _kd.relu_backward_serial, True)(dout.reshape(-1),
                                                                          self.mask.reshape(-1))
            return dout
        return super().backward(dout)


class Sigmoid(_reference.Sigmoid):
    __doc__ = _reference.Sigmoid.__doc__

    def forward(self, x):
        check_array(x, "x", real=True)
        self.out = _functions.sigmoid(x)  # kept for backward
        return self.out

    def backward(self, dout):
        check_forward_done(self.out, "Sigmoid")
        check_array(dout, "dout", real=True)
        y = self.out
        check_shape(dout, "dout", y.shape)
        if dout.dtype != y.dtype or y.dtype.char not in KERNEL_CHARS or _small.small_layer(y.size):
            return super().backward(dout)
        dx = np.empty(y.shape, dtype=y.dtype)
        _pick(y.size, _kd.sigmoid_backward, _kd.sigmoid_backward_serial)(_flat(dout), _flat(y),
                                                                          dx.reshape(-1))
        return dx


class Affine(_reference.Affine):
    __doc__ = _reference.Affine.__doc__

    def _check_params(self):
        W, b = self.W, self.b
        check_ndim(check_array(W, "W", real=True), "W", 2, "(D, M)")
        check_shape(check_array(b, "b", real=True), "b", (W.shape[1],))
        return W, b

    def forward(self, x):
        W, b = self.W, self.b
        if not (type(x) is np.ndarray and type(W) is np.ndarray and type(b) is np.ndarray and x.ndim == 2
                and W.ndim == 2 and b.ndim == 1 and x.dtype.char in KERNEL_CHARS and W.dtype.char in KERNEL_CHARS
                and b.dtype.kind == "f" and x.shape[0] and x.shape[1] == W.shape[0] and b.shape[0] == W.shape[1]):
            # anything but a float (N, D) batch and float W, b that fit: the checks, one by one, for their messages
            W, b = self._check_params()
            check_array(x, "x", real=True)
            check_min_ndim(x, "x", 1, "(N, ...)")
            check_nonempty(x, "x")
        x2 = x.reshape(x.shape[0], -1)  # (N, D): a tensor input is flattened per sample
        check_dim("x", x2.shape[1], W.shape[0], "features per sample (W has D rows)")
        self.original_x_shape = x.shape
        self.x = x2  # kept for dW in backward
        xg = x2 if x2.dtype is W.dtype else _matmul.wide_copy(x2, W.dtype)
        self._gemm_x = (x2, xg)  # a float64 copy of float32 images is made once, for both GEMMs
        if not _small.small_layer(x2.shape[0] * W.shape[1]):
            out = _matmul.affine_forward(xg, W, b)  # a small layer: GEMM and bias in one kernel call
            if out is not None:
                return out
        out = _matmul.matmul(xg, W)
        if (out.dtype.char not in KERNEL_CHARS or _small.small_layer(out.size)
                or (b.dtype is not out.dtype and np.result_type(out.dtype, b.dtype) != out.dtype)):
            return out + b
        if b.dtype is not out.dtype or not b.flags.c_contiguous:
            b = np.ascontiguousarray(b, dtype=out.dtype)  # exact widening, as NumPy's add does
        # bias added in place into the fresh GEMM output: no second (N, M) array
        _pick(out.size, _kd.bias_add, _kd.bias_add_serial, True)(out, b)
        return out

    #: True only while a fast network back-propagates into its first layer: backward
    #: then sets dW and db and returns None instead of computing dx.
    skip_input_grad = False
    #: (self.x, the array the forward GEMM read: self.x or its float64 copy), set by forward.
    _gemm_x = None

    def backward(self, dout):
        x, W = self.x, self.W
        check_forward_done(x, "Affine")
        kept = self._gemm_x
        if not (type(dout) is np.ndarray and dout.ndim == 2 and dout.dtype.kind in "biuf"
                and dout.shape[0] == x.shape[0] and dout.shape[1] == W.shape[1]):
            check_array(dout, "dout", real=True)
            check_shape(dout, "dout", (x.shape[0], W.shape[1]))
        xg = kept[1] if kept is not None and kept[0] is x else x  # x's copy, unless x was replaced since
        if not _small.small_layer(dout.size):
            grads = _matmul.affine_backward(xg, W, dout, not self.skip_input_grad)  # a small layer: one kernel call
            if grads is not None:
                dx, self.dW, self.db = grads
                return self._input_shaped(dx)
        if self.skip_input_grad:
            dx, self.dW = None, _matmul.matmul_tn(xg, dout)
        else:
            dx, self.dW = _matmul.backward_products(xg, W, dout)
        if dout.dtype.char in KERNEL_CHARS and dout.flags.c_contiguous and not _small.small_layer(dout.size):
            db = np.empty(dout.shape[1], dtype=dout.dtype)
            _pick(dout.size, _kd.col_sum, _kd.col_sum_serial, True)(dout, db)
            self.db = db
        else:
            self.db = np.sum(dout, axis=0)
        return self._input_shaped(dx)

    def _input_shaped(self, dx):
        """dx (N, D) in the shape forward's x had (None stays None)."""
        shape = self.original_x_shape
        return dx if dx is None or len(shape) == 2 else dx.reshape(*shape)


class SoftmaxWithLoss(_reference.SoftmaxWithLoss):
    __doc__ = _reference.SoftmaxWithLoss.__doc__

    def __init__(self):
        super().__init__()
        self._labels = None  # (N,) intp labels when t was given as labels, else None (one-hot)

    def forward(self, x, t):
        # Lean path for the common case (C-contiguous float (N, K) scores, int
        # labels or same-dtype one-hot): a handful of attribute checks, since at
        # (100, 10) the Python around the kernel is most of the time.
        if (type(x) is np.ndarray and x.ndim == 2 and x.dtype.char in KERNEL_CHARS
                and x.flags.c_contiguous and type(t) is np.ndarray and x.size > 0
                and not _small.small_layer(x.size)):
            N, K = x.shape
            if t.ndim == 1 and t.shape[0] == N and t.dtype.kind in "iu":
                idx = t if t.dtype == np.intp else t.astype(np.intp)
                if not _ks.labels_in_range(idx, K):
                    raise ValueError(f"t labels must be in [0, {K}); got values from {t.min()} to {t.max()}")
                return self._run(x, t, x, idx, False)
            if t.shape == x.shape and t.dtype.kind in "biuf":
                return self._run(x, t, x, t.argmax(axis=1), True)
        # general path: 1-D input (one sample), strided or integer scores, other target forms
        x = as_float(x, "x")
        x2, idx, onehot = _functions._batch(x, t, "x", "t")
        return self._run(x, t, x2, idx, onehot)

    def _run(self, x, t, x2, idx, onehot):
        """Softmax and loss of x2 (N, K) against labels idx; y keeps x's shape."""
        N = x2.shape[0]
        if x2.dtype.char in KERNEL_CHARS and not _small.small_layer(x2.size):
            y = np.empty(x2.shape, dtype=x2.dtype)
            rowlog = np.empty(N)
            total = _pick(x2.size, _ks.softmax_ce, _ks.softmax_ce_serial)(x2, idx, y, rowlog)
            loss = _functions._mean_loss(total, x2.dtype, N)
        else:  # float16, longdouble (no kernel), a tiny batch: the reference's expressions, in x's dtype
            y = _ref_functions.softmax(x2)
            loss = _ref_functions.cross_entropy_error(y, idx)
        self.t = t
        self.y = y if x.ndim == 2 else y.reshape(x.shape)
        self._labels = None if onehot else idx
        self.loss = loss
        return self.loss

    def backward(self, dout=1):
        y, t = self.y, self.t
        check_forward_done(y, "SoftmaxWithLoss")
        if y.ndim == 2 and y.dtype.char in KERNEL_CHARS and y.flags.c_contiguous and not _small.small_layer(y.size):
            # the common case in a few attribute tests (at (100, 10) the Python is most of the time)
            labels = self._labels
            if labels is not None:
                dx = np.empty(y.shape, dtype=y.dtype)
                _pick(y.size, _ks.softmax_ce_backward_labels, _ks.softmax_ce_backward_labels_serial)(y, labels, dx)
                return dx
            if type(t) is np.ndarray and t.dtype is y.dtype and t.flags.c_contiguous and t.shape == y.shape:
                dx = np.empty(y.shape, dtype=y.dtype)
                _pick(y.size, _ks.softmax_ce_backward_onehot, _ks.softmax_ce_backward_onehot_serial)(y, t, dx)
                return dx
        y2 = y.reshape(-1, y.shape[-1])  # a 1-D y is one sample: batch size 1, as the reference
        small = _small.small_layer(y2.size)
        if self._labels is not None and (y.dtype.char not in KERNEL_CHARS or small):
            # float16, longdouble, a tiny batch: the reference's expression, in y's dtype
            dx = y2.copy()
            dx[np.arange(y2.shape[0]), self._labels] -= 1
            return (dx / y2.shape[0]).reshape(y.shape)
        if self._labels is not None:
            dx = np.empty(y2.shape, dtype=y2.dtype)
            _pick(y2.size, _ks.softmax_ce_backward_labels,
                  _ks.softmax_ce_backward_labels_serial)(y2, self._labels, dx)
            return dx.reshape(y.shape)
        if t.dtype != y.dtype or y.dtype.char not in KERNEL_CHARS or small:
            # (y - t) widens to result_type(y, t): the reference's expression
            return (y - t) / (1 if y.ndim == 1 else t.shape[0])
        dx = np.empty(y2.shape, dtype=y2.dtype)
        _pick(y2.size, _ks.softmax_ce_backward_onehot,
              _ks.softmax_ce_backward_onehot_serial)(y2, np.ascontiguousarray(t).reshape(y2.shape), dx)
        return dx.reshape(y.shape)


class Dropout(_reference.Dropout):
    __doc__ = _reference.Dropout.__doc__

    def forward(self, x, train_flg=True):
        check_array(x, "x", real=True)
        if train_flg:
            # the reference's draw, same call and shape, so seeded runs match it
            r = np.random.rand(*x.shape)
            ratio = self.dropout_ratio
            if x.dtype.char not in KERNEL_CHARS or not isinstance(ratio, (int, float)):
                self.mask = r > ratio
                return x * self.mask
            out = np.empty(x.shape, dtype=x.dtype)
            mask = np.empty(x.shape, dtype=np.bool_)
            _pick(x.size, _kd.dropout_forward, _kd.dropout_forward_serial, True)(
                _flat(x), r.reshape(-1), float(ratio), mask.reshape(-1), out.reshape(-1))
            self.mask = mask  # r > dropout_ratio, kept for backward
            return out
        c = 1.0 - self.dropout_ratio
        if x.dtype.char not in KERNEL_CHARS or type(c) is not float:
            return x * c
        out = np.empty(x.shape, dtype=x.dtype)
        # a Python float takes x's dtype in NumPy's x * c: cast it once the same way
        _pick(x.size, _kd.scale, _kd.scale_serial, True)(_flat(x), x.dtype.type(c), out.reshape(-1))
        return out

    def backward(self, dout):
        check_forward_done(self.mask, "Dropout")
        check_array(dout, "dout", real=True)
        check_shape(dout, "dout", self.mask.shape)
        if dout.dtype.char not in KERNEL_CHARS:
            return dout * self.mask
        dx = np.empty(dout.shape, dtype=dout.dtype)
        _pick(dout.size, _kd.mask_mul, _kd.mask_mul_serial, True)(_flat(dout), self.mask.reshape(-1),
                                                            dx.reshape(-1))
        return dx


class BatchNormalization(_reference.BatchNormalization):
    __doc__ = _reference.BatchNormalization.__doc__

    def forward(self, x, train_flg=True):
        check_array(x, "x", real=True)
        check_min_ndim(x, "x", 2, "(N, D) or (N, C, H, W)")
        check_nonempty(x, "x")
        return super().forward(x, train_flg)  # reshapes to (N, D), calls _forward, reshapes back

    def _check_params(self, D):
        g, b = self.gamma, self.beta
        check_shape(check_array(g, "gamma", real=True), "gamma", (D,))
        check_shape(check_array(b, "beta", real=True), "beta", (D,))
        return g, b

    def _forward(self, x, train_flg):
        N, D = x.shape
        gamma, beta = self._check_params(D)
        self._init_running_stats(x)
        if (x.dtype.char not in KERNEL_CHARS or gamma.dtype.char not in KERNEL_CHARS
                or beta.dtype != gamma.dtype):
            return super()._forward(x, train_flg)
        out_dtype = np.result_type(gamma, x, beta)
        x = np.ascontiguousarray(x)
        gamma, beta = np.ascontiguousarray(gamma), np.ascontiguousarray(beta)
        if train_flg:
            dt = x.dtype
            mu, var, std = (np.empty(D, dtype=dt) for _ in range(3))
            xc = np.empty((N, D), dtype=dt)
            xn = np.empty((N, D), dtype=dt)
            out = np.empty((N, D), dtype=out_dtype)
            _pick(x.size, _kn.bn_forward_train, _kn.bn_forward_train_serial, True)(
                x, gamma, beta, dt.type(BN_EPS), mu, var, std, xc, xn, out)
            # kept for backward (the reference's attributes)
            self.batch_size = N
            self.xc = xc
            self.xn = xn
            self.std = std
            m = self.momentum
            self.running_mean = m * self.running_mean + (1 - m) * mu
            self.running_var = m * self.running_var + (1 - m) * var
            return out
        mean, rvar = self.running_mean, self.running_var
        if not (type(mean) is np.ndarray and type(rvar) is np.ndarray):
            return super()._forward(x, train_flg)
        check_shape(mean, "running_mean", (D,))
        check_shape(rvar, "running_var", (D,))
        if mean.dtype.char not in KERNEL_CHARS or rvar.dtype.char not in KERNEL_CHARS:
            return super()._forward(x, train_flg)
        sd = np.sqrt(rvar + BN_EPS)
        out_dtype = np.result_type(gamma, np.result_type(x, mean, sd), beta)
        out = np.empty((N, D), dtype=out_dtype)
        _pick(x.size, _kn.bn_forward_test, _kn.bn_forward_test_serial, True)(
            x, gamma, beta, np.ascontiguousarray(mean), sd, out)
        return out

    def backward(self, dout):
        check_forward_done(self.xn, "BatchNormalization")
        check_array(dout, "dout", real=True)
        check_min_ndim(dout, "dout", 2, "(N, D) or (N, C, H, W)")
        return super().backward(dout)  # reshapes to (N, D), calls _backward, reshapes back

    def _backward(self, dout):
        check_shape(dout, "dout", self.xc.shape)
        gamma = self.gamma
        dt = self.xc.dtype
        if not (dout.dtype == dt and gamma.dtype == dt and self.std.dtype == dt and dt.char in KERNEL_CHARS):
            return super()._backward(dout)
        N, D = dout.shape
        dbeta, dgamma, dvar, dmu = (np.empty(D, dtype=dt) for _ in range(4))
        dx = np.empty((N, D), dtype=dt)
        _pick(dout.size, _kn.bn_backward, _kn.bn_backward_serial, True)(
            np.ascontiguousarray(dout), np.ascontiguousarray(gamma), self.xc, self.xn, self.std,
            dbeta, dgamma, dvar, dmu, dx)
        self.dgamma = dgamma
        self.dbeta = dbeta
        return dx
