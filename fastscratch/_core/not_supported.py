"""The one exception that sends a numerical gradient back to the element loop, and its guard.

``NotSupported`` means "outside what the incremental kernels model or can
prove": the callers catch it, and only it, and run the book's loop. Every
other exception is a real error and propagates. It lives apart from
``fastscratch._numgrad.incremental`` so that catching it needs no kernels imported.
"""


class NotSupported(Exception):
    """The network, f or the inputs are outside what the incremental numerical gradient models."""


def require(condition, why):
    """Raise NotSupported(why) unless condition holds."""
    if not condition:
        raise NotSupported(why)
