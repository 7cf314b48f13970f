"""Loss functions with the layer contract: forward(pred, target) -> float, backward() -> dL/dpred.

Every loss is a mean over the batch, so the 1/N factor lives here and never in a layer. With
per-sample weights w (shape (N,), normalized by ``fit`` to mean 1 over the training set), each row's
term is multiplied by its weight before the mean: L = (1/N) sum_n w_n l_n, and so is its gradient.
With ``from_logits=True`` a classification loss receives the input of the final
Softmax/Sigmoid instead of its output; the training loop uses this to fuse the output
layer with the loss, which makes the gradient exactly (p - y)/N and keeps it finite for
any logits.
"""

import warnings

import numpy as np

from glassnet.backend.arrays import array_module
from glassnet.backend.checks import check_array
from glassnet.backend.errors import ShapeError, ValidationError
from glassnet.nn.layers import Sigmoid, Softmax
from glassnet.nn.layers.activations import sigmoid
from glassnet.nn.layers.base import cached
from glassnet.nn.layers.container import check_model

__all__ = ["BinaryCrossEntropy", "check_output_and_loss", "CrossEntropy", "default_loss", "get_loss", "Loss",
           "LOSSES", "MSE", "one_hot_targets", "sigmoid_cross_entropy", "softmax_cross_entropy",
           "squared_error"]


class Loss:
    """Base class: ``forward`` caches what ``backward`` needs."""

    name = "loss"
    output_layer = None        # the final layer this loss fuses with (Softmax / Sigmoid)
    target_range = None        # (low, high) allowed for targets, checked by __call__

    def __call__(self, pred, target, **kw):
        """Check ``pred`` and ``target`` (arrays, finite, same batch size), then :meth:`forward`.

        The training loop calls ``forward`` directly on data it has already checked.
        """
        who = type(self).__name__
        pred = check_array(pred, "pred", where=who)
        target = check_array(target, "target", where=who)
        if pred.shape[0] != target.shape[0]:
            raise ShapeError(f"{who} needs one target per prediction, but pred has {pred.shape[0]} rows and target "
                             f"{target.shape[0]}. Give one target per prediction.")
        if self.target_range is not None and bool(((target < self.target_range[0]) |
                                                   (target > self.target_range[1])).any()):
            raise ValidationError(f"{who} targets must lie in {list(self.target_range)}; got values from "
                                  f"{float(target.min()):g} to {float(target.max()):g}. Encode the classes as 0 and 1.")
        return self.forward(pred, target, **kw)

    def _cached(self, value):
        return cached(value, self)

    def __repr__(self):
        return f"{type(self).__name__}()"


def _same_shape(pred, target, who):
    if target.shape != pred.shape:
        if target.ndim == pred.ndim - 1 and pred.shape[-1] == 1 and target.shape == pred.shape[:-1]:
            return target.reshape(pred.shape)
        raise ShapeError(
            f"{who} needs targets shaped like the predictions, but predictions have shape {tuple(pred.shape)} "
            "and targets "
            f"{tuple(target.shape)}. Give one target per output unit (reshape y to (-1, 1) "
            "for a single output)."
        )
    return target


def _row_weights(weight, pred):
    """Per-sample weights as a column that broadcasts over the outputs, or 1.0 for none."""
    return 1.0 if weight is None else weight.reshape((-1,) + (1,) * (pred.ndim - 1)).astype(pred.dtype, copy=False)


class MSE(Loss):
    """Mean squared error: L = mean((pred - y)^2) over all elements.

    dL/dpred = 2 (pred - y) / size  (times the row's weight when weighted).
    """

    name = "mse"

    def __init__(self):
        self._grad = None

    def forward(self, pred, target, from_logits=False, weight=None):
        target = _same_shape(pred, target, "MSE")
        self._grad = array_module(pred).empty_like(pred)
        return squared_error(pred, target, weight, self._grad)

    def backward(self):
        return self._cached(self._grad)


class BinaryCrossEntropy(Loss):
    """Binary cross-entropy: L = -mean(y log p + (1 - y) log(1 - p)), p = sigmoid(z).

    From logits z (fused with the final Sigmoid): L = mean(max(z, 0) - y z + log(1 + e^-|z|))
    and dL/dz = (sigmoid(z) - y) / size.  From probabilities: dL/dp = (p - y) / (p (1 - p) size).
    """

    name = "binary_crossentropy"
    output_layer = "Sigmoid"
    target_range = (0.0, 1.0)

    def __init__(self):
        self._grad = None

    def forward(self, pred, target, from_logits=False, weight=None):
        xp = array_module(pred)
        target = _same_shape(pred, target, "BinaryCrossEntropy").astype(pred.dtype, copy=False)
        n, w = pred.size, _row_weights(weight, pred)
        if from_logits:
            self._grad = xp.empty_like(pred)
            return sigmoid_cross_entropy(pred, target, weight, self._grad)[0]
        else:
            _check_probabilities(pred, "BinaryCrossEntropy", "Sigmoid", rows_sum_to_one=False)
            eps = np.finfo(pred.dtype).eps
            p = xp.clip(pred, eps, 1 - eps)
            loss = -(w * (target * xp.log(p) + (1 - target) * xp.log(1 - p))).mean()
            self._grad = (p - target) * w / (p * (1 - p) * n)
        return float(loss)

    def backward(self):
        return self._cached(self._grad)


