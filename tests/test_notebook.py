"""Notebooks: ``%load_ext fastscratch`` and ``python -m fastscratch run NOTEBOOK.ipynb``.

The quick tests drive the extension in an in-process IPython shell and the
runner's refusals of files that are not notebooks (no kernel starts). The slow
ones start real Jupyter kernels (ipykernel, from this Python): the readers'
style notebooks of tests/notebooks run on fastscratch and on the reference,
and must fail in the same cells and print the same lines, except in cells
tagged ``varies`` (timings, differences of gradients at rounding level).
"""
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from _paths import book_network

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOKS = os.path.join(ROOT, "tests", "notebooks")
HAS_JUPYTER = all(importlib.util.find_spec(m) is not None for m in ("IPython", "ipykernel", "nbclient", "nbformat"))
needs_jupyter = pytest.mark.skipif(not HAS_JUPYTER, reason="the notebook extra is not installed "
                                   "(pip install -e '.[notebook]')")


def _env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("FASTSCRATCH_") and k not in ("MPLBACKEND", "JUPYTER_PATH")}
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra)
    return env


def run_cli(*args, timeout=900):
    """`python -m fastscratch run ARGS` in a fresh interpreter, from outside the notebooks' folder."""
    return subprocess.run([sys.executable, "-m", "fastscratch", "run", *args], cwd=os.path.dirname(ROOT),
                          env=_env(), capture_output=True, text=True, timeout=timeout)


# --- the extension in an in-process shell (quick) ---------------------------------------

