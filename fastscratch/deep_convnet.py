"""Chapter 8's DeepConvNet on fastscratch's kernels (network code shared with ``fastscratch.reference.deep_convnet``)."""
from fastscratch._network.fast_network import FastNetwork
from fastscratch.reference import deep_convnet as _reference


class DeepConvNet(FastNetwork, _reference.DeepConvNet):
    __doc__ = _reference.DeepConvNet.__doc__
