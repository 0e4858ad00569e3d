"""`python -m fastscratch run`: book-style scripts run unmodified on fastscratch (tests/book_scripts).

The book's own network files that chapters 4, 5, 7 and 8 keep beside their
scripts are read from ../shared/book-networks and copied beside the scripts
into a temporary directory at test time (tests skip where ../shared is absent).
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from _paths import BOOK_WEIGHTS, book_network

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
    """Run a script with fastscratch._substitution.runner.run_script in this process; return (status, stdout, stderr).

    Cheaper than a fresh interpreter per script. What a run changes (argv, sys.path,
    the import hook, the working directory, the modules it imported from the book
    tree) is put back afterwards, so the next script starts clean.
    """
    from fastscratch._substitution import runner
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

    def go(script, *args, reference=False, substitute=True, compat=True):
        try:
            status = runner.run_script(script, args, reference=reference, substitute=substitute,
                                       compat=compat)
        finally:
            forget_script_modules()
            sys.meta_path[:] = [f for f in sys.meta_path
                                if not isinstance(f, (runner.BookImportHook, runner.BookNetworkFinder))]
        out = capsys.readouterr()
        return status, out.out, out.err

    yield go
    forget_script_modules()


#: The book's network file each chapter's scripts import from beside themselves.
NETWORK_FILES = {"ch04": "ch04/two_layer_net.py", "ch05": "ch05/two_layer_net.py",
                 "ch07": "ch07/simple_convnet.py", "ch08": "ch08/deep_convnet.py"}
NOTICE = re.compile(r"^fastscratch run: .* is the book's (ch0\d/\w+\.py): its (\w+) runs as (\S+) ", re.M)


def copy_book(tmp_path, *chapters):
    """Copy chapters of tests/book_scripts into tmp_path, each with the book's network file beside its scripts.

    Scripts write files beside themselves, so they never run from the project tree.
    """
    for chapter in chapters:
        shutil.copytree(os.path.join(SCRIPTS, chapter), tmp_path / chapter)
        if chapter in NETWORK_FILES:
            shutil.copyfile(book_network(NETWORK_FILES[chapter]), tmp_path / NETWORK_FILES[chapter])
    return tmp_path


def values(stdout, prefix):
    """Floats printed after `prefix` at the start of lines."""
    return [float(line[len(prefix):].split()[0]) for line in stdout.splitlines() if line.startswith(prefix)]


# (flags, the API answering common.*, the module the sibling network class comes from)
MODES = [pytest.param((), "fastscratch", "fastscratch.", id="fast"),
         pytest.param(("--reference",), "fastscratch.reference", "", id="reference")]


def test_ch04_numerical_gradient_training(run_here, tmp_path):
    copy_book(tmp_path, "ch04")
    status, out, err = run_here(str(tmp_path / "ch04" / "train_neuralnet.py"))
    assert status == 0, err
    grad = out.splitlines()[0].split(":")[1].split()
    np.testing.assert_allclose([float(g) for g in grad], [6.0, 8.0], rtol=1e-6)
    losses = values(out, "train loss:")
    assert len(losses) == 2 and all(0 < v < 3 for v in losses)


@pytest.mark.parametrize("flags, api, substitute", MODES)
def test_ch05_gradient_check_uses_sibling_and_fastscratch(run_here, tmp_path, flags, api, substitute):
    copy_book(tmp_path, "ch05")
    status, out, err = run_here(str(tmp_path / "ch05" / "gradient_check.py"), reference=bool(flags))
    assert status == 0, err
    # the book's sibling file is found; on fastscratch its class is fastscratch's
    assert f"two_layer_net from: {substitute}two_layer_net\n" in out
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


@pytest.mark.parametrize("flags, api, substitute", MODES)
def test_ch07_train_save_load_next_to_script(run_here, tmp_path, monkeypatch, flags, api, substitute):
    copy_book(tmp_path, "ch07")
    monkeypatch.chdir(tmp_path)
    status, out, err = run_here(str(tmp_path / "ch07" / "train_convnet.py"), reference=bool(flags))
    assert status == 0, err
    assert f"simple_convnet from: {substitute}simple_convnet\n" in out
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


# --- the book's own network files beside a script ---------------------------------------------

# A script that imports the network module twice over and reports what it got; the
# small instance's numbers are printed in full (repr) to compare runs.
PROBE_SCRIPT = """\
import sys, os, importlib
sys.path.append(os.pardir)
import numpy as np
import {module}
from {module} import {cls}
importlib.reload({module})
print("class:", {cls}.__module__ + "." + {cls}.__qualname__)
np.random.seed(0)
net = {cls}(**{kwargs!r})
x = np.random.rand(*{shape!r})
t = np.eye(3)[[0, 2, 1, 1][:x.shape[0]]]
print("params:", list(net.params))
print("loss:", repr(net.loss(x, t)))
print("grad b1:", repr(net.gradient(x, t)["b1"].tolist()))
print("next draw:", repr(np.random.rand()))
"""

CASES = {  # chapter: (module, class, constructor arguments, input shape)
    "ch04": ("two_layer_net", "TwoLayerNet", {"input_size": 6, "hidden_size": 4, "output_size": 3}, (4, 6)),
    "ch05": ("two_layer_net", "TwoLayerNet", {"input_size": 6, "hidden_size": 4, "output_size": 3}, (4, 6)),
    "ch07": ("simple_convnet", "SimpleConvNet",
             {"input_dim": (1, 6, 6), "conv_param": {"filter_num": 2, "filter_size": 3, "pad": 0, "stride": 1},
              "hidden_size": 4, "output_size": 3}, (2, 1, 6, 6)),
    "ch08": ("deep_convnet", "DeepConvNet", {"output_size": 3}, (2, 1, 28, 28)),
}


def network_script(tmp_path, chapter, source=None):
    """tmp_path/chapter/ with the book's network file (or source instead) and PROBE_SCRIPT beside it."""
    module, cls, kwargs, shape = CASES[chapter]
    (tmp_path / chapter).mkdir()
    target = tmp_path / NETWORK_FILES[chapter]
    if source is None:
        shutil.copyfile(book_network(NETWORK_FILES[chapter]), target)
    else:
        target.write_text(source, encoding="utf-8")
    script = tmp_path / chapter / "probe.py"
    script.write_text(PROBE_SCRIPT.format(module=module, cls=cls, kwargs=kwargs, shape=shape))
    return str(script)


