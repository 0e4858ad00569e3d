"""fastscratch.reference.layers on small hand-checked cases."""
import numpy as np
import pytest

from fastscratch.reference import layers as L


def test_relu_forward_backward_and_quirk():
    layer = L.Relu()
    x = np.array([[1.0, -0.5], [-2.0, 3.0]])
    out = layer.forward(x)
    np.testing.assert_array_equal(out, [[1.0, 0.0], [0.0, 3.0]])
    np.testing.assert_array_equal(x, [[1.0, -0.5], [-2.0, 3.0]])  # forward copies
    dout = np.ones((2, 2))
    dx = layer.backward(dout)
    np.testing.assert_array_equal(dx, [[1.0, 0.0], [0.0, 1.0]])
    assert dx is dout  # the book's quirk: backward writes into dout


def test_sigmoid_backward_is_y_times_one_minus_y():
    layer = L.Sigmoid()
    y = layer.forward(np.array([0.0, 2.0]))
    np.testing.assert_allclose(layer.backward(np.array([1.0, 2.0])),
                               [0.25, 2 * y[1] * (1 - y[1])], rtol=1e-15)


def test_affine_tensor_input_and_gradients():
    W = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]])
    b = np.array([0.5, -0.5])
    layer = L.Affine(W, b)
    x = np.arange(8, dtype=float).reshape(2, 1, 2, 2)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, [[34.5, 39.5], [98.5, 119.5]])
    dx = layer.backward(np.ones((2, 2)))
    assert dx.shape == x.shape
    np.testing.assert_array_equal(dx.reshape(2, 4), [[3, 7, 11, 15]] * 2)
    np.testing.assert_array_equal(layer.dW, [[4, 4], [6, 6], [8, 8], [10, 10]])
    np.testing.assert_array_equal(layer.db, [2, 2])


@pytest.mark.parametrize("onehot", [True, False])
def test_softmax_with_loss(onehot):
    x = np.array([[0.0, 0.0], [np.log(3.0), 0.0]])
    labels = np.array([0, 1])
    t = np.eye(2)[labels] if onehot else labels
    layer = L.SoftmaxWithLoss()
    loss = layer.forward(x, t)
    # probabilities 0.5 and 0.25 for the right classes
    assert loss == pytest.approx(-(np.log(0.5 + 1e-7) + np.log(0.25 + 1e-7)) / 2, rel=1e-14)
    dx = layer.backward(123)  # dout is ignored, as in the book
    np.testing.assert_allclose(dx, [[-0.25, 0.25], [0.375, -0.375]], rtol=1e-14)


def test_softmax_with_loss_single_sample():
    layer = L.SoftmaxWithLoss()
    layer.forward(np.array([0.0, 0.0]), np.array(1))
    np.testing.assert_allclose(layer.backward(), [0.5, -0.5])
    layer.forward(np.array([0.0, 0.0]), np.array([0.0, 1.0]))
    np.testing.assert_allclose(layer.backward(), [0.5, -0.5])


def test_dropout_draws_from_the_global_generator():
    layer = L.Dropout(0.3)
    x = np.ones((4, 5))
    np.random.seed(1)
    out = layer.forward(x, train_flg=True)
    np.random.seed(1)
    expected_mask = np.random.rand(4, 5) > 0.3
    np.testing.assert_array_equal(layer.mask, expected_mask)
    np.testing.assert_array_equal(out, expected_mask * 1.0)
    np.testing.assert_array_equal(layer.backward(np.full((4, 5), 2.0)), expected_mask * 2.0)
    np.testing.assert_allclose(layer.forward(x, train_flg=False), 0.7)


def test_batchnorm_train_test_and_backward():
    x = np.array([[1.0, 10.0], [3.0, 30.0]])
    layer = L.BatchNormalization(np.array([2.0, 1.0]), np.array([0.0, 5.0]))
    out = layer.forward(x, train_flg=True)
    s0 = 1 / np.sqrt(1 + 1e-6)
    np.testing.assert_allclose(out, [[-2 * s0, 5 - 10 / np.sqrt(100 + 1e-6)],
                                     [2 * s0, 5 + 10 / np.sqrt(100 + 1e-6)]], rtol=1e-14)
    np.testing.assert_allclose(layer.running_mean, [0.2, 2.0])
    np.testing.assert_allclose(layer.running_var, [0.1, 10.0])
    # a constant dout gives no gradient through the normalisation
    dx = layer.backward(np.ones((2, 2)))
    np.testing.assert_allclose(dx, 0, atol=1e-12)
    np.testing.assert_allclose(layer.dbeta, [2, 2])
    np.testing.assert_allclose(layer.dgamma, [0, 0], atol=1e-12)
    test_out = layer.forward(np.array([[0.2, 2.0]]), train_flg=False)
    np.testing.assert_allclose(test_out, [[0.0, 5.0]], atol=1e-12)


def test_batchnorm_4d_normalises_each_feature():
    x = np.random.default_rng(0).standard_normal((5, 2, 3, 3))
    layer = L.BatchNormalization(np.ones(18), np.zeros(18))
    out = layer.forward(x)
    assert out.shape == x.shape
    np.testing.assert_allclose(out.reshape(5, -1).mean(axis=0), 0, atol=1e-12)


def test_convolution_hand_case():
    x = np.arange(16, dtype=float).reshape(1, 1, 4, 4)
    W = np.ones((1, 1, 2, 2))
    layer = L.Convolution(W, np.array([1.0]), stride=2, pad=0)
    out = layer.forward(x)
    np.testing.assert_array_equal(out, [[[[11, 19], [43, 51]]]])
    dx = layer.backward(np.ones_like(out))
    np.testing.assert_array_equal(dx, np.ones((1, 1, 4, 4)))
    np.testing.assert_array_equal(layer.dW, [[[[20, 24], [36, 40]]]])
    np.testing.assert_array_equal(layer.db, [4])


def test_pooling_hand_case_first_max_wins():
    x = np.array([[[[1.0, 3.0, 2.0, 2.0], [3.0, 0.0, 1.0, 0.0],
                    [0.0, 0.0, 5.0, 6.0], [0.0, 0.0, 7.0, 4.0]]]])
    layer = L.Pooling(2, 2)
    assert layer.stride == 2  # the book's later default
    out = layer.forward(x)
    np.testing.assert_array_equal(out, [[[[3, 2], [0, 7]]]])
    np.testing.assert_array_equal(layer.arg_max, [1, 0, 0, 2])  # ties: the first maximum
    dx = layer.backward(np.array([[[[10.0, 20.0], [30.0, 40.0]]]]))
    expected = np.zeros((4, 4))
    expected[0, 1], expected[0, 2], expected[2, 0], expected[3, 2] = 10, 20, 30, 40
    np.testing.assert_array_equal(dx[0, 0], expected)


def test_pooling_pad_counts_and_padding_never_wins():
    x = -np.ones((1, 1, 2, 2))
    layer = L.Pooling(2, 2, stride=2, pad=1)
    out = layer.forward(x)
    assert out.shape == (1, 1, 2, 2)  # (2 + 2*1 - 2)//2 + 1
    np.testing.assert_array_equal(out, -1.0)  # the zero padding would have won
