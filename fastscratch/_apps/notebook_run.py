"""``python -m fastscratch run NOTEBOOK.ipynb``: a notebook's code cells, in order, in a real Jupyter kernel.

As ``jupyter nbconvert --execute`` would run it (nbclient and ipykernel,
magics and ``%matplotlib inline`` included), with ``%load_ext fastscratch``
run in the kernel before the first cell, out of sight: the executed notebook
gains no cell. The kernel is this Python (a kernelspec written to a temporary
directory points at ``sys.executable``), its working directory is the
notebook's folder, and matplotlib draws inline, so figures are display_data
outputs of their cells.

Exit status: 0 when every cell ran (or ``allow_errors``); 1 when a cell failed
(which cell, its first line and the error are printed), when the kernel died
or the extension could not be loaded; the code of a ``sys.exit(code)`` in a
cell, which ends the run there as it ends a script; 2 for a file that is not a
notebook; 130 on Ctrl-C. Progress, one line per code cell, goes to stderr;
what the cells print is echoed as it comes.
"""
import contextlib
import json
import os
import sys
import tempfile

from fastscratch._runtime.child_env import importing_this_fastscratch
from fastscratch._substitution import runner
from fastscratch._apps.notebook import REFERENCE_ENV

KERNEL_NAME = "fastscratch-python"
#: matplotlib's inline backend, as a Jupyter front end selects it.
INLINE_BACKEND = "module://matplotlib_inline.backend_inline"
PREFIX = "fastscratch run"
#: Seconds a kernel may take to start (a machine busy with other work needs a while).
STARTUP_TIMEOUT = 180


class NotANotebook(ValueError):
    """The file is not valid JSON, or not a Jupyter notebook (the message says which)."""


def read_notebook(path):
    """The notebook at path as an nbformat v4 NotebookNode; NotANotebook when it is not one.

    As Jupyter, a notebook that breaks the schema in ways that do not stop it
    running (unknown metadata, say) runs anyway, with one line saying so; one
    whose cells cannot run (no cell type or source) is refused.
    """
    import nbformat
    from nbformat import reader
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise NotANotebook(f"{path} is not valid JSON ({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("nbformat"), int):
        raise NotANotebook(f"{path} is JSON but not a Jupyter notebook (no 'nbformat' version)")
    try:
        nb = nbformat.convert(reader.reads(json.dumps(data)), 4)
    except Exception as exc:  # nbformat's reader and converters: versions and layouts they do not know
        raise NotANotebook(f"{path} is JSON but not a Jupyter notebook ({_first_line(exc)})") from None
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise NotANotebook(f"{path} is JSON but not a Jupyter notebook (no 'cells' list)")
    for number, cell in enumerate(cells, 1):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw") \
                or not isinstance(cell.get("source"), str):
            raise NotANotebook(f"{path} is not a valid Jupyter notebook (cell {number} has no cell_type or source)")
    try:
        nbformat.validate(nb)
    except nbformat.ValidationError as exc:
        print(f"{PREFIX}: {path} does not follow the notebook schema ({_first_line(exc)}); running it anyway",
              file=sys.stderr)
    return nb


def _first_line(exc):
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextlib.contextmanager
def kernel_manager():
    """An AsyncKernelManager whose kernel is ``sys.executable -m ipykernel_launcher`` (spec in a temp dir)."""
    from jupyter_client import AsyncKernelManager
    from jupyter_client.kernelspec import KernelSpecManager
    with tempfile.TemporaryDirectory(prefix="fastscratch-kernel-") as tmp:
        spec_dir = os.path.join(tmp, KERNEL_NAME)
        os.mkdir(spec_dir)
        spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": f"Python ({sys.executable})", "language": "python",
                "metadata": {"debugger": False}}
        with open(os.path.join(spec_dir, "kernel.json"), "w") as f:
            json.dump(spec, f)
        specs = KernelSpecManager(kernel_dirs=[tmp])
        km = AsyncKernelManager(kernel_name=KERNEL_NAME, kernel_spec_manager=specs)
        if sys.platform.startswith("linux"):
            # local sockets: no TCP ports open to other users of the machine (ipykernel warns about TCP)
            km.transport = "ipc"
            km.ip = os.path.join(tmp, "kernel")  # the sockets' path prefix; relative, it would follow the kernel's cwd
        yield km


