"""fastscratch/_core/validate.py: check_array and check_scalar, the one place argument checks live."""
import numbers

import numpy as np
import pytest

from fastscratch._core import validate as V


def test_check_array_returns_the_array_or_a_floating_one():
    x = np.arange(6, dtype=np.int16).reshape(2, 3)
    assert V.check_array(x, "x") is x
    f = V.check_array(x, "x", ndim=2, floating=True)
    assert f.dtype == np.float64 and np.array_equal(f, x)
    y = np.ones((2, 3), np.float32)
    assert V.check_array(y, "y", floating=True, shape=(2, 3)) is y


@pytest.mark.parametrize("kwargs, value, exc, msg", [
    ({}, [1, 2], TypeError, r"^x must be a NumPy array; got list$"),
    ({"real": True}, np.ones(2, complex), TypeError, r"^x must have a real numeric dtype .*; got complex128$"),
    ({"floating": True}, np.array(["a"]), TypeError, r"^x must have a real numeric dtype"),
    ({"ndim": 4, "layout": "(N, C, H, W)"}, np.ones((5, 5)), ValueError,
     r"^x must be 4-D \(N, C, H, W\); got shape \(5, 5\)$"),
    ({"ndim": (1, 2)}, np.ones((1, 1, 1)), ValueError, r"^x must be 1-D or 2-D; got shape \(1, 1, 1\)$"),
    ({"shape": (3,)}, np.ones(2), ValueError, r"^x must have shape \(3,\); got \(2,\)$"),
])
def test_check_array_refuses_naming_the_argument(kwargs, value, exc, msg):
    with pytest.raises(exc, match=msg):
        V.check_array(value, "x", **kwargs)


def test_check_image_batch():
    x = np.zeros((1, 2, 3, 4), np.uint8)
    assert V.check_image_batch(x, "x").dtype == np.float64
    with pytest.raises(ValueError, match=r"x must be 4-D \(N, C, H, W\)"):
        V.check_image_batch(np.zeros((2, 3)), "x")


def test_check_scalar():
    assert V.check_scalar(np.int64(3), "stride", min_val=1) == 3
    assert type(V.check_scalar(np.int64(3), "stride", min_val=1)) is int
    assert V.check_scalar(2, "lr", numbers.Real, min_val=0) == 2.0
    assert V.check_scalar(5, "k", max_val=5) == 5


@pytest.mark.parametrize("args, kwargs, exc, msg", [
    ((2.5, "stride"), {"min_val": 1}, TypeError, r"^stride must be an int >= 1; got 2\.5 \(float\)$"),
    ((True, "stride"), {"min_val": 1}, TypeError, r"^stride must be an int >= 1; got True \(bool\)$"),
    ((0, "stride"), {"min_val": 1}, ValueError, r"^stride must be >= 1; got 0$"),
    ((6, "k"), {"max_val": 5}, ValueError, r"^k must be <= 5; got 6$"),
    (("1", "lr", numbers.Real), {}, TypeError, r"^lr must be a number; got '1' \(str\)$"),
])
def test_check_scalar_refuses(args, kwargs, exc, msg):
    with pytest.raises(exc, match=msg):
        V.check_scalar(*args, **kwargs)
