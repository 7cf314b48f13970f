"""Callbacks: new training behaviour without new ``fit`` flags.

A callback overrides any of five hooks; each receives the one :class:`TrainState`
(model, optimizer, history, epoch, iteration, batch_loss, stop). Setting
``state.stop = True`` ends training after the current batch/epoch.
"""

import math
import sys
import warnings

from glassnet.backend.arrays import array_module
from glassnet.backend.checks import check_choice, check_scalar
from glassnet.backend.errors import GlassnetTypeError, ValidationError

__all__ = ["Callback", "EarlyStopping", "LearningRateScheduler", "MonitorCallback", "NaNGuard",
           "ProgressPrinter", "ReduceLROnPlateau"]


class Callback:
    """Base class with five no-op hooks."""

    def on_train_begin(self, state):
        pass

    def on_epoch_begin(self, state):
        pass

    def on_batch_end(self, state):
        pass

    def on_epoch_end(self, state):
        pass

    def on_train_end(self, state):
        pass

    def state_dict(self):
        """The callback's mutable state (JSON values and arrays), for checkpoints."""
        return {}

    def load_state_dict(self, state):
        """Restore what :meth:`state_dict` returned (called after ``on_train_begin``)."""
        self.__dict__.update(state)


def _snapshot(model):
    return [p.value.copy() for p in model.parameters()]


def _restore(model, values):
    for p, v in zip(model.parameters(), values):
        p.value[...] = v


class MonitorCallback(Callback):
    """Base of callbacks that watch one history curve for improvement (early stopping, plateaus).

    A value improves when it beats the best so far by more than ``min_delta``: lower for
    ``mode='min'``, higher for ``mode='max'``; ``mode='auto'`` maximizes curves named like
    accuracy and minimizes the rest. After more than ``patience`` epochs without improvement,
    :meth:`on_plateau` runs.
    """

    def __init__(self, monitor, patience, min_delta, mode):
        who = type(self).__name__
        if not isinstance(monitor, str):
            raise GlassnetTypeError(f"The 'monitor' parameter of {who} must be the name of a history curve such as "
                                    f"'val_loss'. Got {monitor!r} of type {type(monitor).__name__} instead. "
                                    "Pass a name such as monitor='val_loss'.")
        self.monitor = monitor
        self.patience = check_scalar(patience, "patience", int, min_val=0, caller=who)
        self.min_delta = check_scalar(min_delta, "min_delta", float, min_val=0.0, caller=who)
        self.mode = check_choice(mode, "mode", ("auto", "min", "max"), caller=who)
        self.sign = -1.0 if mode == "max" or (mode == "auto" and "acc" in monitor) else 1.0
        self.best, self.best_epoch, self.wait = math.inf, None, 0

    def on_train_begin(self, state):
        self.best, self.best_epoch, self.wait = math.inf, None, 0

    def on_epoch_end(self, state):
        if self.monitor not in state.history:
            raise ValidationError(
                f"{type(self).__name__} monitors {self.monitor!r} but the history has only {sorted(state.history)}. "
                "Pass validation_split/validation_data for 'val_*' keys, or monitor 'loss'."
            )
        value = self.sign * state.history[self.monitor][-1]
        if value < self.best - self.min_delta:
            self.best, self.best_epoch, self.wait = value, state.epoch, 0
            self.on_improvement(state)
        else:
            self.wait += 1
            if self.wait > self.patience:
                self.on_plateau(state)

    def on_improvement(self, state):
        """Called when the monitored value improved this epoch."""

    def on_plateau(self, state):
        """Called after more than ``patience`` epochs without improvement."""

    def state_dict(self):
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait}


