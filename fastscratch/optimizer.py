"""PLACEHOLDER until the optimizer kernels land: the reference optimizers."""
from .reference.optimizer import SGD, AdaGrad, Adam, Momentum, Nesterov, RMSprop  # noqa: F401
