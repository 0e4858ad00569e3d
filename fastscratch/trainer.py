"""Drop-in for the book's ``common.trainer``: the reference Trainer with fastscratch's optimizers."""
from fastscratch import optimizer as _optimizer
from fastscratch.reference import trainer as _reference


class Trainer(_reference.Trainer):
    __doc__ = _reference.Trainer.__doc__
    optimizer_module = _optimizer