@pytest.mark.parametrize("chapter", sorted(CASES))
def test_book_network_file_gets_the_fast_class(run_here, tmp_path, chapter):
    script = network_script(tmp_path, chapter)
    status, out, err = run_here(script)
    assert status == 0, err
    module, cls, _, _ = CASES[chapter]
    notices = NOTICE.findall(err)
    # said once, though the module was imported twice and reloaded
    assert len(notices) == 1 and len(re.findall("^fastscratch run: ", err, re.M)) == 1, err
    assert notices[0][:2] == (NETWORK_FILES[chapter], cls)
    assert f"{tmp_path / NETWORK_FILES[chapter]} is the book's" in err
    assert "--no-substitute or FASTSCRATCH_SUBSTITUTE=0" in err
    got = re.search(r"^class: (\S+)$", out, re.M).group(1)
    assert got == notices[0][2] and got.startswith("fastscratch.")

    # as written: the same params, loss, gradient and draws
    plain, plain_out, plain_err = run_here(script, substitute=False)
    assert plain == 0, plain_err
    assert f"class: {module}.{cls}\n" in plain_out and plain_err == ""
    assert out.split("\n", 1)[1] == plain_out.split("\n", 1)[1]


@pytest.mark.parametrize("chapter", sorted(CASES))
def test_edited_book_file_runs_as_written(run_here, tmp_path, chapter):
    # The arithmetic changed: not the book's file any more, so not substituted.
    from test_book_networks import EDITS
    with open(book_network(NETWORK_FILES[chapter]), encoding="utf-8") as f:
        source = f.read()
    old, new = EDITS[NETWORK_FILES[chapter]]
    script = network_script(tmp_path, chapter, source.replace(old, new))
    status, out, err = run_here(script)
    assert status == 0, err
    module, cls, _, _ = CASES[chapter]
    assert f"class: {module}.{cls}\n" in out
    assert "fastscratch run:" not in err


