"""Using a model without training it: data preparation, ``evaluate`` and ``predict``.

``fit`` prepares its data and measures validation loss with the same functions, so training and
evaluation see the data the same way.
"""

import numpy as np

from glassnet.backend.arrays import array_module, on_device_of, to_numpy
from glassnet.backend.checks import check_array, check_scalar
from glassnet.backend.errors import GlassnetTypeError, ValidationError
from glassnet.nn.layers import Dense
from glassnet.nn.layers.dense import check_input
from glassnet.nn.losses import (
    BinaryCrossEntropy,
    CrossEntropy,
    check_output_and_loss,
    default_loss,
    get_loss,
    one_hot_targets,
)
from glassnet.train import fastconv, fastpath
from glassnet.train.data import batches
from glassnet.train.metrics import accuracy

__all__ = ["evaluate", "n_outputs", "predict", "prepare_data", "sample_weights"]


def n_outputs(model):
    dense = [layer for layer in model.layers if isinstance(layer, Dense)]
    return dense[-1].n_out if dense else None


def prepare_data(model, loss, X, y, where):
    """Validate (X, y) and return (X in the model dtype, targets Y, integer labels or None)."""
    dtype = model.dtype
    X = check_input(X, model.n_features, where, dtype)
    if model.parameters():                 # data move to the model's device once, here (GPU)
        X = on_device_of(X, model.parameters()[0].value)
    if y is None:
        raise ValidationError(f"{where} needs targets y; got None.")
    y = check_array(y, "y", where=where)
    if y.shape[0] != X.shape[0]:
        raise ValidationError(f"X and y passed to {where} must have one target per row, but X has "
                              f"{X.shape[0]} rows and y {y.shape[0]}. Give one target per row of X.")
    xp = array_module(X)
    y = xp.asarray(y)
    k = n_outputs(model)
    labels = None
    if isinstance(loss, CrossEntropy):
        Y = one_hot_targets(y, k, dtype, xp)
        labels = to_numpy(Y.argmax(axis=1))
    elif isinstance(loss, BinaryCrossEntropy):
        Y = y.reshape(len(y), -1).astype(dtype)
        if bool(((Y != 0) & (Y != 1)).any()):
            raise ValidationError(f"BinaryCrossEntropy targets must be 0 or 1; got values "
                                  f"{np.unique(to_numpy(Y))[:5]}. "
                                  "Encode the two classes as 0 and 1.")
        labels = to_numpy(Y[:, 0]).astype(np.int64) if Y.shape[1] == 1 else None
    else:
        Y = y.reshape(len(y), -1).astype(dtype)
    if k is not None and Y.shape[1] != k:
        raise ValidationError(f"The targets passed to {where} must have one column per output unit, but the "
                              f"model has {k} output units and the targets {Y.shape[1]} columns. Make the last "
                              f"Dense layer {Y.shape[1]} wide.")
    return X, Y, labels


def evaluate(model, X, y, *, loss=None, batch_size=4096, prepared=False):
    """Loss (data term, without penalties) and accuracy for classification, in evaluation mode.

    Returns
    -------
    dict
        ``{'loss': float}`` plus ``'accuracy'`` for classifiers.
    """
    loss = default_loss(model, "evaluate") if loss is None else get_loss(loss)
    fused = check_output_and_loss(model, loss, "evaluate")
    if not prepared:
        X, y, _ = prepare_data(model, loss, X, y, "evaluate")
    batch_size = check_scalar(batch_size, "batch_size", int, min_val=1, caller="evaluate")
    model.eval()
    stop = len(model.layers) - 1 if fused else None
    total, correct = 0.0, 0.0
    for xb, yb in batches(X, y, batch_size):
        out = _forward(model, xb, stop)
        total += loss.forward(out, yb, from_logits=fused) * len(xb)
        if loss.output_layer is not None:
            correct += accuracy(out, yb, 0.0 if fused else 0.5) * len(xb)
    result = {"loss": total / len(X)}
    if loss.output_layer is not None:
        result["accuracy"] = correct / len(X)
    return result


def predict(model, X, *, batch_size=4096):
    """The model's outputs in evaluation mode, as a NumPy array (probabilities for a classifier)."""
    X = check_input(X, model.n_features, "predict", model.dtype)
    if model.parameters():
        X = on_device_of(X, model.parameters()[0].value)
    model.eval()
    outs = [to_numpy(_forward(model, X[i:i + batch_size])) for i in range(0, len(X), batch_size)]
    return np.concatenate(outs, axis=0)


def _forward(model, x, stop=None):
    """The model's forward in evaluation mode: the convolutional fast path's when it applies."""
    out = fastconv.forward(model, x, stop) if fastpath.enabled() else None
    return model.forward(x, stop=stop) if out is None else out


def sample_weights(sample_weight, class_weight, labels, n, n_classes, dtype, where="fit"):
    """Per-row weights (float array of shape (n,), in ``dtype``) from ``sample_weight`` and ``class_weight``.

    Returns None when both are None. ``class_weight='balanced'`` gives class c the weight
    n / (K n_c); a dict maps class indices to weights (missing classes weigh 1).
    """
    if sample_weight is None and class_weight is None:
        return None
    W = np.ones(n, dtype=np.float64)
    if sample_weight is not None:
        sw = check_array(sample_weight, "sample_weight", where=where, ndim_min=1).astype(np.float64)
        if sw.shape != (n,):
            raise ValidationError(f"sample_weight passed to {where} must have shape ({n},), one weight per row of X; "
                                  f"got shape {tuple(sw.shape)}.")
        if bool((sw < 0).any()):
            raise ValidationError(f"sample_weight passed to {where} must be >= 0; got {int((sw < 0).sum())} negative "
                                  f"value(s) (smallest {float(sw.min()):g}). Use 0 to leave a row out.")
        W *= sw
    if class_weight is not None:
        if labels is None:
            raise ValidationError(f"class_weight passed to {where} needs a classifier (a Softmax or single-unit "
                                  "Sigmoid output with class labels); use sample_weight for regression.")
        if isinstance(class_weight, str):
            if class_weight != "balanced":
                raise ValidationError(f"The 'class_weight' parameter of {where} must be 'balanced' or a dict "
                                      f"{{class index: weight}}. Got {class_weight!r} instead. "
                                      "Use class_weight='balanced'.")
            counts = np.bincount(labels, minlength=max(n_classes, 2))
            per_class = np.where(counts > 0, len(labels) / (np.count_nonzero(counts) * np.maximum(counts, 1)), 0.0)
        elif isinstance(class_weight, dict):
            per_class = np.ones(max(n_classes, 2, int(labels.max()) + 1))
            for c, w in class_weight.items():
                c = check_scalar(c, "class_weight key", int, min_val=0, max_val=len(per_class) - 1, caller=where)
                per_class[c] = check_scalar(w, f"class_weight[{c}]", float, min_val=0.0, caller=where)
        else:
            raise GlassnetTypeError(f"The 'class_weight' parameter of {where} must be 'balanced' or a dict "
                                    f"{{class index: weight}}. Got {type(class_weight).__name__} instead. Use "
                                    "class_weight='balanced' or a dict such as {0: 1.0, 1: 5.0}.")
        W *= per_class[labels]
    if not W.sum() > 0:
        raise ValidationError(f"The sample weights passed to {where} are all zero: nothing would be learned. "
                              "Give at least one row a positive weight.")
    return W.astype(dtype)
