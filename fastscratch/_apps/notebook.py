"""``%load_ext fastscratch``: the book's code in a Jupyter (IPython) kernel runs on fastscratch.

Loading the extension does in the kernel what ``fastscratch run`` does for a
script (see ``fastscratch._substitution.runner``), with the same pieces:

* ``common.*`` and ``dataset.mnist`` answer from fastscratch (from
  ``fastscratch.reference`` when ``FASTSCRATCH_REFERENCE=1``), ahead of a
  ``common/`` directory that ``sys.path.append(os.pardir)`` adds; book modules
  imported before the extension loaded are set aside and come back on unload;
* the book's network files beside the notebook (``two_layer_net.py``, ...)
  get fastscratch's classes (``runner.BookNetworkFinder``), and so do the book's
  functions, layers and networks defined in cells: after each cell, the names
  it bound to functions and classes go to ``fastscratch._substitution.recognise``, which
  rebinds those that behave as the book's. ``FASTSCRATCH_SUBSTITUTE=0`` (or
  ``FASTSCRATCH_REFERENCE=1``) before loading keeps both as written;
* NumPy's removed aliases (``np.int``, ...) answer with the builtins
  (``FASTSCRATCH_COMPAT=0`` before loading: NumPy's error).

One line on stderr says what was done and how to switch each part off.
``%unload_ext fastscratch`` puts everything back: ``sys.meta_path``, the book
modules set aside, numpy's ``__getattr__``, and each rebound name of the
user's namespace gets the cell's own definition again (unless the user has
bound the name to something else since).

Only this module imports IPython; ``import fastscratch`` does not.
"""
import contextlib
import functools
import os
import sys
import types

from fastscratch._substitution import numpy_aliases as _numpy_aliases
from fastscratch._substitution import runner

#: Environment variable: "1" maps common.* to fastscratch.reference and substitutes nothing.
REFERENCE_ENV = "FASTSCRATCH_REFERENCE"
#: How the notices of this extension start.
PREFIX = "fastscratch"


def reference_requested():
    """Whether the environment asks for the reference (``FASTSCRATCH_REFERENCE`` 1, yes, true or on)."""
    return os.environ.get(REFERENCE_ENV, "0").strip().lower() in ("1", "yes", "true", "on")


def _notice(line):
    print(line, file=sys.stderr, flush=True)


def _book_module(name):
    return name.split(".")[0] in runner.BookImportHook.packages


def _network_module_names():
    """The module names of the book's network files (two_layer_net, ...), as the runner's finder knows them."""
    from fastscratch._substitution.book_networks import MODULE_NAMES
    return MODULE_NAMES


