"""One line on stderr when a first run spends more than a moment compiling kernels.

An empty Numba cache (a fresh install, a new Colab session, an upgrade)
makes the first call of each kernel compile it, which takes seconds per
kernel. ``start()`` listens to Numba's compile events; once compilation has
gone on for ``delay`` seconds it prints, once per process, what is being
compiled, for about how long, and that later runs load the kernels from the
cache. The command line's ``run`` and ``train`` call it; so can a notebook
extension (``fastscratch._runtime.compile_notice.start()``, idempotent).

Nothing here changes what is compiled or when: results never depend on it.
"""
import sys
import threading
import time

from numba.core import event as _event

#: Seconds of compilation before the notice is printed.
DELAY = 2.0


def _kernel_name(dispatcher):
    fn = dispatcher.py_func
    module = (fn.__module__ or "").replace("fastscratch.kernels.", "")
    return f"{module}.{fn.__name__}" if module else fn.__name__


def cache_dir():
    """Where Numba keeps (or would keep) the kernels' compiled code."""
    from fastscratch.kernels import conv
    return conv.im2col._cache._cache_path


class _Notice(_event.Listener):
    """Counts compiles; a timer prints the notice once compilation has run ``delay`` seconds."""

    def __init__(self, stream, delay):
        self.stream, self.delay = stream, delay
        self.depth = 0
        self.busy_since = None  # start of the current outermost compile
        self.compiled = 0.0  # seconds spent in finished outermost compiles
        self.names = []
        self.printed = False
        self.lock = threading.Lock()
        self.timer = None

    def on_start(self, ev):
        with self.lock:
            name = _kernel_name(ev.data["dispatcher"])
            if self.depth == 0 and name not in self.names:  # the kernels called, not their helpers
                self.names.append(name)
            self.depth += 1
            if self.depth == 1:
                self.busy_since = time.perf_counter()
                if not self.printed:
                    self._arm(max(0.0, self.delay - self.compiled))

    def on_end(self, ev):
        with self.lock:
            self.depth -= 1
            if self.depth == 0 and self.busy_since is not None:
                self.compiled += time.perf_counter() - self.busy_since
                self.busy_since = None
                if self.timer is not None:
                    self.timer.cancel()
                    self.timer = None

    def _arm(self, seconds):
        self.timer = threading.Timer(seconds, self._fire)
        self.timer.daemon = True
        self.timer.start()

    def _fire(self):
        with self.lock:
            if self.printed or self.busy_since is None:
                return
            self.printed = True
            names = self.names[:3] + (["..."] if len(self.names) > 3 else [])
        try:
            self.stream.write(message(", ".join(names) or "kernels") + "\n")
            self.stream.flush()
        except (OSError, ValueError):  # a closed stream: say nothing
            pass


def message(what):
    """The notice's text, for kernels described by ``what``."""
    return (f"fastscratch: compiling Numba kernels for this machine ({what}): the first run of each "
            f"kind of network takes about 5-40 s more, once; later runs load them from the cache in "
            f"{cache_dir()} and start at once. `fastscratch warmup` compiles all of them ahead of time.")


class _Stderr:
    """sys.stderr as it is when written to (a notebook may swap it after ``start``)."""

    def write(self, text):
        sys.stderr.write(text)

    def flush(self):
        sys.stderr.flush()


_active = None


def start(stream=None, delay=DELAY):
    """Print the compile notice, once per process, if compilation goes on for ``delay`` seconds.

    Parameters
    ----------
    stream : text file, default sys.stderr (looked up when the notice prints)
    delay : float, seconds of compilation before the notice

    Returns the listener; calling ``start`` again returns the same one.
    """
    global _active
    if _active is None:
        _active = _Notice(stream if stream is not None else _Stderr(), delay)
        _event.register("numba:compile", _active)
    return _active


def stop():
    """Stop listening (the notice, if printed, stays printed)."""
    global _active
    if _active is not None:
        _event.unregister("numba:compile", _active)
        if _active.timer is not None:
            _active.timer.cancel()
        _active = None