class CrossEntropy(Loss):
    """Categorical cross-entropy: L = -mean_n sum_k y_nk log p_nk.

    Targets are integer class labels of shape (N,) or one-hot rows of shape (N, K).
    From logits z (fused with the final Softmax): log p = z - logsumexp(z) and
    dL/dz = (p - y) / N.  From probabilities: dL/dp = -y / (p N).
    """

    name = "crossentropy"
    output_layer = "Softmax"

    def __init__(self):
        self._grad = None

    def forward(self, pred, target, from_logits=False, weight=None):
        xp = array_module(pred)
        Y = one_hot_targets(target, pred.shape[-1], pred.dtype, xp)
        n, w = pred.shape[0], _row_weights(weight, pred)
        if from_logits:
            self._grad = xp.empty_like(pred)
            loss, _ = softmax_cross_entropy(pred.copy(), Y, weight, self._grad, xp.empty((n, 1), pred.dtype))
            return loss
        else:
            _check_probabilities(pred, "CrossEntropy", "Softmax", rows_sum_to_one=True)
            tiny = np.finfo(pred.dtype).tiny
            log_p = xp.log(xp.maximum(pred, tiny))
            self._grad = -Y * w / (xp.maximum(pred, tiny) * n)
        return float(-(w * Y * log_p).sum() / n)

    def backward(self):
        return self._cached(self._grad)


def softmax_cross_entropy(z, Y, weight, grad, row):
    """Fused softmax + cross-entropy from logits: returns (loss, correct rows), writes dL/dz to ``grad``.

    The readable loss (CrossEntropy with ``from_logits=True``) and the training fast path both
    call this one function; it works in place so the fast path allocates nothing:

        z <- z - max_k z            (the shift keeps exp finite; it changes neither p nor the loss)
        log p = z - log sum_k exp z
        L = -(1/N) sum_n w_n sum_k y_nk log p_nk
        dL/dz = w_n (p - y) / N

    Parameters
    ----------
    z : array (N, K), overwritten (it ends holding exp of the shifted logits)
    Y : array (N, K), one-hot (or soft) targets
    weight : array (N,) or None
    grad : array (N, K), receives dL/dz
    row : array (N, 1), scratch
    """
    xp = array_module(z)
    n = z.shape[0]
    correct = int((z.argmax(axis=1) == Y.argmax(axis=1)).sum())
    xp.max(z, axis=1, keepdims=True, out=row)
    xp.subtract(z, row, out=grad)                 # grad holds the shifted logits for now
    xp.exp(grad, out=z)
    xp.sum(z, axis=1, keepdims=True, out=row)
    terms = Y * (xp.log(row) - grad)              # -y log p, elementwise
    loss = float((terms if weight is None else terms * weight.reshape(-1, 1)).sum()) / n
    xp.divide(z, row, out=grad)                   # p = softmax(z)
    grad -= Y
    grad *= 1.0 / n
    if weight is not None:
        grad *= weight.reshape(-1, 1).astype(grad.dtype, copy=False)
    return loss, correct


def sigmoid_cross_entropy(z, Y, weight, grad):
    """Fused sigmoid + binary cross-entropy from logits: returns (loss, correct or None), dL/dz in ``grad``.

    L = mean(w (max(z, 0) - y z + log(1 + e^-|z|)))   (log(1 + e^z) - y z, written to never overflow)
    dL/dz = w (sigmoid(z) - y) / size.  Shared by BinaryCrossEntropy and the fast path.
    """
    xp = array_module(z)
    correct = int(((z > 0) == (Y > 0.5)).sum()) if z.shape[1] == 1 else None
    terms = xp.maximum(z, 0) - Y * z + xp.log1p(xp.exp(-abs(z)))
    loss = float((terms if weight is None else terms * _row_weights(weight, z)).mean())
    sigmoid(z, out=grad)
    grad -= Y
    grad *= 1.0 / z.size
    if weight is not None:
        grad *= _row_weights(weight, z)
    return loss, correct


