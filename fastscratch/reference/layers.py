"""Layers of the book's ``common/layers.py``, in NumPy: forward/backward with the book's attributes."""
import numpy as np

from .functions import cross_entropy_error, sigmoid, softmax
from .util import _col_dtype, _im2col, col2im, im2col


class Relu:
    """max(0, x). ``mask`` marks x <= 0. backward writes into dout (the book's quirk) and returns it."""

    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = x <= 0
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        return dout


class Sigmoid:
    """1 / (1 + exp(-x)); keeps its output in ``out`` for backward."""

    def __init__(self):
        self.out = None

    def forward(self, x):
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * (1.0 - self.out) * self.out


class Affine:
    """x @ W + b. x of shape (N, ...) is flattened to (N, D); dx takes x's shape back.

    W : (D, M), b : (M,). After backward: dW (D, M), db (M,).
    """

    def __init__(self, W, b):
        self.W = W
        self.b = b
        self.x = None
        self.original_x_shape = None
        self.dW = None
        self.db = None

    def forward(self, x):
        self.original_x_shape = x.shape
        self.x = x.reshape(x.shape[0], -1)
        return np.dot(self.x, self.W) + self.b

    def backward(self, dout):
        dx = np.dot(dout, self.W.T)
        self.dW = np.dot(self.x.T, dout)
        self.db = np.sum(dout, axis=0)
        return dx.reshape(*self.original_x_shape)


class SoftmaxWithLoss:
    """Softmax followed by the cross-entropy error.

    forward(x, t): x (N, K) or (K,); t one-hot of x's shape or labels. Returns the loss.
    backward(dout=1): (y - onehot(t)) / N; dout is ignored (the book's quirk).
    """

    def __init__(self):
        self.loss = None
        self.y = None
        self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = softmax(x)
        self.loss = cross_entropy_error(self.y, self.t)
        return self.loss

    def backward(self, dout=1):
        # A 1-D input is one sample: the book divides by t.shape[0] here, which
        # is K for a 1-D one-hot t (a wrong gradient) and fails for a label.
        batch_size = 1 if self.y.ndim == 1 else self.t.shape[0]
        if self.t.size == self.y.size:  # one-hot targets
            return (self.y - self.t) / batch_size
        dx = self.y.copy()
        if self.y.ndim == 1:
            dx[self.t] -= 1
        else:
            dx[np.arange(batch_size), self.t] -= 1
        return dx / batch_size


class Dropout:
    """Dropout (http://arxiv.org/abs/1207.0580), as in the book: no rescaling while training.

    Training: mask = np.random.rand(*x.shape) > dropout_ratio, out = x * mask.
    Test: out = x * (1 - dropout_ratio).
    """

    def __init__(self, dropout_ratio=0.5):
        self.dropout_ratio = dropout_ratio
        self.mask = None

    def forward(self, x, train_flg=True):
        if train_flg:
            self.mask = np.random.rand(*x.shape) > self.dropout_ratio
            return x * self.mask
        return x * (1.0 - self.dropout_ratio)

    def backward(self, dout):
        return dout * self.mask


#: The book's batch-norm epsilon (10e-7, that is 1e-6).
BN_EPS = 10e-7


class BatchNormalization:
    """Batch normalization (http://arxiv.org/abs/1502.03167) as in the book.

    Input (N, D), or (N, C, H, W) treated as N rows of C*H*W features (the
    book normalises every feature, not every channel). gamma, beta: (D,).
    Running statistics: momentum * old + (1 - momentum) * batch value.
    """

    def __init__(self, gamma, beta, momentum=0.9, running_mean=None, running_var=None):
        self.gamma = gamma
        self.beta = beta
        self.momentum = momentum
        self.input_shape = None
        self.running_mean = running_mean
        self.running_var = running_var
        self.batch_size = None
        self.xc = None
        self.xn = None
        self.std = None
        self.dgamma = None
        self.dbeta = None

    def forward(self, x, train_flg=True):
        self.input_shape = x.shape
        if x.ndim != 2:
            x = x.reshape(x.shape[0], -1)
        out = self._forward(x, train_flg)
        return out.reshape(*self.input_shape)

    def _init_running_stats(self, x):
        """Zero running statistics (D,) on the first forward, in the dtype of x and gamma combined.

        The book's np.zeros(D) is float64, which would widen a float32 network's
        test-mode output; for the book's networks (float64 gamma) it is float64 still.
        """
        if self.running_mean is None:
            dtype = np.result_type(x.dtype, np.asarray(self.gamma).dtype)
            self.running_mean = np.zeros(x.shape[1], dtype=dtype)
            self.running_var = np.zeros(x.shape[1], dtype=dtype)

    def _forward(self, x, train_flg):
        self._init_running_stats(x)
        if train_flg:
            mu = x.mean(axis=0)
            xc = x - mu
            var = np.mean(xc ** 2, axis=0)
            std = np.sqrt(var + BN_EPS)
            xn = xc / std
            self.batch_size = x.shape[0]
            self.xc = xc
            self.xn = xn
            self.std = std
            self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mu
            self.running_var = self.momentum * self.running_var + (1 - self.momentum) * var
        else:
            xc = x - self.running_mean
            xn = xc / np.sqrt(self.running_var + BN_EPS)
        return self.gamma * xn + self.beta

    def backward(self, dout):
        if dout.ndim != 2:
            dout = dout.reshape(dout.shape[0], -1)
        dx = self._backward(dout)
        return dx.reshape(*self.input_shape)

    def _backward(self, dout):
        dbeta = dout.sum(axis=0)
        dgamma = np.sum(self.xn * dout, axis=0)
        dxn = self.gamma * dout
        dxc = dxn / self.std
        dstd = -np.sum((dxn * self.xc) / (self.std * self.std), axis=0)
        dvar = 0.5 * dstd / self.std
        dxc += (2.0 / self.batch_size) * self.xc * dvar
        dmu = np.sum(dxc, axis=0)
        dx = dxc - dmu / self.batch_size
        self.dgamma = dgamma
        self.dbeta = dbeta
        return dx


