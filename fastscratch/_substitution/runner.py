"""Run a script written for the book, unmodified, on fastscratch.

``python -m fastscratch run SCRIPT.py [args]`` runs SCRIPT.py as ``python
SCRIPT.py [args]`` would (``__name__ == "__main__"``, ``sys.argv`` of the script
and its arguments, the script's directory first on ``sys.path``, its exit code
passed on) with three differences:

* the book's packages come from fastscratch: ``common.<mod>`` answers with
  ``fastscratch.<mod>`` (``fastscratch.reference.<mod>`` with ``--reference``)
  for functions, gradient, layers, util, optimizer, trainer, multi_layer_net
  and multi_layer_net_extend, and ``dataset.mnist`` with the bundled MNIST
  loader. Each ``common.<mod>`` is a stand-in module holding the fastscratch
  module's public names plus ``np`` (the book's modules have no ``__all__``, so
  their star imports hand out ``np`` and book code relies on it);
  ``common.layers.__alias_of__`` names the module behind it.
  An import hook placed first on ``sys.meta_path`` answers these names,
  so it takes precedence over a real ``common/`` or ``dataset/`` directory on
  ``sys.path`` (the book's scripts add one with ``sys.path.append(os.pardir)``);
  other modules of such a directory still import from it. Files beside the
  script (``simple_convnet.py``, ``two_layer_net.py``) win over everything, as
  with plain python, since they are not in ``common``; but where such a file
  is one of the book's own network files (chapters 4, 5, 7 and 8, recognised by
  its code: see ``fastscratch._substitution.book_networks``), its class is answered with
  fastscratch's, which gives the same numbers faster. This is said once per
  file on stderr; ``--no-substitute`` or ``FASTSCRATCH_SUBSTITUTE=0`` runs
  such files as written. ``--reference`` never substitutes.
* the working directory is the script's directory, as the book assumes when
  it reads and writes ``params.pkl``; and without a display (no ``DISPLAY`` or
  ``WAYLAND_DISPLAY`` on Linux) matplotlib uses the Agg backend and
  ``plt.show()`` saves the open figures as ``SCRIPT_fig1.png``, ... beside the
  script instead of blocking, and PIL's ``Image.show()`` (chapter 3's
  mnist_show.py) saves the image as ``SCRIPT_img1.png``, ... instead of
  handing it to an external viewer.
* NumPy's removed aliases of the builtins (``np.int``, ``np.float``,
  ``np.complex``, ``np.bool``, ``np.object``, ``np.str``, ``np.long``,
  ``np.unicode``; gone since NumPy 1.24, and the book predates that) answer
  with the builtin, as earlier NumPy did, in both modes, wherever numpy itself
  refuses the name (see ``fastscratch._substitution.numpy_aliases``); each says so once on
  stderr. ``--no-compat`` or ``FASTSCRATCH_COMPAT=0`` gives NumPy's own error.

``--compare`` runs the script twice, each in a fresh interpreter, on
fastscratch and on the reference, and prints both wall times and the ratio.
"""
import contextlib
import importlib
import importlib.abc
import importlib.machinery
import os
import runpy
import subprocess
import sys
import time
import traceback

from fastscratch._runtime.child_env import importing_this_fastscratch
from fastscratch._substitution import numpy_aliases as _numpy_aliases
from fastscratch._substitution.switches import (COMMON_MODULES, COMPAT_ENV, DATASET_MODULES, SUBSTITUTE_ENV,
                                                compat_enabled, substitution_enabled)

def module_map(reference=False):
    """The alias table: book module name -> fastscratch module name."""
    api = "fastscratch.reference" if reference else "fastscratch"
    table = {f"common.{m}": f"{api}.{m}" for m in COMMON_MODULES}
    table.update({f"dataset.{m}": f"fastscratch.dataset.{m}" for m in DATASET_MODULES})
    return table


