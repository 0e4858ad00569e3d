"""A fast network's gradient skips the first layer's dx (nobody reads it); the parameter gradients stay the same."""
import numpy as np
import pytest

import fastscratch
from fastscratch._network.fast_network import FastNetwork
from fastscratch.reference.network_base import NetworkBase


def _net_and_batch(name):
    np.random.seed(3)
    rng = np.random.default_rng(3)
    if name == "SimpleConvNet":
        net = fastscratch.SimpleConvNet(input_dim=(1, 12, 12), conv_param={"filter_num": 4, "filter_size": 3,
                                        "pad": 1, "stride": 1}, hidden_size=8, output_size=5)
        x = rng.random((3, 1, 12, 12))
    elif name == "TwoLayerNet":
        net = fastscratch.TwoLayerNet(input_size=20, hidden_size=8, output_size=5)
        x = rng.random((3, 20))
    elif name == "MultiLayerNetExtend":
        net = fastscratch.MultiLayerNetExtend(input_size=20, hidden_size_list=[8, 6], output_size=5,
                                              use_batchnorm=True)
        x = rng.random((3, 20))
    else:
        net = fastscratch.MultiLayerNet(input_size=20, hidden_size_list=[8, 6], output_size=5,
                                        weight_decay_lambda=0.1)
        x = rng.random((3, 20))
    return net, x, rng.integers(0, 5, size=3)


NETS = ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet"]


@pytest.mark.parametrize("name", NETS)
def test_gradient_never_computes_the_first_dx_and_matches_the_full_backward(name, monkeypatch):
    net, x, t = _net_and_batch(name)
    first = net._layer_sequence()[0]
    full = {k: v.copy() for k, v in _full_backprop_gradient(net, x, t).items()}

    def refuse(*args, **kwargs):
        raise AssertionError("the first layer's dx was computed")
    if isinstance(first, fastscratch.layers.Convolution):
        # every route of the layer that makes dx: the col route, the direct kernels, the per-image GEMMs
        from fastscratch._layers import conv_direct as _conv_direct
        from fastscratch._layers import conv_per_image as _conv_tiled
        monkeypatch.setattr(first, "_input_grad", refuse)
        monkeypatch.setattr(_conv_direct, "backward_input", refuse)
        real_tiled = _conv_tiled.backward

        def tiled_backward(planes, conv, d, W, want_dx):
            if want_dx:
                refuse()
            return real_tiled(planes, conv, d, W, want_dx)
        monkeypatch.setattr(_conv_tiled, "backward", tiled_backward)
    else:
        monkeypatch.setattr(np, "dot", _dot_refusing(first.W.T, refuse))
    grads = net.gradient(x, t)
    monkeypatch.undo()
    assert grads.keys() == full.keys()
    for key in grads:  # the same calls in the same order for every parameter: bitwise equal
        assert grads[key].tobytes() == full[key].tobytes(), key


def _full_backprop_gradient(net, x, t):
    """net.gradient with the reference's backward pass (first layer's dx included)."""
    original = FastNetwork._backprop
    FastNetwork._backprop = NetworkBase._backprop
    try:
        return net.gradient(x, t)
    finally:
        FastNetwork._backprop = original


def _dot_refusing(WT, refuse):
    real = np.dot

    def dot(a, b, *args, **kwargs):
        if b is not None and getattr(b, "base", None) is WT.base and b.shape == WT.shape:
            refuse()
        return real(a, b, *args, **kwargs)
    return dot


@pytest.mark.parametrize("name", NETS)
def test_first_layer_backward_outside_the_network_still_returns_dx(name):
    net, x, t = _net_and_batch(name)
    net.gradient(x, t)
    first = net._layer_sequence()[0]
    assert first.skip_input_grad is False
    out = first.forward(x)
    dx = first.backward(np.ones_like(out))
    assert dx is not None and dx.shape == x.shape


def test_flag_is_reset_when_backward_fails():
    net, x, t = _net_and_batch("SimpleConvNet")
    first = net._layer_sequence()[0]
    net.loss(x, t)
    second = net._layer_sequence()[1]
    second.backward = lambda dout: (_ for _ in ()).throw(RuntimeError("boom"))
    with pytest.raises(RuntimeError, match="boom"):
        net.gradient(x, t)
    assert first.skip_input_grad is False
