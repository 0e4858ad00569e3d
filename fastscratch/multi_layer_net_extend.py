"""The book's common.multi_layer_net_extend on fastscratch's kernels (network code shared with ``fastscratch.reference.multi_layer_net_extend``)."""
from fastscratch._network.fast_network import FastNetwork
from fastscratch.reference import multi_layer_net_extend as _reference


class MultiLayerNetExtend(FastNetwork, _reference.MultiLayerNetExtend):
    __doc__ = _reference.MultiLayerNetExtend.__doc__
