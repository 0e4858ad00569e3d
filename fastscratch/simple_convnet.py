"""Chapter 7's SimpleConvNet on fastscratch's kernels (network code shared with ``fastscratch.reference.simple_convnet``)."""
from fastscratch._network.fast_network import FastNetwork
from fastscratch.reference import simple_convnet as _reference


class SimpleConvNet(FastNetwork, _reference.SimpleConvNet):
    __doc__ = _reference.SimpleConvNet.__doc__
