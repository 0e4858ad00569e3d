"""fastscratch.reference.optimizer: the book's update formulas on a hand-computed step."""
import numpy as np
import pytest

from fastscratch.reference import optimizer as O


def run(opt, steps=2):
    p = {"w": np.array([1.0, -2.0])}
    g = {"w": np.array([0.5, 0.25])}
    for _ in range(steps):
        opt.update(p, g)
    return p["w"]


def test_sgd():
    np.testing.assert_allclose(run(O.SGD(lr=0.1)), [0.9, -2.05])


def test_momentum():
    # v1 = -0.05, p = 0.95; v2 = 0.9*-0.05 - 0.05 = -0.095, p = 0.855 (first element)
    assert run(O.Momentum(lr=0.1, momentum=0.9))[0] == pytest.approx(0.855)


def test_nesterov_uses_the_previous_velocity():
    # step 1: v=0: p = 1 - 1.9*0.05 = 0.905; v = -0.05
    # step 2: p += 0.81*(-0.05) - 0.095 = 0.905 - 0.0405 - 0.095; v = -0.095
    assert run(O.Nesterov(lr=0.1, momentum=0.9))[0] == pytest.approx(0.905 - 0.0405 - 0.095)


def test_adagrad():
    # h = 0.25 then 0.5
    expected = 1 - 0.1 * 0.5 / (0.5 + 1e-7) - 0.1 * 0.5 / (np.sqrt(0.5) + 1e-7)
    assert run(O.AdaGrad(lr=0.1))[0] == pytest.approx(expected, rel=1e-14)


def test_rmsprop():
    h1 = 0.01 * 0.25
    h2 = 0.99 * h1 + 0.01 * 0.25
    expected = 1 - 0.1 * 0.5 / (np.sqrt(h1) + 1e-7) - 0.1 * 0.5 / (np.sqrt(h2) + 1e-7)
    assert run(O.RMSprop(lr=0.1))[0] == pytest.approx(expected, rel=1e-14)


def test_adam_first_step_moves_by_lr():
    opt = O.Adam(lr=0.001)
    w = run(opt, steps=1)
    # bias-corrected first step: lr * g/|g| up to the 1e-7
    np.testing.assert_allclose(w, [1.0 - 0.001, -2.0 - 0.001], rtol=1e-6)
    assert opt.iter == 1
