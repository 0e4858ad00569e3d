"""fastscratch.reference.gradient: chapter 4's printed results."""
import numpy as np
import pytest

from fastscratch.reference.gradient import gradient_descent, numerical_gradient, numerical_gradient_1d, numerical_gradient_2d


def function_2(x):
    return x[0] ** 2 + x[1] ** 2


@pytest.mark.parametrize("impl", [numerical_gradient, numerical_gradient_1d, numerical_gradient_2d])
def test_numerical_gradient_book_points(impl):
    # the book prints array([6., 8.]) and array([0., 4.])
    np.testing.assert_allclose(impl(function_2, np.array([3.0, 4.0])), [6.0, 8.0], atol=1e-7)
    np.testing.assert_allclose(impl(function_2, np.array([0.0, 2.0])), [0.0, 4.0], atol=1e-7)


def test_numerical_gradient_any_ndim_and_restores_x():
    x = np.arange(24, dtype=float).reshape(2, 3, 4) / 10
    before = x.copy()
    g = numerical_gradient(lambda a: np.sum(a ** 3), x)
    np.testing.assert_allclose(g, 3 * before ** 2, atol=1e-7)
    np.testing.assert_array_equal(x, before)


def test_numerical_gradient_2d_rows():
    X = np.array([[1.0, 2.0], [3.0, -1.0]])
    g = numerical_gradient_2d(lambda v: np.sum(v ** 2), X)
    np.testing.assert_allclose(g, 2 * X, atol=1e-7)


def test_gradient_descent_book_example():
    # from (-3, 4), lr 0.1, 100 steps the book reaches ~(-6.1e-10, 8.1e-10)
    x = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=0.1, step_num=100)
    assert np.all(np.abs(x) < 1e-8)
    assert abs(x[0]) > 0  # it approaches 0, as printed, without landing on it
