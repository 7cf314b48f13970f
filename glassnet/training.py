"""The one training loop (behind ``model.fit``), plus ``evaluate`` and ``predict``.

Vocabulary, used everywhere in glassnet:
  epoch      one pass over the training set;
  iteration  one mini-batch: forward, loss, backward, optimizer step;
  batch size samples per iteration, so an epoch has ceil(n / batch_size) iterations.
"""

import warnings
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np

from ._fastpath import build_fast_step
from ._validation import check_array, check_rng, check_scalar
from .backend import array_module, on_device_of, to_numpy
from .callbacks import Callback, NaNGuard, ProgressPrinter
from .data import batches, train_val_split
from .errors import GlassnetTypeError, ValidationError
from .layers import Dense, Sequential, Sigmoid, Softmax
from .layers.dense import check_input
from .losses import MSE, BinaryCrossEntropy, CrossEntropy, get_loss, one_hot_targets
from .metrics import accuracy
from .optimizers import get_optimizer


class History(dict):
    """Per-epoch curves (``loss``, ``val_loss``, ``accuracy``, ``val_accuracy``...) and counters.

    Attributes
    ----------
    epochs : int
        Passes over the training data completed.
    iterations : int
        Mini-batches seen (optimizer steps).
    batch_size : int
    diverged : str or None
        The NaN guard's explanation when training blew up.
    """

    def __init__(self, batch_size=None):
        super().__init__()
        self.epochs = 0
        self.iterations = 0
        self.batch_size = batch_size
        self.diverged = None
        self.best_epoch = None
        self.stopped_epoch = None

    def diagnose(self, **kwargs):
        """The fit verdict (underfitting, overfitting, ...); see :mod:`glassnet.diagnostics`."""
        from .diagnostics import diagnose

        return diagnose(self, **kwargs)

    def to_dict(self):
        return {"curves": dict(self), "epochs": self.epochs, "iterations": self.iterations,
                "batch_size": self.batch_size, "diverged": self.diverged, "best_epoch": self.best_epoch}


@dataclass
class TrainState:
    """Everything a callback may read (and ``stop``, which it may set)."""

    model: Any
    loss: Any
    optimizer: Any
    history: History
    epochs: int
    X: Any = None
    Y: Any = None
    validation_data: Any = None
    epoch: int = 0
    iteration: int = 0
    batch_loss: float = 0.0
    stop: bool = False
    extra: dict = field(default_factory=dict)


def fit(model, X, y, *, loss=None, optimizer="sgd", epochs=10, batch_size=32, validation_split=0.0,
        validation_data=None, shuffle=True, seed=None, callbacks=(), verbose=1, resume_from=None):
    """Train ``model`` on (X, y) with mini-batch gradient descent.

    Parameters
    ----------
    X : array of shape (n_samples, n_features)
    y : array of shape (n_samples,) (class labels, or one regression target) or (n_samples, n_outputs)
    loss : Loss or str, optional
        Defaults to cross-entropy after a Softmax, binary cross-entropy after a Sigmoid, MSE otherwise.
    optimizer : Optimizer or str
        E.g. ``SGD(lr=0.05, momentum=0.9)`` or ``'adam'``.
    epochs, batch_size : int
    validation_split : float in [0, 1)
        Share of (X, y) held out, after a (stratified, for classification) shuffle.
    validation_data : (X_val, y_val), optional
    shuffle : bool
        Reshuffle the training set before every epoch.
    seed : int or numpy.random.Generator, optional
        Source of the shuffles and the split. Same seed, same run.
    callbacks : sequence of Callback
    verbose : int
        0 silent, 1 one line per epoch.
    resume_from : str or os.PathLike, optional
        A checkpoint written by :class:`glassnet.checkpoint.ModelCheckpoint`: restore the full
        training state and continue with the next epoch (same data, seed and callbacks).

    Returns
    -------
    History
    """
    epochs = check_scalar(epochs, "epochs", int, min_val=1, caller="fit")
    batch_size = check_scalar(batch_size, "batch_size", int, min_val=1, caller="fit")
    rng = check_rng(seed)
    if not isinstance(callbacks, (list, tuple)) or not all(isinstance(cb, Callback) for cb in callbacks):
        raise GlassnetTypeError(f"fit(callbacks=...) must be a list of Callback instances, e.g. [EarlyStopping()]; "
                                f"got {str(callbacks)[:100]}. Instantiate classes: EarlyStopping() not EarlyStopping.")
    loss = default_loss(model) if loss is None else get_loss(loss)
    optimizer = get_optimizer(optimizer).setup(model.parameters())
    fused = check_output_and_loss(model, loss)
    X, Y, labels = prepare_data(model, loss, X, y, "fit")
    if validation_data is None and validation_split:
        train, val = train_val_split(len(X), validation_split, rng, labels)
        validation_data = (X[val], Y[val])
        X, Y = X[train], Y[train]
        labels = None if labels is None else labels[train]
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            size = f" of length {len(validation_data)}" if isinstance(validation_data, (tuple, list)) else ""
            raise GlassnetTypeError(f"fit(validation_data=...) must be a pair (X_val, y_val); got a "
                                    f"{type(validation_data).__name__}{size}.")
        validation_data = prepare_data(model, loss, *validation_data, "fit(validation_data)")[:2]
    history = History(batch_size)
    state = TrainState(model, loss, optimizer, history, epochs, X, Y, validation_data)
    callbacks = [NaNGuard(), *callbacks] + ([ProgressPrinter()] if verbose else [])
    state.extra.update(rng=rng, callbacks=callbacks)      # what a checkpoint saves and restores
    has_penalty = _has_reg(model)
    # The hot path (glassnet/_fastpath.py) when the model qualifies; the readable one otherwise.
    step = build_fast_step(model, loss, optimizer, X) or partial(
        plain_step, model, loss, optimizer, fused, has_penalty, labels is not None)
    # Only callbacks that do something per batch are called per batch (the base hook is a no-op).
    batch_callbacks = [cb for cb in callbacks
                       if getattr(cb.on_batch_end, "__func__", None) is not Callback.on_batch_end]
    for cb in callbacks:
        cb.on_train_begin(state)
    first_epoch = 0
    if resume_from is not None:
        from .checkpoint import restore

        first_epoch = restore(resume_from, state, rng)
    for state.epoch in range(first_epoch, epochs):
        model.train()
        for cb in callbacks:
            cb.on_epoch_begin(state)
        total, correct = 0.0, 0
        # A callback may install another sampler in on_train_begin (glassnet.distributed does).
        for xb, yb in state.extra.get("batches", batches)(X, Y, batch_size, rng if shuffle else None):
            state.batch_loss, n_correct = step(xb, yb)       # forward, loss, backward, update
            state.iteration += 1
            total += state.batch_loss * len(xb)
            correct += n_correct or 0
            for cb in batch_callbacks:
                cb.on_batch_end(state)
            if state.stop:
                break
        if state.stop and history.diverged:
            break
        history.setdefault("loss", []).append(total / len(X))
        if labels is not None:
            history.setdefault("accuracy", []).append(correct / len(X))
        if validation_data is not None:
            for k, v in evaluate(model, *validation_data, loss=loss, prepared=True).items():
                history.setdefault(f"val_{k}", []).append(v)
        history.epochs, history.iterations = state.epoch + 1, state.iteration
        for cb in callbacks:
            cb.on_epoch_end(state)
        if state.stop:
            break
    for cb in callbacks:
        cb.on_train_end(state)
    model.eval()
    return history