class _AliasLoader(importlib.abc.Loader):
    """Loads a book module name as a stand-in for a fastscratch module.

    The stand-in holds the fastscratch module's public names plus ``np``, and
    reads anything else from it: the book's modules have no ``__all__``, so
    ``from common.functions import *`` hands the script ``np`` too, and book code
    (chapter 4's two_layer_net.py) relies on that. ``__alias_of__`` names the
    fastscratch module.
    """

    def __init__(self, target):
        self.target = target

    def exec_module(self, module):
        import numpy
        target = importlib.import_module(self.target)
        names = {k: v for k, v in vars(target).items() if not k.startswith("_")}
        names.update({k: getattr(target, k) for k in getattr(target, "__all__", ())})
        vars(module).update(names)
        module.np = numpy
        # explicit, or the star import would find the target's __all__ through __getattr__
        module.__all__ = sorted(names) + ["np"]
        module.__doc__ = f"The book's {module.__name__}, answered by {self.target} (fastscratch run)."
        module.__alias_of__ = self.target
        module.__getattr__ = lambda name: getattr(target, name)  # PEP 562: the rest from the target


class _PackageLoader(importlib.abc.Loader):
    """An empty stand-in for the book's ``common`` / ``dataset`` package."""

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__doc__ = (f"The book's {module.__name__!r} package, answered by fastscratch "
                          "(see fastscratch._substitution.runner).")


class _PatchingLoader(importlib.abc.Loader):
    """Imports a module as usual, then calls patch(module) (pyplot's and PIL's show without a display)."""

    def __init__(self, loader, patch):
        self.loader = loader
        self.patch = patch

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        self.loader.exec_module(module)
        self.patch(module)


class BookImportHook(importlib.abc.MetaPathFinder):
    """Meta-path finder answering the book's ``common.*`` and ``dataset.*`` with fastscratch.

    Parameters
    ----------
    reference : bool
        Map ``common.*`` to ``fastscratch.reference.*`` instead of the fast modules.
    show : callable, optional
        When given, replaces ``matplotlib.pyplot.show`` once pyplot is imported.
    image_saver : ImageSaver, optional
        When given, installed in ``PIL.Image`` once it is imported.
    """

    packages = ("common", "dataset")

    def __init__(self, reference=False, show=None, image_saver=None):
        self.table = module_map(reference)
        self.patches = {}
        if show is not None:
            self.patches["matplotlib.pyplot"] = lambda module: setattr(module, "show", show)
        if image_saver is not None:
            self.patches["PIL.Image"] = image_saver.install

    def find_spec(self, fullname, path=None, target=None):
        if fullname in self.packages:
            spec = importlib.machinery.ModuleSpec(fullname, _PackageLoader(), is_package=True)
            # Modules fastscratch does not provide still come from a real directory of
            # that name on sys.path, if the script has one (the hook answers first for the rest).
            spec.submodule_search_locations = [
                os.path.join(os.path.abspath(p or os.curdir), fullname) for p in sys.path
                if isinstance(p, str) and os.path.isdir(os.path.join(p or os.curdir, fullname))]
            return spec
        if fullname in self.table:
            return importlib.machinery.ModuleSpec(fullname, _AliasLoader(self.table[fullname]))
        if fullname in self.patches:
            spec = importlib.machinery.PathFinder.find_spec(fullname, path)
            if spec is not None and spec.loader is not None:
                spec.loader = _PatchingLoader(spec.loader, self.patches[fullname])
            return spec
        return None


def alias_notice(name, builtin, prefix="fastscratch run", switch=f"--no-compat or {COMPAT_ENV}=0"):
    """Say on stderr that np.<name> answered with the builtin, and how to switch that off."""
    print(f"{prefix}: np.{name} was removed in NumPy 1.24; answering with the builtin "
          f"{builtin.__name__}, as earlier NumPy did (the book predates the removal; "
          f"{switch} gives NumPy's error)", file=sys.stderr, flush=True)