def kernel_env(reference=False, substitute=True, compat=True):
    """The kernel's environment: this process's, this fastscratch importable, the switches as variables."""
    env = importing_this_fastscratch()
    env["MPLBACKEND"] = INLINE_BACKEND
    env[REFERENCE_ENV] = "1" if reference else "0"
    if not substitute:
        env[runner.SUBSTITUTE_ENV] = "0"
    if not compat:
        env[runner.COMPAT_ENV] = "0"
    return env


def first_line(source):
    """The first non-blank line of a cell's source, shortened to 60 characters."""
    line = next((s.strip() for s in source.splitlines() if s.strip()), "")
    return line if len(line) <= 60 else line[:57] + "..."


def _client_class():
    from nbclient import NotebookClient

    class EchoingClient(NotebookClient):
        """nbclient's client, echoing stream outputs to this process's stdout / stderr as they arrive."""

        echo = True

        def output(self, outs, msg, display_id, cell_index):
            if msg["msg_type"] == "stream" and self.echo:
                stream = sys.stderr if msg["content"].get("name") == "stderr" else sys.stdout
                stream.write(msg["content"].get("text", ""))
                stream.flush()
            return super().output(outs, msg, display_id, cell_index)

    return EchoingClient


def _load_extension(client, echo):
    """Run ``%load_ext fastscratch`` in the kernel, off the record; its lines go to stderr. Raise on failure."""
    from nbformat.v4 import new_code_cell
    setup = new_code_cell("%load_ext fastscratch")
    # nbclient files an executed cell at its index: the first cell is put back afterwards
    kept = client.nb.cells[0]
    client.echo = False
    try:
        client.execute_cell(setup, 0, store_history=False)
    finally:
        client.nb.cells[0] = kept
        client.echo = echo
    for out in setup.outputs:
        if out.get("output_type") == "stream":
            sys.stderr.write(out["text"])


def _error_of(cell):
    for out in cell.get("outputs", ()):
        if out.get("output_type") == "error":
            return out.get("ename", "Error"), out.get("evalue", "")
    return None


def _exit_code(evalue):
    # SystemExit's value as IPython shows it: "", "3", or a message (printed by the caller)
    text = (evalue or "").strip()
    if text in ("", "None"):
        return 0
    try:
        return int(text)
    except ValueError:
        return 1


