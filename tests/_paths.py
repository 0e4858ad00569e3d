"""Where the material beside the project lives (../shared), for tests that use it."""
import os

import pytest

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")
BOOK_WEIGHTS = os.path.abspath(os.path.join(SHARED, "book-weights"))


def book_weight(name):
    """Path of one of the book's published weight files, or skip the test with the reason."""
    path = os.path.join(BOOK_WEIGHTS, name)
    if not os.path.exists(path):
        pytest.skip(f"the book's published weights are not here ({path}); "
                    "they live in ../shared/book-weights beside the project and are never copied into it")
    return path
BOOK_NETWORKS = os.path.abspath(os.path.join(SHARED, "book-networks"))


def book_network(name):
    """Path of one of the book's network files (e.g. "ch05/two_layer_net.py"), or skip the test with the reason."""
    path = os.path.join(BOOK_NETWORKS, name)
    if not os.path.exists(path):
        pytest.skip(f"the book's network files are not here ({path}); "
                    "they live in ../shared/book-networks beside the project and are never copied into it")
    return path
