"""fastscratch train --resume: a run continued from its checkpoint ends as the uninterrupted run."""
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
from fastscratch import reference
from fastscratch._apps import checkpoint
from fastscratch.__main__ import main

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SMALL = ["train", "--net", "two_layer", "--subset", "300", "--epochs", "2", "--batch-size", "50", "--seed", "0"]
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam")


def _trainer(api, net, x, t, optimizer, epochs=2):
    return api.Trainer(net, x, t, x[:100], t[:100], epochs=epochs, mini_batch_size=50,
                       optimizer=optimizer, optimizer_param={"lr": 0.01},
                       evaluate_sample_num_per_epoch=100, verbose=False)


def _extend_net(api):
    # batch norm (running statistics) and dropout (masks from the global generator)
    return api.MultiLayerNetExtend(784, [40, 30], 10, use_batchnorm=True, use_dropout=True,
                                   dropout_ration=0.2, weight_decay_lambda=1e-3)


@pytest.mark.parametrize("api", [fastscratch, reference], ids=["fast", "reference"])
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_restored_trainer_continues_step_for_step(mnist, tmp_path, api, optimizer):
    (x, t), _ = mnist
    x, t = x[:200], t[:200]
    np.random.seed(7)
    whole = _trainer(api, _extend_net(api), x, t, optimizer)
    for _ in range(whole.max_iter):
        whole.train_step()

    np.random.seed(7)
    first = _trainer(api, _extend_net(api), x, t, optimizer)
    for _ in range(5):  # into the second epoch (4 steps each)
        first.train_step()
    checkpoint.save(str(tmp_path), first, {"net": "extend"})
    np.random.seed(99)  # the resumed process starts from another state
    first.train_step()  # and the old trainer moves on: the checkpoint must not share its arrays
    resumed = _trainer(api, _extend_net(api), x, t, optimizer)
    checkpoint.restore(resumed, checkpoint.load(str(tmp_path)))
    assert resumed.current_iter == 5 and len(resumed.train_loss_list) == 5
    for _ in range(resumed.max_iter - resumed.current_iter):
        resumed.train_step()
    for key, val in whole.network.params.items():
        np.testing.assert_array_equal(resumed.network.params[key], val, err_msg=key)
    assert resumed.train_loss_list == [float(v) for v in whole.train_loss_list]
    assert resumed.test_acc_list == [float(v) for v in whole.test_acc_list]
    layers = resumed.network._layer_sequence()
    for i, layer in enumerate(whole.network._layer_sequence()):
        if hasattr(layer, "running_mean"):
            np.testing.assert_array_equal(layers[i].running_mean, layer.running_mean)


def test_checkpoint_every_steps_and_the_final_state_kept(tmp_path, monkeypatch, capsys):
    saved = []
    real_save = checkpoint.save

    def spy(directory, trainer, config, extra=None):
        saved.append(trainer.current_iter)
        return real_save(directory, trainer, config, extra)

    monkeypatch.setattr(checkpoint, "save", spy)
    assert main(SMALL + ["--checkpoint-every", "4", "--out", str(tmp_path)]) == 0
    assert saved == [4, 6, 8, 12]  # every 4 steps, at the end of epoch 1 (6 steps), the final state
    final = checkpoint.load(str(tmp_path))
    assert final.complete and final.iteration == 12 and final.config["epochs"] == 2
    assert sorted(f for f in os.listdir(tmp_path) if f.endswith(".tmp")) == []
    capsys.readouterr()


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_checkpoint_mode_follows_the_umask(tmp_path, mnist, umask):
    (x, t), _ = mnist
    trainer = _trainer(fastscratch, fastscratch.TwoLayerNet(784, 10, 10), x[:100], t[:100], "adam")
    trainer.train_step()
    old = os.umask(umask)
    try:
        path = checkpoint.save(str(tmp_path), trainer, {})
    finally:
        os.umask(old)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def _interrupted_run(directory, steps, epochs=2):
    """A checkpoint of SMALL's Trainer (with `epochs`) after `steps` steps, made without the command.

    Its epoch accuracies are left empty: it serves the tests that damage or refuse a
    checkpoint; ``_killed_run`` leaves the command's own.
    """
    np.random.seed(0)
    from fastscratch.dataset.mnist import load_mnist
    (x, t), (x_test, t_test) = load_mnist(flatten=True)
    net = fastscratch.TwoLayerNet(input_size=784, hidden_size=100, output_size=10)
    trainer = fastscratch.Trainer(net, x[:300], t[:300], x_test[:300], t_test[:300], epochs=epochs, mini_batch_size=50,
                                  optimizer="adam", optimizer_param={"lr": 0.001},
                                  evaluate_sample_num_per_epoch=300, verbose=False)
    for _ in range(steps):
        trainer.train_step()
    config = {"net": "two_layer", "epochs": epochs, "batch_size": 50, "optimizer": "adam", "lr": 0.001,
              "subset": 300, "seed": 0, "reference": False, "dtype": "float64"}
    return checkpoint.save(str(directory), trainer, config, {"epoch_acc": []})


