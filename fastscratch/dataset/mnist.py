"""MNIST, as the book's ``dataset/mnist.py`` returns it, from files bundled in the package.

The four IDX files (gzip) ship in ``fastscratch/dataset/data``; nothing is
downloaded. Point ``load_mnist(data_dir=...)`` or the ``FASTSCRATCH_MNIST_DIR``
environment variable at another directory holding the standard files (gzipped
or not) to use those instead.

MNIST is by Yann LeCun, Corinna Cortes and Christopher J.C. Burges (CC BY-SA 3.0).
"""
import gzip
import hashlib
import os

import numpy as np

key_file = {
    'train_img': 'train-images-idx3-ubyte.gz',
    'train_label': 'train-labels-idx1-ubyte.gz',
    'test_img': 't10k-images-idx3-ubyte.gz',
    'test_label': 't10k-labels-idx1-ubyte.gz',
}
train_num = 60000
test_num = 10000
img_dim = (1, 28, 28)
img_size = 784

#: Directory of the bundled files.
BUNDLED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data")
ENV_VAR = "FASTSCRATCH_MNIST_DIR"

_IMG_MAGIC, _LABEL_MAGIC = 2051, 2049
_cache = {}


class MNISTFileError(ValueError):
    """An MNIST file is missing, corrupt or not in the IDX format."""


def _bundled_sha256():
    sums = {}
    with open(os.path.join(BUNDLED_DIR, "SHA256SUMS")) as f:
        for line in f:
            digest, name = line.split()
            sums[name] = digest
    return sums


def _read_idx(path, magic, check_sha256=None):
    """Read one IDX file (gzip or raw) and return its uint8 payload with its dims."""
    if not os.path.exists(path):
        raw = path[:-3] if path.endswith(".gz") else path + ".gz"
        if os.path.exists(raw):
            path = raw
        else:
            raise MNISTFileError(f"MNIST file not found: {path}")
    with open(path, "rb") as f:
        blob = f.read()
    if check_sha256 is not None and hashlib.sha256(blob).hexdigest() != check_sha256:
        raise MNISTFileError(f"MNIST file is corrupt (SHA-256 mismatch): {path}; reinstall fastscratch")
    try:
        data = gzip.decompress(blob) if blob[:2] == b"\x1f\x8b" else blob
    except (OSError, EOFError) as exc:
        raise MNISTFileError(f"MNIST file is corrupt (bad gzip data): {path}: {exc}") from None
    ndim = magic - 2048
    if len(data) < 4 + 4 * ndim or int.from_bytes(data[:4], "big") != magic:
        raise MNISTFileError(f"MNIST file {path} is not an IDX file with magic {magic}")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    offset = 4 + 4 * ndim
    if len(data) - offset != int(np.prod(dims)):
        raise MNISTFileError(f"MNIST file {path} is truncated or corrupt: header says {dims}, "
                             f"got {len(data) - offset} bytes of data")
    return np.frombuffer(data, np.uint8, offset=offset).reshape(dims)


def _load_raw(data_dir):
    data_dir = os.path.abspath(data_dir)
    if data_dir in _cache:
        return _cache[data_dir]
    sums = _bundled_sha256() if data_dir == os.path.abspath(BUNDLED_DIR) else {}
    dataset = {}
    for key, name in key_file.items():
        path = os.path.join(data_dir, name)
        if key.endswith("img"):
            dataset[key] = _read_idx(path, _IMG_MAGIC, sums.get(name)).reshape(-1, img_size)
        else:
            dataset[key] = _read_idx(path, _LABEL_MAGIC, sums.get(name))
    for split in ("train", "test"):
        if len(dataset[split + "_img"]) != len(dataset[split + "_label"]):
            raise MNISTFileError(f"{data_dir}: {split} images and labels differ in count")
    _cache[data_dir] = dataset
    return dataset


def _change_one_hot_label(X):
    T = np.zeros((X.size, 10))
    T[np.arange(X.size), X] = 1
    return T


def load_mnist(normalize=True, flatten=True, one_hot_label=False, data_dir=None):
    """Load MNIST as ``(x_train, t_train), (x_test, t_test)``.

    Parameters
    ----------
    normalize : bool
        Images as float32 in [0, 1]; otherwise uint8 in [0, 255].
    flatten : bool
        Images of shape (N, 784); otherwise (N, 1, 28, 28).
    one_hot_label : bool
        Labels as float64 one-hot rows of shape (N, 10); otherwise uint8 of shape (N,).
    data_dir : str, optional
        Directory of the four IDX files; default ``$FASTSCRATCH_MNIST_DIR`` or the bundled copy.
    """
    if data_dir is None:
        data_dir = os.environ.get(ENV_VAR) or BUNDLED_DIR
    raw = _load_raw(data_dir)
    dataset = {}
    for key in ('train_img', 'test_img'):
        img = raw[key]
        if normalize:
            img = img.astype(np.float32)
            img /= 255.0
        else:
            img = img.copy()  # the cache stays untouched whatever the caller does
        dataset[key] = img if flatten else img.reshape(-1, 1, 28, 28)
    for key in ('train_label', 'test_label'):
        lab = raw[key]
        dataset[key] = _change_one_hot_label(lab) if one_hot_label else lab.copy()
    return ((dataset['train_img'], dataset['train_label']),
            (dataset['test_img'], dataset['test_label']))