def plain_step(model, loss, optimizer, fused, has_penalty, count_correct, xb, yb):
    """One iteration, layer by layer: returns (batch loss, correctly classified rows or None)."""
    stop = len(model.layers) - 1 if fused else None      # fused: the loss applies the output layer
    out = model.forward(xb, stop=stop)                    # each layer caches what backward needs
    value = loss.forward(out, yb, from_logits=fused)
    if has_penalty:
        value += model.penalty()
    model.backward(loss.backward(), stop=stop)            # each layer sets its p.grad
    optimizer.step()                                      # p.value updated in place
    return value, (round(accuracy(out, yb, 0.0 if fused else 0.5) * len(xb)) if count_correct else None)


def _has_reg(model):
    return any(getattr(layer, "l1", 0) or getattr(layer, "l2", 0) for layer in model.layers)


def default_loss(model):
    """Cross-entropy after Softmax, binary cross-entropy after Sigmoid, MSE otherwise."""
    last = model.layers[-1]
    return CrossEntropy() if isinstance(last, Softmax) else BinaryCrossEntropy() if isinstance(last, Sigmoid) else MSE()


def check_output_and_loss(model, loss):
    """Check the output layer suits the loss; return True when they fuse (Softmax+CE, Sigmoid+BCE)."""
    if not isinstance(model, Sequential):
        raise GlassnetTypeError(f"fit needs a glassnet Sequential model; got {type(model).__name__}.")
    layers = model.layers
    for i in range(1, len(layers)):
        if isinstance(layers[i], Softmax) and isinstance(layers[i - 1], Softmax):
            raise ValidationError(f"Layers {i - 1} and {i} are both Softmax: softmax applied twice flattens "
                                  "the probabilities. Remove one of them.")
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


def _n_outputs(model):
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
        raise ValidationError(f"X and y passed to {where} have different numbers of samples: "
                              f"{X.shape[0]} and {y.shape[0]}. Give one target per row of X.")
    xp = array_module(X)
    y = xp.asarray(y)
    k = _n_outputs(model)
    labels = None
    if isinstance(loss, CrossEntropy):
        Y = one_hot_targets(y, k, dtype, xp)
        labels = to_numpy(Y.argmax(axis=1))
    elif isinstance(loss, BinaryCrossEntropy):
        Y = y.reshape(len(y), -1).astype(dtype)
        if bool(((Y != 0) & (Y != 1)).any()):
            raise ValidationError(f"BinaryCrossEntropy targets must be 0 or 1; got values {np.unique(to_numpy(Y))[:5]}. "
                                  "Encode the two classes as 0 and 1.")
        labels = to_numpy(Y[:, 0]).astype(np.int64) if Y.shape[1] == 1 else None
    else:
        Y = y.reshape(len(y), -1).astype(dtype)
    if k is not None and Y.shape[1] != k:
        raise ValidationError(f"The model has {k} output units but the targets have {Y.shape[1]} columns "
                              f"(in {where}). Make the last Dense layer {Y.shape[1]} wide.")
    return X, Y, labels


def evaluate(model, X, y, *, loss=None, batch_size=4096, prepared=False):
    """Loss (data term, without penalties) and accuracy for classification, in evaluation mode.

    Returns
    -------
    dict
        ``{'loss': float}`` plus ``'accuracy'`` for classifiers.
    """
    loss = default_loss(model) if loss is None else get_loss(loss)
    fused = check_output_and_loss(model, loss)
    if not prepared:
        X, y, _ = prepare_data(model, loss, X, y, "evaluate")
    batch_size = check_scalar(batch_size, "batch_size", int, min_val=1, caller="evaluate")
    model.eval()
    stop = len(model.layers) - 1 if fused else None
    total, correct = 0.0, 0.0
    for xb, yb in batches(X, y, batch_size):
        out = model.forward(xb, stop=stop)
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
    outs = [to_numpy(model.forward(X[i:i + batch_size])) for i in range(0, len(X), batch_size)]
    return np.concatenate(outs, axis=0)
