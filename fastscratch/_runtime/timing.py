"""Wall-clock timing shared by ``fastscratch bench``, the asv suite's ``track_`` benchmarks and ``benchmarks.measure``.

The best of several runs is the figure least disturbed by other load on the
machine. Wall time, not CPU time: CPU time adds up over all threads and would
hide a parallel speedup.
"""
import time


def best_time(fn, number=1, repeat=5, budget=None, warmup=False):
    """Best wall time per call of ``fn()``, in seconds, over ``repeat`` runs of ``number`` calls.

    Parameters
    ----------
    fn : callable taking no arguments
    number : int
        Calls per run (the run's time is divided by it).
    repeat : int
        At most this many runs.
    budget : float, optional
        Start no new run once this many seconds have gone by (there is always
        one run), so a call of seconds is sampled once or twice, not ``repeat`` times.
    warmup : bool
        Call ``fn`` once, untimed, first (compilation, caches).
    """
    if warmup:
        fn()
    best = float("inf")
    start = time.perf_counter()
    for run in range(repeat):
        if run and budget is not None and time.perf_counter() - start >= budget:
            break
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def speedup(reference_fn, kernels_fn, **kwargs):
    """``best_time(reference_fn) / best_time(kernels_fn)``, both measured here with the same ``kwargs``."""
    return best_time(reference_fn, **kwargs) / best_time(kernels_fn, **kwargs)
