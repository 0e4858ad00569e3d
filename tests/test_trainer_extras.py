"""Trainer's opt-in progress bar and checkpoints; its default run stays the book's."""
import io
import json
import os
import re

import numpy as np
import pytest

import fastscratch
from fastscratch import reference
from fastscratch.reference import params_io
from fastscratch.reference.progress import ProgressBar, format_duration

N_TRAIN, BATCH, EPOCHS = 50, 10, 3   # iter_per_epoch 5, 15 steps


def _data(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.random((N_TRAIN + 20, 12))
    t = rng.integers(0, 3, N_TRAIN + 20)
    return x[:N_TRAIN], t[:N_TRAIN], x[N_TRAIN:], t[N_TRAIN:]


def _trainer(api=reference, seed=3, progress=False, checkpoint_dir=None, **kwargs):
    np.random.seed(seed)
    net = api.TwoLayerNet(12, 8, 3)
    trainer = api.Trainer(net, *_data(), epochs=EPOCHS, mini_batch_size=BATCH,
                          optimizer="Adam", optimizer_param={"lr": 0.01}, **kwargs)
    return trainer.monitor(progress=progress, checkpoint_dir=checkpoint_dir)


def test_default_output_is_the_books(capsys):
    trainer = _trainer()
    trainer.train()
    lines = capsys.readouterr().out.splitlines()
    # 15 loss lines, an epoch line after steps 1, 6, 11 (the book evaluates as an epoch starts),
    # then the final accuracy
    assert len(lines) == 15 + 3 + 2
    epoch_at = [i for i, line in enumerate(lines) if line.startswith("=== epoch:")]
    assert epoch_at == [1, 7, 13]
    assert [lines[i].split(",")[0] for i in epoch_at] == ["=== epoch:1", "=== epoch:2", "=== epoch:3"]
    losses = [line for i, line in enumerate(lines[:-2]) if i not in epoch_at]
    assert [float(line[len("train loss:"):]) for line in losses] == trainer.train_loss_list
    assert lines[-2] == "=============== Final Test Accuracy ==============="
    assert re.fullmatch(r"test acc:[0-9.]+", lines[-1])


@pytest.mark.parametrize("api", [reference, fastscratch], ids=["reference", "fast"])
def test_progress_and_checkpoints_do_not_change_training(tmp_path, capsys, api):
    plain = _trainer(api, verbose=False)
    plain.train()
    extra = _trainer(api, verbose=True, progress=True, checkpoint_dir=str(tmp_path))
    extra.train()
    # same random draws, same steps
    assert extra.train_loss_list == plain.train_loss_list
    assert extra.test_acc_list == plain.test_acc_list
    out = capsys.readouterr().out
    assert "train loss:" not in out          # the bar replaces the per-step lines
    assert out.count("=== epoch:") == 3      # epoch lines still print
    bar_lines = [line for line in out.splitlines() if line.startswith("train ")]
    assert 1 <= len(bar_lines) <= 11         # not a tty: a plain line per tenth of the run
    assert re.search(r"15/15 \(100%\)  [0-9.]+ it/s  loss [0-9.]+  ETA 0:00", bar_lines[-1])


def test_checkpoint_each_epoch_atomic(tmp_path, monkeypatch):
    trainer = _trainer(verbose=False, checkpoint_dir=str(tmp_path / "ckpt"))
    saved = []
    real = trainer.save_checkpoint
    monkeypatch.setattr(trainer, "save_checkpoint", lambda: saved.append(trainer.current_iter) or real())
    trainer.train()
    assert saved == [5, 10, 15]
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["history.json", "params.pkl"]  # no temporaries
    params = params_io.load_params(tmp_path / "ckpt" / "params.pkl")
    for key, val in trainer.network.params.items():
        np.testing.assert_array_equal(params[key], val)
    history = json.loads((tmp_path / "ckpt" / "history.json").read_text())
    assert history["iteration"] == 15 and history["epoch"] == 3
    assert history["train_loss_list"] == [float(v) for v in trainer.train_loss_list]
    assert history["test_acc_list"] == [float(v) for v in trainer.test_acc_list]


def test_interrupted_run_keeps_last_epoch(tmp_path):
    trainer = _trainer(verbose=False, checkpoint_dir=str(tmp_path))
    real_gradient = trainer.network.gradient
    calls = []

    def gradient(x, t):
        calls.append(1)
        if len(calls) == 8:
            raise KeyboardInterrupt
        return real_gradient(x, t)

    trainer.network.gradient = gradient
    with pytest.raises(KeyboardInterrupt):
        trainer.train()
    history = json.loads((tmp_path / "history.json").read_text())
    assert history["iteration"] == 5 and len(history["train_loss_list"]) == 5
    net = reference.TwoLayerNet(12, 8, 3)
    net.load_params(str(tmp_path / "params.pkl"))


def test_progress_bar_on_a_terminal_redraws_one_line():
    stream = io.StringIO()
    bar = ProgressBar(4, stream=stream, tty=True, label="train")
    bar.min_redraw = 0.0
    for i in range(2):
        bar.update(loss=1.0 / (i + 1))
    bar.write("=== epoch:1 ===")          # mid-run: above the bar, which is redrawn after it
    mid = stream.getvalue()
    assert mid.endswith("\r\033[K=== epoch:1 ===\n" + mid.rsplit("\n", 1)[1])
    assert re.search(r"\n\r\033\[Ktrain 2/4 \[#+\.+\] [0-9.]+ it/s  loss 0\.5000  ETA \S+$", mid)
    for i in range(2, 4):
        bar.update(loss=1.0 / (i + 1))
    bar.close()
    text = stream.getvalue()
    assert text.count("\n") == 2             # the epoch line and the bar's final newline
    assert "[########################]" in text
    assert re.search(r"train 4/4 \[#+\] [0-9.]+ it/s  loss 0\.2500  ETA 0:00\n$", text)


def test_line_after_the_last_step_goes_below_the_finished_bar():
    # `fastscratch train` prints the last epoch's accuracy after the last step: the
    # bar must not be drawn again below that line (issue 15)
    stream = io.StringIO()
    bar = ProgressBar(3, stream=stream, tty=True, label="train")
    bar.min_redraw = 0.0
    for _ in range(3):
        bar.update(loss=0.5)
    bar.write("epoch 1/1: test accuracy 0.9000")
    bar.close()
    text = stream.getvalue()
    assert text.endswith("ETA 0:00\nepoch 1/1: test accuracy 0.9000\n")
    # what the terminal shows: each line as its last redraw left it
    screen = [line.rsplit("\r\033[K", 1)[-1] for line in text.split("\n")]
    assert re.fullmatch(r"train 3/3 \[#+\] [0-9.]+ it/s  loss 0\.5000  ETA 0:00", screen[0])
    assert screen[1:] == ["epoch 1/1: test accuracy 0.9000", ""]


@pytest.mark.parametrize("seconds, text", [(0, "0:00"), (61.4, "1:01"), (3725, "1:02:05"),
                                           (None, "?"), (float("inf"), "?")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
