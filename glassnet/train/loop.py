"""The one training loop, ``fit``, and the readable training step.

Vocabulary, used everywhere in glassnet:
  epoch      one pass over the training set;
  iteration  one mini-batch: forward, loss, backward, optimizer step;
  batch size samples per iteration, so an epoch has ceil(n / batch_size) iterations.
"""

from functools import partial

from glassnet.backend.arrays import on_device_of
from glassnet.backend.checks import check_rng, check_scalar
from glassnet.backend.errors import GlassnetTypeError
from glassnet.nn.losses import check_output_and_loss, default_loss, get_loss
from glassnet.optim.optimizers import get_optimizer
from glassnet.train import fastpath
from glassnet.train.callbacks import Callback, NaNGuard, ProgressPrinter
from glassnet.train.data import batches, train_val_split
from glassnet.train.inference import evaluate, prepare_data, sample_weights
from glassnet.train.metrics import accuracy
from glassnet.train.state import History, TrainState

__all__ = ["fit", "plain_step"]


def fit(model, X, y, *, loss=None, optimizer="sgd", epochs=10, batch_size=32, validation_split=0.0,
        validation_data=None, shuffle=True, seed=None, callbacks=(), verbose=1, sample_weight=None,
        class_weight=None):
    """Train ``model`` on (X, y) with mini-batch gradient descent.

    Parameters
    ----------
    model : glassnet.Sequential
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
        New behaviour comes here: early stopping, monitors, checkpoints. To resume an interrupted
        run, pass ``ModelCheckpoint(path, resume=True)`` (glassnet.files.checkpoint).
    verbose : int
        0 silent, 1 one line per epoch.
    sample_weight : array of shape (n_samples,), optional
        Non-negative weight of each row in the training objective, L = (1/N) sum_n w_n l_n with the
        weights scaled to mean 1 over the training rows (so the learning rate keeps its meaning).
        Validation metrics stay unweighted.
    class_weight : 'balanced' or dict {class index: weight}, optional
        Classification only: multiplies each row's weight by its class's; 'balanced' gives class c
        the weight n / (K n_c), so every class counts as much in the objective.

    Returns
    -------
    History
    """
    state, fused, count_correct = _start(model, X, y, loss, optimizer, epochs, batch_size, validation_split,
                                         validation_data, seed, callbacks, verbose, sample_weight, class_weight)
    history, callbacks = state.history, state.callbacks
    # Only callbacks that do something per batch are called per batch (the base hook is a no-op).
    batch_callbacks = [cb for cb in callbacks
                       if getattr(cb.on_batch_end, "__func__", None) is not Callback.on_batch_end]
    with fastpath.engaged(model, state.loss, state.optimizer, state.X) as fast:
        # The hot path (glassnet/train/fastpath.py) when the model qualifies; the readable one otherwise.
        step = fast or partial(plain_step, model, state.loss, state.optimizer, fused, _has_penalty(model),
                               count_correct)
        for cb in callbacks:
            cb.on_train_begin(state)                     # a checkpoint may set state.start_epoch here
        for epoch in range(state.start_epoch, state.epochs):
            state.epoch = epoch
            model.train()
            for cb in callbacks:
                cb.on_epoch_begin(state)
            total, correct = 0.0, 0
            for batch in state.batches(state.X, state.Y, batch_size, state.rng if shuffle else None, state.W):
                state.batch_loss, n_correct = step(*batch)       # forward, loss, backward, update
                state.iteration += 1
                total += state.batch_loss * len(batch[0])
                correct += n_correct or 0
                for cb in batch_callbacks:
                    cb.on_batch_end(state)
                if state.stop:
                    break
            if state.stop and history.diverged:
                break
            history.setdefault("loss", []).append(total / len(state.X))
            if count_correct:
                history.setdefault("accuracy", []).append(correct / len(state.X))
            if state.validation_data is not None:
                for k, v in evaluate(model, *state.validation_data, loss=state.loss, prepared=True).items():
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


def plain_step(model, loss, optimizer, fused, has_penalty, count_correct, xb, yb, wb=None):
    """One iteration, layer by layer: returns (batch loss, correctly classified rows or None)."""
    stop = len(model.layers) - 1 if fused else None      # fused: the loss applies the output layer
    out = model.forward(xb, stop=stop)                    # each layer caches what backward needs
    value = loss.forward(out, yb, from_logits=fused, weight=wb)
    if has_penalty:
        value += model.penalty()
    model.backward(loss.backward(), stop=stop)            # each layer sets its p.grad
    optimizer.step()                                      # p.value updated in place
    return value, (round(accuracy(out, yb, 0.0 if fused else 0.5) * len(xb)) if count_correct else None)


def _has_penalty(model):
    return any(getattr(layer, "l1", 0) or getattr(layer, "l2", 0) for layer in model.layers)


def _start(model, X, y, loss, optimizer, epochs, batch_size, validation_split, validation_data, seed,
           callbacks, verbose, sample_weight, class_weight):
    """Check the arguments and build the TrainState of a run: (state, fused, count_correct)."""
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
    W = sample_weights(sample_weight, class_weight, labels, len(X), Y.shape[1], X.dtype)
    if validation_data is None and validation_split:
        train, val = train_val_split(len(X), validation_split, rng, labels)
        validation_data = (X[val], Y[val])
        X, Y = X[train], Y[train]
        W = None if W is None else W[train]
        labels = None if labels is None else labels[train]
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
            size = f" of length {len(validation_data)}" if isinstance(validation_data, (tuple, list)) else ""
            raise GlassnetTypeError(f"fit(validation_data=...) must be a pair (X_val, y_val); got a "
                                    f"{type(validation_data).__name__}{size}.")
        validation_data = prepare_data(model, loss, *validation_data, "fit(validation_data)")[:2]
    callbacks = [NaNGuard(), *callbacks] + ([ProgressPrinter()] if verbose else [])
    if W is not None:
        W = on_device_of(W / W.mean(), X)               # mean 1 over the rows trained on
    state = TrainState(model, loss, optimizer, History(batch_size), epochs, X, Y, validation_data, rng=rng,
                       callbacks=callbacks, batches=batches, W=W)
    return state, fused, labels is not None