class _BookNetworkLoader(importlib.machinery.SourceFileLoader):
    """Runs a network file beside the script as written, then, if it is the book's, swaps in the fast class.

    The file's module-level code runs either way (its imports and ``sys.path``
    changes happen as with plain python); only the class name is rebound, and
    only when ``fastscratch._substitution.book_networks.check`` finds both classes equal.
    """

    def __init__(self, fullname, path, notices):
        super().__init__(fullname, path)
        self.notices = notices

    def exec_module(self, module):
        super().exec_module(module)
        from fastscratch._substitution import book_networks as _book_networks
        book = _book_networks.recognise(self.get_data(self.path))
        if book is None:
            return
        fast = _book_networks.fast_class(book)
        if fast is None:
            return
        reason = _book_networks.check(book, getattr(module, book.class_name), fast)
        where = f"{self.path} is the book's {book.file}"
        if reason is not None:
            self._notice(f"fastscratch run: {where}, run as written: {reason}")
            return
        name = f"{fast.__module__}.{fast.__qualname__}"
        setattr(module, book.class_name, fast)
        module.__fastscratch_substituted__ = (book.class_name, name)
        self._notice(f"fastscratch run: {where}: its {book.class_name} runs as {name} "
                     f"(same numbers, faster; --no-substitute or {SUBSTITUTE_ENV}=0 runs the file as written)")

    def _notice(self, line):
        if line not in self.notices:   # once per file, however often it is imported
            self.notices.add(line)
            print(line, file=sys.stderr, flush=True)


class BookNetworkFinder(importlib.abc.MetaPathFinder):
    """Meta-path finder for the book's network module names: found as usual, loaded by _BookNetworkLoader.

    Placed after BookImportHook and before the standard path finder; it finds
    ``two_layer_net``, ``simple_convnet`` and ``deep_convnet`` where plain
    python would, and only changes how a plain ``.py`` file of that name loads.
    """

    def __init__(self):
        from fastscratch._substitution.book_networks import MODULE_NAMES
        self.names = MODULE_NAMES
        self.notices = set()

    def find_spec(self, fullname, path=None, target=None):
        if path is not None or fullname not in self.names:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname)
        if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
            return spec
        spec.loader = _BookNetworkLoader(fullname, spec.origin, self.notices)
        return spec


def install_finders(reference=False, substitute=True, show=None, image_saver=None):
    """Put the book's import hook first on sys.meta_path, and the network finder after it.

    The network finder (the book's network files get fastscratch's classes) is
    installed unless reference or substitution is off (``substitution_enabled``).
    The other parameters are BookImportHook's. Returns the finders installed,
    for ``remove_finders``.
    """
    finders = [BookImportHook(reference=reference, show=show, image_saver=image_saver)]
    if not reference and substitution_enabled(substitute):
        finders.append(BookNetworkFinder())
    sys.meta_path[:0] = finders
    return finders


def remove_finders(finders):
    """Take the finders install_finders returned off sys.meta_path (the others stay in their order)."""
    sys.meta_path[:] = [f for f in sys.meta_path if not any(f is g for g in finders)]


def answered_modules():
    """The names in sys.modules that the finders answered: common.*, dataset.* and substituted network files."""
    names = []
    for name, module in list(sys.modules.items()):
        loader = getattr(getattr(module, "__spec__", None), "loader", None)
        if isinstance(loader, (_AliasLoader, _PackageLoader, _BookNetworkLoader)):
            names.append(name)
    return names


def has_display():
    """Whether a GUI window could open (always assumed on macOS and Windows)."""
    if sys.platform.startswith(("win", "darwin")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def figure_saver(script):
    """A plt.show replacement: save every open figure beside the script, then close them.

    Figures are numbered across calls (SCRIPT_fig1.png, SCRIPT_fig2.png, ...),
    since a blocking show() would also have closed them.
    """
    stem = os.path.splitext(os.path.abspath(script))[0]
    count = [0]

    def show(*args, **kwargs):
        import matplotlib.pyplot as plt
        for num in plt.get_fignums():
            count[0] += 1
            path = f"{stem}_fig{count[0]}.png"
            plt.figure(num).savefig(path)
            print(f"fastscratch run: no display, saved figure {num} to {path}", file=sys.stderr)
        plt.close("all")

    return show


class ImageSaver:
    """PIL's ``Image.show`` without a display: each image shown is saved beside the script instead.

    Images are numbered across calls (SCRIPT_img1.png, SCRIPT_img2.png, ...).
    ``install(PIL.Image)`` patches the Image class; ``restore()`` puts its
    own show back.
    """

    def __init__(self, script):
        self.stem = os.path.splitext(os.path.abspath(script))[0]
        self.count = 0
        self.patched = None  # (the Image class, its show) once installed

    def install(self, module):
        cls = module.Image
        if self.patched is not None:
            return
        self.patched = (cls, cls.show)
        saver = self

        def show(image, title=None):
            saver.count += 1
            path = f"{saver.stem}_img{saver.count}.png"
            if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "I;16"):
                image = image.convert(module.getmodebase(image.mode))  # as PIL's viewers do (mode "F", ...)
            image.save(path)
            print(f"fastscratch run: no display, saved image to {path}", file=sys.stderr)

        cls.show = show

    def restore(self):
        if self.patched is not None:
            cls, show = self.patched
            cls.show = show
            self.patched = None


