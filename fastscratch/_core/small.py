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

#: A layer call with fewer output elements than this runs the reference's NumPy
#: expressions (ReLU, Sigmoid, Affine's bias, softmax and loss, pooling). A batch
#: of 100 with 10 classes, the smallest the book trains, is already kernel-sized.
LAYER_ELEMENTS = 1000
#: The same for a Convolution, in multiply-adds (N * out_h * out_w * C * FH * FW * FN).
CONV_WORK = 1 << 15

#: A network's numerical gradient runs the book's loop (on NumPy layers, by
#: LAYER_ELEMENTS and CONV_WORK) where 2 x (parameter elements) x (input elements), the loop's
#: loss calls times what each reads, is below this: there the loop takes about
#: as long as compiling the incremental kernels would (the book's chapter 5
#: and 7 gradient checks), and the incremental kernels run the larger ones.
NUMGRAD_WORK = 1 << 26


def small_layer(elements):
    """True when a layer call with ``elements`` output elements takes the NumPy route."""
    return elements < LAYER_ELEMENTS


def small_conv(work):
    """True when a Convolution of ``work`` multiply-adds takes the NumPy route."""
    return work < CONV_WORK


def small_numgrad(n_param_elements, n_input_elements):
    """True when a network's numerical gradient takes the book's loop (see NUMGRAD_WORK)."""
    return 2 * n_param_elements * n_input_elements < NUMGRAD_WORK


def disable():
    """Send every size to the kernels (the tests of the kernels themselves); returns the old limits."""
    global LAYER_ELEMENTS, CONV_WORK, NUMGRAD_WORK
    old = (LAYER_ELEMENTS, CONV_WORK, NUMGRAD_WORK)
    LAYER_ELEMENTS = CONV_WORK = NUMGRAD_WORK = 0
    return old


def restore(limits):
    """Put back the limits ``disable`` returned."""
    global LAYER_ELEMENTS, CONV_WORK, NUMGRAD_WORK
    LAYER_ELEMENTS, CONV_WORK, NUMGRAD_WORK = limits
