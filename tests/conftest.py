import numpy as np
import pytest


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