def squared_error(pred, Y, weight, grad):
    """Mean squared error: returns L = mean(w (pred - y)^2), writes dL/dpred = 2 w (pred - y) / size to ``grad``.

    Shared by MSE and the fast path; ``grad`` may be any buffer shaped like ``pred``.
    """
    xp = array_module(pred)
    xp.subtract(pred, Y, out=grad)
    if weight is None:
        loss = float(xp.vdot(grad, grad)) / grad.size
    else:
        w = _row_weights(weight, pred)
        loss = float(xp.vdot(grad * w, grad)) / grad.size
    grad *= 2.0 / grad.size
    if weight is not None:
        grad *= w
    return loss


def one_hot_targets(target, n_classes, dtype, xp=np):
    """Integer labels (N,) or one-hot (N, K) -> float one-hot (N, K), with clear errors."""
    if target.ndim == 2 and target.shape[1] == n_classes:
        return target.astype(dtype, copy=False)
    if target.ndim == 2 and target.shape[1] == 1:
        target = target[:, 0]
    if target.ndim != 1:
        raise ShapeError(
            f"CrossEntropy targets must be integer labels of shape (N,) or one-hot of shape "
            f"(N, {n_classes}); got shape {tuple(target.shape)}."
        )
    labels = target.astype(np.int64)
    if target.dtype.kind == "f" and bool((labels != target).any()):
        raise ValidationError("CrossEntropy integer targets must be whole numbers; got fractional values. "
                              "Pass class indices 0..K-1 or one-hot rows.")
    lo, hi = int(labels.min()), int(labels.max())
    if lo < 0 or hi >= n_classes:
        raise ValidationError(
            f"CrossEntropy got label {hi if hi >= n_classes else lo} but the output layer has "
            f"{n_classes} units (labels must be in 0..{n_classes - 1}). Make the last Dense layer "
            "as wide as the number of classes, or encode the labels as 0..K-1."
        )
    Y = xp.zeros((labels.shape[0], n_classes), dtype=dtype)
    Y[xp.arange(labels.shape[0]), labels] = 1
    return Y


def _check_probabilities(pred, who, layer, rows_sum_to_one):
    if bool((pred < 0).any()) or bool((pred > 1).any()) or (
        rows_sum_to_one and pred.shape[-1] > 1
        and not bool((abs(pred.sum(axis=-1) - 1) < 1e-3).all())
    ):
        raise ValidationError(
            f"{who} expects probabilities (in [0, 1]{', rows summing to 1' if rows_sum_to_one else ''}) "
            f"but the predictions are not. End the model with a {layer}() layer, or pass "
            "from_logits=True if these are logits."
        )


LOSSES = {
    "mse": MSE,
    "mean_squared_error": MSE,
    "binary_crossentropy": BinaryCrossEntropy,
    "bce": BinaryCrossEntropy,
    "crossentropy": CrossEntropy,
    "categorical_crossentropy": CrossEntropy,
    "cross_entropy": CrossEntropy,
}


def get_loss(loss):
    """A Loss instance from an instance or a name."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, type) and issubclass(loss, Loss):
        return loss()
    if isinstance(loss, str) and loss.lower() in LOSSES:
        return LOSSES[loss.lower()]()
    raise ValidationError(f"The loss must be a Loss instance or one of {sorted(LOSSES)}; got {loss!r}. "
                          "Use CrossEntropy() for classes, MSE() for regression.")


def default_loss(model, where="fit"):
    """Cross-entropy after Softmax, binary cross-entropy after Sigmoid, MSE otherwise."""
    last = check_model(model, where).layers[-1]
    return CrossEntropy() if isinstance(last, Softmax) else BinaryCrossEntropy() if isinstance(last, Sigmoid) else MSE()


def check_output_and_loss(model, loss, where="fit"):
    """Check the output layer suits the loss; return True when they fuse (Softmax+CE, Sigmoid+BCE)."""
    layers = check_model(model, where).layers
    for i in range(1, len(layers)):
        if isinstance(layers[i], Softmax) and isinstance(layers[i - 1], Softmax):
            raise ValidationError(f"A model must apply Softmax once, but layers {i - 1} and {i} are both Softmax "
                                  "(twice flattens the probabilities). Remove one of them.")
    last = layers[-1]
    if loss.output_layer is not None:
        if type(last).__name__ != loss.output_layer:
            raise ValidationError(
                f"{type(loss).__name__} needs probabilities, so the model must end with "
                f"{loss.output_layer}(); it ends with {last!r}. Append {loss.output_layer}() to the layers "
                "(training fuses it with the loss for a stable gradient)."
            )
        return True
    if isinstance(last, (Softmax, Sigmoid)) and isinstance(loss, MSE):
        warnings.warn(
            f"The model ends with {type(last).__name__} but the loss is MSE: for classification use "
            f"{'CrossEntropy' if isinstance(last, Softmax) else 'BinaryCrossEntropy'} (faster learning, "
            "no saturated gradients); for regression end with a Dense layer (linear output).",
            UserWarning, stacklevel=3)
    return False
