"""The layers' GEMMs (fastscratch._layers.matmul: fixed blocks of single-threaded OpenBLAS calls on Numba's threads) beside np.dot.

Shapes of the book's networks at batch 100, float64: SimpleConvNet's conv1
GEMM (col @ col_W), its first Affine forward and input gradient, and the
dW product of DeepConvNet's 16-channel 28x28 layer (rows.T @ col); and the
book's float32 MNIST images against float64 weights (``load_mnist(normalize=True)``):
chapter 4's first layer on the whole training set, and MultiLayerNet's first layer on
the test set, where np.dot copies the images to float64 and fastscratch widens them
piece by piece in cache. ``BackwardProducts``: a 100-wide dense layer's dx and dW
(chapter 6's MultiLayerNet), one after the other with np.dot or side by side.
"""
import numpy as np

from .common import Benchmark, rng
from ._shared import private

SHAPES = {
    "conv1 col@W (57600,25)x(25,30)": ((57600, 25), (25, 30), False),
    "affine fwd (100,4320)x(4320,100)": ((100, 4320), (4320, 100), False),
    "affine dx (100,100)x(100,4320)": ((100, 100), (100, 4320), False),
    "conv2 dW (78400,16).T x (78400,144)": ((78400, 16), (78400, 144), True),
    "f32 rows ch04 (60000,784)x(784,50)": ((60000, 784), (784, 50), False),
    "f32 rows mln (10000,784)x(784,100)": ((10000, 784), (784, 100), False),
}
#: GEMMs whose first operand is float32 (the rest are float64 throughout).
FLOAT32_ROWS = {name for name in SHAPES if name.startswith("f32 rows")}
IMPLS = ["np.dot", "fastscratch"]


class GemmTime(Benchmark):
    params = [list(SHAPES), IMPLS]
    param_names = ["gemm", "impl"]

    def setup(self, gemm, impl):
        _blas = private("fastscratch._layers.matmul", "fastscratch._blas")
        sa, sb, tn = SHAPES[gemm]
        r = rng(0)
        a, b = r.random(sa), r.random(sb)
        if gemm in FLOAT32_ROWS:
            a = a.astype(np.float32)
        if impl == "np.dot":
            self.fn = (lambda: np.dot(a.T, b)) if tn else (lambda: np.dot(a, b))
        else:
            self.fn = (lambda: _blas.matmul_tn(a, b)) if tn else (lambda: _blas.matmul(a, b))
        self.fn()  # compiles (or loads) the kernels

    def time_gemm(self, gemm, impl):
        self.fn()


class BackwardProducts(Benchmark):
    """dout @ W.T and x.T @ dout of a (100, 100) x (100, 100) dense layer: np.dot twice, or one parallel region."""
    params = [IMPLS]
    param_names = ["impl"]

    def setup(self, impl):
        _blas = private("fastscratch._layers.matmul", "fastscratch._blas")
        r = rng(0)
        x, W, dout = r.random((100, 100)), r.random((100, 100)), r.random((100, 100))
        if impl == "np.dot":
            self.fn = lambda: (np.dot(dout, W.T), np.dot(x.T, dout))
        else:
            self.fn = lambda: _blas.backward_products(x, W, dout)
        self.fn()

    def time_backward_products(self, impl):
        self.fn()
