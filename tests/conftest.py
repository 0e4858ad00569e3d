import numpy as np
import pytest


@pytest.fixture(autouse=True)
def _restore_global_rng():
    # Tests that seed NumPy's global generator must not change what other tests draw.
    state = np.random.get_state()
    yield
    np.random.set_state(state)


@pytest.fixture(autouse=True)
def _kernels_at_every_size(request):
    # fastscratch/_core/small.py sends tiny layers and gradient checks to the reference's NumPy
    # code; the kernels' tests use small inputs and must reach the kernels. Tests of the
    # rule itself are marked small_rule.
    if request.node.get_closest_marker("small_rule"):
        yield
        return
    from fastscratch._core import small as _small
    limits = _small.disable()
    yield
    _small.restore(limits)


@pytest.fixture(scope="session")
def mnist():
    from fastscratch.dataset.mnist import load_mnist
    return load_mnist(normalize=True, flatten=True, one_hot_label=False)
