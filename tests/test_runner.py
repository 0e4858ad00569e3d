"""`python -m fastscratch run`: book-style scripts run unmodified on fastscratch (tests/book_scripts)."""
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from _paths import BOOK_WEIGHTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "tests", "book_scripts")
HAS_MPL = importlib.util.find_spec("matplotlib") is not None


def _env():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "MPLBACKEND")}
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    return env


def run(script, *args, flags=(), cwd=None):
    """Run `python -m fastscratch run [flags] script args` headless from another directory."""
    return subprocess.run([sys.executable, "-m", "fastscratch", "run", *flags, script, *args],
                          cwd=cwd or os.path.dirname(ROOT), env=_env(), capture_output=True,
                          text=True, timeout=300)


@pytest.fixture
def run_here(monkeypatch, capsys):
    """Run a script with fastscratch.runner.run_script in this process; return (status, stdout, stderr).

    Cheaper than a fresh interpreter per script. What a run changes (argv, sys.path,
    the import hook, the working directory, the modules it imported from the book
    tree) is put back afterwards, so the next script starts clean.
    """
    from fastscratch import runner
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setattr(sys, "argv", list(sys.argv))
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.setattr(sys, "meta_path", list(sys.meta_path))
    monkeypatch.chdir(os.getcwd())
    before = set(sys.modules)
    installed = tuple({sys.prefix, sys.base_prefix, os.path.join(ROOT, "fastscratch"), os.path.join(ROOT, "kernels")})

    def forget_script_modules():
        for name in set(sys.modules) - before:
            origin = getattr(sys.modules[name], "__file__", None) or ""
            if name.split(".")[0] in ("common", "dataset") or not origin.startswith(installed):
                del sys.modules[name]

    def go(script, *args, reference=False):
        try:
            status = runner.run_script(script, args, reference=reference)
        finally:
            forget_script_modules()
            sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, runner.BookImportHook)]
        out = capsys.readouterr()
        return status, out.out, out.err

    yield go
    forget_script_modules()


def copy_book(tmp_path, *chapters):
    """Copy chapters of tests/book_scripts into tmp_path (scripts write files beside themselves)."""
    for chapter in chapters:
        shutil.copytree(os.path.join(SCRIPTS, chapter), tmp_path / chapter)
    return tmp_path


def values(stdout, prefix):
    """Floats printed after `prefix` at the start of lines."""
    return [float(line[len(prefix):].split()[0]) for line in stdout.splitlines() if line.startswith(prefix)]


MODES = [pytest.param((), "fastscratch", id="fast"),
         pytest.param(("--reference",), "fastscratch.reference", id="reference")]


def test_ch04_numerical_gradient_training(run_here):
    status, out, err = run_here(os.path.join(SCRIPTS, "ch04", "train_neuralnet.py"))
    assert status == 0, err
    grad = out.splitlines()[0].split(":")[1].split()
    np.testing.assert_allclose([float(g) for g in grad], [6.0, 8.0], rtol=1e-6)
    losses = values(out, "train loss:")
    assert len(losses) == 2 and all(0 < v < 3 for v in losses)


@pytest.mark.parametrize("flags, api", MODES)
def test_ch05_gradient_check_uses_sibling_and_fastscratch(run_here, flags, api):
    status, out, err = run_here(os.path.join(SCRIPTS, "ch05", "gradient_check.py"), reference=bool(flags))
    assert status == 0, err
    assert "two_layer_net from: two_layer_net\n" in out       # the sibling file, not fastscratch's
    assert f"common.layers is: {api}.layers\n" in out
    diffs = dict(re.findall(r"^(W1|b1|W2|b2):(\S+)$", out, re.M))
    assert sorted(diffs) == ["W1", "W2", "b1", "b2"]
    assert all(float(v) < 1e-6 for v in diffs.values())


@pytest.mark.slow  # child processes
@pytest.mark.skipif(not HAS_MPL, reason="matplotlib is not installed: plt.show() saving cannot be checked")
def test_ch06_optimizer_compare_saves_figure(tmp_path):
    copy_book(tmp_path, "ch06")
    res = run(str(tmp_path / "ch06" / "optimizer_compare_mnist.py"))
    assert res.returncode == 0, res.stderr
    finals = dict(re.findall(r"^(SGD|Momentum|AdaGrad|Adam):(\S+)$", res.stdout, re.M))
    assert sorted(finals) == ["AdaGrad", "Adam", "Momentum", "SGD"]
    assert all(0 < float(v) < 3 for v in finals.values())
    png = tmp_path / "ch06" / "optimizer_compare_mnist_fig1.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"saved figure 1 to {png}" in res.stderr


def test_ch06_batch_norm_dropout_with_trainer(run_here):
    status, out, err = run_here(os.path.join(SCRIPTS, "ch06", "batch_norm_dropout.py"))
    assert status == 0, err
    assert len(values(out, "train loss:")) == 9
    assert len(re.findall(r"^=== epoch:\d, train acc:\S+, test acc:\S+ ===$", out, re.M)) == 3
    accs = [float(a) for a in out.split("test acc list:")[1].split()]
    assert len(accs) == 3 and all(0 <= a <= 1 for a in accs)


