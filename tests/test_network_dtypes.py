"""dtype= on the networks: float64 by default with the book's draws, float32 end to end.

For every network, fast and reference: the parameters, activations, losses,
gradients, optimizer state (every optimizer) and numerical gradient of a
float32 network stay float32; seeded float32 runs of the fast networks follow
the float32 reference; load_params and ``fastscratch train --dtype`` cast and
save in the network's dtype; the book's published weights keep their accuracy
in float32.
"""
import numpy as np
import pytest

import fastscratch
from fastscratch import reference as R
from fastscratch.__main__ import main
from fastscratch.reference import params_io

from _paths import book_weight
from _tol import ACCURACY_FLOAT32, STEPS_TOL

F32 = np.dtype(np.float32)
APIS = [pytest.param(R, id="reference"), pytest.param(fastscratch, id="fast")]
OPTIMIZERS = {"sgd": ("SGD", ()), "momentum": ("Momentum", ("v",)), "nesterov": ("Nesterov", ("v",)),
              "adagrad": ("AdaGrad", ("h",)), "rmsprop": ("RMSprop", ("h",)), "adam": ("Adam", ("m", "v"))}

# name -> (builder(api, **kw), input shape of one sample); small sizes keep the reference quick
NETWORKS = {
    "TwoLayerNet": (lambda api, **kw: api.TwoLayerNet(784, 20, 10, **kw), (784,)),
    "MultiLayerNet": (lambda api, **kw: api.MultiLayerNet(784, [20, 15], 10, weight_decay_lambda=0.1,
                                                          activation="sigmoid", **kw), (784,)),
    "MultiLayerNetExtend": (lambda api, **kw: api.MultiLayerNetExtend(
        784, [20, 15], 10, use_batchnorm=True, use_dropout=True, weight_decay_lambda=0.1, **kw), (784,)),
    "SimpleConvNet": (lambda api, **kw: api.SimpleConvNet(**kw), (1, 28, 28)),
    "DeepConvNet": (lambda api, **kw: api.DeepConvNet(**kw), (1, 28, 28)),
}
# tiny variants for the numerical gradient (the reference's loop calls the loss 2x per parameter)
TINY = {
    "TwoLayerNet": (lambda api, **kw: api.TwoLayerNet(6, 4, 3, **kw), (6,)),
    "MultiLayerNet": (lambda api, **kw: api.MultiLayerNet(6, [4], 3, weight_decay_lambda=0.1, **kw), (6,)),
    "MultiLayerNetExtend": (lambda api, **kw: api.MultiLayerNetExtend(
        6, [4], 3, use_batchnorm=True, use_dropout=True, **kw), (6,)),
    "SimpleConvNet": (lambda api, **kw: api.SimpleConvNet(
        input_dim=(1, 6, 6), conv_param={"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1},
        hidden_size=3, output_size=3, **kw), (1, 6, 6)),
}


def _build(api, name, seed=0, table=NETWORKS, **kw):
    make, shape = table[name]
    np.random.seed(seed)
    return make(api, **kw), shape


def _batch(shape, n, k=10, seed=1, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.random((n,) + shape).astype(dtype), rng.integers(0, k, n)


def _assert_all_float32(arrays, what):
    bad = {key: a.dtype for key, a in arrays.items() if np.asarray(a).dtype != F32}
    assert not bad, f"{what} not float32: {bad}"


@pytest.mark.parametrize("name", list(NETWORKS))
def test_default_is_float64_and_float32_rounds_the_same_draws(name):
    default, _ = _build(R, name, seed=5)
    after_default = np.random.rand()
    f32, _ = _build(R, name, seed=5, dtype=np.float32)
    after_f32 = np.random.rand()
    assert default.dtype == np.float64 and f32.dtype == F32
    assert after_default == after_f32  # the same draws were made
    assert list(default.params) == list(f32.params)
    for key, val in default.params.items():
        assert val.dtype == np.float64, key
        assert f32.params[key].dtype == F32, key
        np.testing.assert_array_equal(f32.params[key], val.astype(np.float32), err_msg=key)


@pytest.mark.parametrize("dtype", [np.int32, bool, "complex128", "U3"])
def test_dtype_must_be_floating(dtype):
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        R.TwoLayerNet(4, 3, 2, dtype=dtype)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("name", list(NETWORKS))
def test_float32_network_stays_float32(api, name):
    net, shape = _build(api, name, dtype=np.float32)
    # float64 images and one-hot targets are converted at the network's boundary
    x, labels = _batch(shape, 4, dtype=np.float64)
    t = np.eye(10)[labels]
    _assert_all_float32(net.params, "params")
    assert net.predict(x).dtype == F32
    for layer in net._layer_sequence() + [net.last_layer]:
        for attr in ("x", "col", "col_W", "xc", "xn", "std", "out", "y", "running_mean", "running_var"):
            val = getattr(layer, attr, None)
            if isinstance(val, np.ndarray):
                assert val.dtype == F32, (type(layer).__name__, attr)
    for targets in (t, labels):
        loss = net.loss(x, targets)
        assert isinstance(loss, np.float32), type(loss)
        grads = net.gradient(x, targets)
        assert sorted(grads) == sorted(net.params)
        _assert_all_float32(grads, "gradients")
    for layer in net._layer_sequence():
        for attr in ("dW", "db", "dgamma", "dbeta"):
            val = getattr(layer, attr, None)
            if isinstance(val, np.ndarray):
                assert val.dtype == F32, (type(layer).__name__, attr)


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("name", ["MultiLayerNetExtend", "SimpleConvNet"])
def test_every_optimizer_keeps_float32(api, opt, name):
    net, shape = _build(api, name, dtype=np.float32)
    cls, state = OPTIMIZERS[opt]
    optimizer = getattr(api.optimizer, cls)(lr=0.01)
    x, t = _batch(shape, 4, dtype=np.float32)
    layers_W = [layer.W for layer in net._layer_sequence() if hasattr(layer, "W")]
    for _ in range(3):
        optimizer.update(net.params, net.gradient(x, t))
    _assert_all_float32(net.params, f"{opt}: params")
    for attr in state:
        _assert_all_float32(getattr(optimizer, attr), f"{opt}: optimizer.{attr}")
    # updated in place: the layers still hold the parameters
    assert all(any(W is p for p in net.params.values()) for W in layers_W)


@pytest.mark.parametrize("api", APIS)
def test_trainer_keeps_float32(api, mnist, tmp_path):
    (x, t), (xt, tt) = mnist  # float32 images, uint8 labels
    np.random.seed(0)
    net = api.TwoLayerNet(784, 10, 10, dtype=np.float32)
    trainer = api.Trainer(net, x[:200], t[:200], xt[:50], tt[:50], epochs=1, mini_batch_size=50,
                          optimizer="adam", optimizer_param={"lr": 0.01},
                          verbose=False).monitor(checkpoint_dir=str(tmp_path))
    trainer.train()
    assert all(isinstance(v, np.float32) for v in trainer.train_loss_list)
    _assert_all_float32(net.params, "params")
    _assert_all_float32(trainer.optimizer.m, "Adam.m")
    _assert_all_float32(params_io.load_params(tmp_path / "params.pkl"), "checkpoint")


@pytest.mark.parametrize("api", APIS)
@pytest.mark.parametrize("name", list(TINY))
def test_float32_numerical_gradient_stays_float32(api, name):
    net, shape = _build(api, name, table=TINY, dtype=np.float32)
    x, t = _batch(shape, 2, k=3)
    grads = net.numerical_gradient(x, t)
    assert sorted(grads) == sorted(net.params)
    _assert_all_float32(grads, "numerical gradient")
    for key, g in grads.items():
        assert g.shape == net.params[key].shape and np.all(np.isfinite(g)), key


@pytest.mark.parametrize("name", [n if n != "DeepConvNet" else pytest.param(n, marks=pytest.mark.slow)
                                  for n in NETWORKS])
def test_ten_adam_steps_follow_the_float32_reference(name, mnist):
    (x_all, t_all), _ = mnist
    steps, batch = 10, 10
    nets = {}
    for api in (R, fastscratch):
        net, shape = _build(api, name, seed=11, dtype=np.float32)
        optimizer = api.optimizer.Adam(lr=0.001)
        np.random.seed(12)  # batch choice and Dropout masks: the same draws in both runs
        for _ in range(steps):
            idx = np.random.choice(x_all.shape[0], batch)
            x, t = x_all[idx].reshape((batch,) + shape), t_all[idx]
            optimizer.update(net.params, net.gradient(x, t))
        nets[api] = net
    ref, fast = nets[R], nets[fastscratch]
    # The hidden biases that feed a BatchNormalization have an exact gradient of 0
    # (batch norm removes any constant): both runs move them by rounding noise,
    # which Adam's m / sqrt(v) scales up to lr per step. They are left out.
    noise = {"b1", "b2"} if name == "MultiLayerNetExtend" else set()
    largest = max(float(np.max(np.abs(p))) for p in ref.params.values())
    for key, p in ref.params.items():
        assert fast.params[key].dtype == p.dtype == F32, key
        if key in noise:
            continue
        diff = float(np.max(np.abs(fast.params[key].astype(np.float64) - p)))
        assert diff <= STEPS_TOL[F32] * largest, (key, diff, largest)


@pytest.mark.parametrize("name", ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet"])
def test_float64_network_on_float32_images_computes_as_the_book(name, monkeypatch):
    # The book feeds load_mnist's float32 images to float64 networks, where NumPy's GEMM
    # widens them exactly: the reference gives the very numbers of a widened copy, bitwise,
    # and the fast network (which widens inside its first GEMM) the same to rounding.
    x, t = _batch(NETWORKS[name][1], 7, dtype=np.float32)
    wide = x.astype(np.float64)
    ref, ref_wide, fast = (_build(api, name)[0] for api in (R, R, fastscratch))
    np.testing.assert_array_equal(ref.predict(x), ref_wide.predict(wide))
    np.random.seed(3)
    g_ref = ref.gradient(x, t)
    np.random.seed(3)
    g_wide = ref_wide.gradient(wide, t)
    np.random.seed(3)
    g_fast = fast.gradient(x, t)
    for key in g_ref:
        assert g_ref[key].dtype == g_fast[key].dtype == np.float64, key
        np.testing.assert_array_equal(g_ref[key], g_wide[key], err_msg=key)
        np.testing.assert_allclose(g_fast[key], g_ref[key], rtol=1e-9, atol=1e-12, err_msg=key)
    scores = fast.predict(x)
    assert scores.dtype == np.float64
    np.testing.assert_allclose(scores, ref.predict(x), rtol=1e-9, atol=1e-12)
    assert x.dtype == np.float32  # the caller's images are not converted in place
    # the first layer receives the float32 images themselves (its GEMM widens them), not a copy
    first = fast._layer_sequence()[0]
    seen = []
    real_forward = first.forward
    monkeypatch.setattr(first, "forward", lambda h, *a: seen.append(h.dtype) or real_forward(h, *a))
    fast.predict(x)
    assert seen == [np.float32]


@pytest.mark.parametrize("api", APIS)
def test_a_first_layer_that_is_not_a_gemm_gets_widened_images(api):
    # only a GEMM widens float32 exactly as it goes: anything else first sees the float64 copy
    from collections import OrderedDict
    x, t = _batch((784,), 6, dtype=np.float32)
    net, wide = (_build(api, "TwoLayerNet")[0] for _ in range(2))
    for n in (net, wide):  # batch norm first: its mean and variance in float32 would differ
        bn = api.layers.BatchNormalization(np.ones(784), np.zeros(784))
        n.layers = OrderedDict([("BatchNorm0", bn)] + list(n.layers.items()))
    np.testing.assert_array_equal(net.predict(x), wide.predict(x.astype(np.float64)))
    assert x.dtype == np.float32


@pytest.mark.parametrize("api", APIS)
def test_load_params_casts_to_the_network_dtype(api, tmp_path):
    src, _ = _build(api, "MultiLayerNetExtend", seed=3)  # float64, with gamma and beta
    for name in ("p.pkl", "p.npz"):
        src.save_params(str(tmp_path / name))
        net, _ = _build(api, "MultiLayerNetExtend", seed=4, dtype=np.float32)
        net.load_params(str(tmp_path / name))
        for key, val in src.params.items():
            assert net.params[key].dtype == F32, key
            np.testing.assert_array_equal(net.params[key], val.astype(np.float32), err_msg=key)
        # the layers hold the loaded arrays
        assert net.layers["Affine1"].W is net.params["W1"]
        assert net.layers["BatchNorm1"].gamma is net.params["gamma1"]
    # and a float32 file loads into a float64 network as float64 (exact)
    net.save_params(str(tmp_path / "f32.pkl"))
    wide, _ = _build(api, "MultiLayerNetExtend", seed=5)
    wide.load_params(str(tmp_path / "f32.pkl"))
    for key, val in net.params.items():
        assert wide.params[key].dtype == np.float64
        np.testing.assert_array_equal(wide.params[key], val)


def test_train_dtype_float32_saves_float32(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["train", "--net", "two_layer", "--subset", "200", "--batch-size", "50",
                   "--seed", "0", "--dtype", "float32", "--out", str(out)])
    assert status == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(", float32")
    for name in ("params.pkl", "params.npz"):
        saved = params_io.load_params(out / name)
        assert sorted(saved) == ["W1", "W2", "b1", "b2"]
        _assert_all_float32(saved, name)


def test_train_rejects_other_dtypes(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", "--dtype", "float16"])
    assert exc.value.code == 2
    assert "argument --dtype: invalid choice: 'float16'" in capsys.readouterr().err


@pytest.fixture(scope="module")
def test_images():
    from fastscratch.dataset.mnist import load_mnist
    _, (x, t) = load_mnist(normalize=True, flatten=False)
    return x, t


def _published_in_float32(name, file, hits, test_images):
    x, t = test_images
    net = getattr(fastscratch, name)(dtype=np.float32)
    net.load_params(book_weight(file))
    _assert_all_float32(net.params, "loaded params")
    assert net.predict(x[:100]).dtype == F32
    acc = net.accuracy(x, t)
    # the book's float64 figure (chapter 7 prints 0.96, chapter 8 0.9797)
    assert abs(acc - hits / 10000) <= ACCURACY_FLOAT32, acc
    _assert_all_float32(net.params, "params after inference")
    # the float32 reference predicts the same scores, within float32 rounding
    ref = getattr(R, name)(dtype=np.float32)
    ref.load_params(book_weight(file))
    ours, expected = net.predict(x[:100]), ref.predict(x[:100])
    assert expected.dtype == F32
    np.testing.assert_allclose(ours, expected, rtol=1e-4, atol=1e-4 * float(np.max(np.abs(expected))))


def test_simple_convnet_published_weights_in_float32(test_images):
    _published_in_float32("SimpleConvNet", "simple_convnet_params.pkl", 9600, test_images)


@pytest.mark.slow
def test_deep_convnet_published_weights_in_float32(test_images):
    _published_in_float32("DeepConvNet", "deep_convnet_params.pkl", 9797, test_images)


def test_bench_dtype_float32(capsys, monkeypatch):
    from fastscratch._apps import bench
    monkeypatch.setattr(bench, "CASES", [c for c in bench.CASES if c.name == "softmax-loss fwd+bwd"])
    assert main(["bench", "--quick", "--dtype", "float32"]) == 0
    text = capsys.readouterr().out
    assert "float32 inputs and parameters" in text.splitlines()[-1]
    # the builders' inputs are in the requested dtype
    shapes = dict(bench.QUICK, dtype="float32")
    rng = np.random.default_rng(0)
    assert bench._random(rng, shapes, (2, 3)).dtype == F32
    assert bench._normal(rng, shapes, (2, 3), 0.01).dtype == F32
