"""The one table of benchmark shapes: the book's layers at batch 100 (float64).

Read by ``fastscratch bench`` (fastscratch/_apps/bench.py), the asv suite in
``benchmarks/`` and so by ``benchmarks.measure``, which runs that suite. Labels
are asv's parameter values: keep them stable, the dashboard's history is keyed
by them.
"""

#: Batch size of every layer benchmark (the book's chapter 7 and 8 training).
BATCH = 100

#: label -> (x shape (N, C, H, W), filter count, filter size, pad); stride 1 throughout.
CONV = {
    "conv1-100x1x28x28-f30k5": ((BATCH, 1, 28, 28), 30, 5, 0),     # SimpleConvNet conv1
    "conv2-100x16x28x28-f16k3p1": ((BATCH, 16, 28, 28), 16, 3, 1),  # DeepConvNet conv2
    "conv4-100x32x14x14-f64k3p1": ((BATCH, 32, 14, 14), 64, 3, 1),  # DeepConvNet conv4-like
}
#: label -> (x shape, pool size, stride, pad).
POOL = {
    "100x30x24x24-p2s2": ((BATCH, 30, 24, 24), 2, 2, 0),   # SimpleConvNet Pool1
    "100x16x28x28-p2s2": ((BATCH, 16, 28, 28), 2, 2, 0),   # DeepConvNet first pooling
    "100x16x28x28-p3s2p1": ((BATCH, 16, 28, 28), 3, 2, 1),  # overlapping windows with padding
}
#: label -> (x shape, W shape).
AFFINE = {
    "100x4320x100": ((BATCH, 4320), (4320, 100)),  # SimpleConvNet Affine1
    "100x100x10": ((BATCH, 100), (100, 10)),       # SimpleConvNet Affine2
    "100x100x100": ((BATCH, 100), (100, 100)),     # a hidden layer of chapter 6's MultiLayerNet
}
#: label -> x shape.
RELU = {"100x100": (BATCH, 100), "100x30x24x24": (BATCH, 30, 24, 24)}
#: label -> (N, K) scores.
SOFTMAX = {"100x10": (BATCH, 10), "1000x1000": (1000, 1000)}
#: label -> x shape.
BATCHNORM = {"100x100": (BATCH, 100), "100x16x14x14": (BATCH, 16, 14, 14)}


def chapter7(batch=BATCH):
    """The shape dict of ``fastscratch bench``: SimpleConvNet's layers (conv1, Pool1, Affine1, the loss)."""
    (_, channels, size, _), filters, fsize, _ = CONV["conv1-100x1x28x28-f30k5"]
    (_, pool_ch, pool_size, _), _, _, _ = POOL["100x30x24x24-p2s2"]
    (_, affine_in), (_, hidden) = AFFINE["100x4320x100"]
    classes = SOFTMAX["100x10"][1]
    return dict(batch=batch, channels=channels, size=size, filters=filters, fsize=fsize, hidden=hidden,
                pool_ch=pool_ch, pool_size=pool_size, affine_in=affine_in, classes=classes)