class Convolution:
    """2-D convolution by im2col and one GEMM.

    W : (FN, C, FH, FW), b : (FN,). forward(x (N, C, H, W)) -> (N, FN, out_h, out_w).
    Keeps x, col (N*out_h*out_w, C*FH*FW) and col_W (C*FH*FW, FN) for backward;
    after backward: dW (FN, C, FH, FW), db (FN,).
    """

    def __init__(self, W, b, stride=1, pad=0):
        self.W = W
        self.b = b
        self.stride = stride
        self.pad = pad
        self.x = None
        self.col = None
        self.col_W = None
        self.dW = None
        self.db = None

    def forward(self, x):
        FN, C, FH, FW = self.W.shape
        N, C, H, W = x.shape
        out_h = 1 + int((H + 2 * self.pad - FH) / self.stride)
        out_w = 1 + int((W + 2 * self.pad - FW) / self.stride)
        col = im2col(x, FH, FW, self.stride, self.pad)
        col_W = self.W.reshape(FN, -1).T
        out = np.dot(col, col_W) + self.b
        out = out.reshape(N, out_h, out_w, -1).transpose(0, 3, 1, 2)
        self.x = x
        self.col = col
        self.col_W = col_W
        return out

    def backward(self, dout):
        FN, C, FH, FW = self.W.shape
        dout = dout.transpose(0, 2, 3, 1).reshape(-1, FN)
        self.db = np.sum(dout, axis=0)
        self.dW = np.dot(self.col.T, dout).transpose(1, 0).reshape(FN, C, FH, FW)
        dcol = np.dot(dout, self.col_W.T)
        return col2im(dcol, self.x.shape, FH, FW, self.stride, self.pad)


class Pooling:
    """Max pooling over pool_h x pool_w windows.

    forward(x (N, C, H, W)) -> (N, C, out_h, out_w) with
    out_h = (H + 2*pad - pool_h)//stride + 1. Padding counts in the output
    size and padded cells never win the maximum (the book forgot the pad in
    the size and padded with zeros). Ties go to the first maximum in the
    window (row-major). ``arg_max`` : (N*out_h*out_w*C,) window offsets.
    The default stride is 2 (the book's later code).
    """

    def __init__(self, pool_h, pool_w, stride=2, pad=0):
        self.pool_h = pool_h
        self.pool_w = pool_w
        self.stride = stride
        self.pad = pad
        self.x = None
        self.arg_max = None

    def forward(self, x):
        N, C, H, W = x.shape
        out_h = int(1 + (H + 2 * self.pad - self.pool_h) / self.stride)
        out_w = int(1 + (W + 2 * self.pad - self.pool_w) / self.stride)
        # -inf padding: a padded cell never wins the max
        col = _im2col(x, self.pool_h, self.pool_w, self.stride, self.pad, -np.inf)
        col = col.reshape(-1, self.pool_h * self.pool_w)
        arg_max = np.argmax(col, axis=1)
        out = np.max(col, axis=1)
        out = out.reshape(N, out_h, out_w, C).transpose(0, 3, 1, 2)
        self.x = x
        self.arg_max = arg_max
        return out

    def backward(self, dout):
        dout = dout.transpose(0, 2, 3, 1)
        pool_size = self.pool_h * self.pool_w
        dmax = np.zeros((dout.size, pool_size), dtype=_col_dtype(dout.dtype))
        dmax[np.arange(self.arg_max.size), self.arg_max.flatten()] = dout.flatten()
        dcol = dmax.reshape(dout.shape[0] * dout.shape[1] * dout.shape[2], -1)
        return col2im(dcol, self.x.shape, self.pool_h, self.pool_w, self.stride, self.pad)
