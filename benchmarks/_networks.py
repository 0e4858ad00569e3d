"""Seeded networks, batches and training steps shared by the network-level benchmarks.

The book's networks draw their weights from NumPy's global generator, so each
builder seeds it first: the reference and the kernels start from the same
weights. Batches come from a fixed-seed ``default_rng`` (benchmarks.common.rng).
"""
import os
import subprocess
import sys
import textwrap

import numpy as np

from ._shared import timing as _timing

from .common import api, rng

#: The book's networks, each with its default sizes (TwoLayerNet as chapter 5 trains it).
NETWORKS = ["TwoLayerNet", "SimpleConvNet", "DeepConvNet"]
#: Every network of the book, for the training-step rows: the two above plus the
#: fully connected nets of chapter 6 as its scripts build them on MNIST.
ALL_NETWORKS = ["TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend", "SimpleConvNet", "DeepConvNet"]
#: The parameter dtypes timed: the book's float64 and float32.
DTYPES = ["float64", "float32"]
BATCH = 100
_DENSE = ("TwoLayerNet", "MultiLayerNet", "MultiLayerNetExtend")


def build_network(impl, name, seed=0, dtype="float64"):
    """A network of the book with seeded weights in dtype, from fastscratch.reference or fastscratch.

    float64 networks are built without the ``dtype`` argument, so that asv can
    measure commits from before networks took one; on such a commit a float32
    network raises NotImplementedError (asv: skipped).
    """
    mod = api(impl)
    np.random.seed(seed)
    kw = {} if dtype == "float64" else {"dtype": dtype}
    builders = {
        "TwoLayerNet": lambda: mod.TwoLayerNet(input_size=784, hidden_size=50, output_size=10, **kw),
        # chapter 6's weight_init_activation / overfit_weight_decay shape: 5 hidden layers of 100
        "MultiLayerNet": lambda: mod.MultiLayerNet(784, [100] * 5, 10, weight_decay_lambda=0.1, **kw),
        # chapter 6's batch_norm_test with dropout on (overfit_dropout): both extensions timed
        "MultiLayerNetExtend": lambda: mod.MultiLayerNetExtend(784, [100] * 5, 10, use_batchnorm=True,
                                                               use_dropout=True, dropout_ration=0.2, **kw),
        "SimpleConvNet": lambda: mod.SimpleConvNet(**kw),
        "DeepConvNet": lambda: mod.DeepConvNet(**kw),
    }
    if name not in builders:
        raise NotImplementedError(name)
    try:
        return builders[name]()
    except TypeError as exc:
        if kw and "dtype" in str(exc):
            raise NotImplementedError(f"this commit's {name} takes no dtype") from exc
        raise


def training_batch(name, seed=0, dtype="float64"):
    """A batch of BATCH MNIST-shaped images in [0, 1) (drawn in float64, then in dtype) and integer labels.

    Returns x of shape (BATCH, 784) for the fully connected nets, (BATCH, 1, 28, 28)
    for the conv nets, and t of shape (BATCH,).
    """
    r = rng(seed)
    shape = (BATCH, 784) if name in _DENSE else (BATCH, 1, 28, 28)
    return r.random(shape).astype(dtype), r.integers(0, 10, BATCH)


class TrainingStep:
    """One step of the book's training loop: grads by backprop, then Adam updates the params in place."""

    def __init__(self, impl, name, seed=0, dtype="float64"):
        self.network = build_network(impl, name, seed, dtype)
        self.optimizer = api(impl).optimizer.Adam()
        self.x, self.t = training_batch(name, seed, dtype)

    def __call__(self):
        grads = self.network.gradient(self.x, self.t)
        self.optimizer.update(self.network.params, grads)


def speedup(reference_fn, kernels_fn):
    """Reference time over kernels time, each the best of up to 7 calls made in this process.

    At most 1.5 s of calls each, so a reference step of seconds is sampled once
    or twice, not seven times: the whole suite stays quick to run.
    """
    return _timing.speedup(reference_fn, kernels_fn, repeat=7, budget=1.5)


#: Child script for cold/warm start timings: the clock starts before fastscratch is
#: imported and stops after one SimpleConvNet and one TwoLayerNet training step.
STARTUP_SCRIPT = textwrap.dedent("""
    import time
    t0 = time.perf_counter()
    import numpy as np
    import fastscratch as fs
    r = np.random.default_rng(0)
    np.random.seed(0)
    for net, shape in ((fs.SimpleConvNet(), (100, 1, 28, 28)),
                       (fs.TwoLayerNet(784, 50, 10), (100, 784))):
        fs.optimizer.Adam().update(net.params, net.gradient(r.random(shape), r.integers(0, 10, 100)))
    print(time.perf_counter() - t0)
""")


def run_child(script, numba_cache_dir=None, timeout=600, env=None):
    """Run `script` in a fresh interpreter importing the same fastscratch as this one; its stdout.

    numba_cache_dir, when given, becomes NUMBA_CACHE_DIR of the child (Numba's
    on-disk cache then lives there, not beside the installed kernels). env:
    variables set for the child only (this process's environment is not changed).
    """
    import fastscratch
    env = dict(os.environ, **{k: str(v) for k, v in (env or {}).items()})
    # The child imports the very fastscratch this process measures (installed or a checkout).
    root = os.path.dirname(os.path.dirname(os.path.abspath(fastscratch.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in [env.get("PYTHONPATH")] if p])
    if numba_cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = numba_cache_dir
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark child process failed:\n{done.stderr[-3000:]}")
    return done.stdout