class Extension:
    """What ``%load_ext fastscratch`` installed in one IPython shell, and how to take it out again.

    Parameters
    ----------
    shell : IPython.core.interactiveshell.InteractiveShell
        The kernel's shell; its ``user_ns`` is the notebook's namespace.
    reference : bool
        Answer ``common.*`` with ``fastscratch.reference`` and substitute nothing.
    """

    def __init__(self, shell, reference=False):
        self.shell = shell
        self.reference = reference
        self.substitute = not reference and runner.substitution_enabled()
        self.compat = runner.compat_enabled()
        self.finders = []
        self.set_aside = {}      # book modules imported before loading: name -> module
        self.rebound = {}        # user name -> (the cell's own object, fastscratch's)
        self.before = None       # the user namespace as the running cell found it
        self.recognise = None    # fastscratch._substitution.recognise.substitute_definitions, where it exists
        self.stack = contextlib.ExitStack()

    # --- load / unload ------------------------------------------------------------------

    def load(self):
        """Install the import hooks, the alias answers and the cell hooks; print the one-line summary."""
        # imported before loading: set aside, so that importing them again goes through the hooks
        networks = _network_module_names() if self.substitute else ()
        self.set_aside = {name: sys.modules.pop(name) for name in list(sys.modules)
                          if _book_module(name) or name in networks}
        self.finders = runner.install_finders(reference=self.reference, substitute=self.substitute)
        if self.compat:
            notice = functools.partial(runner.alias_notice, prefix=PREFIX,
                                       switch=f"{runner.COMPAT_ENV}=0 before %load_ext fastscratch")
            self.stack.enter_context(_numpy_aliases.answering(notice))
        if self.substitute:
            self.recognise = _cell_recogniser()
            if self.recognise is not None:
                self.shell.events.register("pre_run_cell", self.pre_run_cell)
                self.shell.events.register("post_run_cell", self.post_run_cell)
        _notice(self.summary())
        if not self.reference:
            _compile_notice("start")

    def unload(self):
        """Undo load: hooks, modules, numpy's aliases and the names rebound in the user's namespace."""
        for event, callback in (("pre_run_cell", self.pre_run_cell), ("post_run_cell", self.post_run_cell)):
            with contextlib.suppress(ValueError):   # not registered (substitution off)
                self.shell.events.unregister(event, callback)
        runner.remove_finders(self.finders)
        self.finders = []
        answered = set(runner.answered_modules())
        for name in list(sys.modules):
            if _book_module(name) or name in answered:
                del sys.modules[name]
        sys.modules.update(self.set_aside)
        self.set_aside = {}
        self.stack.close()
        namespace = self.shell.user_ns
        for name, (own, fast) in self.rebound.items():
            if namespace.get(name) is fast:
                namespace[name] = own
        self.rebound = {}
        _compile_notice("stop")
        _notice(f"{PREFIX}: unloaded; common.*, dataset.*, cell definitions and NumPy are as without fastscratch")

    def summary(self):
        """The one line load prints: what is answered and how to switch each part off."""
        api = "fastscratch.reference" if self.reference else "fastscratch"
        parts = [f"common.* and dataset.mnist answer from {api}"
                 + ("" if self.reference else f" ({REFERENCE_ENV}=1: the reference)")]
        if self.substitute:
            where = "network files beside the notebook"
            if self.recognise is not None:
                where = "functions, layers and networks defined in cells and " + where
            parts.append(f"the book's {where} run on fastscratch ({runner.SUBSTITUTE_ENV}=0: as written)")
        if self.compat:
            parts.append(f"np.int, np.float, ... answer with the builtins ({runner.COMPAT_ENV}=0: NumPy's error)")
        return (f"{PREFIX}: " + "; ".join(parts)
                + "; set these variables before %load_ext fastscratch; %unload_ext fastscratch undoes it")

    # --- cells --------------------------------------------------------------------------

    def pre_run_cell(self, info=None):
        """IPython event: remember what the namespace holds before the cell runs."""
        self.before = dict(self.shell.user_ns)

    def post_run_cell(self, result=None):
        """IPython event: hand the functions and classes the cell bound to the recogniser."""
        before, self.before = self.before, None
        if before is None:
            return
        namespace = self.shell.user_ns
        names = [name for name, value in namespace.items()
                 if not name.startswith("_") and before.get(name, _MISSING) is not value
                 and _defined_in_cell(value, namespace)]
        if not names:
            return
        own = {name: namespace[name] for name in names}
        done = self.recognise(namespace, names, notice=_notice)
        for name in done:
            self.rebound[name] = (own[name], namespace[name])


_MISSING = object()


def _defined_in_cell(value, namespace):
    """Whether value is a function or class whose module is the notebook's (``__main__``)."""
    if not isinstance(value, (types.FunctionType, type)):
        return False
    return getattr(value, "__module__", None) == namespace.get("__name__", "__main__")


def _cell_recogniser():
    """``fastscratch._substitution.recognise.substitute_definitions``, or None where this version has no recogniser."""
    try:
        from fastscratch._substitution.recognise import substitute_definitions
    except ImportError:
        return None
    return substitute_definitions


def _compile_notice(action):
    """fastscratch._runtime.compile_notice.start() / stop(): one line when a first run compiles kernels for seconds.

    That module comes with the cold-start work (issue 25); where this version
    of fastscratch has none, nothing is said.
    """
    try:
        from fastscratch._runtime import compile_notice as notice
    except ImportError:
        return
    getattr(notice, action)()


# --- IPython's entry points (fastscratch.load_ipython_extension calls these) -----------

_LOADED = {}   # id(shell) -> Extension


def load_ipython_extension(shell):
    """``%load_ext fastscratch``: install the book's hooks in this shell (see the module docstring)."""
    if id(shell) in _LOADED:
        return
    extension = Extension(shell, reference=reference_requested())
    extension.load()
    _LOADED[id(shell)] = extension


def unload_ipython_extension(shell):
    """``%unload_ext fastscratch``: undo ``load_ipython_extension``."""
    extension = _LOADED.pop(id(shell), None)
    if extension is not None:
        extension.unload()
