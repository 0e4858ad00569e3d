"""Fidelity to the book's published trained weights (../shared/book-weights; skipped where absent).

The accuracies are the ones the book's scripts print on the MNIST test set.
The full test set goes through the fast networks (the same network code as the
reference); the reference runs a 500-image slice and must predict the same.
"""

import numpy as np
import pytest

import fastscratch
import fastscratch.reference as reference
from fastscratch.dataset.mnist import load_mnist
from fastscratch.reference.functions import sigmoid, softmax
from fastscratch.reference.params_io import safe_pickle_load

from _paths import book_weight


@pytest.fixture(scope="module")
def test_images():
    _, (x, t) = load_mnist(normalize=True, flatten=False)
    return x, t


def test_chapter3_sample_weight_accuracy():
    with open(book_weight("sample_weight.pkl"), "rb") as f:
        p = safe_pickle_load(f)
    _, (x, t) = load_mnist(normalize=True, flatten=True)
    a1 = sigmoid(np.dot(x, p['W1']) + p['b1'])
    a2 = sigmoid(np.dot(a1, p['W2']) + p['b2'])
    y = softmax(np.dot(a2, p['W3']) + p['b3'])
    # chapter 3's neuralnet_mnist.py prints "Accuracy:0.9352"
    assert np.sum(np.argmax(y, axis=1) == t) == 9352


@pytest.mark.slow  # 10,000 test images through each conv net
@pytest.mark.parametrize("name,file,hits", [
    ("SimpleConvNet", "simple_convnet_params.pkl", 9600),   # chapter 7 prints 0.96
    ("DeepConvNet", "deep_convnet_params.pkl", 9797),       # chapter 8 prints 0.9797
])
def test_convnet_published_accuracy(name, file, hits, test_images):
    x, t = test_images
    path = book_weight(file)
    net = getattr(fastscratch, name)()
    net.load_params(path)
    assert net.accuracy(x, t) == hits / 10000

    ref = getattr(reference, name)()
    ref.load_params(path)
    fast_pred = np.argmax(net.predict(x[:500], train_flg=False), axis=1)
    ref_pred = np.argmax(ref.predict(x[:500], train_flg=False), axis=1)
    np.testing.assert_array_equal(fast_pred, ref_pred)
