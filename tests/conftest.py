import os

import numpy as np
import pytest

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")
BOOK_WEIGHTS = os.path.abspath(os.path.join(SHARED, "book-weights"))


@pytest.fixture(autouse=True)
def _restore_global_rng():
    # Tests that seed NumPy's global generator must not change what other tests draw.
    state = np.random.get_state()
    yield
    np.random.set_state(state)


@pytest.fixture(scope="session")
def mnist():
    from fastscratch.dataset.mnist import load_mnist
    return load_mnist(normalize=True, flatten=True, one_hot_label=False)


def book_weight(name):
    """Path of one of the book's published weight files, or skip the test with the reason."""
    path = os.path.join(BOOK_WEIGHTS, name)
    if not os.path.exists(path):
        pytest.skip(f"the book's published weights are not here ({path}); "
                    "they live in ../shared/book-weights beside the project and are never copied into it")
    return path
