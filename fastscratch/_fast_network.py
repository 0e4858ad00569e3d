"""What makes a reference network fast: its layers and numerical gradient come from fastscratch.

Each fast network is ``class X(FastNetwork, reference.X)``: the network code is
the reference's, written once; only ``layer_lib`` and ``numerical_gradient_fn``
differ.
"""
from . import gradient as _gradient
from . import layers as _layers


class FastNetwork:
    layer_lib = _layers
    numerical_gradient_fn = staticmethod(_gradient.numerical_gradient)