def _write(path, data):
    with open(path, "wb") as f:
        f.write(data)


def _snapshot(directory):
    return {name: (directory / name).read_bytes() for name in sorted(os.listdir(directory))}


@pytest.mark.parametrize("damage", ["garbage", "truncated", "flipped", "no meta", "other format",
                                    "other net", "missing"])
def test_damaged_or_foreign_checkpoint_is_refused_and_nothing_changes(tmp_path, capsys, damage):
    path = _interrupted_run(tmp_path, 3)
    with open(path, "rb") as f:
        data = f.read()
    if damage == "garbage":
        _write(path, b"not a checkpoint at all")
    elif damage == "truncated":
        _write(path, data[: len(data) // 2])
    elif damage == "flipped":  # inside the stored W1 bytes: zip's CRC sees it
        start = data.index(b"param/W1.npy") + 200
        _write(path, data[:start] + bytes([data[start] ^ 0xFF]) + data[start + 1:])
    elif damage == "no meta":
        np.savez(path, W1=np.zeros(3))
    elif damage == "other format":
        np.savez(path, __meta__=np.frombuffer(json.dumps({"format": "other"}).encode(), dtype=np.uint8))
    elif damage == "other net":
        with np.load(path) as f:
            arrays = {k: f[k] for k in f.files}
        doc = json.loads(arrays["__meta__"].tobytes())
        doc["config"]["net"] = "multi_layer"
        arrays["__meta__"] = np.frombuffer(json.dumps(doc).encode(), dtype=np.uint8)
        np.savez(path, **arrays)
    elif damage == "missing":
        os.remove(path)
    before = _snapshot(tmp_path)
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("fastscratch train: error: ")
    expected = {"garbage": "damaged or not a checkpoint", "truncated": "damaged or not a checkpoint",
                "flipped": "damaged or not a checkpoint", "no meta": "not a fastscratch train checkpoint",
                "other format": "not a fastscratch train checkpoint", "other net": "does not fit this run",
                "missing": "no checkpoint to resume"}[damage]
    assert expected in err
    assert _snapshot(tmp_path) == before


def test_resume_refuses_contradicting_options(tmp_path, capsys):
    _interrupted_run(tmp_path, 3, epochs=3)
    before = _snapshot(tmp_path)
    assert main(["train", "--resume", str(tmp_path), "--batch-size", "20"]) == 2
    assert "leave out --batch-size 20 (the checkpoint's: 50)" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path), "--epochs", "2"]) == 2  # fewer than the run's
    assert "to its 3 epochs, or to more with --epochs N > 3; leave out --epochs 2" in capsys.readouterr().err
    assert main(["train", "--resume", str(tmp_path), "--out", str(tmp_path / "elsewhere")]) == 2
    assert "give only --resume" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before


def _files(directory):
    return {name: (directory / name).read_bytes() for name in ("params.npz", "history.json")}


def _final_state(directory):
    final = checkpoint.load(str(directory))
    return final.arrays, final.trainer_meta, final.extra


