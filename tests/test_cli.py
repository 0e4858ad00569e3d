"""The fastscratch command: train (small runs), bench (one case), info, errors, Ctrl-C."""
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import fastscratch
from fastscratch._apps import bench
from fastscratch.__main__ import main
from fastscratch.reference import params_io

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HAS_MPL = importlib.util.find_spec("matplotlib") is not None


def _cmd(*args):
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return [sys.executable, "-m", "fastscratch", *args], env


def test_train_small_run_saves_and_reports(tmp_path, capsys):
    out = tmp_path / "run"
    status = main(["train", "--net", "two_layer", "--subset", "300", "--epochs", "2",
                   "--batch-size", "50", "--seed", "0", "--out", str(out)])
    assert status == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    assert lines[0].startswith("fastscratch train: two_layer on 300 MNIST images (fastscratch kernels), "
                               "2 epoch(s) of 6 steps, batch 50, adam lr 0.001")
    assert re.search(r"^train 12/12 \(100%\)  [0-9.]+ it/s  loss [0-9.]+  ETA 0:00$", text, re.M)
    epochs = re.findall(r"^epoch (\d)/2: test accuracy ([0-9.]+) \(300 images\)$", text, re.M)
    assert [e for e, _ in epochs] == ["1", "2"]
    final = float(re.search(r"^test accuracy: ([0-9.]+)$", text, re.M).group(1))
    assert final == float(epochs[-1][1])
    speed = re.search(r"^speed: ([0-9.]+) steps/s .*; reference ([0-9.]+) steps/s \(4 steps timed\): "
                      r"speedup ([0-9.]+)x( \(machine busy: .*; the figures are unreliable\))?$", text, re.M)
    assert speed
    # the printed ratio lies within what the printed (rounded) speeds allow
    fast, ref, ratio = (float(speed.group(i)) for i in (1, 2, 3))
    low, high = (fast - 0.005) / (ref + 0.005), (fast + 0.005) / max(ref - 0.005, 1e-9)
    assert low - 0.05 <= ratio <= high + 0.05
    saved = re.search(r"^saved (.*)$", text, re.M).group(1).split(", ")
    assert saved[:3] == [str(out / name) for name in ("params.pkl", "history.json", "params.npz")]
    umask = os.umask(0o022)
    os.umask(umask)
    for name in ("params.pkl", "history.json", "params.npz"):  # not the atomic save's private 0600
        assert oct(os.stat(out / name).st_mode & 0o777) == oct(0o666 & ~umask)
    # checkpoint.npz: the final state, which --resume DIR --epochs N continues (tests/test_resume.py)
    expected = {"params.pkl", "params.npz", "history.json", "checkpoint.npz"} | ({"curves.png"} if HAS_MPL else set())
    assert set(os.listdir(out)) == expected
    assert saved[-1] == str(out / "checkpoint.npz")
    # the saved parameters are the trained network's: they reproduce the printed accuracy
    from fastscratch.dataset.mnist import load_mnist
    (_, _), (x_test, t_test) = load_mnist()
    for name in ("params.pkl", "params.npz"):
        net = fastscratch.TwoLayerNet(784, 100, 10)
        net.load_params(str(out / name))
        assert round(float(net.accuracy(x_test[:300], t_test[:300])), 4) == final
    history = json.loads((out / "history.json").read_text())
    assert history["iteration"] == 12 and len(history["train_loss_list"]) == 12


def test_train_reference_conv_net(tmp_path, capsys):
    status = main(["train", "--net", "simple_convnet", "--subset", "100", "--batch-size", "50",
                   "--seed", "1", "--out", str(tmp_path), "--reference"])
    assert status == 0
    text = capsys.readouterr().out
    assert "(reference (NumPy))" in text and "speedup" not in text
    net = fastscratch.reference.SimpleConvNet()
    net.load_params(str(tmp_path / "params.npz"))


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "argument --epochs: must be a positive int; got '0'"),
    (["--lr", "-1"], "argument --lr: must be a positive float; got '-1'"),
    (["--lr", "nan"], "argument --lr: must be a positive float; got 'nan'"),
    (["--batch-size", "ten"], "argument --batch-size: must be a positive int; got 'ten'"),
    (["--net", "resnet"], "argument --net: invalid choice: 'resnet'"),
    (["--subset", "-5"], "argument --subset: must be a positive int; got '-5'"),
])
def test_train_usage_errors_one_line_exit_2(capsys, args, message):
    with pytest.raises(SystemExit) as exc:
        main(["train", *args])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fastscratch train: error: " + message)


