"""im2col, col2im and the Convolution layer: reference vs kernels at the book's shapes (batch 100).

float64 unless a class says otherwise; ConvLayerDtype, ConvPeakFraction and
TorchConv cover float32 too. Time these with OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE unset (``env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE ...``),
as a user's machine runs.
"""

import time

import numpy as np

from ._shared import private, shapes as _shapes
from .common import IMPLS, Benchmark, _LayerTimes, api, best_time, rng

CONV = _shapes.CONV

# label -> (x shape, filter count, filter size, pad); stride 1 throughout
SHAPES = CONV
LABELS = list(SHAPES)


DTYPES = ["float32", "float64"]


def conv_inputs(label, dtype="float64"):
    """Seeded x, W, b (of dtype), stride, pad for a shape label."""
    x_shape, fn, k, pad = SHAPES[label]
    g = rng(0)
    x = g.standard_normal(x_shape).astype(dtype)
    W = (g.standard_normal((fn, x_shape[1], k, k)) * 0.1).astype(dtype)
    b = g.standard_normal(fn).astype(dtype)
    return x, W, b, 1, pad


def settle():
    """Wait until idle BLAS and OpenMP threads have stopped spinning (about 0.1 s after their last work).

    Without it, the threads of the pool that just ran would take the cores from
    the next timed call, which interleaved timings of np.dot and a layer do not want.
    """
    time.sleep(0.25)


def settled_seconds(fn):
    """Seconds of one call of fn, after settle() and one untimed call of fn.

    After the pause the threads of fn's pool sleep, and on a virtual machine
    the first one or two parallel regions then wait for the idle core to be
    woken, a delay of milliseconds that a training loop, which never pauses,
    does not see; the untimed call wakes them.
    """
    settle()
    fn()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def conv_flops(label):
    """FLOPs of one forward+backward (with dx): 3 x 2 x N x out_h x out_w x C x FH x FW x FN."""
    (N, C, H, W), fn, k, pad = SHAPES[label]
    return 3 * 2 * N * (H + 2 * pad - k + 1) * (W + 2 * pad - k + 1) * C * k * k * fn


def _best(fn):
    return best_time(fn, number=3)


class Im2col(Benchmark):
    params = (LABELS, IMPLS)
    param_names = ["shape", "impl"]

    def setup(self, label, impl):
        self.x, W, _, self.stride, self.pad = conv_inputs(label)
        self.k = W.shape[2]
        self.mod = api(impl).util
        self.mod.im2col(self.x, self.k, self.k, self.stride, self.pad)  # compile outside the timing

    def time_im2col(self, label, impl):
        self.mod.im2col(self.x, self.k, self.k, self.stride, self.pad)