def _assert_same_run(got, expected):
    assert sorted(os.listdir(got)) == sorted(os.listdir(expected))
    a, b = np.load(expected / "params.npz"), np.load(got / "params.npz")
    assert a.files == b.files
    for key in a.files:
        np.testing.assert_array_equal(b[key], a[key], err_msg=key)
    assert json.loads((got / "history.json").read_text()) == json.loads((expected / "history.json").read_text())
    (arrays_a, meta_a, extra_a), (arrays_b, meta_b, extra_b) = _final_state(expected), _final_state(got)
    assert sorted(arrays_b) == sorted(arrays_a)
    for key in arrays_a:  # optimizer state and the global generator's keys too
        assert arrays_b[key].tobytes() == arrays_a[key].tobytes(), key
    assert meta_b == meta_a and extra_b == extra_a


def test_resume_of_a_finished_run_says_it_is_complete(tmp_path, capsys):
    assert main(SMALL + ["--out", str(tmp_path)]) == 0
    accuracy = re.search(r"^test accuracy: ([0-9.]+)$", capsys.readouterr().out, re.M).group(1)
    before = _snapshot(tmp_path)
    files = ", ".join(name for name in ("params.pkl", "params.npz", "history.json", "curves.png")
                      if (tmp_path / name).exists())
    for extra in ([], ["--epochs", "2"], ["--epochs", "1"], ["--seed", "0", "--net", "two_layer"]):
        assert main(["train", "--resume", str(tmp_path)] + extra) == 0, extra
        out, err = capsys.readouterr()
        assert out.splitlines()[0] == (f"run complete: 2 epoch(s), 12 steps, test accuracy {accuracy}; "
                                       f"files in {tmp_path}: {files}")
        assert f"--resume {tmp_path} --epochs N, N > 2" in out and err == ""
    assert main(["train", "--resume", str(tmp_path), "--lr", "0.1"]) == 2  # still a contradiction
    assert "leave out --lr 0.1" in capsys.readouterr().err
    assert _snapshot(tmp_path) == before


def test_a_new_run_in_the_directory_drops_the_old_runs_state(tmp_path, capsys, monkeypatch):
    assert main(SMALL + ["--out", str(tmp_path)]) == 0
    assert (tmp_path / checkpoint.FILE_NAME).exists()

    def killed(self):
        raise _Killed

    monkeypatch.setattr(fastscratch.Trainer, "train_step", killed)  # killed before its first checkpoint
    with pytest.raises(_Killed):
        main(SMALL[:-1] + ["1", "--out", str(tmp_path)])
    assert not (tmp_path / checkpoint.FILE_NAME).exists()  # --resume must not find the other run's
    capsys.readouterr()


