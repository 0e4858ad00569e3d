"""Chapter 4's TwoLayerNet on fastscratch (network code shared with ``fastscratch.reference.ch04_two_layer_net``).

The functions come from ``fastscratch.functions`` and the matrix products from
``fastscratch._layers.matmul`` (the book's float32 MNIST batches are widened in cache, not copied); ``numerical_gradient`` is
incremental (``fastscratch._numgrad.incremental``: the network once, then per parameter
element only what it changes) where the parameters are float64 and x is a
batch (N, input_size), and the reference method otherwise.
"""
from fastscratch._layers import matmul as _matmul
from fastscratch._layers import functions as _functions
from fastscratch._numgrad import elementwise as _gradient
from fastscratch._core.not_supported import NotSupported
from fastscratch.reference import ch04_two_layer_net as _reference


class TwoLayerNet(_reference.TwoLayerNet):
    __doc__ = _reference.TwoLayerNet.__doc__
    function_lib = _functions
    numerical_gradient_fn = staticmethod(_gradient.numerical_gradient)
    dot = staticmethod(_matmul.dot)

    def numerical_gradient(self, x, t):
        """The reference's numerical gradient (same keys, shapes, dtypes; within 1e-7), incrementally."""
        from fastscratch._numgrad import incremental as _incremental  # on first use: its kernels are not needed to train

        try:
            return _incremental.sigmoid_two_layer_gradient(self, x, t)
        except NotSupported:
            return super().numerical_gradient(x, t)
