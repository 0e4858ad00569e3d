"""Convolution and Pooling of the book's ``common/layers.py`` on Numba kernels.

Convolution with stride 1 (the book's) never builds col: where NumPy's BLAS
is OpenBLAS, it runs as small GEMMs per image, on a col made in cache or one
per filter tap straight from the padded input (fastscratch/_layers/conv_per_image.py); elsewhere 3x3 and 5x5 filters run on direct
kernels (fastscratch/_layers/conv_direct.py). ``layer.col`` is then made from the
input when first read. Other convolutions are im2col + one BLAS GEMM, as in
the book, with the layout passes fused into kernels: bias add and
NHWC->NCHW in one pass after the GEMM; the transpose of dout and db in one
pass before the backward GEMMs; col2im as a race-free gather. Pooling reads
windows in place (no im2col) and scatters its gradient by argmax (no dense
gradient matrix).
"""
import sys

import numpy as np

from fastscratch._layers import matmul as _matmul
from fastscratch._core import small as _small
from fastscratch._layers import conv_direct as _direct
from fastscratch._layers import conv_per_image as _per_image
from fastscratch._core import validate as V
from fastscratch.kernels import conv as _kc
from fastscratch.kernels import pooling as _kp
from fastscratch.reference import layers as _ref_layers
from fastscratch.reference.util import _col_dtype
from fastscratch._core.dtypes import KERNEL_DTYPES
from fastscratch._layers.im2col import check_image_batch, im2col_into, window_output_size

#: bytes of dcol made per chunk in Convolution.backward. Smaller chunks stay in cache for
#: col2im, but each chunk hands the cores from BLAS to the kernels and back (both pools
#: sleep when idle: fastscratch/_runtime/process_defaults.py); 8 MiB balances the two at the book's
#: layer sizes (docs/performance.md).
_DCOL_CHUNK_BYTES = 8 << 20


def _check_forward_ran(layer, what):
    V.check_forward_done(layer.x, what)


def _check_dout(dout, expected_shape):
    V.check_array(dout, "dout")
    V.check_shape(dout, "dout", expected_shape)
    return V.as_float(dout, "dout")


