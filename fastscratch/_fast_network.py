"""What makes a reference network fast: its layers and numerical gradient come from fastscratch.

Each fast network is ``class X(FastNetwork, reference.X)``: the network code is
the reference's, written once; only ``layer_lib`` and ``numerical_gradient_fn``
differ, and ``numerical_gradient`` takes the incremental kernels where they apply.
"""
from . import gradient as _gradient
from . import layers as _layers


class FastNetwork:
    layer_lib = _layers
    numerical_gradient_fn = staticmethod(_gradient.numerical_gradient)

    def numerical_gradient(self, x, t):
        """The reference's numerical gradient (same keys, shapes, dtypes; within 1e-7), incrementally.

        TwoLayerNet, MultiLayerNet, MultiLayerNetExtend and SimpleConvNet (as the
        book builds them, float64 parameters) run ``fastscratch._netgrad``: the
        network once, then per parameter element only what the element changes.
        Anything else (DeepConvNet, edited layer lists, other dtypes) runs the
        reference method with the fast layers. Where the two differ on purpose
        (dropout masks held fixed, batch-norm running statistics untouched),
        see ``fastscratch._netgrad``.
        """
        from . import _netgrad  # on first use: its kernels are not needed to train

        grads = _netgrad.incremental_numerical_gradient(self, x, t)
        if grads is None:
            return super().numerical_gradient(x, t)
        return grads