class Im2colYardstick(Benchmark):
    """np.copyto of an array the size of im2col's output: the memory-bandwidth bound im2col aims at."""
    params = (LABELS,)
    param_names = ["shape"]

    def setup(self, label):
        x, W, _, stride, pad = conv_inputs(label)
        n_rows = x.shape[0] * ((x.shape[2] + 2 * pad - W.shape[2]) // stride + 1) ** 2
        shape = (n_rows, x.shape[1] * W.shape[2] * W.shape[3])
        self.src = np.ones(shape)
        self.dst = np.empty(shape)

    def time_copyto(self, label):
        np.copyto(self.dst, self.src)

    def time_copy_new(self, label):
        # what im2col does too: a fresh array each call, so its first-touch page faults count
        self.src.copy()


class Im2colKernel(Benchmark):
    """The im2col kernel alone, into a preallocated col: the figure to hold against time_copyto."""
    params = (LABELS,)
    param_names = ["shape"]

    def setup(self, label):
        from fastscratch.kernels import conv
        self.x, W, _, self.stride, self.pad = conv_inputs(label)
        self.k = W.shape[2]
        out = (self.x.shape[2] + 2 * self.pad - self.k) // self.stride + 1
        self.col = np.empty((self.x.shape[0] * out * out, self.x.shape[1] * self.k * self.k))
        self.kernel = conv.im2col
        self.kernel(self.x, self.k, self.k, self.stride, self.pad, self.col)

    def time_im2col_into(self, label):
        self.kernel(self.x, self.k, self.k, self.stride, self.pad, self.col)


class PlaneKernels(Benchmark):
    """The stride-1 kernels alone, both dtypes, on preallocated inputs (fastscratch/kernels/planes.py,
    fastscratch/kernels/conv_taps.py, fastscratch/kernels/conv_per_image.py): padding x into planes, and each product
    made by filter taps or on the unfolded col (NotImplementedError, asv: skipped, on a
    commit or a BLAS without them).
    """
    params = (LABELS, DTYPES)
    param_names = ["shape", "dtype"]

    def setup(self, label, dtype):
        try:
            tiled = private("fastscratch._layers.conv_per_image", "fastscratch._layers.conv_per_image")
            from fastscratch.kernels import conv_taps, planes
        except ImportError:
            raise NotImplementedError("no per-filter-tap kernels here") from None
        if not hasattr(tiled, "tap_products"):  # the taps came before the choice per product
            raise NotImplementedError("no choice of kernel per product here")
        if not tiled.applies(dtype):
            raise NotImplementedError("NumPy's BLAS is not OpenBLAS")
        self.tiled, self.taps_mod, self.planes_mod = tiled, conv_taps, planes
        self.openblas = private("fastscratch._runtime.openblas", "fastscratch._blas")
        x, W, b, _, pad = conv_inputs(label, dtype)
        F, C, FH, FW = W.shape
        self.x, self.W, self.b, self.pad = x, W, b, pad
        grid = getattr(tiled, "gemm_grid", None) or tiled.input_grid  # input_grid before the rename
        self.grid = grid(x.shape[2:], (FH, FW), pad)
        self.planes = np.empty(x.shape[:2] + (self.grid.L,), dtype=dtype)
        self.nan_flags = np.empty(x.shape[0] * C, dtype=dtype)
        self.time_pad_planes(label, dtype)
        out_hw = (x.shape[2] + 2 * pad - FH + 1, x.shape[3] + 2 * pad - FW + 1)
        self.conv = tiled.Conv(self.grid, pad, x.shape[2:], out_hw)
        self.out = np.empty((x.shape[0], F) + out_hw, dtype=dtype)
        self.Wt = tiled._tap_filters(W)
        self.blas = tiled._blas_args(dtype)
        self.geom = tiled._geom(self.conv, (FH, FW), F + C, x.itemsize)
        self.dout = rng(1).standard_normal(self.out.shape).astype(dtype)
        self.time_forward_taps(label, dtype)
        for products in ((True, True, True), (False, False, False)):
            self._backward(products)

    def _backward(self, products):
        chosen = self.tiled.TapProducts(*products)
        saved, self.tiled.tap_products = self.tiled.tap_products, lambda W_shape: chosen
        try:
            self.tiled.backward(self.planes, self.conv, self.dout, self.W, True)
        finally:
            self.tiled.tap_products = saved

    def time_pad_planes(self, label, dtype):
        self.planes_mod.pad_planes(self.x, self.pad, self.pad, self.grid.Wp, self.planes, self.nan_flags)

    def time_forward_taps(self, label, dtype):
        with self.openblas.blas_single_threaded():
            self.taps_mod.forward_taps(self.blas, self.planes, self.geom, self.Wt, self.b, self.out)

    def time_backward_by_taps(self, label, dtype):
        self._backward((True, True, True))

    def time_backward_on_col(self, label, dtype):
        self._backward((False, False, False))


class Col2im(Benchmark):
    params = (LABELS, IMPLS)
    param_names = ["shape", "impl"]

    def setup(self, label, impl):
        x, W, _, self.stride, self.pad = conv_inputs(label)
        self.k = W.shape[2]
        self.shape = x.shape
        self.mod = api(impl).util
        self.col = self.mod.im2col(x, self.k, self.k, self.stride, self.pad)
        self.mod.col2im(self.col, self.shape, self.k, self.k, self.stride, self.pad)

    def time_col2im(self, label, impl):
        self.mod.col2im(self.col, self.shape, self.k, self.k, self.stride, self.pad)


class ConvLayer(_LayerTimes, Benchmark):
    params = (LABELS, IMPLS)
    param_names = ["shape", "impl"]

    def setup(self, label, impl):
        self.x, W, b, stride, pad = conv_inputs(label)
        self.layer = api(impl).layers.Convolution(W, b, stride, pad)
        out = self.layer.forward(self.x)
        self.dout = rng(1).standard_normal(out.shape)
        self.layer.backward(self.dout)

    def peakmem_forward_backward(self, label, impl):
        self.layer.forward(self.x)
        self.layer.backward(self.dout)


class ConvLayerDtype(_LayerTimes, Benchmark):
    """The kernels' Convolution forward and forward+backward in float32 and float64."""
    params = (LABELS, DTYPES)
    param_names = ["shape", "dtype"]

    def setup(self, label, dtype):
        self.x, W, b, stride, pad = conv_inputs(label, dtype)
        self.layer = api("kernels").layers.Convolution(W, b, stride, pad)
        out = self.layer.forward(self.x)
        self.dout = rng(1).standard_normal(out.shape).astype(dtype)
        self.layer.backward(self.dout)


class ConvPeakFraction(Benchmark):
    """Convolution forward+backward FLOP rate as a fraction of NumPy's 2048x2048 GEMM rate.

    Both are timed in this process, interleaved (GEMM, layer, GEMM, layer, ...),
    best of each, so a busy machine slows both alike; each timed call follows a
    pause (the idle threads of the pool that just ran go to sleep) and one
    untimed call (see settled_seconds).
    """
    params = (LABELS, DTYPES)
    param_names = ["shape", "dtype"]
    unit = "fraction of GEMM peak"
    rounds = 7

    def setup(self, label, dtype):
        x, W, b, stride, pad = conv_inputs(label, dtype)
        layer = api("kernels").layers.Convolution(W, b, stride, pad)
        dout = rng(1).standard_normal(layer.forward(x).shape).astype(dtype)
        self.step = lambda: (layer.forward(x), layer.backward(dout))
        a = rng(2).standard_normal((2048, 2048)).astype(dtype)
        self.gemm = lambda: np.dot(a, a)
        self.step()
        self.gemm()

    def track_fraction_of_gemm_peak(self, label, dtype):
        t_gemm, t_conv = [], []
        for _ in range(self.rounds):
            t_gemm.append(settled_seconds(self.gemm))
            t_conv.append(settled_seconds(self.step))
        peak = 2 * 2048 ** 3 / min(t_gemm)
        return conv_flops(label) / min(t_conv) / peak


class TorchConv(Benchmark):
    """PyTorch CPU conv2d forward+backward at the same shapes, dtypes and thread count (skipped without torch)."""
    params = (LABELS, DTYPES)
    param_names = ["shape", "dtype"]

    def setup(self, label, dtype):
        from .bench_torch import _torch
        torch = self.torch = _torch()
        x, W, b, self.stride, self.pad = conv_inputs(label, dtype)
        self.x = torch.tensor(x, requires_grad=True)
        self.W = torch.tensor(W, requires_grad=True)
        self.b = torch.tensor(b, requires_grad=True)
        out = self._forward()
        self.dout = torch.tensor(rng(1).standard_normal(tuple(out.shape)).astype(dtype))
        self.time_forward_backward(label, dtype)

    def _forward(self):
        return self.torch.nn.functional.conv2d(self.x, self.W, self.b, stride=self.stride, padding=self.pad)

    def time_forward(self, label, dtype):
        with self.torch.no_grad():
            self._forward()

    def time_forward_backward(self, label, dtype):
        self._forward().backward(self.dout)


class ConvSpeedup(Benchmark):
    """Kernels-vs-reference speedups, both measured in this process."""
    params = (LABELS,)
    param_names = ["shape"]
    unit = "x"

    def setup(self, label):
        x, W, b, stride, pad = conv_inputs(label)
        self.x, self.k, self.stride, self.pad = x, W.shape[2], stride, pad
        self.layers = {impl: api(impl).layers.Convolution(W, b, stride, pad) for impl in IMPLS}
        out = self.layers["reference"].forward(x)
        self.dout = rng(1).standard_normal(out.shape)
        for layer in self.layers.values():
            layer.forward(x)
            layer.backward(self.dout)
        self.col = api("reference").util.im2col(x, self.k, self.k, stride, pad)
        for impl in IMPLS:
            api(impl).util.col2im(self.col, x.shape, self.k, self.k, stride, pad)

    def _ratio(self, make):
        ref, fast = make("reference"), make("kernels")
        return _best(ref) / _best(fast)

    def track_speedup_im2col(self, label):
        return self._ratio(lambda impl: lambda: api(impl).util.im2col(
            self.x, self.k, self.k, self.stride, self.pad))

    def track_speedup_col2im(self, label):
        return self._ratio(lambda impl: lambda: api(impl).util.col2im(
            self.col, self.x.shape, self.k, self.k, self.stride, self.pad))

    def track_speedup_forward(self, label):
        return self._ratio(lambda impl: lambda: self.layers[impl].forward(self.x))

    def track_speedup_forward_backward(self, label):
        def make(impl):
            layer = self.layers[impl]
            return lambda: (layer.forward(self.x), layer.backward(self.dout))
        return self._ratio(make)


#: (TAP_MIN_CHANNELS, TAP_MAX_FILTERS_DW) of fastscratch/_layers/conv_per_image.py that make
#: both passes of the per-image GEMM route run by taps or on the unfolded col
_TILED_KERNELS = {"taps": (1, 10**9), "unfold": (10**9, 0)}


def force_route(route):
    """Make the kernels' Convolution take one stride-1 route.

    "tiled": the per-image GEMMs, each pass picking its kernel as the library
    does; "taps" or "unfold": the per-image GEMMs with both passes on that one
    kernel; "direct": the direct kernels; "im2col": the book's col and one GEMM.
    Returns a function that restores the routes. Raises NotImplementedError
    (asv: skipped) on a commit without that route.
    """
    _conv_direct = private("fastscratch._layers.conv_direct", "fastscratch._layers.conv_direct")
    try:
        _conv_tiled = private("fastscratch._layers.conv_per_image", "fastscratch._layers.conv_per_image")
    except NotImplementedError:
        _conv_tiled = None
    tiled = route in ("tiled", *_TILED_KERNELS)
    if tiled and (_conv_tiled is None or not _conv_tiled.applies("float64")):
        raise NotImplementedError("no per-image GEMM route here")
    if route in _TILED_KERNELS and not hasattr(_conv_tiled, "TAP_MAX_FILTERS_DW"):
        raise NotImplementedError("no choice of per-image GEMM kernel here")
    saved = [(mod, "applies", mod.applies) for mod in (_conv_direct, _conv_tiled) if mod is not None]
    off = () if tiled else {"direct": (_conv_tiled,), "im2col": (_conv_tiled, _conv_direct)}[route]
    for mod in off:
        if mod is not None:
            mod.applies = lambda *args: False
    if route in _TILED_KERNELS:
        names = ("TAP_MIN_CHANNELS", "TAP_MAX_FILTERS_DW")
        saved += [(_conv_tiled, name, getattr(_conv_tiled, name)) for name in names]
        for name, value in zip(names, _TILED_KERNELS[route]):
            setattr(_conv_tiled, name, value)

    def restore():
        for mod, name, value in saved:
            setattr(mod, name, value)
    return restore


class ConvRoute(_LayerTimes, Benchmark):
    """The kernels' Convolution on each of its stride-1 routes, both dtypes: the A/B of the designs.

    tiled: in-cache GEMMs per image (OpenBLAS), each pass choosing between one
    GEMM per filter tap (taps) and one of the image's unfolded col (unfold);
    direct: the direct kernels; im2col: the book's col matrix and one GEMM.
    """
    params = (LABELS, DTYPES, ["tiled", "taps", "unfold", "direct", "im2col"])
    param_names = ["shape", "dtype", "route"]

    def setup(self, label, dtype, route):
        self.restore = force_route(route)
        self.x, W, b, stride, pad = conv_inputs(label, dtype)
        self.layer = api("kernels").layers.Convolution(W, b, stride, pad)
        out = self.layer.forward(self.x)
        self.dout = rng(1).standard_normal(out.shape).astype(dtype)
        self.layer.backward(self.dout)

    def teardown(self, label, dtype, route):
        self.restore()
