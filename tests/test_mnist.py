"""fastscratch.dataset.mnist: the bundled files, the book's return values, clear errors."""
import gzip
import hashlib
import os
import shutil

import numpy as np
import pytest

from fastscratch.dataset import mnist


def test_bundled_files_match_their_checksums():
    with open(os.path.join(mnist.BUNDLED_DIR, "SHA256SUMS")) as f:
        for line in f:
            digest, name = line.split()
            with open(os.path.join(mnist.BUNDLED_DIR, name), "rb") as g:
                assert hashlib.sha256(g.read()).hexdigest() == digest, name


def test_shapes_dtypes_and_first_labels():
    (x, t), (xt, tt) = mnist.load_mnist()
    assert x.shape == (60000, 784) and x.dtype == np.float32
    assert xt.shape == (10000, 784)
    assert 0.0 == x.min() and x.max() == 1.0
    assert t.dtype == np.uint8
    np.testing.assert_array_equal(t[:5], [5, 0, 4, 1, 9])
    np.testing.assert_array_equal(tt[:5], [7, 2, 1, 0, 4])


def test_unnormalized_unflattened_one_hot():
    (x, t), _ = mnist.load_mnist(normalize=False, flatten=False, one_hot_label=True)
    assert x.shape == (60000, 1, 28, 28) and x.dtype == np.uint8 and x.max() == 255
    assert t.shape == (60000, 10) and t.dtype == np.float64
    np.testing.assert_array_equal(t.sum(axis=1), 1)
    assert t[0, 5] == 1


def test_callers_cannot_corrupt_the_cache():
    (x, _), _ = mnist.load_mnist(normalize=False)
    x[:] = 0
    (x2, _), _ = mnist.load_mnist(normalize=False)
    assert x2.max() == 255


def _copy_dir(tmp_path):
    for name in mnist.key_file.values():
        shutil.copy(os.path.join(mnist.BUNDLED_DIR, name), tmp_path / name)
    return tmp_path


def test_other_directory_by_argument_and_environment(tmp_path, monkeypatch):
    d = _copy_dir(tmp_path)
    # a raw (not gzipped) file is accepted too
    raw = d / "t10k-labels-idx1-ubyte"
    raw.write_bytes(gzip.decompress((d / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    os.remove(d / "t10k-labels-idx1-ubyte.gz")
    (_, _), (_, tt) = mnist.load_mnist(data_dir=str(d))
    np.testing.assert_array_equal(tt[:5], [7, 2, 1, 0, 4])
    monkeypatch.setenv(mnist.ENV_VAR, str(d))
    (_, t), _ = mnist.load_mnist()
    assert len(t) == 60000


def test_missing_file_names_the_file(tmp_path):
    d = _copy_dir(tmp_path)
    os.remove(d / "train-labels-idx1-ubyte.gz")
    with pytest.raises(mnist.MNISTFileError, match="train-labels-idx1-ubyte"):
        mnist.load_mnist(data_dir=str(d))


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_file_names_the_file(tmp_path, damage):
    d = _copy_dir(tmp_path)
    p = d / "t10k-images-idx3-ubyte.gz"
    data = p.read_bytes()
    if damage == "truncate":
        p.write_bytes(gzip.compress(gzip.decompress(data)[:5000]))
    else:
        p.write_bytes(b"\x1f\x8b" + b"not really gzip" * 10)
    with pytest.raises(mnist.MNISTFileError, match="t10k-images-idx3-ubyte"):
        mnist.load_mnist(data_dir=str(d))
