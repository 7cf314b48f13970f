"""Training monitors: dead ReLU units, saturated sigmoid/tanh units, gradient flow.

Both monitors are callbacks and cost almost nothing per batch: the activation monitor runs one
forward pass over a fixed monitoring sample (a few hundred rows) at the end of each epoch; the
gradient monitor reads ``p.grad`` of the last batch of the epoch (``backward`` already left it
there) and compares the weights with a snapshot taken when the epoch began.

Each monitor registers itself in ``history.monitors`` (a dict: 'activations', 'gradients') so
that :func:`glassnet.glassbox.report.write_report` and the plots find it from the history alone.
"""

import warnings

import numpy as np

from glassnet.backend.arrays import to_numpy
from glassnet.nn.layers import Conv2D, Dense, Sigmoid, Tanh
from glassnet.nn.layers.activations import RELU_FAMILY
from glassnet.nn.losses import check_output_and_loss
from glassnet.train.callbacks import Callback

__all__ = ["ActivationMonitor", "GradientMonitor", "GradientNoise", "hidden_activations", "per_sample_grad_norms",
           "saturated"]


_WEIGHTED = (Dense, Conv2D)          # layers with a weight matrix (Conv1D is a Conv2D)


def _describe(model, i):
    """'layer 1 (ReLU after Dense(64 -> 32))': how advice names a layer."""
    prev = next((model.layers[j] for j in range(i - 1, -1, -1) if isinstance(model.layers[j], _WEIGHTED)), None)
    return f"layer {i} ({type(model.layers[i]).__name__}" + (f" after {prev!r})" if prev is not None else ")")


def hidden_activations(model, X):
    """Outputs of the hidden activation layers for X, in evaluation mode.

    Returns
    -------
    dict
        {layer index: array of shape (n, units)} for every ReLU-family, Sigmoid or Tanh layer
        except the last layer (the output layer's saturation is just confidence). After a
        convolution: (n, H, W, channels), one unit per channel (filter).
    """
    out, h = {}, X
    was_training = getattr(model, "training", True)
    model.eval()
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        h = layer.forward(h)
        if i < last and isinstance(layer, (*RELU_FAMILY, Sigmoid, Tanh)):
            out[i] = to_numpy(h)
    if was_training:
        model.train()
    return out


def saturated(layer, y):
    """Boolean mask of outputs in the flat tails, where the slope is below 10% of its peak.

    Sigmoid: y (1 - y) <= 0.1 * 0.25, i.e. y <= 0.026 or y >= 0.974.
    Tanh: 1 - y^2 <= 0.1, i.e. |y| >= 0.949.
    """
    if isinstance(layer, Sigmoid):
        return y * (1 - y) <= 0.025
    return 1 - y * y <= 0.1


