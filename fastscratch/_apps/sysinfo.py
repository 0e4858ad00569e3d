"""What ``fastscratch info`` reports: versions, threads, BLAS, the Numba cache, the CPU's SIMD level."""
import os
import platform
import sys


def _blas():
    """BLAS libraries NumPy uses and their threads (threadpoolctl when installed, else NumPy's config)."""
    try:
        import threadpoolctl
    except ImportError:
        threadpoolctl = None
    if threadpoolctl is not None:
        import numpy  # load NumPy's BLAS so threadpoolctl sees it
        rows = [f"{p.get('internal_api')} {p.get('version')} ({p.get('threading_layer', '?')} threads: "
                f"{p.get('num_threads')})" for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
        if rows:
            return "; ".join(rows)
    import numpy
    try:
        config = numpy.show_config(mode="dicts")
        blas = config["Build Dependencies"]["blas"]
        name = f"{blas.get('name')} {blas.get('version', '')}".strip()
    except Exception:  # NumPy < 1.25 has no mode="dicts"
        name = "see numpy.show_config()"
    threads = [f"{var}={os.environ[var]}" for var in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
                                                      "OMP_NUM_THREADS") if var in os.environ]
    return f"{name} (threads: {', '.join(threads) or 'library default'}; install threadpoolctl for details)"


def _numba_threads():
    import numba
    import numpy as np

    @numba.njit(parallel=True, cache=False)  # a throwaway kernel: only to start the threading layer
    def _touch(a):
        for i in numba.prange(a.size):
            a[i] = i
    _touch(np.empty(4))
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "not initialised"
    return (f"NUMBA_NUM_THREADS={numba.config.NUMBA_NUM_THREADS}, get_num_threads()={numba.get_num_threads()}, "
            f"threading layer {layer}")


def _thread_waits():
    """How idle threads of each pool wait, and who set it (the environment or the fastscratch command)."""
    from fastscratch._runtime import process_defaults as P
    by = "set by the fastscratch command (or tune_process())" if P.TUNED else "the environment's"
    omp = os.environ.get("OMP_WAIT_POLICY")
    omp = f"OMP_WAIT_POLICY={omp}" if omp else "OMP_WAIT_POLICY unset (OpenMP's default: spin a while, then sleep)"
    if P.BUSY_AT_START is not None:  # the command chose the policy from the machine's load
        omp += (" (other tasks were running as the command started)" if P.BUSY_AT_START
                else " (the machine was quiet as the command started)")
    if P.BLAS_THREAD_TIMEOUT is not None:
        blas = f"OPENBLAS_THREAD_TIMEOUT={P.BLAS_THREAD_TIMEOUT} (2**{P.BLAS_THREAD_TIMEOUT} cycles)"
    elif os.environ.get("OPENBLAS_THREAD_TIMEOUT"):
        blas = f"OPENBLAS_THREAD_TIMEOUT={os.environ['OPENBLAS_THREAD_TIMEOUT']} (if set before NumPy loaded)"
    else:
        blas = "OpenBLAS's default timeout (2**28 cycles)"
    return f"{omp}; {blas}; {by} (import fastscratch sets neither)"


def _gemms():
    """How the layers' GEMMs run (fastscratch._layers.matmul)."""
    from fastscratch._runtime.openblas import openblas
    lib = openblas()
    if lib is None:
        return "np.dot with the BLAS library's own threads (NumPy's BLAS is not OpenBLAS)"
    bits = 8 * lib.width.itemsize
    return (f"OpenBLAS cblas_?gemm ({bits}-bit integers), fixed blocks on Numba's threads, "
            "OpenBLAS set to 1 thread during each call")


def _freed_memory():
    from fastscratch._runtime import process_defaults as P
    if P.MALLOC_TUNED:
        return ("kept for reuse (set by the fastscratch command: glibc mallopt, blocks up to 32 MiB "
                "from the heap, up to 1 GiB of free heap kept)")
    return "malloc's defaults (import fastscratch leaves malloc alone)"


def _numba_cache():
    import numba
    if numba.config.CACHE_DIR:
        return numba.config.CACHE_DIR + " (NUMBA_CACHE_DIR)"
    import fastscratch.kernels
    where = os.path.join(os.path.dirname(os.path.abspath(fastscratch.kernels.__file__)), "__pycache__")
    return f"{where} (Numba's default: __pycache__ beside the kernels; set NUMBA_CACHE_DIR to move it)"


def _cpu():
    import llvmlite.binding as llvm
    name = llvm.get_host_cpu_name()
    features = llvm.get_host_cpu_features()
    levels = ["sse4.2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512vl", "avx512vnni", "neon", "sve"]
    have = [f for f in levels if features.get(f, False)]
    return f"{name}: {' '.join(have) or 'no SSE4.2/AVX/NEON'} ({os.cpu_count()} logical CPUs)"


def collect():
    """A list of (name, value) rows; a row whose probe fails says why instead."""
    import llvmlite
    import numba
    import numpy

    import fastscratch
    rows = [("fastscratch", f"{fastscratch.__version__} ({os.path.dirname(fastscratch.__file__)})"),
            ("Python", f"{platform.python_version()} ({sys.executable})"),
            ("NumPy", numpy.__version__), ("Numba", numba.__version__), ("llvmlite", llvmlite.__version__)]
    for name, probe in (("Numba threads", _numba_threads), ("BLAS", _blas), ("Idle threads", _thread_waits), ("GEMMs", _gemms),
                        ("Freed memory", _freed_memory),
                        ("Numba cache", _numba_cache), ("CPU SIMD", _cpu)):
        try:
            rows.append((name, probe()))
        except Exception as exc:  # info must still print the rest
            rows.append((name, f"unavailable ({type(exc).__name__}: {exc})"))
    return rows


#: A timed stretch in which this process ran less than this share of one core was
#: mostly descheduled: other work had the CPU, and a speed measured then says little.
BUSY_CPU_SHARE = 0.6


def busy_note(cpu_seconds, wall_seconds, loadavg=None):
    """Why a timing taken over ``wall_seconds`` is unreliable, or "" when nothing says so.

    Parameters
    ----------
    cpu_seconds : float
        CPU time this process used over the stretch (``time.process_time``).
    wall_seconds : float
        Wall time of the stretch.
    loadavg : float, optional
        One-minute load average (default: ``os.getloadavg()``, where there is one).

    Returns
    -------
    str
        E.g. ``"machine busy: load average 3.9 on 2 CPUs, this process ran 41% of
        the time"``; empty when the load average is at most the CPU count and the
        process ran at least ``BUSY_CPU_SHARE`` of the wall time.
    """
    if loadavg is None:
        try:
            loadavg = os.getloadavg()[0]
        except (AttributeError, OSError):
            loadavg = None
    ncpu = os.cpu_count() or 1
    notes = []
    if loadavg is not None and loadavg > ncpu:
        notes.append(f"load average {loadavg:.1f} on {ncpu} CPUs")
    if wall_seconds > 0 and cpu_seconds / wall_seconds < BUSY_CPU_SHARE:
        notes.append(f"this process ran {cpu_seconds / wall_seconds:.0%} of the time")
    return "machine busy: " + ", ".join(notes) if notes else ""