@pytest.mark.parametrize("chapter", sorted(CASES))
def test_translated_edition_gets_the_fast_class(run_here, tmp_path, chapter):
    # another sys.path line, renamed and misspelled locals, an import dropped and one added,
    # translated comments and docstrings: still the book's file, substituted, and said so
    from test_book_networks import translated_edition
    with open(book_network(NETWORK_FILES[chapter]), encoding="utf-8") as f:
        source = translated_edition(NETWORK_FILES[chapter], f.read())
    script = network_script(tmp_path, chapter, source)
    status, out, err = run_here(script)
    assert status == 0, err
    notices = NOTICE.findall(err)
    assert len(notices) == 1 and notices[0][:2] == (NETWORK_FILES[chapter], CASES[chapter][1]), err
    assert re.search(r"^class: (\S+)$", out, re.M).group(1) == notices[0][2]
    plain, plain_out, plain_err = run_here(script, substitute=False)
    assert plain == 0 and plain_err == "", plain_err
    assert out.split("\n", 1)[1] == plain_out.split("\n", 1)[1]


NUMGRAD_SCRIPT = """\
import sys, os, json
sys.path.append(os.pardir)
import numpy as np
from two_layer_net import TwoLayerNet
np.random.seed(0)
net = TwoLayerNet(input_size=30, hidden_size=10, output_size=3)
x = np.random.rand(5, 30)
t = np.eye(3)[[0, 2, 1, 1, 0]]
print(json.dumps({k: v.tolist() for k, v in net.numerical_gradient(x, t).items()}))
"""


@pytest.mark.parametrize("chapter", ["ch04", "ch05"])
def test_translated_edition_numerical_gradient_agrees_with_the_file_as_written(run_here, tmp_path, chapter):
    # the substituted class's incremental numerical gradient against the edition's own element loop
    import json

    from test_book_networks import translated_edition
    with open(book_network(NETWORK_FILES[chapter]), encoding="utf-8") as f:
        source = translated_edition(NETWORK_FILES[chapter], f.read())
    script = network_script(tmp_path, chapter, source)
    with open(script, "w", encoding="utf-8") as f:
        f.write(NUMGRAD_SCRIPT)
    status, out, err = run_here(script)
    assert status == 0 and len(NOTICE.findall(err)) == 1, err
    plain, plain_out, plain_err = run_here(script, substitute=False)
    assert plain == 0 and plain_err == "", plain_err
    fast, book = json.loads(out), json.loads(plain_out)
    assert list(fast) == list(book) == ["W1", "b1", "W2", "b2"]
    for key in book:
        np.testing.assert_allclose(fast[key], book[key], rtol=0, atol=1e-6)


def test_translated_edition_with_a_changed_formula_runs_as_written(run_here, tmp_path):
    from test_book_networks import translated_edition
    with open(book_network("ch04/two_layer_net.py"), encoding="utf-8") as f:
        source = translated_edition("ch04/two_layer_net.py", f.read().replace("z1 = sigmoid(a1)", "z1 = relu(a1)"))
    status, out, err = run_here(network_script(tmp_path, "ch04", source))
    assert status == 0, err
    assert "class: two_layer_net.TwoLayerNet\n" in out and "fastscratch run:" not in err


def test_edited_arithmetic_gives_its_own_numbers(run_here, tmp_path):
    # The edited ch05 file doubles the loss: the script must print the doubled loss.
    from fastscratch.reference import TwoLayerNet
    from test_book_networks import EDITS
    with open(book_network("ch05/two_layer_net.py"), encoding="utf-8") as f:
        source = f.read().replace(*EDITS["ch05/two_layer_net.py"])
    status, out, err = run_here(network_script(tmp_path, "ch05", source))
    assert status == 0, err
    _, _, kwargs, shape = CASES["ch05"]
    np.random.seed(0)
    net = TwoLayerNet(**kwargs)
    x = np.random.rand(*shape)
    loss = float(re.search(r"^loss: np\.float64\((\S+)\)$", out, re.M).group(1))
    assert loss == pytest.approx(2 * net.loss(x, np.eye(3)[[0, 2, 1, 1]]), rel=1e-12)