def _script_traceback(exc):
    """Print exc's traceback from the script's first frame on (the runner's frames are noise)."""
    tb = exc.__traceback__
    here = os.path.abspath(__file__)
    while tb is not None and (os.path.abspath(tb.tb_frame.f_code.co_filename) == here
                              or "runpy" in tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    traceback.print_exception(type(exc), exc, tb if tb is not None else exc.__traceback__)


def run_script(script, args=(), reference=False, substitute=True, compat=True):
    """Run script with args as ``__main__`` on fastscratch; return its exit status.

    With substitute (and not reference, and ``FASTSCRATCH_SUBSTITUTE`` not 0),
    the book's own network files beside the script get fastscratch's classes.
    With compat (and ``FASTSCRATCH_COMPAT`` not 0), NumPy's removed builtin
    aliases answer while the script runs; numpy is as before once this returns.
    SystemExit raised by the script is passed on as the return value (its code:
    None -> 0, an int, anything else printed and 1); any other exception prints
    its traceback and gives 1.
    """
    path = os.path.abspath(script)
    if not os.path.isfile(path):
        print(f"fastscratch run: error: no such script: {script}", file=sys.stderr)
        return 2
    directory = os.path.dirname(path)

    show = image_saver = None
    if not has_display():
        os.environ.setdefault("MPLBACKEND", "Agg")
        show = figure_saver(path)
        image_saver = ImageSaver(path)
        if "PIL.Image" in sys.modules:  # imported before the hook: patched now, put back at the end
            image_saver.install(sys.modules["PIL.Image"])
    # fastscratch must stay importable after sys.path[0] becomes the script's directory
    import fastscratch.layers  # noqa: F401
    install_finders(reference=reference, substitute=substitute, show=show, image_saver=image_saver)
    # as `python SCRIPT.py`: the script's directory replaces the launcher's entry
    if sys.path:
        sys.path[0] = directory
    else:
        sys.path.append(directory)
    sys.argv = [path, *args]
    os.chdir(directory)
    aliases = _numpy_aliases.answering(alias_notice) if compat_enabled(compat) else contextlib.nullcontext()
    try:
        with aliases:
            runpy.run_path(path, run_name="__main__")
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    except Exception as exc:  # the script's error: report it as python would, exit status 1
        _script_traceback(exc)
        return 1
    finally:
        sys.stdout.flush()
        if image_saver is not None:
            image_saver.restore()
    return 0


def compare(script, args=(), substitute=True, compat=True):
    """Run script on fastscratch then on the reference, each in a fresh interpreter; print times.

    Returns the first non-zero exit status, else 0.
    """
    results = []
    common = [] if compat else ["--no-compat"]
    fast_flags = common + ([] if substitute else ["--no-substitute"])
    for label, flags in (("fastscratch", fast_flags), ("reference", common + ["--reference"])):
        cmd = [sys.executable, "-m", "fastscratch", "run", *flags, script, *args]
        print(f"--- fastscratch run: {label} ---", flush=True)
        start = time.perf_counter()
        rc = subprocess.call(cmd, env=importing_this_fastscratch())
        results.append((label, time.perf_counter() - start, rc))
    return report_comparison(results, "including start-up and compilation")


def report_comparison(results, included):
    """Print ``--compare``'s table of [(label, seconds, exit status)] for fastscratch then the reference.

    ``included`` says what the wall times include. Returns the first non-zero exit status, else 0.
    """
    print("--- fastscratch run --compare ---")
    for label, seconds, rc in results:
        print(f"{label:<12} {seconds:8.2f} s  (exit status {rc})")
    (_, fast, fast_rc), (_, ref, ref_rc) = results
    print(f"speedup      {ref / fast:8.2f}x  (reference time / fastscratch time, {included})")
    return fast_rc or ref_rc
