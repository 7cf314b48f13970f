"""Verify a verdict by counterfactual: retrain with the remedy, and with other seeds as a placebo.

A verdict read from curves is a hypothesis. :func:`verify` tests it the way an experimenter
would: from the same data and the same seed it reruns the training with the one change the
verdict predicts should help (or, for "good fit", should not), and reruns it unchanged with
another seed to measure how much the validation loss moves by chance (the placebo). The verdict
is *confirmed* when the probe moved the validation loss in the predicted direction by more than
twice the placebo spread (and more than 1% of its value, so a zero spread proves nothing).

=================  ===========================================  ======================
verdict            probe (the remedy)                           predicted
=================  ===========================================  ======================
underfitting       regularization removed if there is any,      val_loss falls
                   else 4x wider hidden layers
overfitting        early stopping (restore_best) and l2=1e-3    val_loss falls
still improving    continue training as many epochs again       val_loss falls
diverged           learning rate / 10                           val_loss falls
too noisy to tell  learning rate / 10                           val_loss falls
good fit           continue training as many epochs again       no real gain
=================  ===========================================  ======================

Cost: the original run is repeated once (to measure its time and its validation loss under
identical conditions), then the placebo and the probe: 3 trainings with the default
``budget=3``; each extra unit of budget adds the verdict's second probe (4x wider and
l2 x 10 ... see ``_PROBES``).
"""

import copy
import time
from dataclasses import dataclass, field

import numpy as np

from glassnet.backend.checks import check_scalar
from glassnet.backend.errors import GlassnetTypeError, ValidationError
from glassnet.optim.optimizers import SGD, Adam, RMSprop
from glassnet.train.callbacks import EarlyStopping
from glassnet.train.inference import evaluate
from glassnet.train.model import mlp

__all__ = ["FitSpec", "Probe", "Verification", "verify"]


@dataclass
class FitSpec:
    """How the model was built and trained, so that it can be trained again with one change.

    Parameters mirror :func:`glassnet.mlp` and :func:`glassnet.fit`; ``optimizer`` is 'adam', 'rmsprop'
    or 'sgd' (with ``momentum``), ``early_stopping`` adds ``EarlyStopping(patience, restore_best=True)``.

    Examples
    --------
    >>> spec = FitSpec(n_in=64, hidden=(32,), n_out=10, epochs=20, lr=1e-3, seed=0)
    >>> model, history = spec.fit(X, y, validation_data=(X_val, y_val))      # doctest: +SKIP
    """

    n_in: int
    hidden: tuple
    n_out: int
    activation: str = "relu"
    output: str = "softmax"
    dropout: float = 0.0
    l2: float = 0.0
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    epochs: int = 20
    batch_size: int = 32
    seed: int = 0
    early_stopping: bool = False
    patience: int = 5
    loss: str = None
    callbacks: tuple = field(default_factory=tuple)

    def replace(self, **changes):
        """A copy with some fields changed."""
        new = copy.copy(self)
        for k, v in changes.items():
            if not hasattr(new, k):
                raise ValidationError(f"FitSpec has no field {k!r}; fields: {sorted(vars(self))}.")
            setattr(new, k, v)
        return new

    def build(self):
        return mlp(self.n_in, list(self.hidden), self.n_out, activation=self.activation, output=self.output,
                   dropout=self.dropout, l2=self.l2, seed=self.seed)

    def fit(self, X, y, validation_data=None, model=None, epochs=None):
        """Train (a fresh model, or ``model`` further) and return (model, history)."""
        model = self.build() if model is None else model
        opt = {"adam": lambda: Adam(lr=self.lr), "rmsprop": lambda: RMSprop(lr=self.lr),
               "sgd": lambda: SGD(lr=self.lr, momentum=self.momentum)}[self.optimizer]()
        cbs = [copy.deepcopy(cb) for cb in self.callbacks]
        if self.early_stopping:
            cbs.append(EarlyStopping(patience=self.patience, restore_best=True))
        kw = {"loss": self.loss} if self.loss else {}
        h = model.fit(X, y, epochs=epochs or self.epochs, batch_size=self.batch_size, optimizer=opt,
                      validation_data=validation_data, seed=self.seed, verbose=0, callbacks=cbs, **kw)
        return model, h


@dataclass
class Probe:
    """One counterfactual: its name, the validation loss before (original) and after (probe)."""

    name: str
    before: float
    after: float
    seconds: float

    @property
    def effect(self):
        return self.before - self.after


@dataclass
class Verification:
    """The probes, the placebo spread and whether the verdict is confirmed."""

    verdict: str
    probes: list
    spread: float
    confirmed: bool
    seconds: float
    original_seconds: float

    def summary(self):
        if not self.probes:
            return f"verification: no probe for '{self.verdict}'"
        parts = [f"{p.name}: val_loss {p.before:.4g} -> {p.after:.4g}" for p in self.probes]
        word = "confirmed" if self.confirmed else "NOT confirmed"
        return (f"verification ({self.seconds:.1f} s in all, {self.seconds / max(self.original_seconds, 1e-9):.1f}x "
                f"one training): " + "; ".join(parts) + f"; placebo (another seed) spread +/-{self.spread:.2g}: "
                f"{self.verdict} {word}")

    def __str__(self):
        return self.summary()


