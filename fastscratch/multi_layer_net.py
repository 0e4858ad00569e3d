"""The book's common.multi_layer_net on fastscratch's kernels (network code shared with ``fastscratch.reference.multi_layer_net``)."""
from fastscratch._network.fast_network import FastNetwork
from fastscratch.reference import multi_layer_net as _reference


class MultiLayerNet(FastNetwork, _reference.MultiLayerNet):
    __doc__ = _reference.MultiLayerNet.__doc__
