"""The book's ``common/trainer.py``: mini-batch training with per-epoch accuracy.

The constructor is the book's. Two opt-in additions, set with
``trainer.monitor(progress=True, checkpoint_dir=DIR)``, leave the book's
behaviour and output untouched when off: a progress bar (iterations/s, loss,
ETA) in place of the per-step loss lines, and the parameters and the
loss/accuracy lists written at the end of every epoch, atomically.
"""
import json
import os

import numpy as np

from . import optimizer as _reference_optimizer
from . import params_io
from .progress import ProgressBar

#: The optimizer names the Trainer takes (case-insensitive).
OPTIMIZER_NAMES = ('sgd', 'momentum', 'nesterov', 'adagrad', 'rmsprop', 'adam')
#: Layer attributes that carry state from one step to the next (batch norm's running statistics).
_LAYER_STATE = ('running_mean', 'running_var')


class Trainer:
    """Train ``network`` with mini-batches drawn by ``np.random.choice`` (with replacement, as the book).

    Lists after ``train()``: train_loss_list (one loss per step), train_acc_list
    and test_acc_list (one per epoch). ``optimizer`` is a name among sgd,
    momentum, nesterov, adagrad, rmsprop, adam (case-insensitive).

    Beyond the book, set by ``monitor`` (both off by default):

    progress : bool
        Show a progress bar on stdout (a redrawn line on a terminal, a plain line
        per tenth of the run otherwise) instead of one "train loss:" line per step;
        the epoch and final accuracy lines still print when verbose.
    checkpoint_dir : str, optional
        At the end of every epoch (every ``iter_per_epoch`` steps, and after the
        last step) write ``params.pkl`` (the network's params, the book's format)
        and ``history.json`` (steps done, the loss and accuracy lists) there, each
        through a temporary file and ``os.replace``: an interrupted run loses at
        most one epoch and never leaves a half-written file. ``save_checkpoint()``
        writes one on demand.
    """

    #: Module the optimizer classes come from; the fast Trainer plugs in the kernels' one.
    optimizer_module = _reference_optimizer

    def __init__(self, network, x_train, t_train, x_test, t_test,
                 epochs=20, mini_batch_size=100,
                 optimizer='SGD', optimizer_param={'lr': 0.01},
                 evaluate_sample_num_per_epoch=None, verbose=True):
        self.network = network
        self.verbose = verbose
        self.progress = False
        self.progress_bar = None  # made at the first step, so its clock starts with training
        self.checkpoint_dir = None
        #: epochs whose last step is done (the book's current_epoch counts epochs started)
        self.completed_epochs = 0
        self.x_train = x_train
        self.t_train = t_train
        self.x_test = x_test
        self.t_test = t_test
        self.epochs = epochs
        self.batch_size = mini_batch_size
        self.evaluate_sample_num_per_epoch = evaluate_sample_num_per_epoch

        opt = self.optimizer_module
        optimizer_class_dict = dict(zip(OPTIMIZER_NAMES, (opt.SGD, opt.Momentum, opt.Nesterov,
                                                          opt.AdaGrad, opt.RMSprop, opt.Adam)))
        key = optimizer.lower()
        if key not in optimizer_class_dict:
            raise ValueError(f"optimizer must be one of {sorted(optimizer_class_dict)}; got {optimizer!r}")
        self.optimizer = optimizer_class_dict[key](**optimizer_param)

        self.train_size = x_train.shape[0]
        self.iter_per_epoch = max(self.train_size / mini_batch_size, 1)
        self.max_iter = int(epochs * self.iter_per_epoch)
        self.current_iter = 0
        self.current_epoch = 0

        self.train_loss_list = []
        self.train_acc_list = []
        self.test_acc_list = []

    def monitor(self, progress=False, checkpoint_dir=None):
        """Turn on the progress bar and/or per-epoch checkpoints (see the class notes); returns self."""
        self.progress = bool(progress)
        self.checkpoint_dir = checkpoint_dir
        return self

    def train_step(self):
        if self.progress and self.progress_bar is None:
            self.progress_bar = ProgressBar(self.max_iter, label="train", start=self.current_iter)
        batch_mask = np.random.choice(self.train_size, self.batch_size)
        x_batch = self.x_train[batch_mask]
        t_batch = self.t_train[batch_mask]

        grads = self.network.gradient(x_batch, t_batch)
        self.optimizer.update(self.network.params, grads)

        loss = self.network.loss(x_batch, t_batch)
        self.train_loss_list.append(loss)
        if self.progress:
            self.progress_bar.update(loss=loss)
        elif self.verbose:
            print("train loss:" + str(loss))

        if self.current_iter % self.iter_per_epoch == 0:
            self.current_epoch += 1
            self._evaluate_epoch()
        self.current_iter += 1

        done = self.current_iter
        if (int(done / self.iter_per_epoch) > int((done - 1) / self.iter_per_epoch)
                or done == self.max_iter):
            self.completed_epochs += 1
            if self.checkpoint_dir is not None:
                self.save_checkpoint()

    def _print(self, line):
        # above the progress bar when there is one, so the bar stays on the last line
        if self.progress_bar is not None:
            self.progress_bar.write(line)
        else:
            print(line)

    def save_checkpoint(self, directory=None):
        """Write params.pkl and history.json to directory (default checkpoint_dir), atomically.

        Returns the directory written.
        """
        directory = self.checkpoint_dir if directory is None else directory
        os.makedirs(directory, exist_ok=True)
        params_io.save_params(self.network.params, os.path.join(directory, "params.pkl"))
        history = {
            "iteration": self.current_iter,
            "max_iter": self.max_iter,
            "epoch": self.completed_epochs,
            "train_loss_list": [float(v) for v in self.train_loss_list],
            "train_acc_list": [float(v) for v in self.train_acc_list],
            "test_acc_list": [float(v) for v in self.test_acc_list],
        }
        with params_io.atomic_file(os.path.join(directory, "history.json"), "w") as f:
            json.dump(history, f)
        return directory

    def get_state(self):
        """Everything a resumed run needs to continue this one step for step.

        Returns
        -------
        arrays : dict of str -> ndarray
            ``param/KEY`` (the network's params), ``layer/I/ATTR`` (batch norm's
            running statistics of layer I), ``optimizer/ATTR/KEY`` (the optimizer's
            per-parameter state: v, h, m), ``random/keys`` (NumPy's global MT19937 keys).
        meta : dict
            JSON-able: the position (iteration, epochs, the loss and accuracy lists),
            the optimizer's class and scalars (lr, iter, ...), the rest of the
            global generator's state and which state entries are still unset (None).
        """
        arrays = {f"param/{key}": val for key, val in self.network.params.items()}
        layers = {}
        for i, layer in enumerate(self.network._layer_sequence()):
            for attr in _LAYER_STATE:
                if hasattr(layer, attr):
                    val = getattr(layer, attr)
                    layers[f"{i}/{attr}"] = val is not None
                    if val is not None:
                        arrays[f"layer/{i}/{attr}"] = val
        scalars, tables = {}, {}
        for attr, val in vars(self.optimizer).items():
            if isinstance(val, dict):
                tables[attr] = list(val)
                arrays.update({f"optimizer/{attr}/{key}": arr for key, arr in val.items()})
            elif val is None:
                tables[attr] = None
            else:
                scalars[attr] = val.item() if isinstance(val, np.generic) else val
        kind, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
        arrays["random/keys"] = keys
        meta = {
            "iteration": self.current_iter, "current_epoch": self.current_epoch,
            "completed_epochs": self.completed_epochs, "max_iter": self.max_iter,
            "train_size": self.train_size, "batch_size": self.batch_size,
            "train_loss_list": [float(v) for v in self.train_loss_list],
            "train_acc_list": [float(v) for v in self.train_acc_list],
            "test_acc_list": [float(v) for v in self.test_acc_list],
            "optimizer": {"class": type(self.optimizer).__name__, "scalars": scalars, "tables": tables},
            "layers": layers,
            "random": {"kind": kind, "pos": int(pos), "has_gauss": int(has_gauss),
                       "cached_gaussian": float(cached_gaussian)},
        }
        return arrays, meta

    def set_state(self, arrays, meta):
        """Continue from ``get_state()``'s output: all of it is checked before anything changes.

        Raises
        ------
        ValueError
            The state is not one of this Trainer's (another network, optimizer,
            data size or batch size, a missing entry, a shape or dtype that differs).
        """
        self._check_state(arrays, meta)
        targets = {f"param/{key}": val for key, val in self.network.params.items()}
        seq = self.network._layer_sequence()
        opt, rng = meta["optimizer"], meta["random"]
        for key, val in targets.items():
            np.copyto(val, arrays[key])  # in place: the layers hold these very arrays
        for name, is_set in meta["layers"].items():
            i, attr = name.split("/")
            setattr(seq[int(i)], attr, arrays[f"layer/{name}"].copy() if is_set else None)
        for attr, value in opt["scalars"].items():
            setattr(self.optimizer, attr, value)
        for attr, keys in opt["tables"].items():
            setattr(self.optimizer, attr, None if keys is None else
                    {key: arrays[f"optimizer/{attr}/{key}"].copy() for key in keys})
        np.random.set_state(("MT19937", arrays["random/keys"].astype(np.uint32), rng["pos"],
                             rng["has_gauss"], rng["cached_gaussian"]))
        self.current_iter = int(meta["iteration"])
        self.current_epoch = int(meta["current_epoch"])
        self.completed_epochs = int(meta["completed_epochs"])
        self.train_loss_list = list(meta["train_loss_list"])
        self.train_acc_list = list(meta["train_acc_list"])
        self.test_acc_list = list(meta["test_acc_list"])

    def _check_state(self, arrays, meta):
        """Raise set_state's ValueError unless (arrays, meta) fits this Trainer; changes nothing."""
        def fail(what):
            raise ValueError(f"the checkpoint does not fit this run: {what}")

        for key in ("max_iter", "train_size", "batch_size"):
            if meta.get(key) != getattr(self, key):
                fail(f"{key} is {meta.get(key)!r}, this run's is {getattr(self, key)!r}")
        opt = meta.get("optimizer", {})
        if opt.get("class") != type(self.optimizer).__name__:
            fail(f"optimizer {opt.get('class')!r}, this run's is {type(self.optimizer).__name__!r}")
        targets = {f"param/{key}": val for key, val in self.network.params.items()}
        seq = self.network._layer_sequence()
        for name in meta.get("layers", {}):
            i, attr = name.split("/")
            if int(i) >= len(seq) or not hasattr(seq[int(i)], attr):
                fail(f"layer {name} does not exist in this network")
        expected = {f"param/{key}" for key in self.network.params} | {"random/keys"}
        expected |= {f"layer/{name}" for name, is_set in meta.get("layers", {}).items() if is_set}
        for attr, keys in opt.get("tables", {}).items():
            expected |= {f"optimizer/{attr}/{key}" for key in (keys or ())}
        if set(arrays) != expected:
            fail(f"entries {sorted(set(arrays) ^ expected)} differ from what the state lists")
        for key, val in targets.items():
            got = arrays[key]
            if got.shape != val.shape or got.dtype != val.dtype:
                fail(f"parameter {key[6:]!r} is {got.dtype}{list(got.shape)}, "
                     f"the network's is {val.dtype}{list(val.shape)}")
        own = vars(self.optimizer)
        for attr, value in opt.get("scalars", {}).items():
            if not isinstance(own.get(attr), (int, float, np.number)) or isinstance(value, bool) \
                    or not isinstance(value, (int, float)):
                fail(f"optimizer setting {attr!r} = {value!r} is not one of {type(self.optimizer).__name__}'s")
        for attr, keys in opt.get("tables", {}).items():
            if attr not in own or isinstance(own[attr], (int, float, np.number)):
                fail(f"optimizer state {attr!r} is not one of {type(self.optimizer).__name__}'s")
            for key in keys or ():
                got, param = arrays[f"optimizer/{attr}/{key}"], self.network.params.get(key)
                if param is None or got.shape != param.shape or got.dtype != param.dtype:
                    fail(f"optimizer state {attr}[{key!r}] does not match a parameter")
        rng = meta.get("random", {})
        if rng.get("kind") != "MT19937" or arrays["random/keys"].shape != (624,):
            fail("no MT19937 random state")

    def _evaluate_epoch(self):
        x_train_sample, t_train_sample = self.x_train, self.t_train
        x_test_sample, t_test_sample = self.x_test, self.t_test
        if self.evaluate_sample_num_per_epoch is not None:
            t = self.evaluate_sample_num_per_epoch
            x_train_sample, t_train_sample = self.x_train[:t], self.t_train[:t]
            x_test_sample, t_test_sample = self.x_test[:t], self.t_test[:t]

        train_acc = self.network.accuracy(x_train_sample, t_train_sample)
        test_acc = self.network.accuracy(x_test_sample, t_test_sample)
        self.train_acc_list.append(train_acc)
        self.test_acc_list.append(test_acc)
        if self.verbose:
            self._print("=== epoch:" + str(self.current_epoch) + ", train acc:" + str(train_acc)
                        + ", test acc:" + str(test_acc) + " ===")

    def train(self):
        for _ in range(self.max_iter):
            self.train_step()
        self.close_progress()

        test_acc = self.network.accuracy(self.x_test, self.t_test)
        if self.verbose:
            print("=============== Final Test Accuracy ===============")
            print("test acc:" + str(test_acc))

    def close_progress(self):
        """End the progress bar's line (train() does this after its last step)."""
        if self.progress_bar is not None:
            self.progress_bar.close()
