"""Tiny problems run the reference's NumPy code: the one size rule, and the switch tests use.

A kernel pays off once it is compiled; on a problem of a few thousand
operations (the book's chapter 7 gradient check: one 10x10 image) NumPy's
own code takes microseconds too, and a first run would otherwise spend tens
of seconds compiling kernels for it. So the layers, and a network's
numerical gradient, run the reference's expressions where the work is below
the limits here.

The rule depends on the input's sizes alone: never on the cache's state, the
time or the thread count, so a seeded run takes the same route, and gets the
same numbers, on every run. On that route the results are the reference's
by construction.
"""

#: A layer whose work (multiply-adds of a Convolution or Affine, elements of the
#: other layers) is below this runs the reference's NumPy expressions.
LAYER_WORK = 1 << 15

#: A network's numerical gradient runs the book's loop (on NumPy layers, by
#: LAYER_WORK) where 2 x (parameter elements) x (input elements), the loop's
#: loss calls times what each reads, is below this.
NUMGRAD_WORK = 1 << 20


def small_layer(work):
    """True when a layer's call of ``work`` operations takes the NumPy route."""
    return work < LAYER_WORK


def small_numgrad(n_param_elements, n_input_elements):
    """True when a network's numerical gradient takes the book's loop (see NUMGRAD_WORK)."""
    return 2 * n_param_elements * n_input_elements < NUMGRAD_WORK


def disable():
    """Send every size to the kernels (the tests of the kernels themselves); returns the old limits."""
    global LAYER_WORK, NUMGRAD_WORK
    old = (LAYER_WORK, NUMGRAD_WORK)
    LAYER_WORK = NUMGRAD_WORK = 0
    return old


def restore(limits):
    """Put back the limits ``disable`` returned."""
    global LAYER_WORK, NUMGRAD_WORK
    LAYER_WORK, NUMGRAD_WORK = limits
