"""The fit verdict: is the model underfitting, overfitting, a good fit, still improving, diverged?

``diagnose(history)`` is a pure function over the recorded curves. It reads

* the training loss, preferably ``history['train_eval_loss']`` (the training set measured
  in evaluation mode, recorded by :class:`CleanTrainLoss`), because the ``'loss'`` averaged
  during an epoch is inflated by dropout and lags behind the weights;
* ``history['val_loss']`` when there is validation data;
* ``history.baseline_loss``: the loss of the best constant prediction (the entropy of the
  class frequencies for cross-entropy, log K for K balanced classes; Var(y) for MSE), also
  recorded by :class:`CleanTrainLoss`;
* ``history.diverged``, set by the NaN guard.

The rules, in order (each quotes its numbers in ``Diagnosis.evidence``):

1. **diverged**: the NaN guard fired, a curve holds NaN/inf, or the training loss ended
   higher than it started.
2. **still improving** / **underfitting** with fewer than 3 epochs: too short to see a plateau.
3. **overfitting**: ``val_loss`` reached its (smoothed) minimum before the end and rose by
   more than ``gap_tol`` of that minimum (and more than twice its noise) while the
   training loss kept falling; or the final validation loss is more than ``gap_ratio``
   times the training loss while the validation loss no longer falls.
4. **underfitting**: the training loss stays near the trivial baseline (above
   ``(1 - underfit_tol) * baseline``) and is flat, or it plateaued above ``high_tol * baseline``
   with train ~ val.
5. **still improving**: the (validation, else training) loss still fell over the last epochs by
   more than ``improve_tol`` per epoch and more than its noise.
6. **too noisy to tell**: epoch-to-epoch noise is more than ``noise_tol`` of the curve's range, or
   the loss ended more than ``gap_tol`` above its best while the training loss rose too.
7. otherwise **good fit**.
"""

from dataclasses import dataclass, field

import numpy as np

from glassnet.backend.errors import ValidationError
from glassnet.train.callbacks import Callback
from glassnet.train.inference import evaluate

__all__ = ["CleanTrainLoss", "diagnose", "Diagnosis", "REMEDIES", "trivial_loss", "VERDICTS"]

VERDICTS = ("underfitting", "overfitting", "good fit", "still improving", "diverged", "too noisy to tell")

REMEDIES = {
    "underfitting": [
        "a bigger network (more units per layer, or more layers)",
        "more iterations (raise epochs)",
        "less regularization (lower l2, less dropout)",
        "a higher learning rate, momentum, or Adam",
        "more informative features (better data)",
    ],
    "overfitting": [
        "regularization: Dense(..., l2=1e-3) (weight decay)",
        "dropout: Dropout(0.2) after the hidden activations",
        "early stopping: EarlyStopping(patience=5, restore_best=True)",
        "more (or augmented) training data",
        "a smaller network",
    ],
    "still improving": [
        "more iterations: raise epochs (training stopped too early)",
        "a somewhat higher learning rate or momentum to get there faster",
    ],
    "diverged": [
        "a lower learning rate (try lr / 10)",
        "standardized inputs (zero mean, unit variance per feature)",
        "He initialization for ReLU layers (init='he_normal')",
        "a larger batch size (less noisy gradients)",
    ],
    "too noisy to tell": [
        "a lower learning rate or a larger batch size (smoother curves)",
        "a larger validation set (less noisy val_loss)",
        "more epochs, to see the trend through the noise",
    ],
    "good fit": ["none needed; confirm on a held-out test set"],
}


@dataclass
class Diagnosis:
    """The verdict with its evidence.

    Attributes
    ----------
    verdict : str
        One of :data:`VERDICTS`.
    evidence : list of str
        The numbers behind the verdict, one sentence each.
    remedies : list of str
        The course's remedies for this verdict.
    best_epoch : int or None
        Epoch number (1-based, as printed during training) of the lowest validation loss
        (of the training loss without validation data).
    train_key : str or None
        Which curve was used as the training loss ('train_eval_loss' or 'loss').
    baseline : float or None
        The trivial-prediction loss the training loss was compared with.
    """

    verdict: str
    evidence: list = field(default_factory=list)
    remedies: list = field(default_factory=list)
    best_epoch: int | None = None
    train_key: str | None = None
    baseline: float | None = None

    def __str__(self):
        lines = [f"verdict: {self.verdict}"]
        lines += [f"  - {e}" for e in self.evidence]
        if self.remedies:
            lines.append("remedies:")
            lines += [f"  - {r}" for r in self.remedies]
        return "\n".join(lines)


