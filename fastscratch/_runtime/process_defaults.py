"""Process-wide settings that the ``fastscratch`` command makes for the process it owns, never ``import fastscratch``.

``import fastscratch`` leaves ``os.environ``, the allocator and other libraries'
thread pools as they are: a library must not change its host process. The
kernels do not need these settings to be fast (the GEMMs run on the kernels'
own thread pool: see ``fastscratch._layers.matmul``). The command (``fastscratch train
/ bench / run``, and ``python -m fastscratch``) owns its process and runs code
that is not fastscratch's: the reference's and the book scripts' own NumPy
GEMMs, which wake OpenBLAS's threads. For that code it sets, before NumPy loads
(``fastscratch/__init__.py`` calls ``tune_if_command`` first of all):

- ``OMP_WAIT_POLICY=PASSIVE`` when other processes are running on the
  machine as the command starts (``machine_is_busy``): Numba's OpenMP threads
  then sleep as soon as a kernel is done instead of spinning for a while.
  Where other processes compete for the cores, a spinning thread takes their
  turn (and a thread waiting for its partner at the end of a kernel spins
  through its own): steps ran several times slower. On a quiet machine OpenMP's
  default is kept: waking a sleeping thread costs tens of microseconds, paid by
  each of a small network's many short kernels, and nothing else needs the
  cores while they spin. Read when Numba starts its OpenMP pool; the OpenMP
  runtime is shared with other libraries of the process (PyTorch's is the same
  libgomp), which is why only the command sets it.
- ``OPENBLAS_THREAD_TIMEOUT=4`` (2**4 cycles): OpenBLAS's idle threads spin for
  2**28 cycles (~0.1 s) after each GEMM, taking a core from the kernels that
  follow. Read once, when NumPy loads OpenBLAS.
- glibc's malloc thresholds (mmap threshold 32 MiB, trim threshold 1 GiB): a
  training step makes and drops arrays of tens of MB, which glibc would return
  to the system at once and page-fault again in the next step. The cost:
  freed memory (up to 1 GiB) stays with the process.

A value the environment already sets wins; ``FASTSCRATCH_PROCESS_DEFAULTS=0``
makes none of these settings. Imports nothing heavy.

A script that owns its process may ask for the same settings:
``fastscratch.tune_process()``, right after ``import fastscratch`` and before
the first kernel runs (OpenMP reads its wait policy when Numba starts its
threads; OpenBLAS's timeout only counts if NumPy is not loaded yet).
"""
import ctypes
import os
import sys
import time

#: The thread variables fastscratch's command may set.
THREAD_VARIABLES = ("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT")

#: The environment's own values of THREAD_VARIABLES before the command's defaults (None: unset).
USER_THREAD_ENV = {name: os.environ.get(name) for name in THREAD_VARIABLES}

#: True once tune_process() ran in this process (the fastscratch command).
TUNED = False
#: True when tune_process() set glibc's malloc thresholds.
MALLOC_TUNED = False
#: OpenBLAS's thread timeout as NumPy's OpenBLAS read it, when tune_process() ran before
#: NumPy loaded (None: its default, or not known). Shown by ``fastscratch info``.
BLAS_THREAD_TIMEOUT = None

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD = 32 << 20  # glibc's largest allowed value on 64-bit systems
_TRIM_THRESHOLD = 1 << 30