class ActivationMonitor(Callback):
    """Per-unit activity of ReLU-family layers and saturation of Sigmoid/Tanh layers, per epoch.

    A ReLU unit is *active* on a sample when its output is > 0 (for LeakyReLU: when its input
    is > 0), and *dead* when it is active on none of the monitoring samples: its gradient is
    then zero (or alpha) everywhere and it cannot recover.

    Parameters
    ----------
    X : array of shape (n, n_features), optional
        Monitoring data; by default a fixed random sample of the training set.
    max_samples : int, default 512
    seed : int, default 0

    Attributes
    ----------
    epochs : list of int
        Epoch numbers (1-based) of the records; epoch 0 is the state before training.
    active_fraction : list of dict
        Per record, {layer index: array (units,) of the share of samples activating each unit}.
    dead : list of dict
        Per record, {layer index: number of dead units}.
    saturation : list of dict
        Per record, {layer index: share of outputs in the flat tails} (Sigmoid/Tanh layers).
    units : dict
        {layer index: number of units}.
    """

    def __init__(self, X=None, max_samples=512, seed=0):
        self.X = X
        self.max_samples = max_samples
        self.seed = seed

    def on_train_begin(self, state):
        X = state.X if self.X is None else np.asarray(self.X, dtype=state.model.dtype)
        if self.X is None and len(X) > self.max_samples:
            idx = np.sort(np.random.default_rng(self.seed).choice(len(X), self.max_samples, replace=False))
            X = X[idx]
        self._X = X
        self.model = state.model
        self.epochs, self.active_fraction, self.dead, self.saturation, self.units = [], [], [], [], {}
        state.history.monitors["activations"] = self
        self.record(state.model, 0)

    def on_epoch_end(self, state):
        self.record(state.model, state.epoch + 1)

    def record(self, model, epoch):
        """Measure the model now and append one record for ``epoch``."""
        acts = hidden_activations(model, self._X)
        active, dead, sat = {}, {}, {}
        for i, h in acts.items():
            layer = model.layers[i]
            self.units[i] = h.shape[-1]                 # channels last: a conv filter is one unit
            if isinstance(layer, RELU_FAMILY):
                frac = (h > 0).reshape(-1, h.shape[-1]).mean(axis=0)      # over samples and positions
                active[i] = frac
                dead[i] = int((frac == 0).sum())
            else:
                sat[i] = float(saturated(layer, h).mean())
        self.epochs.append(epoch)
        self.active_fraction.append(active)
        self.dead.append(dead)
        self.saturation.append(sat)

    def advice(self, at=-1):
        """Readable findings with their numbers (empty when nothing looks wrong), from record ``at``
        (default the last; the report passes the epoch early stopping restored)."""
        if not self.epochs:
            return []
        out = []
        for i, n_dead in self.dead[at].items():
            if n_dead:
                first = self.dead[0].get(i, 0)
                out.append(f"{_describe(self.model, i)}: {n_dead} of {self.units[i]} units dead "
                           f"({100 * n_dead / self.units[i]:.0f}%) at epoch {self.epochs[at]} ({first} before "
                           "training); they output 0 for every monitored sample, so they get no gradient. "
                           "Try LeakyReLU(0.01), a lower learning rate, or He initialization (init='he_normal').")
        for i, share in self.saturation[at].items():
            if share > 0.25:
                out.append(f"{_describe(self.model, i)}: {100 * share:.0f}% of outputs in the flat tails (slope "
                           "< 10% of its peak), where gradients vanish. Standardize the inputs, use Glorot "
                           "initialization, or switch to ReLU.")
        return out


