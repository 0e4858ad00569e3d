"""What makes a reference network fast: its layers and numerical gradient come from fastscratch.

Each fast network is ``class X(FastNetwork, reference.X)``: the network code is
the reference's, written once; only ``layer_lib`` and ``numerical_gradient_fn``
differ, and ``numerical_gradient`` takes the incremental kernels where they apply.
"""
import numpy as np

from fastscratch._core import small as _small
from fastscratch._numgrad import elementwise as _gradient
import fastscratch._layers as _layers
from fastscratch._layers.functions import sum_of_squares
from fastscratch.reference import gradient as _reference_gradient


class FastNetwork:
    layer_lib = _layers
    numerical_gradient_fn = staticmethod(_gradient.numerical_gradient)
    sum_of_squares = staticmethod(sum_of_squares)

    def _backprop(self):
        """The reference's backward pass, without the gradient of the network's input.

        The first layer's dx (the gradient of the images or features fed in) is
        thrown away by every network's ``gradient``; skipping it, as autograd
        frameworks skip inputs that need no gradient, saves the first
        convolution's dcol GEMM and col2im, a large share of a SimpleConvNet step.
        Only during this call, and only for fastscratch's own Affine and
        Convolution (``skip_input_grad``); the parameter gradients are the same.
        Returns None where the reference returns that dx (no network uses it).
        """
        first = self._layer_sequence()[0]
        if not isinstance(first, (_layers.Affine, _layers.Convolution)):
            return super()._backprop()
        first.skip_input_grad = True
        try:
            super()._backprop()
        finally:
            first.skip_input_grad = False
        return None

    def numerical_gradient(self, x, t):
        """The reference's numerical gradient (same keys, shapes, dtypes; within 1e-7), incrementally.

        Where the network's layers form a chain that ``fastscratch._numgrad.incremental``
        models (the book's TwoLayerNet, MultiLayerNet, MultiLayerNetExtend and
        SimpleConvNet as built, float64 parameters): the network once, then per
        parameter element only what the element changes. Anything else
        (DeepConvNet, edited layer lists, other dtypes) runs the reference
        method with the fast layers. Where the two differ on purpose (dropout
        masks held fixed, batch-norm running statistics untouched), see
        ``fastscratch._numgrad.incremental``.
        """
        from fastscratch._numgrad import incremental as _incremental  # on first use: its kernels are not needed to train

        stateful = any(isinstance(layer, (_layers.Dropout, _layers.BatchNormalization))
                       for layer in self._layer_sequence())
        if not stateful and _small.small_numgrad(sum(np.size(p) for p in self.params.values()), np.size(x)):
            # a tiny problem (fastscratch/_core/small.py): the book's loop, on layers that are NumPy at this
            # size. Not with dropout or batch norm, whose incremental gradient differs on purpose.
            self.numerical_gradient_fn = _reference_gradient.numerical_gradient
            try:
                return super().numerical_gradient(x, t)
            finally:
                del self.numerical_gradient_fn
        try:
            return _incremental.incremental_numerical_gradient(self, x, t)
        except _incremental.NotSupported:
            return super().numerical_gradient(x, t)