def test_resume_of_a_run_finished_without_a_checkpoint(tmp_path, capsys):
    # as runs finished before they kept their final state: history.json says all steps are done
    assert main(SMALL + ["--out", str(tmp_path)]) == 0
    os.remove(tmp_path / checkpoint.FILE_NAME)
    capsys.readouterr()
    assert main(["train", "--resume", str(tmp_path)]) == 0
    assert capsys.readouterr().out.startswith(f"run complete: 2 epoch(s), 12 steps; files in {tmp_path}: ")
    assert main(["train", "--resume", str(tmp_path), "--epochs", "3"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is complete and left no checkpoint to train on from" in err


class _Killed(Exception):
    pass


def _killed_run(cmd, directory, step, monkeypatch):
    """Run the command cmd until just after its checkpoint of `step` is written, then stop dead (as a kill)."""
    real_save = checkpoint.save

    def save_then_die(directory, trainer, config, extra=None):
        real_save(directory, trainer, config, extra)
        if trainer.current_iter == step:
            raise _Killed

    monkeypatch.setattr(checkpoint, "save", save_then_die)
    with pytest.raises(_Killed):
        main(cmd + ["--checkpoint-every", str(step), "--out", str(directory)])
    monkeypatch.undo()


@pytest.mark.parametrize("subset, start", [(300, "finished"), (310, "finished"), (300, "interrupted")],
                         ids=["6-steps-an-epoch", "6.2-steps-an-epoch", "interrupted"])
def test_more_epochs_continue_the_run_as_if_started_with_them(tmp_path, capsys, monkeypatch, subset, start):
    # 310 images in batches of 50: the 2-epoch run's last step (12) ends its epoch 2 early, the
    # 3-epoch run's epoch 2 ends at step 13; the continued run must count as the 3-epoch one
    cmd = [a if a != "300" else str(subset) for a in SMALL]
    whole = tmp_path / "whole"
    assert main(cmd[:cmd.index("--epochs") + 1] + ["3"] + cmd[cmd.index("--epochs") + 2:]
                + ["--out", str(whole)]) == 0
    part = tmp_path / "part"
    if start == "finished":
        assert main(cmd + ["--out", str(part)]) == 0
    else:
        _killed_run(cmd, part, 8, monkeypatch)
    capsys.readouterr()
    assert main(["train", "--resume", str(part), "--epochs", "3"]) == 0
    out = capsys.readouterr().out
    assert "3 epoch(s)" in out.splitlines()[0]
    assert f"at step {12 if start == 'finished' else 8}/18" in out
    # the 2-epoch run's early end of epoch 2 at step 12 is not one of the 3-epoch run's
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("epoch ")] == \
        (["epoch 3/3"] if start == "finished" and subset == 300 else ["epoch 2/3", "epoch 3/3"])
    _assert_same_run(part, whole)
    assert main(["train", "--resume", str(part)]) == 0  # and now it is complete at 3 epochs
    assert capsys.readouterr().out.startswith("run complete: 3 epoch(s), 18 steps")


def test_resume_in_process_matches_the_whole_run(tmp_path, capsys, monkeypatch):
    whole = tmp_path / "whole"
    assert main(SMALL + ["--out", str(whole)]) == 0
    part = tmp_path / "part"
    _killed_run(SMALL, part, 8, monkeypatch)
    assert main(["train", "--resume", str(part)]) == 0
    assert "at step 8/12" in capsys.readouterr().out
    _assert_same_run(part, whole)


@pytest.mark.slow
def test_sigkill_in_the_second_epoch_then_resume(tmp_path):
    """The issue's run: SimpleConvNet, 3000 images, 3 epochs, killed in epoch 2, resumed."""
    cmd = ["train", "--net", "simple_convnet", "--subset", "3000", "--epochs", "3", "--seed", "2"]
    env = dict(os.environ, PYTHONPATH=ROOT + os.pathsep + os.environ.get("PYTHONPATH", ""))
    run = [sys.executable, "-m", "fastscratch"]
    killed = tmp_path / "killed"
    proc = subprocess.Popen(run + cmd + ["--out", str(killed)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    seen = []
    try:
        deadline = time.monotonic() + 300
        for line in proc.stdout:  # plain progress lines every 9 steps: 36 is in epoch 2 (steps 31-60)
            seen.append(line)
            if line.startswith("train 36/90"):
                proc.send_signal(signal.SIGKILL)
                break
            assert time.monotonic() < deadline, "".join(seen)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    assert (killed / checkpoint.FILE_NAME).exists()
    resumed = subprocess.run(run + ["train", "--resume", str(killed)], capture_output=True, text=True,
                             env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    assert re.search(r"^resuming from .* at step 30/90$", resumed.stdout, re.M), resumed.stdout
    whole = tmp_path / "whole"
    plain = subprocess.run(run + cmd + ["--out", str(whole)], capture_output=True, text=True, env=env,
                           timeout=300)
    assert plain.returncode == 0, plain.stderr
    a, b = np.load(whole / "params.npz"), np.load(killed / "params.npz")
    assert a.files == b.files
    for key in a.files:
        np.testing.assert_allclose(b[key], a[key], rtol=0, atol=1e-12, err_msg=key)
    hist_a = json.loads((whole / "history.json").read_text())
    hist_b = json.loads((killed / "history.json").read_text())
    assert hist_b == hist_a