@pytest.fixture
def shell(monkeypatch):
    """A fresh IPython shell in this process; what the extension changes is checked, then dropped."""
    pytest.importorskip("IPython")
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config
    for name in ("FASTSCRATCH_REFERENCE", "FASTSCRATCH_SUBSTITUTE", "FASTSCRATCH_COMPAT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    config = Config()
    config.HistoryManager.hist_file = ":memory:"
    sh = InteractiveShell(config=config)
    yield sh
    sh.run_line_magic("unload_ext", "fastscratch")
    for name in [n for n in sys.modules if n.split(".")[0] in ("common", "dataset")]:
        del sys.modules[name]


def cell(sh, source):
    """Run source as a cell; return the cell's result value or raise its error."""
    result = sh.run_cell(source, store_history=True)
    result.raise_error()
    return result.result


def test_import_fastscratch_imports_no_notebook_machinery():
    out = subprocess.run([sys.executable, "-c",
                          "import sys, fastscratch; print(sorted(m for m in ('IPython', 'ipykernel', 'nbclient', "
                          "'nbformat', 'matplotlib', 'fastscratch._apps.notebook') if m in sys.modules))"],
                         env=_env(), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_extension_answers_book_imports_and_unload_puts_everything_back(shell, capfd):
    meta_path = list(sys.meta_path)
    numpy_getattr = vars(np).get("__getattr__")
    cell(shell, "%load_ext fastscratch")
    err = capfd.readouterr().err
    assert err.count("\n") == 1 and "FASTSCRATCH_SUBSTITUTE=0" in err and "FASTSCRATCH_COMPAT=0" in err
    assert "%unload_ext fastscratch" in err
    assert cell(shell, "import common.layers\ncommon.layers.__alias_of__") == "fastscratch.layers"
    assert cell(shell, "from dataset.mnist import load_mnist\nload_mnist.__module__") == "fastscratch.dataset.mnist"
    assert cell(shell, "import numpy as np\nnp.array([1.5]).astype(np.int).dtype.kind") == "i"
    assert "np.int was removed" in capfd.readouterr().err

    cell(shell, "%unload_ext fastscratch")
    assert sys.meta_path == meta_path
    assert vars(np).get("__getattr__") is numpy_getattr
    assert not [n for n in sys.modules if n.split(".")[0] in ("common", "dataset")]
    with pytest.raises(AttributeError):
        cell(shell, "np.int")
    with pytest.raises(ModuleNotFoundError):
        cell(shell, "import common.layers")


def test_book_modules_imported_before_loading_come_back_on_unload(shell, tmp_path, monkeypatch):
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "__init__.py").write_text("")
    (tmp_path / "common" / "layers.py").write_text("WHO = 'the book tree'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cell(shell, "import common.layers")
    own = sys.modules["common.layers"]
    cell(shell, "%load_ext fastscratch")
    assert cell(shell, "import common.layers\ncommon.layers.__alias_of__") == "fastscratch.layers"
    cell(shell, "%unload_ext fastscratch")
    assert sys.modules["common.layers"] is own
    assert cell(shell, "import common.layers\ncommon.layers.WHO") == "the book tree"


def test_a_network_module_imported_before_loading_is_imported_again(shell, tmp_path, monkeypatch):
    (tmp_path / "two_layer_net.py").write_text("class TwoLayerNet:\n    pass\n")  # not the book's: runs as written
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "two_layer_net", raising=False)
    cell(shell, "import two_layer_net")
    own = sys.modules["two_layer_net"]
    cell(shell, "%load_ext fastscratch")
    cell(shell, "import two_layer_net")
    again = sys.modules["two_layer_net"]
    assert again is not own and type(again.__spec__.loader).__name__ == "_BookNetworkLoader"
    cell(shell, "%unload_ext fastscratch")
    assert sys.modules["two_layer_net"] is own
    del sys.modules["two_layer_net"]


RELU = '''
import numpy as np
class Relu:
    def __init__(self):
        self.mask = None

    def forward(self, x):
        self.mask = (x <= 0)
        out = x.copy()
        out[self.mask] = 0
        return out

    def backward(self, dout):
        dout[self.mask] = 0
        dx = dout
        return dx
'''


def test_cell_definitions_are_substituted_and_unload_gives_them_back(shell, capfd):
    import fastscratch.layers
    cell(shell, "%load_ext fastscratch")
    cell(shell, RELU + "\ndef relu(x):\n    return 2 * x  # not the book's\n")
    ns = shell.user_ns
    assert ns["Relu"] is fastscratch.layers.Relu
    assert ns["relu"].__module__ == "__main__"
    err = capfd.readouterr().err
    assert "your Relu behaves as the book's" in err and "relu " not in err
    cell(shell, "%unload_ext fastscratch")
    assert ns["Relu"].__module__ == "__main__" and ns["Relu"] is not fastscratch.layers.Relu
    assert cell(shell, "Relu().forward(np.array([-1.0, 2.0])).tolist()") == [0.0, 2.0]


@pytest.mark.parametrize("variable", ["FASTSCRATCH_SUBSTITUTE=0", "FASTSCRATCH_REFERENCE=1"])
def test_substitution_switched_off(shell, monkeypatch, capfd, variable):
    name, value = variable.split("=")
    monkeypatch.setenv(name, value)
    cell(shell, "%load_ext fastscratch")
    assert "defined in cells" not in capfd.readouterr().err
    cell(shell, RELU)
    assert shell.user_ns["Relu"].__module__ == "__main__"
    expected = "fastscratch.reference.layers" if name == "FASTSCRATCH_REFERENCE" else "fastscratch.layers"
    assert cell(shell, "import common.layers\ncommon.layers.__alias_of__") == expected


def test_compat_switched_off(shell, monkeypatch):
    monkeypatch.setenv("FASTSCRATCH_COMPAT", "0")
    cell(shell, "%load_ext fastscratch")
    with pytest.raises(AttributeError):
        cell(shell, "import numpy as np\nnp.int")


# --- files that are not notebooks, options that are not for scripts (quick: no kernel) ------

@pytest.mark.parametrize("content, says", [
    ("{not json", "is not valid JSON"),
    ("[1, 2]", "not a Jupyter notebook"),
    ('{"cells": "no", "nbformat": 4}', "not a Jupyter notebook"),
    ('{"cells": [{"cell_type": "code", "metadata": {}, "outputs": []}], "nbformat": 4, "nbformat_minor": 4, '
     '"metadata": {}}', "cell 1 has no cell_type or source"),
    ('{"nbformat": 4, "nbformat_minor": 4, "metadata": {}}', "not a Jupyter notebook"),
    (b"\xff\xfe\x00garbage", "is not valid JSON"),
])
def test_a_file_that_is_not_a_notebook_is_one_line_and_status_2(tmp_path, capsys, content, says):
    pytest.importorskip("nbformat")
    from fastscratch.__main__ import main
    path = tmp_path / "bad.ipynb"
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    assert main(["run", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and says in err and str(path) in err


def test_a_notebook_off_the_schema_runs_with_a_warning(tmp_path, capsys):
    pytest.importorskip("nbformat")
    from fastscratch.__main__ import main
    path = tmp_path / "odd.ipynb"
    # a kernelspec without its display_name: Jupyter opens it, the schema refuses it
    path.write_text(json.dumps({"cells": [{"cell_type": "markdown", "metadata": {}, "source": "# t"}],
                                "metadata": {"kernelspec": {"name": "python3"}}, "nbformat": 4, "nbformat_minor": 4}))
    assert main(["run", str(path)]) == 0
    assert "does not follow the notebook schema" in capsys.readouterr().err


def test_missing_notebook_and_script_options(tmp_path, capsys):
    from fastscratch.__main__ import main
    assert main(["run", str(tmp_path / "none.ipynb")]) == 2
    assert "no such notebook" in capsys.readouterr().err
    script = tmp_path / "s.py"
    script.write_text("print(1)\n")
    assert main(["run", "--allow-errors", str(script)]) == 2
    assert "for notebooks" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["run", str(tmp_path / "x.ipynb"), "--bogus"])
    assert exc.value.code == 2


# --- a real kernel -------------------------------------------------------------------------

def _kernelspec(tmp_path):
    """A kernelspec for this Python in a temporary JUPYTER_PATH; returns (name, JUPYTER_PATH)."""
    spec = tmp_path / "jupyter" / "kernels" / "fastscratch-test"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "fastscratch test", "language": "python"}))
    return "fastscratch-test", str(tmp_path / "jupyter")


