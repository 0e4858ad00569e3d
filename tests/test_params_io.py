"""Parameter files: the book's pickles load, pickles that would run code do not, .npz round-trips."""
import builtins
import os
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import fastscratch
from fastscratch import reference
from fastscratch.reference import params_io
from fastscratch.reference.params_io import UnsafePickleError

from _paths import book_weight


def _params(seed=0):
    rng = np.random.default_rng(seed)
    return {"W1": rng.standard_normal((4, 3)), "b1": np.zeros(3),
            "W2": rng.standard_normal((3, 2)).astype(np.float32), "b2": np.arange(2.0)}


def _assert_same(a, b):
    assert sorted(a) == sorted(b)
    for key in a:
        assert a[key].dtype == b[key].dtype, key
        np.testing.assert_array_equal(a[key], b[key])


# --- the book's format -------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_book_pickle_loads_every_protocol(tmp_path, protocol):
    params = _params()
    path = tmp_path / "params.pkl"
    with open(path, "wb") as f:
        pickle.dump(params, f, protocol=protocol)  # as the book's save_params writes them
    _assert_same(params_io.load_params(path), params)


def test_numpy1_reconstruct_name_loads(tmp_path):
    # Files written under NumPy 1 name numpy.core.multiarray._reconstruct; NumPy 2 writes numpy._core.
    blob = pickle.dumps(_params(), protocol=2)
    blob = blob.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray\n_reconstruct" in blob
    path = tmp_path / "old.pkl"
    path.write_bytes(blob)
    _assert_same(params_io.load_params(path), _params())


def test_ordered_dict_and_numpy_scalars_load(tmp_path):
    params = OrderedDict(W=np.ones((2, 2)), lr=np.float64(0.5), n=3)
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps(params, protocol=4))
    loaded = params_io.load_params(path)
    np.testing.assert_array_equal(loaded["W"], np.ones((2, 2)))
    assert loaded["lr"] == 0.5 and loaded["n"] == 3


@pytest.mark.parametrize("name", ["sample_weight.pkl", "simple_convnet_params.pkl",
                                  "deep_convnet_params.pkl"])
def test_book_published_weights_load(name):
    params = params_io.load_params(book_weight(name))
    assert {"W1", "b1", "W2", "b2", "W3", "b3"} <= set(params)
    assert all(v.dtype.kind == "f" for v in params.values())


@pytest.mark.parametrize("api", [reference, fastscratch], ids=["reference", "fast"])
@pytest.mark.parametrize("net_name, file_name", [("SimpleConvNet", "simple_convnet_params.pkl"),
                                                 ("DeepConvNet", "deep_convnet_params.pkl")])
def test_book_weights_rebind_every_layer(api, net_name, file_name):
    # (their accuracy is checked in test_book_weights.py) load_params must rebind the
    # layers' W and b to the loaded arrays, not only replace self.params
    path = book_weight(file_name)
    net = getattr(api, net_name)()
    net.load_params(path)
    published = params_io.load_params(path)
    layers = net.layers.values() if isinstance(net.layers, dict) else net.layers
    weighted = [layer for layer in layers if hasattr(layer, "W")]
    assert len(weighted) == len(published) // 2
    for idx, layer in enumerate(weighted, start=1):
        assert layer.W is net.params[f"W{idx}"] and layer.b is net.params[f"b{idx}"]
        np.testing.assert_array_equal(layer.W, published[f"W{idx}"])


# --- pickles that would run code ---------------------------------------------------------

class _RunsShell:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, ("touch " + self.marker,))


