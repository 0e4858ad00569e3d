"""Checkpoints of ``fastscratch train``: one file a killed run continues from.

``DIR/checkpoint.npz`` is a NumPy archive (read with ``allow_pickle=False``, so
loading runs no code from the file) holding the Trainer's arrays from
``Trainer.get_state()`` (parameters, optimizer state, batch norm statistics,
the global generator's keys) and one JSON document, ``__meta__``, as bytes: the
format name and version, the run's settings, the Trainer's position and lists,
and what the command itself keeps (its per-epoch test accuracies). It is
written through a temporary file and ``os.replace``, so a kill at any moment
leaves either the previous checkpoint or the new one, never half of one.

A finished run keeps its final state there too (``Checkpoint.complete``): a
``--resume`` with more epochs continues it as if it had been started with
them (``restore`` into the longer run's Trainer).
"""
import glob
import json
import os
import zipfile

import numpy as np

from fastscratch.reference import params_io

FORMAT = "fastscratch-train-checkpoint"
VERSION = 1
FILE_NAME = "checkpoint.npz"
_META = "__meta__"


class CheckpointError(ValueError):
    """A checkpoint is missing, damaged, not fastscratch's, or not of this run."""


class Checkpoint:
    """A loaded checkpoint: ``config`` (the run's settings), ``extra``, and the Trainer's state."""

    def __init__(self, path, config, extra, arrays, trainer_meta):
        self.path = path
        self.config = config
        self.extra = extra
        self.arrays = arrays
        self.trainer_meta = trainer_meta

    @property
    def iteration(self):
        return self.trainer_meta["iteration"]

    @property
    def complete(self):
        """True for the final state of a run that did all its steps."""
        return self.trainer_meta.get("iteration") == self.trainer_meta.get("max_iter")


def path_in(directory):
    return os.path.join(directory, FILE_NAME)


def save(directory, trainer, config, extra=None):
    """Write the trainer's state, the settings and extra (JSON-able) to directory's checkpoint.npz."""
    arrays, meta = trainer.get_state()
    doc = {"format": FORMAT, "version": VERSION, "config": config, "extra": extra or {}, "trainer": meta}
    blob = np.frombuffer(json.dumps(doc).encode("utf-8"), dtype=np.uint8)
    os.makedirs(directory, exist_ok=True)
    with params_io.atomic_file(path_in(directory), "wb") as f:
        np.savez(f, **arrays, **{_META: blob})
    return path_in(directory)


def load(directory):
    """Read and check directory's checkpoint.npz; nothing is changed.

    Raises
    ------
    CheckpointError
        No checkpoint, a damaged file, or a file that is not a fastscratch checkpoint.
    """
    path = path_in(directory)
    if not os.path.isfile(path):
        raise CheckpointError(f"no checkpoint to resume in {directory!r}: {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            # every member is read in full here, so zip's CRC check sees all of it
            arrays = {key: data[key] for key in data.files}
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile, AttributeError) as exc:
        raise CheckpointError(f"{path} is damaged or not a checkpoint ({exc}); "
                              "nothing was changed") from None
    blob = arrays.pop(_META, None)
    try:
        if blob is None or blob.dtype != np.uint8 or blob.ndim != 1:
            raise ValueError
        doc = json.loads(blob.tobytes().decode("utf-8"))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError
    except ValueError:
        raise CheckpointError(f"{path} is not a fastscratch train checkpoint; nothing was changed") from None
    if doc.get("version") != VERSION:
        raise CheckpointError(f"{path} is a version {doc.get('version')!r} checkpoint; this fastscratch "
                              f"reads version {VERSION}")
    if not all(isinstance(doc.get(key), dict) for key in ("config", "extra", "trainer")):
        raise CheckpointError(f"{path} is damaged: its settings are incomplete; nothing was changed")
    return Checkpoint(path, doc["config"], doc["extra"], arrays, doc["trainer"])


def restore(trainer, checkpoint):
    """Put the checkpoint's state into trainer (checked in full first); CheckpointError if it does not fit.

    trainer may be the same run with more epochs (a longer ``max_iter``): it
    then continues as the longer run would have from the checkpoint's step.
    """
    meta = checkpoint.trainer_meta
    saved_max, done = meta.get("max_iter"), meta.get("iteration")
    if isinstance(saved_max, int) and isinstance(done, int) and done <= saved_max < trainer.max_iter:
        # The shorter run counted its last step as the end of an epoch even where that step
        # falls inside one (a train size that is no multiple of the batch size); the longer
        # run counts only the epochs whose last step is done, int(done / iter_per_epoch).
        meta = dict(meta, max_iter=trainer.max_iter, completed_epochs=int(done / trainer.iter_per_epoch))
    try:
        trainer.set_state(checkpoint.arrays, meta)
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"{checkpoint.path}: {exc}") from None


def finished_history(directory):
    """history.json of a finished run in directory without a checkpoint (one from before finished runs kept theirs), else None."""
    try:
        with open(os.path.join(directory, "history.json")) as f:
            history = json.load(f)
    except (OSError, ValueError):
        return None
    if (isinstance(history, dict) and isinstance(history.get("iteration"), int)
            and isinstance(history.get("epoch"), int) and history["iteration"] == history.get("max_iter")
            and not os.path.exists(path_in(directory))):
        return history
    return None


def merge_settings(given, defaults, saved):
    """The settings of a resumed run: saved ones, unless given differs from both default and saved.

    Parameters
    ----------
    given, defaults, saved : dict
        Settings from the command line, the parser's defaults, the checkpoint.

    Raises
    ------
    CheckpointError
        A setting given on the command line contradicts the checkpoint's.
    """
    merged = dict(given)
    conflicts = []
    for key, value in given.items():
        if key not in saved:
            continue
        if value != defaults.get(key) and value != saved[key]:
            conflicts.append(f"--{key.replace('_', '-')} {value} (the checkpoint's: {saved[key]})")
        merged[key] = saved[key]
    if conflicts:
        raise CheckpointError("--resume continues the run with its own settings; leave out "
                              + ", ".join(conflicts))
    return merged


def remove(directory):
    """Delete the checkpoint and any temporary file a killed save left beside it."""
    for path in [path_in(directory)] + glob.glob(os.path.join(directory, f".{FILE_NAME}.*.tmp")):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
