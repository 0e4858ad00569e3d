"""fastscratch.reference.util: im2col/col2im on hand-checked cases, and the small helpers."""
import numpy as np
import pytest

from fastscratch.reference.util import col2im, conv_output_size, im2col, shuffle_dataset, smooth_curve


def test_im2col_hand_case():
    x = np.arange(9, dtype=float).reshape(1, 1, 3, 3)
    col = im2col(x, 2, 2, stride=1, pad=0)
    # four windows of [[a b] [c d]], rows in (oy, ox) order, columns (fy, fx)
    np.testing.assert_array_equal(col, [[0, 1, 3, 4], [1, 2, 4, 5], [3, 4, 6, 7], [4, 5, 7, 8]])


def test_im2col_padding_and_channels():
    x = np.arange(8, dtype=float).reshape(1, 2, 2, 2)
    col = im2col(x, 3, 3, stride=1, pad=1)
    assert col.shape == (4, 18)
    # first window centred on (0, 0) of channel 0: zeros on the top row and left column
    np.testing.assert_array_equal(col[0, :9], [0, 0, 0, 0, 0, 1, 0, 2, 3])
    np.testing.assert_array_equal(col[0, 9:], [0, 0, 0, 0, 4, 5, 0, 6, 7])


def test_im2col_book_shapes():
    # the book's chapter 7 example prints (9, 75) and (90, 75)
    assert im2col(np.random.rand(1, 3, 7, 7), 5, 5, stride=1, pad=0).shape == (9, 75)
    assert im2col(np.random.rand(10, 3, 7, 7), 5, 5, stride=1, pad=0).shape == (90, 75)


def test_col2im_sums_overlaps():
    col = np.ones((4, 4))
    img = col2im(col, (1, 1, 3, 3), 2, 2, stride=1, pad=0)
    # how many 2x2 windows cover each cell of a 3x3 image
    np.testing.assert_array_equal(img[0, 0], [[1, 2, 1], [2, 4, 2], [1, 2, 1]])


@pytest.mark.parametrize("stride,pad", [(1, 0), (2, 1), (3, 2), (1, 3)])
def test_col2im_is_adjoint_of_im2col(stride, pad):
    rng = np.random.default_rng(stride * 10 + pad)
    x = rng.standard_normal((2, 3, 7, 6))
    col = im2col(x, 3, 2, stride, pad)
    c = rng.standard_normal(col.shape)
    # <im2col(x), c> == <x, col2im(c)>
    lhs = np.sum(col * c)
    rhs = np.sum(x * col2im(c, x.shape, 3, 2, stride, pad))
    assert lhs == pytest.approx(rhs, rel=1e-12)


def test_float32_is_kept_and_ints_become_float64():
    assert im2col(np.zeros((1, 1, 3, 3), np.float32), 2, 2).dtype == np.float32
    assert im2col(np.zeros((1, 1, 3, 3), np.int64), 2, 2).dtype == np.float64


def test_conv_output_size_is_a_float_as_in_the_book():
    assert conv_output_size(28, 5) == 24.0
    assert conv_output_size(7, 2, stride=2, pad=0) == 3.5


def test_shuffle_dataset_uses_one_permutation():
    np.random.seed(0)
    x = np.arange(10).reshape(5, 2)
    t = np.arange(5)
    xs, ts = shuffle_dataset(x, t)
    np.testing.assert_array_equal(xs[:, 0] // 2, ts)
    np.random.seed(0)
    np.testing.assert_array_equal(ts, np.random.permutation(5))


def test_smooth_curve_keeps_length_and_constants():
    y = smooth_curve(np.full(50, 3.0))
    assert len(y) == 50
    np.testing.assert_allclose(y, 3.0, rtol=1e-12)