class EarlyStopping(MonitorCallback):
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    With ``restore_best=True`` the weights of the best epoch are written back at the end.
    ``mode='auto'`` maximizes metrics named like accuracy and minimizes the rest.
    """

    def __init__(self, monitor="val_loss", patience=5, min_delta=0.0, restore_best=True, mode="auto"):
        super().__init__(monitor, patience, min_delta, mode)
        self.restore_best = bool(restore_best)
        self.best_weights, self.stopped_epoch = None, None

    def on_train_begin(self, state):
        super().on_train_begin(state)
        self.best_weights, self.stopped_epoch = None, None

    def on_improvement(self, state):
        if self.restore_best:
            self.best_weights = _snapshot(state.model)

    def on_plateau(self, state):
        self.stopped_epoch = state.epoch
        state.stop = True

    def on_train_end(self, state):
        if self.restore_best and self.best_weights is not None:
            _restore(state.model, self.best_weights)
            state.history.restored_best = True
        state.history.best_epoch = self.best_epoch
        state.history.stopped_epoch = self.stopped_epoch

    def state_dict(self):
        return {**super().state_dict(), "best_weights": self.best_weights, "stopped_epoch": self.stopped_epoch}


class NaNGuard(Callback):
    """On by default: stop when the loss becomes NaN/inf or explodes; restore the last good weights.

    The weights are snapshotted at the start and after every finite epoch. A batch loss
    that is not finite, or that exceeds ``explode_factor`` times max(1, first batch loss),
    restores them, stops training, warns (RuntimeWarning) and sets ``history.diverged``.

    It also records the run's loss spikes without stopping it, because a loss can explode and
    then collapse to the class prior without ever reaching NaN (Adam at lr=1): ``first`` (the
    first finite batch loss), ``peak`` (the highest finite batch loss after it), ``peak_iteration``,
    ``peak_epoch`` (0-based) and ``pre_peak_low`` (the lowest finite batch loss before the peak: the
    bar a run must get back under to count as recovered). It registers itself as
    ``history.monitors['nan_guard']`` so the verdict (:func:`glassnet.glassbox.diagnostics.diagnose`) can read them.
    """

    def __init__(self, explode_factor=1e4):
        self.explode_factor = explode_factor

    def on_train_begin(self, state):
        self.good = _snapshot(state.model)
        self.good_epoch = state.epoch - 1
        self.first = self.first_loss = None
        self.peak, self.peak_iteration, self.peak_epoch = None, None, None
        self.low = self.pre_peak_low = None
        state.history.monitors["nan_guard"] = self

    def on_batch_end(self, state):
        loss = state.batch_loss
        if self.first is None and math.isfinite(loss):
            self.first = max(loss, 1.0)
            self.first_loss = float(loss)
        elif math.isfinite(loss) and (self.peak is None or loss > self.peak):
            self.peak, self.peak_iteration, self.peak_epoch = float(loss), state.iteration, state.epoch
            self.pre_peak_low = self.low
        if math.isfinite(loss) and (self.low is None or loss < self.low):
            self.low = float(loss)
        if math.isfinite(loss) and loss <= self.explode_factor * (self.first or 1.0):
            return
        _restore(state.model, self.good)
        what = f"became {loss}" if not math.isfinite(loss) else f"exploded from {self.first:.4g} to {loss:.4g}"
        lr = getattr(state.optimizer, "lr", None)
        hint = f"(lr={lr:g}): try lr={lr / 10:g}" if isinstance(lr, float) else ": lower it"
        msg = (f"Training diverged at epoch {state.epoch + 1}, iteration {state.iteration}: the loss {what}. "
               f"The weights from the end of epoch {self.good_epoch + 1} were restored (0 = the initial "
               f"weights). The usual cause is a learning rate that is too high {hint}, or unscaled inputs "
               "(standardize them).")
        state.history.diverged = msg
        state.stop = True
        warnings.warn(msg, RuntimeWarning, stacklevel=2)

    def on_epoch_end(self, state):
        if state.history.diverged is None and all(
            bool(array_module(p.value).isfinite(p.value).all()) for p in state.model.parameters()
        ):
            self.good = _snapshot(state.model)
            self.good_epoch = state.epoch

    def state_dict(self):
        keys = ("good", "good_epoch", "first", "first_loss", "peak", "peak_iteration", "peak_epoch", "low",
                "pre_peak_low")
        return {k: getattr(self, k) for k in keys}


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` when ``monitor`` stalls for ``patience`` epochs.

    ``mode`` as in :class:`EarlyStopping`; the learning rate never goes below ``min_lr``.
    """

    def __init__(self, monitor="val_loss", factor=0.1, patience=3, min_lr=0.0, min_delta=1e-4, mode="auto"):
        super().__init__(monitor, patience, min_delta, mode)
        self.factor = check_scalar(factor, "factor", float, min_val=0.0, max_val=1.0,
                                   include_min=False, include_max=False, caller="ReduceLROnPlateau")
        self.min_lr = check_scalar(min_lr, "min_lr", float, min_val=0.0, caller="ReduceLROnPlateau")

    def on_plateau(self, state):
        state.optimizer.lr = max(state.optimizer.lr * self.factor, self.min_lr)
        self.wait = 0


class LearningRateScheduler(Callback):
    """Set ``optimizer.lr = schedule(lr0, epoch)`` at the start of each epoch."""

    def __init__(self, schedule):
        self.schedule = schedule

    def on_train_begin(self, state):
        self.lr0 = state.optimizer.lr

    def on_epoch_begin(self, state):
        state.optimizer.lr = float(self.schedule(self.lr0, state.epoch))
        state.history.setdefault("lr", []).append(state.optimizer.lr)

    def state_dict(self):
        return {"lr0": self.lr0}


class ProgressPrinter(Callback):
    """One line per epoch: the course's numbers (epoch, iterations, losses, metrics)."""

    def __init__(self, file=None):
        self.file = file

    def on_epoch_end(self, state):
        h = state.history
        parts = [f"epoch {state.epoch + 1}/{state.epochs}", f"iterations {state.iteration}"]
        parts += [f"{k} {v[-1]:.4f}" for k, v in h.items() if v and k != "lr"]
        print("  ".join(parts), file=self.file or sys.stdout, flush=True)

