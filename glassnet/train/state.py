"""What a training run records (:class:`History`) and what its callbacks see (:class:`TrainState`)."""

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["History", "TrainState"]


class History(dict):
    """Per-epoch curves (``loss``, ``val_loss``, ``accuracy``, ``val_accuracy``...) and counters.

    The dict maps a curve name to one value per epoch. Every other attribute is declared here,
    so the glass box and the files read a known set of fields.

    Attributes
    ----------
    epochs : int
        Passes over the training data completed.
    iterations : int
        Mini-batches seen (optimizer steps).
    batch_size : int or None
    diverged : str or None
        The NaN guard's explanation when training blew up.
    best_epoch, stopped_epoch : int or None
        Set by :class:`~glassnet.train.callbacks.EarlyStopping` (0-based epochs).
    restored_best : bool
        True when early stopping wrote the best epoch's weights back: the model returned is the
        one of ``best_epoch``, not of the last epoch.
    baseline_loss : float or None
        Loss of the best constant prediction, recorded by ``CleanTrainLoss``.
    monitors : dict
        Glass-box callbacks that reported on this run, by name ('activations', 'gradients', 'data').
    """

    def __init__(self, batch_size=None):
        super().__init__()
        self.epochs = 0
        self.iterations = 0
        self.batch_size = batch_size
        self.diverged = None
        self.best_epoch = None
        self.stopped_epoch = None
        self.restored_best = False
        self.baseline_loss = None
        self.monitors = {}

    FIELDS = ("epochs", "iterations", "batch_size", "diverged", "best_epoch", "stopped_epoch",
               "restored_best", "baseline_loss")

    def to_dict(self):
        """JSON-ready: {'curves': {...}, and every declared field but ``monitors``}; NaN becomes None."""
        curves = {k: [None if not np.isfinite(v) else float(v) for v in c] for k, c in self.items()}
        return {"curves": curves, **{k: getattr(self, k) for k in self.FIELDS}}

    @classmethod
    def from_dict(cls, saved):
        """Rebuild what :meth:`to_dict` wrote (None in a curve reads back as NaN)."""
        h = cls(saved.get("batch_size"))
        h.update({k: [float("nan") if v is None else float(v) for v in c] for k, c in saved["curves"].items()})
        for k in cls.FIELDS:
            if k in saved:
                setattr(h, k, saved[k])
        return h


@dataclass
class TrainState:
    """Everything a callback may read, and the few fields it may set.

    A callback may set ``stop`` (end after this batch/epoch), ``start_epoch`` (in
    ``on_train_begin``, to resume: the checkpoint callback does), and ``batches`` (in
    ``on_train_begin``, another mini-batch sampler with the signature of
    :func:`glassnet.train.data.batches`: the distributed adapter does).
    """

    model: Any
    loss: Any
    optimizer: Any
    history: History
    epochs: int
    X: Any = None
    Y: Any = None
    validation_data: Any = None
    W: Any = None                     # per-sample weights of the training rows (mean 1), or None
    rng: Any = None                   # the fit's generator (shuffles); a checkpoint saves it
    callbacks: list = field(default_factory=list)
    batches: Any = None               # the mini-batch sampler
    start_epoch: int = 0
    epoch: int = 0
    iteration: int = 0
    batch_loss: float = 0.0
    stop: bool = False
