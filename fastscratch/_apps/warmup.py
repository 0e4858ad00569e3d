"""``fastscratch warmup``: compile every kernel in both dtypes into the on-disk cache, on every core.

Each workload (a family of networks or layers, in one dtype) runs in a child
process of its own, on seeded random data, so that every kernel its calls
reach is compiled. Two processes must never write the same kernel's cache
entry at once (Numba names an entry's data file by counting the index's
entries, so two writers can give one file two meanings): each child
therefore compiles into a private cache directory, and this process then
copies the entries, one after another, into the cache that later runs read.
Copying an entry is copying the compiled code: what a later run loads is
what the child compiled, and results do not depend on which process
compiled it.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

from fastscratch._runtime.child_env import importing_this_fastscratch

#: (name, dtypes): the workloads, longest first (the pool takes them in this order).
WORKLOADS = (
    ("numgrad", ("float64",)),
    ("deep_convnet", ("float64", "float32")),
    ("simple_convnet", ("float64", "float32")),
    ("dense_nets", ("float64", "float32")),
    ("layers", ("float64", "float32")),
)


def _train_steps(net, x, t, dtype, batches=(100, 10)):
    """A gradient, every optimizer's update and a prediction, at each batch size (parallel and serial routes)."""
    from fastscratch import optimizer
    for batch in batches:
        xb, tb = x[:batch], t[:batch]
        grads = net.gradient(xb, tb)
        for opt in (optimizer.SGD(), optimizer.Momentum(), optimizer.Nesterov(), optimizer.AdaGrad(),
                    optimizer.RMSprop(), optimizer.Adam()):
            params = {k: v.copy() for k, v in net.params.items()}
            opt.update(params, grads)
        net.accuracy(xb, tb)


def _workload(name, dtype):
    """Run workload ``name`` in ``dtype`` (in a child process)."""
    import numpy as np

    import fastscratch as fs
    rng = np.random.default_rng(0)
    np.random.seed(0)
    images = rng.random((100, 1, 28, 28)).astype(dtype)
    labels = rng.integers(0, 10, 100)
    if name == "simple_convnet":
        _train_steps(fs.SimpleConvNet(dtype=dtype), images, labels, dtype)
    elif name == "deep_convnet":
        _train_steps(fs.DeepConvNet(dtype=dtype), images, labels, dtype, batches=(100,))
    elif name == "dense_nets":
        flat = images.reshape(100, 784)
        from fastscratch.multi_layer_net import MultiLayerNet
        from fastscratch.multi_layer_net_extend import MultiLayerNetExtend
        for net in (fs.TwoLayerNet(784, 50, 10, dtype=dtype),
                    MultiLayerNet(784, [100] * 2, 10, activation="sigmoid", weight_decay_lambda=0.1, dtype=dtype),
                    MultiLayerNetExtend(784, [100] * 2, 10, use_batchnorm=True, use_dropout=True, dtype=dtype)):
            _train_steps(net, flat, labels, dtype)
    elif name == "layers":
        _layers(images, dtype)
    elif name == "numgrad":
        _numgrad(images.reshape(100, 784), labels)
    else:
        raise ValueError(f"no warmup workload {name!r}")


def _layers(images, dtype):
    """The layers and functions outside the networks' routes: pooling with pad, im2col/col2im, softmax."""
    import numpy as np

    from fastscratch import layers
    from fastscratch import functions, util
    big = np.random.default_rng(1).random((100, 1000)).astype(dtype)
    functions.softmax(big)
    functions.cross_entropy_error(functions.softmax(big), np.zeros(100, dtype=np.int64))
    col = util.im2col(images, 5, 5, stride=2, pad=1)
    util.col2im(col, images.shape, 5, 5, stride=2, pad=1)
    for conv in (layers.Convolution(np.ones((8, 1, 3, 3), dtype=dtype), np.zeros(8, dtype=dtype), stride=2, pad=1),):
        out = conv.forward(images)
        conv.backward(np.ones_like(out))
    pool = layers.Pooling(3, 3, stride=2, pad=1)
    out = pool.forward(images)
    pool.backward(np.ones_like(out))


def _numgrad(x, t):
    """The incremental numerical gradients (float64): the book's gradient checks, small and large."""
    import numpy as np

    import fastscratch as fs
    from fastscratch.multi_layer_net_extend import MultiLayerNetExtend
    fs.TwoLayerNet(784, 50, 10).numerical_gradient(x[:3], t[:3])
    fs.TwoLayerNet(784, 10, 10).numerical_gradient(x[:3], t[:3])
    MultiLayerNetExtend(784, [20, 20], 10, use_batchnorm=True).numerical_gradient(x[:2], t[:2])
    fs.SimpleConvNet().numerical_gradient(x[:2].reshape(2, 1, 28, 28), t[:2])
    fs.SimpleConvNet(input_dim=(1, 10, 10), conv_param={"filter_num": 10, "filter_size": 3, "pad": 0, "stride": 1},
                     hidden_size=10).numerical_gradient(np.random.rand(8, 1, 10, 10), t[:8])