class Convolution(_ref_layers.Convolution):
    """2-D convolution (the book's layer, same attributes): per-image GEMMs, direct kernels or im2col and one GEMM.

    Parameters
    ----------
    W : ndarray of shape (FN, C, FH, FW)
    b : ndarray of shape (FN,)
    stride : int >= 1
    pad : int >= 0

    Notes
    -----
    forward(x (N, C, H, W)) -> (N, FN, out_h, out_w). Keeps x, col
    (N*out_h*out_w, C*FH*FW) and col_W (C*FH*FW, FN) for backward; after
    backward: dW (FN, C, FH, FW), db (FN,). W and b are read at every call
    (optimizers update them in place and load_params rebinds them).

    With stride 1 in float32/float64 (the per-image GEMMs, or the direct
    kernels), forward keeps a padded copy of x instead of col, and ``col`` is the
    reference's im2col of that copy, made when first read: the same values,
    whatever the caller does to x after forward. Assigning ``layer.col``
    makes backward use the assigned col, as the reference's would.
    """

    # the constructor and attributes are the reference's (inherited)

    #: the plane forward's padded input planes, their Grid, whether the per-image GEMMs made them
    #: (else the direct kernels), and the (stride, pad, W shape, x shape) they were made for
    #: (None: col is the input of backward)
    _planes = None
    _grid = None
    _per_image_gemms = False
    _plane_geometry = None
    _col = None

    @property
    def col(self):
        """The unfolded input (N*out_h*out_w, C*FH*FW) of the last forward, in x's float dtype."""
        if self._col is None and self._planes is not None:
            self._col = self._col_from_planes()
        return self._col

    @col.setter
    def col(self, value):
        self._col = value
        self._planes = self._grid = None  # an assigned col is what backward reads

    def _col_from_planes(self):
        """im2col of the kept padded planes, written over the previous col when no one else holds it."""
        planes, grid = self._planes, self._grid
        N, C = planes.shape[:2]
        FH, FW = self._filter_shape
        Hp = self._padded_h
        xp = np.ascontiguousarray(planes[:, :, :Hp * grid.Wp]).reshape(N, C, Hp, grid.Wp)
        out_h, out_w = Hp - FH + 1, grid.Wp - FW + 1
        dtype = self._col_dtype
        col = im2col_into(xp, FH, FW, 1, 0, out_h, out_w, xp.dtype,
                          out=self._spare_col((N * out_h * out_w, C * FH * FW), xp.dtype))
        return col if col.dtype == dtype else col.astype(dtype)

    def _check_params(self):
        W = V.check_array(self.W, "W")
        V.check_real_dtype(W, "W")
        V.check_ndim(W, "W", 4, "(FN, C, FH, FW)")
        V.check_real_dtype(V.check_array(self.b, "b"), "b")
        V.check_shape(self.b, "b", (W.shape[0],))
        return V.check_conv_hparams(W.shape[2], W.shape[3], self.stride, self.pad)

    def forward(self, x):
        """x : ndarray of shape (N, C, H, W) -> ndarray of shape (N, FN, out_h, out_w)."""
        FH, FW, stride, pad = self._check_params()
        xf = check_image_batch(x, "x")
        V.check_nonempty(xf, "x")
        FN, C = self.W.shape[:2]
        V.check_dim("x", xf.shape[1], C, "channels (W's C)")
        N, _, H, Wd = xf.shape
        out_h, out_w = window_output_size((H, Wd), FH, FW, stride, pad, "Convolution")
        # the reference's dtypes: col keeps x's float dtype, the GEMM promotes with W, then with b
        gemm_dtype = np.result_type(xf.dtype, self.W.dtype)
        out_dtype = np.result_type(gemm_dtype, self.b.dtype)
        col_W = self.W.reshape(FN, -1).T
        small = _small.small_conv(N * out_h * out_w * C * FH * FW * FN)
        if not small and gemm_dtype == out_dtype and stride == 1 and (
                _per_image.applies(out_dtype) or _direct.applies((FH, FW), stride, pad, out_dtype)):
            return self._forward_planes(x, xf, col_W, gemm_dtype, (out_h, out_w))
        if small or gemm_dtype not in KERNEL_DTYPES or out_dtype not in KERNEL_DTYPES:
            ref = _ref_layers.Convolution(self.W, self.b, stride, pad)
            out = ref.forward(x)
            self.x, self.col, self.col_W = x, ref.col, ref.col_W
            return out
        # im2col straight into the GEMM's dtype (casting x first is exact, as the reference's dot does)
        col_shape = (N * out_h * out_w, C * FH * FW)
        col = im2col_into(xf, FH, FW, stride, pad, out_h, out_w, gemm_dtype,
                          out=self._spare_col(col_shape, gemm_dtype))
        rows = _matmul.matmul(col, col_W.astype(gemm_dtype, copy=False))  # (N*out_h*out_w, FN)
        if rows.dtype != out_dtype:
            rows = rows.astype(out_dtype)  # float32 GEMM + float64 bias: widen exactly, as NumPy's add does
        out = np.empty((N, FN, out_h, out_w), dtype=out_dtype)
        _kc.rows_to_nchw_bias(rows, np.ascontiguousarray(self.b, dtype=out_dtype), out)
        # kept for backward: the input, the unfolded input (the reference's dtype) and col_W
        self.x = x
        self.col = col if col.dtype == _col_dtype(xf.dtype) else col.astype(_col_dtype(xf.dtype))
        self.col_W = col_W
        return out

    def _forward_planes(self, x, xf, col_W, dtype, out_hw):
        """forward (stride 1) on the per-image GEMMs, else the direct kernels; keeps the padded input planes instead of col."""
        FH, FW = self.W.shape[2:]
        pad = self.pad
        tiled = _per_image.applies(dtype)
        grid = (_per_image.gemm_grid if tiled else _direct.direct_grid)(xf.shape[2:], (FH, FW), pad)
        xc = np.ascontiguousarray(xf, dtype=dtype)
        prev = self._planes  # private: never handed out, so always safe to write over
        reuse = prev if prev is not None and prev.shape == (xf.shape[0], xf.shape[1], grid.L) \
            and prev.dtype == dtype else None
        planes, finite = _direct.to_planes(xc, pad, pad, grid, out=reuse)
        W = np.ascontiguousarray(self.W, dtype=dtype)
        b = np.ascontiguousarray(self.b, dtype=dtype)
        if tiled:
            out = _per_image.forward(planes, _per_image.Conv(grid, pad, xf.shape[2:], out_hw), W, b)
        else:
            out = _direct.forward(planes, grid, W, b, out_hw)
        # kept for backward: the input, its padded planes (col is made from them when read) and col_W
        self._spare = self.__dict__.pop("_col", None)  # the last col: memory to write the next one over
        self.col = None
        self._planes, self._grid, self._per_image_gemms = planes, grid, tiled
        self._plane_geometry = (self.stride, pad, self.W.shape, x.shape)
        self._finite_input = finite
        self._filter_shape, self._padded_h = (FH, FW), xf.shape[2] + 2 * pad
        self._col_dtype = _col_dtype(xf.dtype)
        self.x = x
        self.col_W = col_W
        return out

    #: True only while a fast network back-propagates into its first layer: backward
    #: then sets dW and db and returns None instead of computing dx.
    skip_input_grad = False

    def _spare_col(self, shape, dtype):
        """The previous col (or the spare one), to write this one over, if nothing but this layer refers to it; else None.

        A fresh col is the layer's largest array and each of its pages faults
        on first write, a noticeable share of a DeepConvNet training step. Writing over an array no one else can reach
        cannot be told from the reference's fresh one. Anyone holding
        ``layer.col`` or a view of it keeps it unchanged: then a new col is made.
        """
        holder = "_col" if self.__dict__.get("_col") is not None else "_spare"
        prev = self.__dict__.get(holder)
        if (type(prev) is np.ndarray and prev.shape == shape and prev.dtype == dtype
                and prev.flags.c_contiguous and prev.flags.writeable and prev.flags.owndata
                # references: the layer's attribute, `prev`, getrefcount's argument
                and sys.getrefcount(prev) == 3):
            self.__dict__.pop("_spare", None)  # from here on held only as the new col
            return prev
        return None

    def backward(self, dout):
        """dout : ndarray of shape (N, FN, out_h, out_w) -> dx of shape (N, C, H, W); sets dW and db."""
        _check_forward_ran(self, "Convolution")
        FN, C, FH, FW = self.W.shape
        N, _, H, Wd = self.x.shape
        out_h, out_w = window_output_size((H, Wd), FH, FW, self.stride, self.pad, "Convolution")
        d = _check_dout(dout, (N, FN, out_h, out_w))
        planes = self._planes
        # the planes serve backward only for the geometry forward made them for: a stride, pad or
        # filter changed in between sends backward to the col route, which fails as the reference's does
        if (planes is not None and self._finite_input
                and self._plane_geometry == (self.stride, self.pad, self.W.shape, self.x.shape)
                and np.result_type(self._col_dtype, d.dtype) == planes.dtype
                == np.result_type(d.dtype, self.col_W.dtype) and np.isfinite(self.col_W).all()):
            return self._backward_planes(d, planes, (H, Wd))
        # otherwise (a NaN or Inf in x or W, other dtypes, an assigned col) the reference's route
        col, col_W = self.col, self.col_W
        dw_dtype = np.result_type(col.dtype, d.dtype)
        dx_dtype = np.result_type(d.dtype, col_W.dtype)
        if (d.dtype not in KERNEL_DTYPES or dw_dtype not in KERNEL_DTYPES or dx_dtype not in KERNEL_DTYPES
                or _small.small_conv(N * out_h * out_w * C * FH * FW * FN)):
            ref = _ref_layers.Convolution(self.W, self.b, self.stride, self.pad)
            ref.x, ref.col, ref.col_W = self.x, col, col_W
            dx = ref.backward(dout)
            self.dW, self.db = ref.dW, ref.db
            return dx
        rows = np.empty((N * out_h * out_w, FN), dtype=d.dtype)
        db_parts = np.empty((N, FN), dtype=d.dtype)
        _kc.nchw_to_rows_bias_grad(np.ascontiguousarray(d), rows, db_parts)
        self.db = db_parts.sum(axis=0)  # fixed order over images: deterministic
        # dW: (FN, C*FH*FW) = rows.T @ col, the transpose of the reference's col.T @ rows
        self.dW = _matmul.matmul_tn(rows, col.astype(dw_dtype, copy=False)).astype(dw_dtype, copy=False)
        self.dW = self.dW.reshape(FN, C, FH, FW)
        if self.skip_input_grad:
            return None  # a network's first layer (FastNetwork._backprop): no one reads dx
        return self._input_grad(rows, col_W, (N, C, H, Wd), out_h * out_w, dx_dtype)

    def _backward_planes(self, d, planes, x_hw):
        """backward on the forward's kernels, from its padded planes; d (N, FN, out_h, out_w)."""
        FN, C, FH, FW = self.W.shape
        dtype = planes.dtype
        d = np.ascontiguousarray(d, dtype=dtype)  # widening a float32 dout is exact, as in the reference's dot
        # the filters of the forward (col_W), as the reference's dcol = dout @ col_W.T uses them
        W = np.ascontiguousarray(self.col_W.T, dtype=dtype).reshape(FN, C, FH, FW)
        if self._per_image_gemms:
            conv = _per_image.Conv(self._grid, self.pad, x_hw, d.shape[2:])
            # dx is None for a network's first layer (FastNetwork._backprop): no one reads it
            self.dW, self.db, dx = _per_image.backward(planes, conv, d, W, not self.skip_input_grad)
            return dx
        self.dW, self.db = _direct.backward_params(planes, self._grid, d, (FH, FW))
        if self.skip_input_grad:
            return None  # a network's first layer (FastNetwork._backprop): no one reads dx
        return _direct.backward_input(d, W, x_hw, self.pad)

    def _input_grad(self, rows, col_W, x_shape, P, dtype):
        """dx = col2im(rows @ col_W.T), a chunk of images at a time.

        The (N*out_h*out_w, C*FH*FW) dcol is the largest array of the layer;
        made a chunk of images at a time into one scratch buffer, it is never
        whole in memory and fewer fresh pages are touched.
        """
        N, C, H, W = x_shape
        FH, FW = self.W.shape[2:]
        CK = C * FH * FW
        rows = rows.astype(dtype, copy=False)
        W_rows = np.ascontiguousarray(col_W.T, dtype=dtype)  # (FN, C*FH*FW)
        per_image = P * CK * np.dtype(dtype).itemsize
        chunk = int(max(1, min(N, _DCOL_CHUNK_BYTES // max(per_image, 1))))
        buf = np.empty((chunk * P, CK), dtype=dtype)  # one scratch for every chunk of this call
        dx = np.empty(x_shape, dtype=dtype)
        for n0 in range(0, N, chunk):
            n1 = min(N, n0 + chunk)
            dcol = buf[:(n1 - n0) * P]
            _matmul.matmul(rows[n0 * P:n1 * P], W_rows, out=dcol)
            _kc.col2im(dcol, FH, FW, self.stride, self.pad, dx[n0:n1])
        return dx


class Pooling(_ref_layers.Pooling):
    """Max pooling over pool_h x pool_w windows (the book's layer, same attributes).

    Parameters
    ----------
    pool_h, pool_w : int >= 1
    stride : int >= 1 (default 2, the book's later code)
    pad : int >= 0

    Notes
    -----
    forward(x (N, C, H, W)) -> (N, C, out_h, out_w), out_h = (H + 2*pad - pool_h)//stride + 1.
    Padded cells never win; ties go to the first maximum in row-major window
    order. ``arg_max`` : int64 (N*out_h*out_w*C,) window offsets, as the reference.
    """

    # the constructor and attributes are the reference's (inherited)

    def _hparams(self):
        return (V.check_int(self.pool_h, "pool_h", 1), V.check_int(self.pool_w, "pool_w", 1),
                V.check_int(self.stride, "stride", 1), V.check_int(self.pad, "pad", 0))

    def forward(self, x):
        """x : ndarray of shape (N, C, H, W) -> ndarray of shape (N, C, out_h, out_w)."""
        ph, pw, stride, pad = self._hparams()
        xf = check_image_batch(x, "x")
        V.check_nonempty(xf, "x")  # the reference fails on N = 0 (reshape of an empty col)
        N, C, H, W = xf.shape
        out_h, out_w = window_output_size((H, W), ph, pw, stride, pad, "Pooling")
        if xf.dtype not in KERNEL_DTYPES or _small.small_layer(N * C * out_h * out_w):
            ref = _ref_layers.Pooling(ph, pw, stride, pad)
            out = ref.forward(x)
            self.x, self.arg_max = x, ref.arg_max
            return out
        out = np.empty((N, C, out_h, out_w), dtype=xf.dtype)
        arg_max = np.empty((N, out_h, out_w, C), dtype=np.intp)
        _kp.maxpool_forward(np.ascontiguousarray(xf), ph, pw, stride, pad, out, arg_max)
        # kept for backward: the input (for its shape) and the argmax, (n, oy, ox, c) flattened
        self.x = x
        self.arg_max = arg_max.reshape(-1)
        return out

    def backward(self, dout):
        """dout : ndarray of shape (N, C, out_h, out_w) -> dx of shape (N, C, H, W), dout's float dtype."""
        _check_forward_ran(self, "Pooling")
        ph, pw, stride, pad = self._hparams()
        N, C, H, W = self.x.shape
        out_h, out_w = window_output_size((H, W), ph, pw, stride, pad, "Pooling")
        d = _check_dout(dout, (N, C, out_h, out_w))
        V.check_shape(self.arg_max, "arg_max", (N * out_h * out_w * C,))
        if d.dtype not in KERNEL_DTYPES or _small.small_layer(N * C * out_h * out_w):
            ref = _ref_layers.Pooling(ph, pw, stride, pad)
            ref.x, ref.arg_max = self.x, self.arg_max
            return ref.backward(dout)
        dx = np.empty((N, C, H, W), dtype=d.dtype)
        arg_max = np.ascontiguousarray(self.arg_max, dtype=np.intp).reshape(N, out_h, out_w, C)
        _kp.maxpool_backward(np.ascontiguousarray(d), arg_max, ph, pw, stride, pad, dx)
        return dx