def _probes(verdict, spec):
    """(name, change, continue_training, predicted) per probe, most telling first."""
    wider = tuple(4 * w for w in spec.hidden) or (32,)
    regularized = bool(spec.l2 or spec.dropout)
    table = {
        "underfitting": ([("regularization removed", {"l2": 0.0, "dropout": 0.0}, False)] if regularized else [])
        + [("4x wider", {"hidden": wider, "l2": 0.0 if regularized else spec.l2}, False)],
        "overfitting": [("early stopping + l2=1e-3", {"early_stopping": True, "l2": max(spec.l2, 1e-3)}, False),
                        ("l2 x 10", {"l2": max(10 * spec.l2, 1e-2)}, False)],
        "still improving": [("continue training", {}, True), ("lr x 10", {"lr": spec.lr * 10}, False)],
        "diverged": [("lr / 10", {"lr": spec.lr / 10}, False), ("lr / 100", {"lr": spec.lr / 100}, False)],
        "too noisy to tell": [("lr / 10", {"lr": spec.lr / 10}, False)],
        "good fit": [("continue training", {}, True), ("4x wider", {"hidden": wider}, False)],
    }
    return table.get(verdict, [])


def _val(model, Xv, yv, loss):
    v = evaluate(model, Xv, yv, loss=loss)["loss"]
    return float(v) if np.isfinite(v) else float("inf")


def verify(spec, X, y, diagnosis, *, validation_data=None, budget=3.0, progress=None, validation_split=0.2):
    """Run the counterfactual probes of ``diagnosis.verdict`` and say whether they confirm it.

    Parameters
    ----------
    spec : FitSpec
        How the run was trained (its seed is the original's).
    X, y : arrays
        The training data.
    diagnosis : Diagnosis or str
        The verdict to test: a Diagnosis, or the verdict itself ('underfitting', ...).
    validation_data : (X_val, y_val), optional
        Defaults to a ``validation_split`` share of (X, y) held out with the spec's seed.
    budget : float, default 3.0
        Trainings allowed, in multiples of one original training: the rerun of the original and the
        placebo take 2, each further unit one probe (at least one probe always runs).
    progress : callable, optional
        Called with one line per training ("probe 4x wider: 1.3 s").

    Returns
    -------
    Verification
    """
    if not isinstance(spec, FitSpec):
        raise GlassnetTypeError(f"verify needs a FitSpec describing how to retrain the model; got "
                                f"{type(spec).__name__}. Build one: FitSpec(n_in, hidden, n_out, epochs=..., lr=...).")
    budget = check_scalar(budget, "budget", float, min_val=3.0, caller="verify")
    if X is None or y is None:
        raise ValidationError("verify needs the training data: pass X= and y= (diagnose(..., verify=True, X=X, y=y)).")
    X, y = np.asarray(X), np.asarray(y)
    if validation_data is None:
        perm = np.random.default_rng(spec.seed).permutation(len(X))
        n_val = max(1, int(round(validation_split * len(X))))
        validation_data = (X[perm[:n_val]], y[perm[:n_val]])
        X, y = X[perm[n_val:]], y[perm[n_val:]]
    Xv, yv = validation_data
    say = progress or (lambda line: None)
    t_start = time.perf_counter()

    def timed(fn):
        t = time.perf_counter()
        out = fn()
        return out, time.perf_counter() - t

    (model0, _), t0 = timed(lambda: spec.fit(X, y, validation_data))
    before = _val(model0, Xv, yv, spec.loss)
    say(f"original rerun: val_loss {before:.4g} ({t0:.1f} s)")
    (placebo, _), t_p = timed(lambda: spec.replace(seed=spec.seed + 1).fit(X, y, validation_data))
    spread = abs(_val(placebo, Xv, yv, spec.loss) - before)
    say(f"placebo (seed {spec.seed + 1}): spread {spread:.3g} ({t_p:.1f} s)")
    verdict = diagnosis if isinstance(diagnosis, str) else diagnosis.verdict
    plans = _probes(verdict, spec)[:max(1, int(budget) - 2)]
    probes = []
    for name, change, cont in plans:
        if cont:
            model1 = copy.deepcopy(model0)
            (_, _), t1 = timed(lambda m=model1: spec.fit(X, y, validation_data, model=m))
        else:
            (model1, _), t1 = timed(lambda c=change: spec.replace(**c).fit(X, y, validation_data))
        probes.append(Probe(name, before, _val(model1, Xv, yv, spec.loss), t1))
        say(f"probe {name}: val_loss {before:.4g} -> {probes[-1].after:.4g} ({t1:.1f} s)")
    tol = max(2 * spread, 0.01 * abs(before))
    if verdict == "good fit":
        confirmed = all(p.effect <= tol for p in probes)
    else:
        confirmed = bool(probes) and probes[0].effect > tol
    return Verification(verdict, probes, spread, confirmed, time.perf_counter() - t_start, t0)