def execute(nb, directory, reference=False, substitute=True, compat=True, allow_errors=False, echo=True):
    """Execute nb's code cells in order in a fresh kernel whose working directory is directory.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The notebook; its cells get their outputs and execution counts in place.
    directory : str
        The kernel's working directory (the notebook's folder).
    reference, substitute, compat : bool
        As ``fastscratch run``'s ``--reference``, ``--no-substitute``, ``--no-compat``.
    allow_errors : bool
        Record a failing cell's error in its outputs and go on.
    echo : bool
        Echo the cells' stream outputs to this process's stdout / stderr.

    Returns
    -------
    int
        The exit status (see the module docstring).
    """
    from nbclient.exceptions import CellExecutionError, DeadKernelError
    code_cells = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and cell.source.strip()]
    if not code_cells:
        return 0
    with kernel_manager() as km:
        client = _client_class()(nb, km=km, timeout=None, startup_timeout=STARTUP_TIMEOUT, allow_errors=allow_errors,
                                 kernel_name=KERNEL_NAME, resources={"metadata": {"path": directory}})
        client.echo = echo
        with client.setup_kernel(env=kernel_env(reference, substitute, compat), cleanup_kc=True):
            info = client.wait_for_reply(client.kc.kernel_info())
            if info is not None and "language_info" in info["content"]:
                nb.metadata["language_info"] = info["content"]["language_info"]
            try:
                _load_extension(client, echo)
            except CellExecutionError as exc:
                print(f"{PREFIX}: error: the kernel could not load fastscratch's extension: "
                      f"{exc.ename}: {exc.evalue}", file=sys.stderr)
                return 1
            for count, index in enumerate(code_cells, 1):
                cell = nb.cells[index]
                print(f"[{count}/{len(code_cells)}] cell {index + 1}: {first_line(cell.source)}",
                      file=sys.stderr, flush=True)
                try:
                    client.execute_cell(cell, index)
                except CellExecutionError as exc:
                    if exc.ename == "SystemExit":
                        print(f"{PREFIX}: cell {index + 1} called sys.exit({exc.evalue})", file=sys.stderr)
                        return _exit_code(exc.evalue)
                    print(f"{PREFIX}: cell {index + 1} ({first_line(cell.source)!r}) failed: "
                          f"{exc.ename}: {exc.evalue}", file=sys.stderr)
                    _print_traceback(cell)
                    return 1
                except DeadKernelError:
                    print(f"{PREFIX}: the kernel died while running cell {index + 1} "
                          f"({first_line(cell.source)!r})", file=sys.stderr)
                    return 1
                error = _error_of(cell)
                if error is not None:
                    print(f"{PREFIX}: cell {index + 1} failed (recorded, --allow-errors): "
                          f"{error[0]}: {error[1]}", file=sys.stderr, flush=True)
            client.set_widgets_metadata()
    return 0


def _print_traceback(cell):
    for out in cell.get("outputs", ()):
        if out.get("output_type") == "error":
            text = "\n".join(out.get("traceback", ()))
            print(_strip_ansi(text), file=sys.stderr)


def _strip_ansi(text):
    import re
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def run_notebook(path, reference=False, substitute=True, compat=True, allow_errors=False, output=None):
    """Run the notebook at path (see the module docstring); write the executed notebook to output if given.

    Returns the exit status. The executed notebook is written even when a
    cell failed, with the outputs up to that cell, so the failure can be read there.
    """
    try:
        nb = read_notebook(path)
    except FileNotFoundError:
        print(f"{PREFIX}: error: no such notebook: {path}", file=sys.stderr)
        return 2
    except (NotANotebook, OSError) as exc:
        print(f"{PREFIX}: error: {exc}", file=sys.stderr)
        return 2
    try:
        import ipykernel  # noqa: F401
        import nbclient  # noqa: F401
    except ImportError as exc:
        print(f"{PREFIX}: error: running a notebook needs the notebook extra ({exc}); "
              "pip install 'fastscratch[notebook]'", file=sys.stderr)
        return 2
    directory = os.path.dirname(os.path.abspath(path))
    try:
        status = execute(nb, directory, reference=reference, substitute=substitute, compat=compat,
                         allow_errors=allow_errors)
    except KeyboardInterrupt:
        print(f"{PREFIX}: interrupted", file=sys.stderr)
        status = 130
    if output is not None:
        import nbformat
        nbformat.write(nb, output)
        print(f"{PREFIX}: wrote the executed notebook to {output}", file=sys.stderr)
    return status


def compare(path, substitute=True, compat=True, allow_errors=False):
    """Run the notebook on fastscratch, then on the reference, each in a fresh kernel; print both wall times.

    Returns the first non-zero exit status, else 0.
    """
    import time
    results = []
    for label, reference in (("fastscratch", False), ("reference", True)):
        print(f"--- {PREFIX}: {label} ---", flush=True)
        start = time.perf_counter()
        status = run_notebook(path, reference=reference, substitute=substitute, compat=compat,
                              allow_errors=allow_errors)
        results.append((label, time.perf_counter() - start, status))
        if status == 2:
            return status
    return runner.report_comparison(results, "each with its kernel's start-up and compilation")