def test_substitution_switched_off_by_environment(run_here, tmp_path, monkeypatch):
    monkeypatch.setenv("FASTSCRATCH_SUBSTITUTE", "0")
    status, out, err = run_here(network_script(tmp_path, "ch05"))
    assert status == 0, err
    assert "class: two_layer_net.TwoLayerNet\n" in out and err == ""


def test_reference_never_substitutes(run_here, tmp_path):
    status, out, err = run_here(network_script(tmp_path, "ch05"), reference=True)
    assert status == 0, err
    assert "class: two_layer_net.TwoLayerNet\n" in out and err == ""


def test_other_file_of_that_name_runs_as_written(run_here, tmp_path):
    # A reader's own two_layer_net.py is no concern of the runner's.
    script = network_script(tmp_path, "ch05", "class TwoLayerNet:\n    def __init__(self, **kw):\n"
                                              "        raise SystemExit('the reader' + chr(39) + 's own')\n")
    status, _, err = run_here(script)
    assert status == 1 and "the reader's own" in err and "is the book's" not in err


@pytest.mark.slow
def test_no_substitute_option_and_compare(tmp_path):
    script = network_script(tmp_path, "ch05")
    res = run(script, flags=("--no-substitute",))
    assert res.returncode == 0, res.stderr
    assert "class: two_layer_net.TwoLayerNet\n" in res.stdout and "is the book's" not in res.stderr
    res = run(script)
    assert res.returncode == 0, res.stderr
    assert "class: fastscratch.two_layer_net.TwoLayerNet\n" in res.stdout
    assert len(NOTICE.findall(res.stderr)) == 1
    res = run(script, flags=("--compare", "--no-substitute"))
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("class: two_layer_net.TwoLayerNet\n") == 2 and "is the book's" not in res.stderr


@pytest.mark.slow
def test_deterministic_book_script_prints_what_the_reference_prints(tmp_path):
    # ch08's DeepConvNet evaluated on fixed weights: substituted, it must print exactly
    # what --reference prints (the book's weights when ../shared has them, else seeded ones).
    copy_book(tmp_path, "ch08")
    target = tmp_path / "ch08" / "deep_convnet_params.pkl"
    published = os.path.join(BOOK_WEIGHTS, "deep_convnet_params.pkl")
    if os.path.exists(published):
        shutil.copyfile(published, target)
    else:
        from fastscratch.reference import DeepConvNet
        np.random.seed(0)
        DeepConvNet().save_params(str(target))
    script = str(tmp_path / "ch08" / "evaluate_deepnet.py")
    fast, ref = run(script), run(script, flags=("--reference",))
    assert fast.returncode == 0 and ref.returncode == 0, fast.stderr + ref.stderr
    assert len(NOTICE.findall(fast.stderr)) == 1
    assert fast.stdout == ref.stdout


# --- NumPy's removed builtin aliases (np.int, ...) --------------------------------------------

#: The book's way of writing a dtype in ch03/step_function.py, read twice.
ALIAS_SCRIPT = ("import numpy as np\n"
                "def step_function(x):\n"
                "    return np.array(x > 0, dtype=np.int)\n"
                "print(step_function(np.array([-1.0, 0.0, 0.5, 2.0])).tolist())\n"
                "print(step_function(np.array([3.0])).dtype == np.array([1]).dtype)\n"
                "print(repr(np.bool))\n")
ALIAS_OUTPUT = "[0, 0, 1, 1]\nTrue\n"
ALIAS_NOTICE = re.compile(r"^fastscratch run: np\.int was removed in NumPy 1\.24; answering with the builtin "
                          r"int, .*--no-compat or FASTSCRATCH_COMPAT=0", re.M)


def numpy_refusal(name):
    """numpy's own AttributeError text for np.<name>, outside the runner."""
    with pytest.raises(AttributeError) as exc:
        getattr(np, name)
    return str(exc.value)


def alias_script(tmp_path):
    script = tmp_path / "step_function.py"
    script.write_text(ALIAS_SCRIPT)
    return str(script)


def expected_bool_repr():
    # NumPy 2 defines np.bool (its own scalar type): the runner must leave it alone
    return repr(vars(np)["bool"]) if "bool" in vars(np) else repr(bool)