def _kernel_dispatchers():
    """{(module, qualified name): dispatcher} of every kernel in fastscratch.kernels."""
    import importlib
    import pkgutil

    import numba

    import fastscratch.kernels
    out = {}
    for info in pkgutil.iter_modules(fastscratch.kernels.__path__):
        mod = importlib.import_module(f"fastscratch.kernels.{info.name}")
        for obj in vars(mod).values():
            if isinstance(obj, numba.core.registry.CPUDispatcher) and obj.py_func.__module__ == mod.__name__:
                out[(mod.__name__, obj.py_func.__qualname__)] = obj
    return out


def cached_kernels():
    """[module, qualified name, cache directory] of each kernel with an index in this process's cache."""
    found = []
    for (module, qualname), disp in _kernel_dispatchers().items():
        cache_file = getattr(disp._cache, "_cache_file", None)  # None: a kernel with cache=False
        if cache_file is not None and os.path.exists(cache_file._index_path):
            found.append([module, qualname, cache_file._cache_path])
    return found


def child_main(name, dtype):
    """In a child: run the workload, then print where each kernel's private cache index is (JSON)."""
    start = time.perf_counter()
    _workload(name, dtype)
    print(json.dumps(dict(seconds=time.perf_counter() - start, caches=cached_kernels())))


def merge_into_cache(found):
    """Copy each child's cache entries of each kernel into the cache this process reads; entries copied."""
    from numba.core.caching import IndexDataCacheFile

    kernels = _kernel_dispatchers()
    copied = 0
    for module, qualname, src_path in found:
        dst = kernels[(module, qualname)]._cache._cache_file
        base = dst._index_name[:-len(".nbi")]
        src = IndexDataCacheFile(src_path, base, dst._source_stamp)
        dst_index = dst._load_index()
        for key, data_name in src._load_index().items():
            if key in dst_index:
                continue
            os.makedirs(dst._cache_path, exist_ok=True)
            dst.save(key, src._load_data(data_name))
            copied += 1
    return copied


def _progress(done, total, label, width=30):
    filled = int(width * done / total)
    sys.stderr.write(f"\rwarmup [{'#' * filled}{'.' * (width - filled)}] {done}/{total} {label:<28}")
    sys.stderr.flush()


def _tasks(dtypes):
    return [(name, dt) for name, dts in WORKLOADS for dt in dts if dt in dtypes]


def run(jobs=None, dtypes=("float64", "float32"), quiet=False):
    """Fill the kernel cache; returns (seconds, entries copied, cache directory, its size in bytes).

    jobs : child processes at once, default the cores this process may run on.
    """
    from fastscratch._runtime.compile_notice import cache_dir
    tasks = _tasks(dtypes)
    if not jobs:
        jobs = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    start = time.perf_counter()
    tmp = tempfile.mkdtemp(prefix="fastscratch-warmup-")
    pending, running, results = list(enumerate(tasks)), [], []
    try:
        if not quiet:
            _progress(0, len(tasks), "starting")
        while pending or running:
            while pending and len(running) < jobs:
                i, (name, dtype) = pending.pop(0)
                env = importing_this_fastscratch(dict(os.environ, NUMBA_CACHE_DIR=os.path.join(tmp, str(i))))
                proc = subprocess.Popen([sys.executable, "-m", "fastscratch._apps.warmup", "--child", name, dtype],
                                        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                running.append((name, dtype, proc))
            time.sleep(0.1)
            for item in [r for r in running if r[2].poll() is not None]:
                running.remove(item)
                name, dtype, proc = item
                out, err = proc.communicate()
                if proc.returncode:
                    raise RuntimeError(f"warmup of {name} ({dtype}) failed:\n{err[-2000:]}")
                results.append(json.loads(out.strip().splitlines()[-1]))
                if not quiet:
                    _progress(len(results), len(tasks), f"{name} {dtype}")
        copied = sum(merge_into_cache(r["caches"]) for r in results)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not quiet:
        sys.stderr.write("\n")
    directory = cache_dir()
    return time.perf_counter() - start, copied, directory, _size(directory)


def _size(directory):
    total = 0
    for d, _, files in os.walk(directory):
        total += sum(os.path.getsize(os.path.join(d, f)) for f in files if f.endswith((".nbi", ".nbc")))
    return total


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m fastscratch._apps.warmup")
    parser.add_argument("--child", nargs=2, metavar=("WORKLOAD", "DTYPE"))
    args = parser.parse_args(argv)
    child_main(*args.child)


if __name__ == "__main__":
    main()
