"""Where the material beside the project lives (../shared), for tests that use it."""
import os

import pytest

SHARED = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared")
BOOK_WEIGHTS = os.path.abspath(os.path.join(SHARED, "book-weights"))
BOOK_NETWORKS = os.path.abspath(os.path.join(SHARED, "book-networks"))


def _shared_file(folder, name, what):
    """Path of name in one of shared/'s folders, or skip the test saying where the files live."""
    path = os.path.join(folder, name)
    if not os.path.exists(path):
        pytest.skip(f"{what} are not here ({path}); they live in ../shared/{os.path.basename(folder)} "
                    "beside the project and are never copied into it")
    return path


def book_weight(name):
    """Path of one of the book's published weight files, or skip the test with the reason."""
    return _shared_file(BOOK_WEIGHTS, name, "the book's published weights")


def book_network(name):
    """Path of one of the book's network files (e.g. "ch05/two_layer_net.py"), or skip the test with the reason."""
    return _shared_file(BOOK_NETWORKS, name, "the book's network files")