@pytest.mark.slow
@needs_jupyter
def test_load_ext_in_a_jupyter_kernel(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook
    name, jupyter_path = _kernelspec(tmp_path)
    monkeypatch.setenv("JUPYTER_PATH", jupyter_path)
    nb = new_notebook(cells=[new_code_cell(s) for s in (
        "%load_ext fastscratch",
        "import sys, os\nsys.path.append(os.pardir)\nimport common.layers\nprint(common.layers.__alias_of__)",
        "from dataset.mnist import load_mnist\n(x_train, t_train), (x_test, t_test) = load_mnist(normalize=False)\n"
        "import fastscratch.dataset.mnist as bundled\n(x, t), _ = bundled.load_mnist(normalize=False)\n"
        "print(x_train.shape, x_test.shape, (x_train == x).all(), (t_train == t).all())",
        "%unload_ext fastscratch",
        "import common.layers",
    )])
    client = NotebookClient(nb, kernel_name=name, timeout=600, startup_timeout=300, allow_errors=True,
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute(env=_env(JUPYTER_PATH=jupyter_path))
    stdout = ["".join(o.get("text", "") for o in c.outputs if o.get("name") == "stdout") for c in nb.cells]
    assert stdout[1] == "fastscratch.layers\n"
    assert stdout[2] == "(60000, 784) (10000, 784) True True\n"
    assert [o.get("ename") for o in nb.cells[4].outputs if o.output_type == "error"] == ["ModuleNotFoundError"]
    nbformat.validate(nb)


def _outputs(path):
    import nbformat
    nb = nbformat.read(path, as_version=4)
    cells = {}
    for index, c in enumerate(nb.cells):
        if c.cell_type != "code":
            continue
        stdout = "".join(o.get("text", "") for o in c.outputs if o.output_type == "stream" and o.get("name") == "stdout")
        errors = [o.ename for o in c.outputs if o.output_type == "error"]
        images = sum("image/png" in o.get("data", {}) for o in c.outputs if o.output_type == "display_data")
        cells[index] = dict(stdout=stdout, errors=errors, images=images, varies="varies" in c.metadata.get("tags", ()),
                            ran=c.execution_count is not None)
    return cells


#: notebook -> (its cells that fail, lines its fast run must say on stderr)
EXPECTED = {
    "ch03_functions.ipynb": ([], ["np.int was removed"]),
    "ch04_learning.ipynb": ([], ["your numerical_gradient behaves as the book's",
                                 "your TwoLayerNet behaves as the book's"]),
    "ch05_backprop.ipynb": ([], ["your Affine behaves as the book's", "your SoftmaxWithLoss behaves as the book's",
                                 "your TwoLayerNet behaves as the book's; it now runs as fastscratch.two_layer_net"]),
    "ch06_mixed.ipynb": ([3, 4, 6], []),
}


#: Edits that shorten a notebook for the tests: the chapter 5 notebook's full length (10,000
#: training steps, a %timeit of the reference's numerical gradient) is what
#: benchmarks/notebooks.py times; here two epochs and one timing loop show the same cells.
SHORTEN = {"ch05_backprop.ipynb": (("iters_num = 10000", "iters_num = 1200"),
                                   ("%timeit network.numerical_gradient", "%timeit -n 1 -r 1 network.numerical_gradient"))}


def _shortened(notebook, directory):
    """The path of notebook as the tests run it: a copy with SHORTEN's edits in directory, else the file itself."""
    path = os.path.join(NOTEBOOKS, notebook)
    if notebook not in SHORTEN:
        return path
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for old, new in SHORTEN[notebook]:
        assert old in text, (notebook, old)  # the edit must still apply to the notebook as it is
        text = text.replace(old, new)
    copy = os.path.join(directory, notebook)
    with open(copy, "w", encoding="utf-8") as f:
        f.write(text)
    return copy


@pytest.mark.slow
@needs_jupyter
@pytest.mark.parametrize("notebook", sorted(EXPECTED))
def test_notebook_on_fastscratch_and_reference(tmp_path, notebook):
    (tmp_path / "notebooks").mkdir()
    path = _shortened(notebook, str(tmp_path / "notebooks"))
    runs = {}
    for mode in ("fast", "reference"):
        out = tmp_path / f"{mode}.ipynb"
        flags = ["--reference"] if mode == "reference" else []
        proc = run_cli(*flags, "--allow-errors", path, "--output", str(out))
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[mode] = (_outputs(out), proc)
    (fast, fast_proc), (ref, _) = runs["fast"], runs["reference"]
    failing, notices = EXPECTED[notebook]
    assert [i for i, c in fast.items() if c["errors"]] == failing
    assert [i for i, c in ref.items() if c["errors"]] == failing
    for i in fast:
        assert fast[i]["ran"] and ref[i]["ran"], i
        assert fast[i]["images"] == ref[i]["images"], i
        assert fast[i]["errors"] == ref[i]["errors"], i
        if not fast[i]["varies"]:
            assert fast[i]["stdout"] == ref[i]["stdout"], (i, fast[i]["stdout"], ref[i]["stdout"])
    assert any(c["images"] for c in fast.values()) == (notebook != "ch06_mixed.ipynb")
    for line in notices:
        assert line in fast_proc.stderr
    code_cells = len(fast)
    assert f"[{code_cells}/{code_cells}] cell " in fast_proc.stderr


@pytest.mark.slow
@needs_jupyter
def test_first_failing_cell_stops_the_run(tmp_path):
    out = tmp_path / "out.ipynb"
    proc = run_cli(os.path.join(NOTEBOOKS, "ch06_mixed.ipynb"), "--output", str(out))
    assert proc.returncode == 1
    assert "fastscratch run: cell 4 ('x_train[100000]') failed: IndexError: index 100000 is out of bounds" in proc.stderr
    cells = _outputs(out)
    assert cells[3]["errors"] == ["IndexError"]
    assert not any(c["ran"] for i, c in cells.items() if i > 3)


@pytest.mark.slow
@needs_jupyter
def test_working_directory_exit_status_and_network_file_beside_the_notebook(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    network = book_network("ch05/two_layer_net.py")
    folder = tmp_path / "ch05"
    folder.mkdir()
    (folder / "two_layer_net.py").write_text(open(network).read())
    nb = new_notebook(cells=[new_code_cell(s) for s in (
        "import os\nprint(os.getcwd())",
        "import sys\nsys.path.append(os.pardir)\nfrom two_layer_net import TwoLayerNet\nprint(TwoLayerNet.__module__)",
        "sys.exit(3)",
        "print('not reached')",
    )])
    nbformat.write(nb, folder / "nb.ipynb")
    proc = run_cli(str(folder / "nb.ipynb"))
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert proc.stdout.splitlines() == [str(folder), "fastscratch.two_layer_net"]
    assert "is the book's ch05/two_layer_net.py" in proc.stderr


@pytest.mark.slow
@needs_jupyter
def test_compare_runs_the_notebook_both_ways_and_prints_times(tmp_path):
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook
    nb = new_notebook(cells=[new_code_cell("import common.layers\nprint(common.layers.__alias_of__)")])
    nbformat.write(nb, tmp_path / "nb.ipynb")
    proc = run_cli("--compare", str(tmp_path / "nb.ipynb"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout.splitlines()
    # each mode ran in its own kernel: the fast modules first, then the reference's
    assert [line for line in out if line.startswith("fastscratch.")] == ["fastscratch.layers", "fastscratch.reference.layers"]
    assert any(line.startswith("fastscratch ") and "(exit status 0)" in line for line in out)
    assert any(line.startswith("reference ") and "(exit status 0)" in line for line in out)
    assert any(line.startswith("speedup ") for line in out)
