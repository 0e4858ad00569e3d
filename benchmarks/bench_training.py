"""Training steps of the book's networks: backprop gradient plus Adam's update, batch 100.

Every network of the book in float64 (the book's) and float32:
TwoLayerNet(784, 50, 10) (chapter 5), MultiLayerNet and MultiLayerNetExtend
as chapter 6 builds them, SimpleConvNet and DeepConvNet with the book's
default sizes (chapters 7 and 8), on fastscratch.reference and on the
kernels (shapes in benchmarks/_networks.py). Also the kernels-over-reference
speedup, and the peak memory of a float64 SimpleConvNet step (the kernels
must not need more than the reference).
"""
import ctypes

from ._networks import ALL_NETWORKS, STARTUP_SCRIPT, TrainingStep, run_child, speedup
from .common import IMPLS, Benchmark


class TrainingStepTime(Benchmark):
    """Wall time of one float64 training step (the book's dtype; TrainingStepTimeFloat32 for float32).

    The dtype is a class of its own rather than a parameter, so that the
    float64 rows keep the names and parameters of the dashboard's history.
    """

    params = [ALL_NETWORKS, IMPLS]
    param_names = ["network", "impl"]
    dtype = "float64"
    # A step takes milliseconds (TwoLayerNet) to seconds (DeepConvNet on the
    # reference): one call per sample, a few samples.
    number = 1
    repeat = (1, 5, 10.0)
    timeout = 300

    def setup(self, network, impl):
        self.step = TrainingStep(impl, network, dtype=self.dtype)
        self.step()  # compiles (or loads from Numba's cache) every kernel the step calls

    def time_step(self, network, impl):
        self.step()


class TrainingStepTimeFloat32(TrainingStepTime):
    """Wall time of one float32 training step (``dtype=np.float32`` networks)."""

    dtype = "float32"


class TrainingStepSpeedup(Benchmark):
    """Reference time over kernels time for one float64 training step, both measured in this process."""

    params = [ALL_NETWORKS]
    param_names = ["network"]
    dtype = "float64"
    unit = "x"
    timeout = 300

    def setup(self, network):
        self.reference = TrainingStep("reference", network, dtype=self.dtype)
        self.kernels = TrainingStep("kernels", network, dtype=self.dtype)
        # Warm both: the kernels compile (or load from cache); a first reference step
        # is slower too (fresh allocations, page faults) and would inflate the ratio.
        self.kernels()
        self.reference()

    def track_speedup_training(self, network):
        return speedup(self.reference, self.kernels)


class TrainingStepSpeedupFloat32(TrainingStepSpeedup):
    """The same speedup for float32 networks."""

    dtype = "float32"


class TrainingStepMemory(Benchmark):
    """Peak memory of a process that runs one SimpleConvNet training step.

    asv's peakmem is the process's peak resident size, setup included. So that
    it measures the step and not Numba's compiler, setup first has a child
    process run the same step, which fills the kernels' on-disk cache; this
    process then loads the compiled kernels instead of compiling them.
    """

    params = [["SimpleConvNet"], IMPLS]
    param_names = ["network", "impl"]
    timeout = 600

    def setup(self, network, impl):
        if impl == "kernels":
            run_child(STARTUP_SCRIPT)
        self.step = TrainingStep(impl, network)
        self.step()

    def peakmem_step(self, network, impl):
        self.step()


class TrainingStepMemoryIncrease(Benchmark):
    """Peak resident memory added by one SimpleConvNet training step over what the process held before.

    Linux with glibc only: writing 5 to /proc/self/clear_refs resets the
    process's peak resident size (VmHWM), so the peak after the step, less the
    resident size before it, is what the step itself needed (its temporaries and
    outputs). glibc's malloc would otherwise raise its mmap threshold after the
    first large free and serve later arrays from a heap it never shrinks, which
    hides every step after the first: setup fixes the threshold with mallopt.
    """

    params = [["SimpleConvNet"], IMPLS]
    param_names = ["network", "impl"]
    unit = "MiB"
    timeout = 600

    def setup(self, network, impl):
        if not (_can_reset_peak_rss() and _fix_malloc_thresholds()):
            raise NotImplementedError("needs Linux's /proc/self/clear_refs and glibc's mallopt")
        self.step = TrainingStep(impl, network)
        self.step()

    def track_step_peak_rss_increase(self, network, impl):
        # The layers keep the previous step's caches (the book's x, col, arg_max...):
        # a steady-state step frees and rebuilds them, as in a training loop.
        before = _status_kib("VmRSS")
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        self.step()
        return (_status_kib("VmHWM") - before) / 1024.0


def _status_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise OSError(f"{field} not in /proc/self/status")


def _fix_malloc_thresholds():
    """Large blocks always mmapped, and freed memory given back: RSS follows the live arrays."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
        return bool(libc.mallopt(m_mmap_threshold, 64 * 1024)
                    and libc.mallopt(m_trim_threshold, 128 * 1024))
    except (OSError, AttributeError):
        return False


def _can_reset_peak_rss():
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        _status_kib("VmHWM")
        return True
    except OSError:
        return False

