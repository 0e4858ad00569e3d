"""fastscratch.reference.functions: the book's printed numbers and hand-checked cases."""
import numpy as np
import pytest

from fastscratch.reference import functions as F

T = np.array([0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
Y1 = np.array([0.1, 0.05, 0.6, 0.0, 0.05, 0.1, 0.0, 0.1, 0.0, 0.0])
Y2 = np.array([0.1, 0.05, 0.1, 0.0, 0.05, 0.1, 0.0, 0.6, 0.0, 0.0])


def test_sum_squared_error_book_numbers():
    # chapter 4 prints 0.09750000000000003 and 0.5975
    assert F.sum_squared_error(Y1, T) == pytest.approx(0.0975, abs=1e-15)
    assert F.sum_squared_error(Y2, T) == pytest.approx(0.5975, abs=1e-15)
    assert F.mean_squared_error is F.sum_squared_error


def test_cross_entropy_error_book_numbers():
    # chapter 4 prints these with delta = 1e-7 inside the log
    assert F.cross_entropy_error(Y1, T) == 0.510825457099338
    assert F.cross_entropy_error(Y2, T) == 2.302584092994546


def test_cross_entropy_error_labels_and_batches_agree():
    y = np.stack([Y1, Y2])
    onehot = np.stack([T, T])
    labels = np.array([2, 2])
    expected = (0.510825457099338 + 2.302584092994546) / 2
    assert F.cross_entropy_error(y, onehot) == pytest.approx(expected, rel=1e-15)
    assert F.cross_entropy_error(y, labels) == pytest.approx(expected, rel=1e-15)
    assert F.cross_entropy_error(Y1, np.array(2)) == 0.510825457099338


def test_softmax_rows_sum_to_one_and_survive_overflow():
    x = np.array([[1010.0, 1000.0, 990.0], [0.3, 2.9, 4.0]])
    y = F.softmax(x)
    np.testing.assert_allclose(y.sum(axis=1), 1.0, rtol=1e-15)
    # hand value: exp(0)/(1+exp(-10)+exp(-20))
    assert y[0, 0] == pytest.approx(1 / (1 + np.exp(-10) + np.exp(-20)), rel=1e-15)
    # the book's chapter 3 example: softmax([0.3, 2.9, 4.0])
    np.testing.assert_allclose(F.softmax(np.array([0.3, 2.9, 4.0])),
                               [0.01821127, 0.24519181, 0.73659691], rtol=1e-6)
    np.testing.assert_array_equal(F.softmax(x[1]), y[1])


def test_activations_hand_values():
    x = np.array([-1.0, 0.0, 2.0])
    np.testing.assert_array_equal(F.step_function(x), [0, 0, 1])
    assert F.step_function(x).dtype.kind == "i"
    np.testing.assert_allclose(F.sigmoid(x), [1 / (1 + np.e), 0.5, 1 / (1 + np.exp(-2))], rtol=1e-15)
    np.testing.assert_allclose(F.sigmoid_grad(np.array([0.0])), [0.25], rtol=1e-15)
    np.testing.assert_array_equal(F.relu(x), [0.0, 0.0, 2.0])
    # relu_grad counts x == 0 as the active side, as the book does
    np.testing.assert_array_equal(F.relu_grad(x), [0.0, 1.0, 1.0])
    assert F.identity_function(x) is x


def test_softmax_loss_is_softmax_then_cross_entropy():
    x = np.array([[2.0, 1.0, 0.1]])
    p = np.exp(x) / np.exp(x).sum()
    assert F.softmax_loss(x, np.array([0])) == pytest.approx(-np.log(p[0, 0] + 1e-7), rel=1e-14)