def test_train_unwritable_out(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as exc:
        main(["train", "--out", str(blocker / "run")])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"--out '{blocker / 'run'}' is not writable" in err


def test_no_subcommand_is_a_usage_error():
    cmd, env = _cmd()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 2
    assert res.stderr.startswith("fastscratch: error: the following arguments are required: COMMAND")


@pytest.mark.slow  # a training child process
def test_ctrl_c_stops_after_saving(tmp_path):
    out = tmp_path / "run"
    cmd, env = _cmd("train", "--net", "two_layer", "--subset", "1000", "--epochs", "200",
                    "--batch-size", "10", "--seed", "0", "--out", str(out))
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    header = proc.stdout.readline()          # printed just before the first step
    assert header.startswith("fastscratch train:")
    time.sleep(1.5)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    done = re.search(r"interrupted after step (\d+)/20000: saved (\S+), (\S+), (\S+)$", stderr.strip())
    assert done, stderr
    assert done.groups()[1:] == tuple(str(out / n) for n in ("params.pkl", "history.json", "params.npz"))
    steps = int(done.group(1))
    assert 0 < steps < 20000
    history = json.loads((out / "history.json").read_text())
    assert history["iteration"] == steps == len(history["train_loss_list"])
    pkl = params_io.load_params(out / "params.pkl")
    npz = params_io.load_params(out / "params.npz")
    for key in ("W1", "b1", "W2", "b2"):
        np.testing.assert_array_equal(pkl[key], npz[key])
    assert sorted(f for f in os.listdir(out) if f.endswith(".tmp")) == []


def test_info_lists_versions_threads_blas_simd(capsys):
    assert main(["info"]) == 0
    text = capsys.readouterr().out
    for key in ("fastscratch", "Python", "NumPy", "Numba", "llvmlite", "Numba threads", "BLAS",
                "Numba cache", "CPU SIMD"):
        assert re.search(rf"^{key}\s+\S", text, re.M), key
    assert re.search(r"get_num_threads\(\)=\d+, threading layer \w+", text)
    assert "unavailable" not in text


def test_bench_prints_a_row_per_case(capsys, monkeypatch):
    # the whole table takes long on a busy machine: time one case through the same path
    monkeypatch.setattr(bench, "CASES", [c for c in bench.CASES if c.name == "softmax-loss fwd+bwd"])
    assert main(["bench", "--quick"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:5] == ["hot", "path", "shape", "reference", "kernels"]
    row = re.match(r"softmax-loss fwd\+bwd\s+x\(20,10\)\s+([0-9.]+) (us|ms|s)\s+([0-9.]+) (us|ms|s)\s+([0-9.]+)x$",
                   lines[2])
    assert row, lines[2]


@pytest.mark.slow  # every bench case on both APIs
def test_bench_cases_run_on_both_apis():
    # every case builds and runs once on both APIs with the quick shapes
    for case in bench.CASES:
        if case.name in ("SimpleConvNet step", "conv fwd+bwd"):
            continue   # the slow ones: covered by the network tests and the asv suite
        for mod in (fastscratch.reference, fastscratch):
            case.build(mod, bench.QUICK)()


@pytest.mark.parametrize("cpu, wall, load, note", [
    (1.0, 1.0, 0.5, ""),
    (1.9, 1.0, 1.0, ""),                      # two threads busy: CPU time above wall time is fine
    (0.3, 1.0, 0.5, "machine busy: this process ran 30% of the time"),
    (1.0, 1.0, 99.0, "machine busy: load average 99.0 on {n} CPUs"),
    (0.2, 1.0, 99.0, "machine busy: load average 99.0 on {n} CPUs, this process ran 20% of the time"),
])
def test_busy_note_explains_an_unreliable_speed(cpu, wall, load, note):
    from fastscratch._apps import sysinfo
    assert sysinfo.busy_note(cpu, wall, loadavg=load) == note.format(n=os.cpu_count() or 1)


def test_train_says_when_the_machine_was_busy(tmp_path, capsys, monkeypatch):
    # under load the speed line printed "speedup 0.7x" with no hint (issue 15)
    monkeypatch.setattr(os, "getloadavg", lambda: (99.0, 99.0, 99.0))
    status = main(["train", "--net", "two_layer", "--subset", "100", "--batch-size", "50",
                   "--seed", "0", "--out", str(tmp_path)])
    assert status == 0
    line = re.search(r"^speed: .*$", capsys.readouterr().out, re.M).group(0)
    assert re.search(r"speedup [0-9.]+x \(machine busy: load average 99\.0 on \d+ CPUs.*; "
                     r"the figures are unreliable\)$", line), line