def _smooth(c, window):
    """Centered moving average (edges use the available neighbours): the trend of a noisy curve."""
    if window <= 1 or len(c) < 3:
        return c.copy()
    half = window // 2
    return np.array([c[max(0, i - half):i + half + 1].mean() for i in range(len(c))])


def _noise(c, trend):
    """Robust std of the epoch-to-epoch wiggle around the trend (1.4826 * MAD), over the second half.

    Only the second half: early epochs bend sharply, and the moving average misreads that
    curvature as noise; the verdict is about the end of the run anyway.
    """
    r = (c - trend)[len(c) // 2:]
    return float(1.4826 * np.median(np.abs(r - np.median(r)))) if len(c) >= 6 else 0.0


def _pct(a, b):
    return f"{100 * abs(a - b) / max(abs(b), 1e-12):.0f}%"


def diagnose(history, *, gap_tol=0.1, gap_ratio=3.0, underfit_tol=0.15, high_tol=0.5, improve_tol=0.01,
             noise_tol=0.5, baseline=None):
    """Read the learning curves and return the fit verdict with its evidence.

    Parameters
    ----------
    history : History or dict
        Curves of equal length, one value per epoch: 'loss' (required), optionally
        'train_eval_loss', 'val_loss'. Attributes ``diverged`` and ``baseline_loss`` are used
        when present.
    gap_tol : float, default 0.1
        Relative rise of ``val_loss`` above its minimum that counts as overfitting (10%).
    gap_ratio : float, default 3.0
        A final val_loss above ``gap_ratio`` x the training loss, no longer falling, is overfitting.
    underfit_tol : float, default 0.15
        A training loss within 15% of the baseline counts as "near the baseline".
    high_tol : float, default 0.5
        A plateau above 50% of the baseline with train ~ val counts as underfitting.
    improve_tol : float, default 0.01
        Average relative fall per epoch over the last epochs that counts as "still improving".
    noise_tol : float, default 0.5
        Noise above this share of the curve's range is "too noisy to tell".
    baseline : float, optional
        The trivial loss; defaults to ``history.baseline_loss``.

    Returns
    -------
    Diagnosis
    """
    diverged = getattr(history, "diverged", None)
    if diverged and not history.get("loss"):
        return Diagnosis("diverged", [diverged], list(REMEDIES["diverged"]))
    if not history.get("loss") and not history.get("train_eval_loss"):
        raise ValidationError(f"diagnose needs a history with a 'loss' curve; got keys {sorted(history)}. "
                              "Pass the History returned by fit().")
    key = "train_eval_loss" if history.get("train_eval_loss") else "loss"
    t = np.asarray(history[key], dtype=np.float64)
    v = np.asarray(history["val_loss"], dtype=np.float64) if history.get("val_loss") else None
    base = baseline if baseline is not None else getattr(history, "baseline_loss", None)
    d = Diagnosis("good fit", train_key=key, baseline=base)
    d.evidence.append(f"training loss from '{key}'" + (" (dropout off)" if key == "train_eval_loss" else
                      " (averaged during each epoch; add CleanTrainLoss() for a clean measurement)"))
    verdict = _verdict(d, t, v, base, diverged, gap_tol, gap_ratio, underfit_tol,
                       high_tol, improve_tol, noise_tol)
    d.verdict = verdict
    d.remedies = list(REMEDIES[verdict])
    best = getattr(history, "best_epoch", None)
    if best is not None and verdict == "overfitting":
        # EarlyStopping already ran: say what it kept instead of prescribing it again.
        d.remedies = [r for r in d.remedies if not r.startswith("early stopping")]
        d.evidence.append(f"early stopping was on: the model holds the weights of epoch {best + 1}, the lowest "
                          "val_loss, so it stopped the overfitting from going further")
    return d


def _verdict(d, t, v, base, diverged, gap_tol, gap_ratio, underfit_tol, high_tol, improve_tol, noise_tol):
    n = len(t)
    ref = v if v is not None else t
    ref_name = "val_loss" if v is not None else "training loss"
    if diverged or not np.isfinite(t).all() or (v is not None and not np.isfinite(v).all()):
        d.evidence.append(diverged or "a loss curve contains NaN or inf values")
        return "diverged"
    if n == 0:
        raise ValidationError("diagnose got empty loss curves; train for at least one epoch.")
    d.best_epoch = int(np.argmin(ref)) + 1
    if n >= 2 and t[-1] > t[0] * 1.05 and (base is None or t[-1] > 0.5 * base):
        d.evidence.append(f"the training loss rose from {t[0]:.4g} (epoch 1) to {t[-1]:.4g} (epoch {n}) "
                          "instead of falling")
        return "diverged"
    near_base = base is not None and t[-1] > (1 - underfit_tol) * base
    if base is not None:
        d.evidence.append(f"final training loss {t[-1]:.4g} is {100 * t[-1] / base:.0f}% of the trivial "
                          f"baseline {base:.4g} (the loss of always predicting the average)")
    if n < 3:
        falling = n == 2 and ref[1] < ref[0] * (1 - improve_tol)
        d.evidence.append(f"only {n} epoch(s): too few to see a plateau" + (
            f"; {ref_name} fell {_pct(ref[1], ref[0])} from {ref[0]:.4g} to {ref[1]:.4g}" if falling else ""))
        if falling:
            return "still improving"
        return "underfitting" if near_base else "too noisy to tell"
    window = 3 if n < 10 else 5
    st, sref = _smooth(t, window), _smooth(ref, window)
    noise = _noise(ref, sref)
    k = max(2, min(n // 4, 10))                  # "the last epochs": a quarter of the run, 2..10 epochs
    t_fall = (st[-k - 1] - st[-1]) / max(abs(st[-k - 1]), 1e-12) / k if n > k else 0.0
    # 3. overfitting: the validation loss turned up while the training loss kept falling.
    if v is not None:
        sv = sref
        b = int(np.argmin(sv))
        rise = sv[-1] - sv[b]
        train_fell = st[-1] < st[b] * 0.98
        if b < n - 1 and rise > gap_tol * sv[b] and rise > 2 * noise and train_fell:
            d.best_epoch = b + 1
            d.evidence.append(
                f"val_loss lowest at epoch {b + 1} ({sv[b]:.4g}), {_pct(sv[-1], sv[b])} higher by epoch {n} "
                f"({sv[-1]:.4g}) while the training loss fell {_pct(st[-1], st[b])} "
                f"({st[b]:.4g} -> {st[-1]:.4g})")
            return "overfitting"
        v_fall = (sv[-k - 1] - sv[-1]) / max(abs(sv[-k - 1]), 1e-12) / k if n > k else 0.0
        # the absolute gap must matter too (a tenth of the baseline), so 0.03 vs 0.09 is not "overfitting"
        big_gap = base is None or v[-1] - t[-1] > 0.1 * base
        if v[-1] > gap_ratio * t[-1] and big_gap and v_fall < improve_tol and not near_base:
            d.evidence.append(f"final val_loss {v[-1]:.4g} is {v[-1] / max(t[-1], 1e-12):.1f}x the training "
                              f"loss {t[-1]:.4g} and no longer falls: the model memorized the training set")
            return "overfitting"
    # 4. underfitting: stuck at (or high above) what a constant prediction achieves.
    if base is not None:
        close = v is None or abs(v[-1] - t[-1]) < 0.25 * max(v[-1], t[-1])
        if near_base and t_fall < improve_tol:
            d.evidence.append(f"the training loss is flat near the baseline (fell {100 * t_fall:.2g}% per epoch "
                              f"over the last {k} epochs): the model learned little beyond the class average")
            return "underfitting"
        if t[-1] > high_tol * base and close and t_fall < improve_tol:
            d.evidence.append(f"both losses plateaued high (train {t[-1]:.4g}, val "
                              f"{v[-1] if v is not None else float('nan'):.4g}) with train ~ val")
            return "underfitting"
    # 5. still improving: the curve still goes down at the end.
    r_fall = (sref[-k - 1] - sref[-1]) / max(abs(sref[-k - 1]), 1e-12) / k if n > k else 0.0
    if r_fall > improve_tol and (sref[-k - 1] - sref[-1]) > 2 * noise:
        d.evidence.append(f"{ref_name} still falling at the end: {ref[-k - 1]:.4g} -> {ref[-1]:.4g} over the "
                          f"last {k} epochs (smoothed trend {100 * r_fall:.2g}% per epoch)")
        if near_base:
            d.evidence.append("the training loss is still near the baseline: keep training before judging")
        return "still improving"
    # 6. too noisy: the wiggle dominates the trend.
    span = float(sref.max() - sref.min())
    if noise > noise_tol * span and noise > 0:
        d.evidence.append(f"{ref_name} wiggles by about {noise:.3g} per epoch, {noise / max(span, 1e-12):.1f}x "
                          f"the range of its trend ({span:.3g})")
        return "too noisy to tell"
    if near_base:
        d.evidence.append("the training loss stays near the baseline")
        return "underfitting"
    b = int(np.argmin(sref))
    if sref[-1] > (1 + gap_tol) * sref[b]:
        # turned up, but not as overfitting (the training loss rose too): unstable steps
        d.evidence.append(f"{ref_name} ended {_pct(sref[-1], sref[b])} above its best (epoch {b + 1}, {sref[b]:.4g} "
                          f"-> {sref[-1]:.4g}) while the training loss did not keep falling: the steps are unstable")
        return "too noisy to tell"
    d.evidence.append(f"{ref_name} settled at {ref[-1]:.4g} (lowest {ref.min():.4g} at epoch {d.best_epoch}); "
                      + (f"train {t[-1]:.4g} vs val {v[-1]:.4g}" if v is not None else "no validation data: "
                         "pass validation_split to check for overfitting"))
    return "good fit"


def trivial_loss(loss, Y):
    """The loss of the best constant prediction: the course's "learned nothing" baseline.

    Parameters
    ----------
    loss : Loss
    Y : array of shape (n_samples, n_outputs)
        Prepared targets (one-hot for cross-entropy).

    Returns
    -------
    float
        Cross-entropy: H(p) = -sum_k p_k log p_k with p the class frequencies (log K when
        balanced). Binary cross-entropy: the mean binary entropy of each output's rate. MSE:
        the mean over outputs of Var(y).
    """
    Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), -1)
    name = type(loss).__name__
    if name == "CrossEntropy":
        p = Y.mean(axis=0)
        p = p[p > 0]
        return float(-(p * np.log(p)).sum())
    if name == "BinaryCrossEntropy":
        p = np.clip(Y.mean(axis=0), 1e-12, 1 - 1e-12)
        return float((-(p * np.log(p) + (1 - p) * np.log(1 - p))).mean())
    return float(Y.var(axis=0).mean())


class CleanTrainLoss(Callback):
    """Record ``history['train_eval_loss']``: the training loss in evaluation mode (dropout off).

    At the end of every epoch the current weights are evaluated on a fixed sample of the
    training set (all of it when smaller than ``max_samples``), so the curve is comparable
    with ``val_loss``. Also sets ``history.baseline_loss`` (see :func:`trivial_loss`).
    The model is put back in training mode afterwards.

    Parameters
    ----------
    max_samples : int, default 2048
    seed : int, default 0
        Which rows form the sample.
    """

    def __init__(self, max_samples=2048, seed=0):
        self.max_samples = max_samples
        self.seed = seed

    def on_train_begin(self, state):
        n = len(state.X)
        rng = np.random.default_rng(self.seed)
        self.idx = np.sort(rng.choice(n, self.max_samples, replace=False)) if n > self.max_samples else None
        Y = state.Y if self.idx is None else state.Y[self.idx]
        state.history.baseline_loss = trivial_loss(state.loss, Y)

    def on_epoch_end(self, state):
        X, Y = (state.X, state.Y) if self.idx is None else (state.X[self.idx], state.Y[self.idx])
        was_training = getattr(state.model, "training", True)
        value = evaluate(state.model, X, Y, loss=state.loss, prepared=True)["loss"]
        if was_training:
            state.model.train()
        state.history.setdefault("train_eval_loss", []).append(value)
