"""Chapter 5's TwoLayerNet on fastscratch's kernels (network code shared with ``fastscratch.reference.two_layer_net``)."""
from fastscratch._network.fast_network import FastNetwork
from fastscratch.reference import two_layer_net as _reference


class TwoLayerNet(FastNetwork, _reference.TwoLayerNet):
    __doc__ = _reference.TwoLayerNet.__doc__
