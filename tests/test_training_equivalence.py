"""Whole-run equivalence: the fast networks and Trainer follow the reference step by step under one seed.

Each network is trained for 50 Trainer steps on a small MNIST subset with each
optimizer, once on fastscratch and once on fastscratch.reference, from the same
np.random.seed (weight draws, mini-batch choices and Dropout masks all come from
NumPy's global generator in the same order). Parameters and loss lists must agree.
"""
import numpy as np
import pytest

import fastscratch
from fastscratch import reference as R
from fastscratch.trainer import Trainer
from fastscratch.reference.trainer import Trainer as RefTrainer

OPTIMIZERS = {"sgd": {"lr": 0.1}, "momentum": {"lr": 0.05}, "nesterov": {"lr": 0.05},
              "adagrad": {"lr": 0.05}, "rmsprop": {"lr": 0.005}, "adam": {"lr": 0.005}}
STEPS = 50
TRAIN, TEST, BATCH = 250, 100, 25  # 10 steps per epoch: 5 epochs of evaluation


@pytest.fixture(scope="module")
def data(mnist):
    (x_train, t_train), (x_test, t_test) = mnist
    return x_train[:TRAIN], t_train[:TRAIN], x_test[:TEST], t_test[:TEST]


def _crop(x):
    # 12x12 centre of the 28x28 digits, so SimpleConvNet stays small
    return np.ascontiguousarray(x.reshape(-1, 1, 28, 28)[:, :, 8:20, 8:20])


NETWORKS = {
    "TwoLayerNet": (lambda lib: lib.TwoLayerNet(784, 30, 10), False),
    "MultiLayerNetExtend": (lambda lib: lib.MultiLayerNetExtend(
        784, [20, 15], 10, use_batchnorm=True, use_dropout=True, weight_decay_lambda=0.1), False),
    "SimpleConvNet": (lambda lib: lib.SimpleConvNet(
        input_dim=(1, 12, 12), conv_param={"filter_num": 4, "filter_size": 3, "pad": 0, "stride": 1},
        hidden_size=20, output_size=10), True),
}


def _train(lib, trainer_cls, net_name, opt, data, seed):
    make, conv = NETWORKS[net_name]
    x_train, t_train, x_test, t_test = data
    if conv:
        x_train, x_test = _crop(x_train), _crop(x_test)
    np.random.seed(seed)
    net = make(lib)
    trainer = trainer_cls(net, x_train, t_train, x_test, t_test, epochs=STEPS * BATCH // TRAIN,
                          mini_batch_size=BATCH, optimizer=opt, optimizer_param=OPTIMIZERS[opt],
                          evaluate_sample_num_per_epoch=None, verbose=False)
    trainer.train()
    after = np.random.rand()  # where the global generator ended up
    return net, trainer, after


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("net_name", list(NETWORKS))
def test_training_run_matches_reference(net_name, opt, data):
    fast_net, fast_tr, fast_after = _train(fastscratch, Trainer, net_name, opt, data, seed=7)
    ref_net, ref_tr, ref_after = _train(R, RefTrainer, net_name, opt, data, seed=7)
    assert len(fast_tr.train_loss_list) == len(ref_tr.train_loss_list) == STEPS
    assert fast_after == ref_after  # the same random draws were made
    np.testing.assert_allclose(fast_tr.train_loss_list, ref_tr.train_loss_list, rtol=1e-8, atol=1e-10)
    assert fast_tr.train_acc_list == ref_tr.train_acc_list
    assert fast_tr.test_acc_list == ref_tr.test_acc_list
    assert sorted(fast_net.params) == sorted(ref_net.params)
    # The hidden biases of the batch-norm net feed a BatchNormalization, which
    # removes any constant: their exact gradient is 0 and what they hold is
    # accumulated rounding noise (~1e-11, amplified by AdaGrad/RMSprop/Adam's
    # g/sqrt(h)). Noise agrees only in absolute terms, hence their atol.
    noise = {f"b{i}" for i in (1, 2)} if net_name == "MultiLayerNetExtend" else set()
    for key, ref_val in ref_net.params.items():
        assert fast_net.params[key].dtype == ref_val.dtype
        atol = 1e-9 if key in noise else 1e-12
        np.testing.assert_allclose(fast_net.params[key], ref_val, rtol=1e-8, atol=atol, err_msg=key)
    # the layers still hold the very arrays in params (updated in place)
    for layer in fast_net._layer_sequence():
        if hasattr(layer, "W"):
            assert any(layer.W is p for p in fast_net.params.values())