class _RunsEval:
    def __reduce__(self):
        return (builtins.eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("protocol", [0, 2, 4, 5])
def test_pickle_calling_os_system_is_refused(tmp_path, protocol):
    marker = str(tmp_path / "pwned")
    path = tmp_path / "evil.pkl"
    path.write_bytes(pickle.dumps({"W1": np.ones(2), "b1": _RunsShell(marker)}, protocol=protocol))
    with pytest.raises(UnsafePickleError, match=r"refusing to load (os|posix)\.system"):
        params_io.load_params(path)
    assert not os.path.exists(marker), "the pickle's code ran"


def test_pickle_calling_eval_is_refused_by_network_load(tmp_path):
    path = tmp_path / "params.pkl"
    path.write_bytes(pickle.dumps(_RunsEval()))
    net = reference.TwoLayerNet(4, 3, 2)
    before = {k: v.copy() for k, v in net.params.items()}
    with pytest.raises(UnsafePickleError, match=r"builtins\.eval"):
        net.load_params(str(path))
    _assert_same(net.params, before)


def test_other_codec_is_refused(tmp_path):
    # _codecs.encode is admitted only for protocol 2's latin1 bytes.
    blob = b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x06\x00\x00\x00base64\x86R."
    path = tmp_path / "codec.pkl"
    path.write_bytes(blob)
    with pytest.raises(UnsafePickleError, match="base64"):
        params_io.load_params(path)


@pytest.mark.parametrize("payload, match", [
    ([np.ones(2)], "dict of arrays"),
    ({"W1": np.array([None, 1], dtype=object)}, "'W1' must be a numeric array"),
    ({"W1": "text"}, "'W1' must be a numeric array"),
    ({1: np.ones(2)}, "names must be strings"),
])
def test_non_parameter_content_is_refused(tmp_path, payload, match):
    path = tmp_path / "p.pkl"
    path.write_bytes(pickle.dumps(payload))
    with pytest.raises(ValueError, match=match):
        params_io.load_params(path)


# --- .npz ----------------------------------------------------------------------------------

def test_npz_round_trip_without_pickles(tmp_path):
    params = _params()
    path = tmp_path / "params.npz"
    params_io.save_params(params, path)
    with np.load(path, allow_pickle=False) as data:  # plain arrays: no pickle inside
        assert sorted(data.files) == sorted(params)
    _assert_same(params_io.load_params(path), params)


def test_npz_with_object_array_is_refused(tmp_path):
    path = tmp_path / "obj.npz"
    np.savez(path, W1=np.array([None], dtype=object))
    with pytest.raises(ValueError, match="allow_pickle"):
        params_io.load_params(path)


@pytest.mark.parametrize("suffix", [".pkl", ".npz"])
@pytest.mark.parametrize("api", [reference, fastscratch], ids=["reference", "fast"])
def test_network_round_trip(tmp_path, suffix, api):
    np.random.seed(1)
    net = api.TwoLayerNet(6, 5, 3)
    x = np.random.rand(4, 6)
    path = str(tmp_path / ("params" + suffix))
    net.save_params(path)
    other = api.TwoLayerNet(6, 5, 3, weight_init_std=1.0)
    other.load_params(path)
    _assert_same(other.params, net.params)
    np.testing.assert_array_equal(other.predict(x), net.predict(x))  # the layers use the loaded W, b


def test_batchnorm_network_round_trip_rebinds_gamma_beta(tmp_path):
    np.random.seed(2)
    net = fastscratch.MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=True)
    for val in net.params.values():
        val += np.random.rand(*val.shape)  # gamma/beta away from their 1/0 start
    path = str(tmp_path / "bn.npz")
    net.save_params(path)
    other = fastscratch.MultiLayerNetExtend(6, [5, 4], 3, use_batchnorm=True)
    other.load_params(path)
    assert other.layers["BatchNorm1"].gamma is other.params["gamma1"]
    x = np.random.rand(4, 6)
    np.testing.assert_array_equal(other.predict(x, train_flg=True), net.predict(x, train_flg=True))


@pytest.mark.parametrize("suffix", [".pkl", ".npz"])
def test_shape_mismatch_names_the_parameter(tmp_path, suffix):
    path = str(tmp_path / ("params" + suffix))
    reference.TwoLayerNet(6, 5, 3).save_params(path)
    with pytest.raises(ValueError, match=r"parameter 'W1' has shape \(6, 5\), the network expects \(6, 4\)"):
        reference.TwoLayerNet(6, 4, 3).load_params(path)


def test_missing_parameter_is_named(tmp_path):
    path = str(tmp_path / "params.pkl")
    params_io.save_params({"W1": np.ones((6, 5))}, path)
    with pytest.raises(ValueError, match=r"parameter 'b1' is missing"):
        reference.TwoLayerNet(6, 5, 3).load_params(path)


def test_failed_save_leaves_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "params.pkl"
    params_io.save_params(_params(), path)
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        params_io.save_params({"W1": np.ones(2), "bad": lambda: None}, path)
    _assert_same(params_io.load_params(path), _params())
    assert os.listdir(tmp_path) == ["params.pkl"]


@pytest.mark.parametrize("umask", [0o022, 0o077, 0o002])
def test_saved_file_mode_follows_the_umask(tmp_path, umask):
    # the atomic save's temporary file is private (0600); the saved file must get
    # the mode open() would give it (issue 15: `fastscratch train` files were 0600)
    old = os.umask(umask)
    try:
        params_io.save_params({"W": np.ones(2)}, tmp_path / "p.pkl")
        params_io.save_params({"W": np.ones(2)}, tmp_path / "p.npz")
    finally:
        os.umask(old)
    for name in ("p.pkl", "p.npz"):
        assert oct(os.stat(tmp_path / name).st_mode & 0o777) == oct(0o666 & ~umask)


def test_resave_keeps_the_existing_files_mode(tmp_path):
    path = tmp_path / "p.pkl"
    params_io.save_params({"W": np.ones(2)}, path)
    os.chmod(path, 0o640)
    params_io.save_params({"W": np.zeros(2)}, path)
    assert oct(os.stat(path).st_mode & 0o777) == oct(0o640)