class GradientMonitor(Callback):
    """Per-layer gradient norm and update/weight ratio per epoch, with vanishing/exploding warnings.

    For each Dense or convolution layer: ``grad_norm`` = ||dL/dW|| of the epoch's last batch, ``weight_norm`` = ||W||
    at the end of the epoch, and ``update_ratio`` = ||W_end - W_begin|| / max(||W_begin||, ||W_init||)
    over the epoch. The initial norm bounds the denominator from below: strong L2 shrinks the weights
    toward zero, and an update measured against a vanishing norm would read as "learning rate too high".

    Parameters
    ----------
    vanish_ratio : float, default 1e-3
        Warn when the first Dense layer's gradient norm is below this times the last one's.
    explode_norm : float, default 1e3
        Warn when a gradient norm exceeds this.
    max_update_ratio : float, default 1.0
        Warn when an epoch changed a weight matrix by more than its own size.
    warn : bool, default True
        Issue the findings as RuntimeWarnings at the end of training.

    Attributes
    ----------
    epochs : list of int
    grad_norm, update_ratio : list of dict
        Per epoch, {layer index: value}.
    """

    def __init__(self, vanish_ratio=1e-3, explode_norm=1e3, max_update_ratio=1.0, warn=True):
        self.vanish_ratio = vanish_ratio
        self.explode_norm = explode_norm
        self.max_update_ratio = max_update_ratio
        self.warn = warn

    def on_train_begin(self, state):
        self.model = state.model
        self.dense = [i for i, layer in enumerate(state.model.layers) if isinstance(layer, _WEIGHTED)]
        self.epochs, self.grad_norm, self.update_ratio, self.weight_norm = [], [], [], []
        self.initial_norm = {i: float(np.linalg.norm(to_numpy(state.model.layers[i].weight.value)))
                             for i in self.dense}
        # shrinking weights mean "too much regularization" only when there is a penalty or dropout
        self.regularized = any(getattr(la, "l2", 0) or getattr(la, "l1", 0) for la in state.model.layers) or any(
            type(la).__name__ == "Dropout" for la in state.model.layers)
        state.history.monitors["gradients"] = self

    def on_epoch_begin(self, state):
        self._start = {i: state.model.layers[i].weight.value.copy() for i in self.dense}

    def on_epoch_end(self, state):
        layers = state.model.layers
        norms, ratios, wn = {}, {}, {}
        for i in self.dense:
            W, g = layers[i].weight.value, layers[i].weight.grad
            norms[i] = float(np.linalg.norm(to_numpy(g))) if g is not None else float("nan")
            scale = max(float(np.linalg.norm(to_numpy(self._start[i]))), self.initial_norm[i], 1e-12)
            ratios[i] = float(np.linalg.norm(to_numpy(W - self._start[i])) / scale)
            wn[i] = float(np.linalg.norm(to_numpy(W)))
        self.weight_norm.append(wn)
        self.epochs.append(state.epoch + 1)
        self.grad_norm.append(norms)
        self.update_ratio.append(ratios)

    def on_train_end(self, state):
        if state.history.diverged and (not self.epochs or self.epochs[-1] != state.epoch + 1):
            # the NaN guard stopped inside an epoch: keep the gradients of the batch that blew up
            self.on_epoch_end(state)
        if self.warn:
            for msg in self.advice():
                warnings.warn(msg, RuntimeWarning, stacklevel=2)

    def advice(self):
        """Vanishing / exploding findings with the numbers behind them."""
        if not self.epochs or not self.dense:
            return []
        out, last = [], self.grad_norm[-1]
        first_i, last_i = self.dense[0], self.dense[-1]
        g_first, g_last = last[first_i], last[last_i]
        if len(self.dense) > 1 and g_last > 0 and g_first < self.vanish_ratio * g_last:
            out.append(f"vanishing gradients: ||dL/dW|| is {g_first:.3g} in layer {first_i} but {g_last:.3g} in "
                       f"layer {last_i} ({g_first / g_last:.2g}x) at epoch {self.epochs[-1]}: the first layers "
                       "barely learn. Use ReLU instead of sigmoid/tanh, He initialization, or fewer layers.")
        for i, g in last.items():
            if not np.isfinite(g) or g > self.explode_norm:
                out.append(f"exploding gradients: ||dL/dW|| = {g:.3g} in layer {i} at epoch {self.epochs[-1]} "
                           f"(above {self.explode_norm:g}). Lower the learning rate or standardize the inputs.")
        for i, r in self.update_ratio[-1].items():
            if r > self.max_update_ratio:
                out.append(f"layer {i}'s weights changed by {r:.3g}x their own norm (the larger of the epoch's "
                           f"start and the initial one) in epoch {self.epochs[-1]}: "
                           "the learning rate is too high for this layer.")
        return out


def per_sample_grad_norms(model, loss, X, Y):
    """Per-sample weight-gradient norms and the mean gradient of every Dense layer with 2-D inputs.

    For a Dense layer y = a W + b the weight gradient of sample i's own loss is the outer product
    g_i = a_i^T d_i (a_i its input row, d_i = dL_i/dy_i), so ||g_i||_F = ||a_i|| ||d_i|| exactly:
    one forward and one backward pass give every sample's norm without forming any g_i. The data
    gradient only (no L1/L2 penalty); evaluation mode (no dropout). ``p.grad`` is left as it was.

    Parameters
    ----------
    model : Sequential
    loss : Loss
        A mean over the rows (so the backward pass carries 1/n, undone here).
    X, Y : arrays of shape (n, n_features), (n, outputs)
        Prepared inputs and targets (one-hot for cross-entropy).

    Returns
    -------
    dict
        ``{layer index: (norms (n,), mean gradient (n_in, n_out))}``.
    """
    params = model.parameters()
    saved = [p.grad for p in params]
    was_training = getattr(model, "training", True)
    model.eval()
    fused = check_output_and_loss(model, loss)
    layers = model.layers[:len(model.layers) - 1] if fused else model.layers
    out = model.forward(X, stop=len(layers))
    loss.forward(out, Y, from_logits=fused)
    g, n, found = loss.backward(), len(X), {}
    for i in range(len(layers) - 1, -1, -1):
        layer = layers[i]
        x = layer._x if isinstance(layer, Dense) else None
        if x is not None and x.ndim == 2:
            norms = np.linalg.norm(to_numpy(x).astype(np.float64), axis=1) * np.linalg.norm(
                to_numpy(g).astype(np.float64), axis=1) * n
        g = layer.backward(g)
        if x is not None and x.ndim == 2:
            # backward's x^T g is the mean data gradient; take the penalty terms it added back out
            mean = to_numpy(layer.weight.grad).astype(np.float64)
            if layer.l2 or layer.l1:
                W = to_numpy(layer.weight.value).astype(np.float64)
                mean -= layer.l2 * W + layer.l1 * np.sign(W)
            found[i] = (norms, mean)
    for p, grad in zip(params, saved, strict=True):
        p.grad = grad
    if was_training:
        model.train()
    return dict(sorted(found.items()))


