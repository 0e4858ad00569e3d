"""PLACEHOLDER until the numerical-gradient kernels land: the reference."""
from .reference.gradient import (gradient_descent, numerical_gradient, numerical_gradient_1d,  # noqa: F401
                                 numerical_gradient_2d)