def _keep_freed_memory():
    """Set glibc's malloc thresholds (see the module docstring); False where there is no glibc mallopt."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    if not hasattr(libc, "gnu_get_libc_version"):  # glibc only: musl's mallopt does nothing
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


#: Runnable tasks besides this process, on average over a few snapshots, from which the
#: machine counts as busy: another job is using about a core.
BUSY_RUNNABLE = 0.5
_LOADAVG = "/proc/loadavg"


def machine_is_busy(samples=5, interval=0.002):
    """True when other tasks are running on the machine now (Linux's count of runnable tasks), or when unknown.

    ``/proc/loadavg``'s fourth field counts the runnable tasks of the whole
    machine at this instant, this process included. A few snapshots over
    about 10 ms are averaged; the load averages would also count the work of
    the command's own previous run, still decaying for a minute.
    """
    samples, interval = max(1, int(samples)), max(0.0, float(interval))
    counts = []
    for i in range(samples):
        try:
            with open(_LOADAVG) as f:
                field = f.read().split()[3]
            counts.append(int(field.split("/")[0]) - 1)
        except (OSError, IndexError, ValueError):
            return True  # no way to tell (not Linux, or an unexpected format): the safe choice
        if i + 1 < samples:
            time.sleep(interval)
    return sum(counts) / len(counts) >= BUSY_RUNNABLE


#: True when tune_process() found the machine busy (and so chose OMP_WAIT_POLICY=PASSIVE), None before.
BUSY_AT_START = None


def _numba_threads_started():
    """True once Numba has started its thread pool (the OpenMP runtime has read its settings)."""
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    return bool(getattr(parallel, "_is_initialized", False))


def tune_process():
    """Make the fastscratch command's process-wide settings (module docstring) in this process, once.

    For scripts that own their process and opt in; ``import fastscratch``
    never calls it. Call it before the first kernel runs. A value already in
    the environment wins; ``FASTSCRATCH_PROCESS_DEFAULTS=0`` makes it do nothing.

    Returns
    -------
    dict of str to bool: for "OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT" and
    "malloc", whether that setting is in effect in this process from now on
    (False: too late, already set by the environment, not available here, or,
    for the wait policy, a quiet machine, where OpenMP's default is kept).
    All False on a second call or with the opt-out.
    """
    global TUNED, MALLOC_TUNED, BLAS_THREAD_TIMEOUT, BUSY_AT_START
    done = dict.fromkeys(("OMP_WAIT_POLICY", "OPENBLAS_THREAD_TIMEOUT", "malloc"), False)
    if TUNED or os.environ.get("FASTSCRATCH_PROCESS_DEFAULTS", "1") == "0":
        return done
    TUNED = True
    # read when Numba starts OpenMP's threads: later it would do nothing
    if not _numba_threads_started() and "OMP_WAIT_POLICY" not in os.environ:
        BUSY_AT_START = machine_is_busy()
        if BUSY_AT_START:
            os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
            done["OMP_WAIT_POLICY"] = True
    if "numpy" not in sys.modules:  # read when NumPy loads OpenBLAS: later it would do nothing
        done["OPENBLAS_THREAD_TIMEOUT"] = "OPENBLAS_THREAD_TIMEOUT" not in os.environ
        os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "4")
        BLAS_THREAD_TIMEOUT = os.environ["OPENBLAS_THREAD_TIMEOUT"]
    # an explicit malloc setting in the environment wins
    if not any(name in os.environ for name in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                                 "GLIBC_TUNABLES")):
        MALLOC_TUNED = _keep_freed_memory()
    done["malloc"] = MALLOC_TUNED
    return done


def launched_as_command():
    """True while this process is the ``fastscratch`` command or ``python -m fastscratch`` starting up.

    ``python -m fastscratch`` imports the package while it locates
    ``fastscratch.__main__``, with ``sys.argv[0] == "-m"`` and the module name
    in ``sys.orig_argv``; the console script's ``__main__`` is the script file
    named ``fastscratch``. An ordinary ``import fastscratch`` matches neither.
    """
    argv = sys.argv or [""]
    if argv[0] == "-m":
        orig = list(getattr(sys, "orig_argv", []))
        for i, arg in enumerate(orig):
            if arg == "-m":
                return i + 1 < len(orig) and orig[i + 1] in ("fastscratch", "fastscratch.__main__")
            if arg.startswith("-m"):
                return arg[2:] in ("fastscratch", "fastscratch.__main__")
        return False
    main_file = getattr(sys.modules.get("__main__"), "__file__", None) or ""
    name = os.path.basename(main_file)
    for suffix in ("-script.pyw", "-script.py", ".exe"):
        name = name.removesuffix(suffix)
    return name == "fastscratch" and os.path.basename(argv[0]).startswith("fastscratch")


def tune_if_command():
    """tune_process() when launched_as_command(); nothing on an ordinary import."""
    if launched_as_command():
        tune_process()