@pytest.mark.parametrize("flags, api", MODES)
def test_ch07_train_save_load_next_to_script(run_here, tmp_path, monkeypatch, flags, api):
    copy_book(tmp_path, "ch07")
    monkeypatch.chdir(tmp_path)
    status, out, err = run_here(str(tmp_path / "ch07" / "train_convnet.py"), reference=bool(flags))
    assert status == 0, err
    assert "simple_convnet from: simple_convnet\n" in out
    assert f"common.layers is: {api}.layers\n" in out
    assert len(values(out, "train loss:")) == 4
    assert 0 <= values(out, "test acc:")[-1] <= 1
    assert "Saved Network Parameters!" in out
    assert (tmp_path / "ch07" / "params.pkl").is_file()     # beside the script, not in the caller's cwd
    assert not (tmp_path / "params.pkl").exists()
    assert values(out, "reload max diff:") == [0.0]


def test_ch08_reads_params_beside_script(run_here, tmp_path):
    # The default file name is relative: it resolves in the script's directory. The book's
    # published weights (when ../shared has them) must give the book's accuracy.
    copy_book(tmp_path, "ch08")
    target = tmp_path / "ch08" / "deep_convnet_params.pkl"
    published = os.path.join(BOOK_WEIGHTS, "deep_convnet_params.pkl")
    if os.path.exists(published):
        shutil.copyfile(published, target)   # a temporary copy, outside the project
    else:
        from fastscratch.reference import DeepConvNet
        np.random.seed(0)
        DeepConvNet().save_params(str(target))
    status, out, err = run_here(str(tmp_path / "ch08" / "evaluate_deepnet.py"))
    assert status == 0, err
    acc = values(out, "test accuracy:")[0]
    assert acc > 0.95 if os.path.exists(published) else 0 <= acc <= 1


@pytest.mark.slow  # child processes
def test_exit_status_argv_cwd_and_name():
    res = run(os.path.join(SCRIPTS, "misc", "exit3.py"), "a", "--flag", "-x")
    assert res.returncode == 3
    assert res.stdout.splitlines() == ["argv: a --flag -x", "cwd is script dir: True", "name: __main__"]


@pytest.mark.slow  # child processes
def test_exception_gives_traceback_and_status_1():
    res = run(os.path.join(SCRIPTS, "misc", "raises.py"))
    assert res.returncode == 1
    assert res.stderr.startswith("Traceback (most recent call last):\n")
    assert 'raises.py", line 3, in broken' in res.stderr
    assert "runner.py" not in res.stderr   # the runner's own frames are left out
    assert res.stderr.rstrip().endswith("RuntimeError: this script fails on purpose")


def test_missing_script(run_here):
    status, out, err = run_here("no_such_script.py")
    assert status == 2
    assert err.strip() == "fastscratch run: error: no such script: no_such_script.py"


def test_takes_precedence_over_real_common_directory(run_here, tmp_path):
    # A book checkout has its own common/ and dataset/: fastscratch answers the names it
    # provides; other modules of that directory still import from it.
    (tmp_path / "common").mkdir()
    (tmp_path / "common" / "__init__.py").write_text("")
    (tmp_path / "common" / "layers.py").write_text("raise ImportError('the real common.layers ran')\n")
    (tmp_path / "common" / "extra.py").write_text("VALUE = 42\n")
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "mnist.py").write_text("raise ImportError('the real dataset.mnist ran')\n")
    (tmp_path / "chX").mkdir()
    (tmp_path / "chX" / "script.py").write_text(
        "import sys, os\nsys.path.append(os.pardir)\n"
        "from common.layers import Relu\nfrom common.extra import VALUE\n"
        "from dataset.mnist import load_mnist\n"
        "print(Relu.__module__.split('.')[0], VALUE, load_mnist.__module__)\n")
    status, out, err = run_here(str(tmp_path / "chX" / "script.py"))
    assert status == 0, err
    assert out.strip() == "fastscratch 42 fastscratch.dataset.mnist"


@pytest.mark.slow  # child processes
def test_compare_runs_both_and_prints_times():
    res = run(os.path.join(SCRIPTS, "misc", "which_layers.py"), flags=("--compare",))
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("common.layers is: fastscratch.layers\n") == 1
    assert res.stdout.count("common.layers is: fastscratch.reference.layers\n") == 1
    fast = re.search(r"^fastscratch\s+([0-9.]+) s  \(exit status 0\)$", res.stdout, re.M)
    ref = re.search(r"^reference\s+([0-9.]+) s  \(exit status 0\)$", res.stdout, re.M)
    ratio = re.search(r"^speedup\s+([0-9.]+)x", res.stdout, re.M)
    assert fast and ref and ratio
    # times and ratio are printed to 0.01: the ratio must lie within what the rounded times allow
    f, r, q = float(fast.group(1)), float(ref.group(1)), float(ratio.group(1))
    assert (r - 0.005) / (f + 0.005) - 0.005 <= q <= (r + 0.005) / max(f - 0.005, 1e-9) + 0.005
