"""Data checks before training: the problems that silently spoil a fit, as readable warnings.

``check_data(X, y, model, loss)`` returns a list of :class:`DataIssue`; the :class:`DataCheck`
callback runs it when training begins and issues each one as a :class:`DataWarning`.
``fit`` never runs it on its own: add ``callbacks=[DataCheck()]``.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np

from glassnet.backend.errors import ValidationError
from glassnet.nn.losses import check_output_and_loss, default_loss, get_loss
from glassnet.train.callbacks import Callback
from glassnet.train.inference import n_outputs

__all__ = ["check_data", "DataCheck", "DataIssue", "DataWarning"]


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


def check_data(X, y=None, model=None, loss=None, *, scale_ratio=100.0, imbalance_ratio=3.0, min_per_class=10,
               max_classes=100):
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

    Returns
    -------
    list of DataIssue
        Kinds: 'nan_inf', 'constant_features', 'feature_scales', 'sorted_labels', 'class_imbalance',
        'duplicates', 'conflicting_duplicates', 'rare_classes', 'output_loss_mismatch'.

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
    live = std[std > 0]
    if len(live) > 1 and live.max() > scale_ratio * live.min():
        hi, lo = int(np.nanargmax(np.where(std > 0, std, np.nan))), int(np.nanargmin(np.where(std > 0, std, np.nan)))
        issues.append(DataIssue("feature_scales", "warning", f"features on very different scales: std {std[hi]:.3g} "
                                f"(column {hi}) vs {std[lo]:.3g} (column {lo}), {std[hi] / std[lo]:.0f}x. Standardize "
                                "each feature (subtract the mean, divide by the std) so one learning rate suits all "
                                "weights.", {"max_std": float(std[hi]), "min_std": float(std[lo])}))
    rows = np.ascontiguousarray(np.nan_to_num(X))
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, first, inverse, counts = np.unique(keys, return_index=True, return_inverse=True, return_counts=True)
    n_dup = int(len(X) - len(first))
    if n_dup:
        issues.append(DataIssue("duplicates", "warning", f"{n_dup} duplicated row(s) ({100 * n_dup / len(X):.1f}%): "
                                "duplicates weigh more in the loss and leak between a training and a validation "
                                "split. Remove them unless they are real repeated observations.", {"count": n_dup}))
    if y is not None:
        issues += _check_labels(np.asarray(y), inverse, counts, imbalance_ratio, min_per_class, max_classes)
    if model is not None:
        issues += _check_model(model, loss, y)
    return issues


def _check_labels(y, inverse, counts, imbalance_ratio, min_per_class, max_classes):
    issues = []
    labels = y.argmax(axis=1) if y.ndim == 2 and y.shape[1] > 1 else y.reshape(len(y), -1)[:, 0]
    is_class = (np.issubdtype(labels.dtype, np.integer) or bool(np.all(labels == np.round(labels)))) and \
        len(np.unique(labels)) <= max_classes
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
        self.issues = check_data(state.X, y, state.model, state.loss, **self.kwargs)
        if not hasattr(state.history, "monitors"):
            state.history.monitors = {}
        state.history.monitors["data"] = self
        for issue in self.issues:
            warnings.warn(str(issue), DataWarning, stacklevel=2)
        errors = [str(i) for i in self.issues if i.severity == "error"]
        if self.strict and errors:
            raise ValidationError("DataCheck(strict=True) found: " + "; ".join(errors))