class GradientNoise(Callback):
    """Gradient signal-to-noise of each Dense layer per epoch, from per-sample gradient norms.

    At the end of each epoch, on a fixed sample of training rows (128 by default): the mean weight gradient g and each
    row's ||g_i|| (:func:`per_sample_grad_norms`), and

        SNR = ||g||^2 / tr(Cov g_i),   tr(Cov g_i) = (sum_i ||g_i||^2 - n ||g||^2) / (n - 1).

    A mini-batch of B rows averages B per-sample gradients, so its own SNR is about B x this: below 1
    the step direction is mostly sampling noise (a larger batch or a lower learning rate helps); far
    above 1 the batch could be smaller. An instrument: the verdict does not read it (on the planted-fault
    benchmark it was not needed), the report prints it. Cost: one forward and backward pass over the
    sample per epoch (measured in benchmarks/monitor_cost.py).

    Parameters
    ----------
    max_samples : int, default 128
        Rows of the fixed sample (the trace of a covariance needs no more to be read to a factor of 2 or
        so, and every row costs a forward and a backward pass per epoch).
    seed : int, default 0

    Attributes
    ----------
    epochs : list of int
    snr : list of dict
        Per epoch, {layer index: per-sample SNR}.
    mean_norm, rms_sample_norm : list of dict
        Per epoch, {layer index: ||g||} and {layer index: sqrt(mean ||g_i||^2)}.
    batch_size : int or None
    """

    def __init__(self, max_samples=128, seed=0):
        self.max_samples = max_samples
        self.seed = seed

    def on_train_begin(self, state):
        n = len(state.X)
        idx = np.sort(np.random.default_rng(self.seed).choice(n, self.max_samples, replace=False)) \
            if n > self.max_samples else np.arange(n)
        self._X, self._Y = state.X[idx], state.Y[idx]
        self.model, self.loss = state.model, state.loss
        self.batch_size = getattr(state.history, "batch_size", None)
        self.epochs, self.snr, self.mean_norm, self.rms_sample_norm = [], [], [], []
        state.history.monitors["gradient_noise"] = self

    def on_epoch_end(self, state):
        snr, mean, rms = {}, {}, {}
        for i, (norms, g) in per_sample_grad_norms(self.model, self.loss, self._X, self._Y).items():
            n, sig = len(norms), float((g * g).sum())
            var = float(((norms ** 2).sum() - n * sig) / max(n - 1, 1))
            # no gradient at all (a saturated loss): no signal and no noise, so no ratio either
            snr[i] = sig / var if var > 0 else (float("inf") if sig > 0 else float("nan"))
            mean[i], rms[i] = float(np.sqrt(sig)), float(np.sqrt((norms ** 2).mean()))
        self.epochs.append(state.epoch + 1)
        self.snr.append(snr)
        self.mean_norm.append(mean)
        self.rms_sample_norm.append(rms)

    def advice(self):
        """The last epoch's figures as one sentence (an instrument: no verdict)."""
        if not self.epochs or not self.snr[-1]:
            return []
        b = self.batch_size
        return [f"gradient signal-to-noise ||mean g||^2 / tr(Cov g_i) at epoch {self.epochs[-1]} (per sample"
                + (f"; a batch of {b} has about {b}x" if b else "") + "): " + ", ".join(
                    f"layer {i}: {v:.3g}" if np.isfinite(v) or v > 0 else f"layer {i}: no gradient"
                    for i, v in self.snr[-1].items())]