@pytest.mark.parametrize("reference", [False, True], ids=["fast", "reference"])
def test_removed_numpy_alias_answers_with_the_builtin(run_here, tmp_path, reference):
    before = vars(np)["__getattr__"]
    status, out, err = run_here(alias_script(tmp_path), reference=reference)
    assert status == 0, err
    assert out == ALIAS_OUTPUT + expected_bool_repr() + "\n"
    assert len(ALIAS_NOTICE.findall(err)) == 1 and len(err.splitlines()) == 1, err
    # numpy is itself again once run_script returns
    assert vars(np)["__getattr__"] is before
    assert "np.int" in numpy_refusal("int")


def test_removed_numpy_alias_is_restored_after_a_failing_script(run_here, tmp_path):
    script = tmp_path / "fails.py"
    script.write_text("import numpy as np\nnp.float\nraise RuntimeError('on purpose')\n")
    before = vars(np)["__getattr__"]
    status, _, err = run_here(str(script))
    assert status == 1 and "RuntimeError: on purpose" in err and "np.float was removed" in err
    assert vars(np)["__getattr__"] is before
    numpy_refusal("float")


def test_removed_numpy_alias_switched_off(run_here, tmp_path, monkeypatch):
    refusal = numpy_refusal("int")
    status, out, err = run_here(alias_script(tmp_path), compat=False)
    assert status == 1 and out == ""
    assert err.rstrip().endswith("AttributeError: " + refusal.rstrip()), err   # numpy's own words
    assert "fastscratch run: np." not in err
    monkeypatch.setenv("FASTSCRATCH_COMPAT", "0")
    status, _, err = run_here(alias_script(tmp_path), reference=True)
    assert status == 1 and refusal.splitlines()[0] in err and "fastscratch run: np." not in err


@pytest.mark.slow  # child processes
def test_removed_numpy_alias_from_the_command_line(tmp_path):
    script = alias_script(tmp_path)
    fast, ref = run(script), run(script, flags=("--reference",))
    assert fast.returncode == 0 and ref.returncode == 0, fast.stderr + ref.stderr
    assert fast.stdout == ref.stdout == ALIAS_OUTPUT + expected_bool_repr() + "\n"
    assert len(ALIAS_NOTICE.findall(fast.stderr)) == 1 and len(ALIAS_NOTICE.findall(ref.stderr)) == 1
    off = run(script, flags=("--no-compat",))
    assert off.returncode == 1 and numpy_refusal("int").splitlines()[0] in off.stderr
    both = run(script, flags=("--compare", "--no-compat"))
    assert both.returncode == 1 and "fastscratch run: np." not in both.stderr
    assert both.stdout.count("(exit status 1)") == 2


@pytest.mark.skipif(importlib.util.find_spec("PIL") is None, reason="PIL is not installed")
@pytest.mark.parametrize("imported_first", [False, True], ids=["PIL-imported-by-script", "PIL-imported-before"])
def test_headless_pil_show_saves_the_image_beside_the_script(run_here, tmp_path, imported_first):
    # chapter 3's mnist_show.py shows an MNIST digit with PIL; without a display that would
    # hand a temporary file to an external viewer (xdg-open), here the image is saved instead
    if imported_first:
        import PIL.Image  # noqa: F401
    script = tmp_path / "show_digit.py"
    script.write_text(
        "import numpy as np\n"
        "from PIL import Image\n"
        "img = np.zeros((28, 28), dtype=np.uint8)\n"
        "img[4:24, 13:15] = 255\n"
        "Image.fromarray(img).show()\n"
        "Image.fromarray(255 - img).show()\n"
        "Image.fromarray(img.astype(np.float32)).show()\n"  # mode F: PIL's viewers convert it first
        "print('shown')\n")
    status, out, err = run_here(str(script))
    assert status == 0, err
    assert out.strip() == "shown"
    import numpy as np
    from PIL import Image
    for i, expected in ((1, 255), (2, 0), (3, 255)):
        png = tmp_path / f"show_digit_img{i}.png"
        assert f"saved image to {png}" in err
        saved = np.asarray(Image.open(png))
        assert saved.shape == (28, 28) and saved[10, 13] == expected and saved[0, 0] == 255 - expected
    # after the run PIL's own show is back
    assert Image.Image.show.__module__ == "PIL.Image"
