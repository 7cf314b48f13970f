"""The glass box through time: how the gradient travels back along a sequence, and how gates saturate.

Backpropagation through time multiplies the gradient by one Jacobian dh_t/dh_(t-1) per step, so
the gradient that reaches step t from a loss on the last state is a product of T - 1 - t of them.
This module measures it where the recurrent layers compute it (they keep dL/dh_t of every step
when ``layer.record_state_grads`` is set):

* :func:`time_profile` — ||dL/dh_t|| at every step (mean over a batch, padding excluded), per
  recurrent layer and direction, and the share of saturated gate values (sigmoid < 0.026 or
  > 0.974, tanh |.| > 0.949: where the slope is below 10% of its peak);
* :class:`ThroughTimeMonitor` — a callback recording that profile on a fixed sample at the start
  and after every epoch, with findings in words (:meth:`~ThroughTimeMonitor.advice`) and a plot;
* :func:`time_trace` — the walk back through the steps of *one* sequence, step by step.

A gradient that shrinks by a factor rho per step back reaches step 0 scaled by rho^(T-1):
"vanishing" here means the first real step receives less than ``vanish_ratio`` of what the last
one receives; "exploding" more than ``explode_ratio`` times.
"""

import warnings
from dataclasses import dataclass, field

import numpy as np

from glassnet.backend.arrays import to_numpy
from glassnet.backend.errors import ValidationError
from glassnet.glassbox.trace import walk
from glassnet.nn.layers.recurrent import Recurrent
from glassnet.nn.losses import default_loss
from glassnet.train.callbacks import Callback
from glassnet.train.inference import prepare_data

__all__ = ["ThroughTimeDisplay", "ThroughTimeMonitor", "TimeTrace", "gate_saturation", "time_profile", "time_trace"]

SIGMOID_GATES = {"i", "f", "o", "r", "z"}


def gate_saturation(gates):
    """{gate: share of saturated values on real steps} from one direction of ``layer.gate_values()``."""
    m = gates["mask"]
    out = {}
    for name, a in gates.items():
        if name == "mask":
            continue
        a = to_numpy(a)
        sat = (a <= 0.026) | (a >= 0.974) if name in SIGMOID_GATES else np.abs(a) >= 0.949
        w = np.ones(a.shape[:2] + (1,)) if m is None else to_numpy(m)
        out[name] = float((sat * w).sum() / max(float(w.sum()) * a.shape[2], 1.0))
    return out


def _recurrent_layers(model):
    layers = [(i, layer) for i, layer in enumerate(model.layers) if isinstance(layer, Recurrent)]
    if not layers:
        raise ValidationError(f"The through-time glass box needs a model with a recurrent layer (SimpleRNN, LSTM, "
                              f"GRU); this one has {[type(layer).__name__ for layer in model.layers]}.")
    return layers


def _walk(model, X, y, loss):
    """Forward and backward over (X, y) in evaluation mode, recurrent layers recording dL/dh_t."""
    loss = default_loss(model) if loss is None else loss
    X, Y, _ = prepare_data(model, loss, X, y, "the through-time glass box")
    rec = _recurrent_layers(model)
    saved = [(p, p.grad) for p in model.parameters()]      # the run's own gradients are left as they were
    box = {}

    def grad_fn(out):
        box["loss"] = loss.forward(out, Y)
        return loss.backward()

    try:
        for _, layer in rec:
            layer.record_state_grads = True
        values, grads = walk(model, X, grad_fn)
    finally:
        for _, layer in rec:
            layer.record_state_grads = False
        for p, gr in saved:
            p.grad = gr
    return rec, values, grads, box["loss"]


def time_profile(model, X, y, loss=None):
    """||dL/dh_t|| per step and gate saturation of every recurrent layer of ``model`` on (X, y).

    Returns
    -------
    dict
        {layer index: {'grad_norm': [array (time,) per direction], 'saturation': [{gate: share} per
        direction], 'steps': int}}. ``grad_norm[d][t]`` is the mean over the sequences that are real
        at step t of ||dL/dh_t|| (NaN where every sequence is padding).
    """
    rec, _, _, _ = _walk(model, X, y, loss)
    out = {}
    for i, layer in rec:
        norms, sats = [], []
        for sg, gates in zip(layer.state_grads, layer.gate_values()):
            n = np.linalg.norm(to_numpy(sg), axis=2)                      # (B, T)
            m = np.ones_like(n) if gates["mask"] is None else to_numpy(gates["mask"])[:, :, 0]
            with np.errstate(invalid="ignore"):
                norms.append((n * m).sum(0) / np.where(m.sum(0) > 0, m.sum(0), np.nan))
            sats.append(gate_saturation(gates))
        out[i] = {"grad_norm": norms, "saturation": sats, "steps": int(norms[0].size)}
    return out


def _span(norms, reverse):
    """(gradient at the first real step back / at the last one, steps apart): the decay along the walk."""
    ok = np.flatnonzero(np.isfinite(norms) & (norms > 0))
    if ok.size < 2:
        return None, 0
    start, end = (ok[0], ok[-1]) if reverse else (ok[-1], ok[0])      # backward walk: from start to end
    return float(norms[end] / norms[start]), int(abs(end - start))


class ThroughTimeMonitor(Callback):
    """Per-step gradient norms through time and LSTM/GRU gate saturation, recorded every epoch.

    Parameters
    ----------
    X, y : arrays, optional
        Monitoring data; by default a fixed random sample of the training set (``max_samples``).
    max_samples : int, default 256
    vanish_ratio, explode_ratio : float, default 1e-3 and 1e3
        Thresholds on (gradient at the earliest step) / (gradient where the walk back starts).
    saturation : float, default 0.5
        Report a gate when more than this share of its values is saturated.
    warn : bool, default False
        Issue the findings as RuntimeWarnings at the end of training.
    seed : int, default 0

    Attributes
    ----------
    epochs : list of int
        0 is the state before training.
    profiles : list of dict
        One :func:`time_profile` per record.
    """

    def __init__(self, X=None, y=None, max_samples=256, vanish_ratio=1e-3, explode_ratio=1e3, saturation=0.5,
                 warn=False, seed=0):
        if (X is None) != (y is None):
            raise ValidationError("ThroughTimeMonitor takes both X and y (a monitoring sample), or neither.")
        self.X, self.y, self.max_samples, self.seed = X, y, max_samples, seed
        self.vanish_ratio, self.explode_ratio = vanish_ratio, explode_ratio
        self.saturation, self.warn = saturation, warn

    def on_train_begin(self, state):
        if self.X is None:
            n = len(state.X)
            idx = np.arange(n) if n <= self.max_samples else np.sort(
                np.random.default_rng(self.seed).choice(n, self.max_samples, replace=False))
            self._X, self._Y = state.X[idx], state.Y[idx]
        else:
            self._X, self._Y = self.X, self.y
        self.model, self.loss = state.model, state.loss
        self.epochs, self.profiles = [], []
        state.history.monitors["through_time"] = self
        self.record(0)

    def record(self, epoch):
        was_training = getattr(self.model, "training", True)
        self.profiles.append(time_profile(self.model, self._X, self._Y, self.loss))
        self.epochs.append(epoch)
        if was_training:
            self.model.train()

    def on_epoch_end(self, state):
        self.record(state.epoch + 1)

    def on_train_end(self, state):
        if self.warn:
            for msg in self.advice():
                warnings.warn(msg, RuntimeWarning, stacklevel=2)

    def advice(self):
        """Findings with their numbers: vanishing/exploding through time, saturated gates."""
        if not self.profiles:
            return []
        out, last, epoch = [], self.profiles[-1], self.epochs[-1]
        for i, prof in last.items():
            layer = self.model.layers[i]
            for d, norms in enumerate(prof["grad_norm"]):
                ratio, steps = _span(norms, d == 1)
                if ratio is None or steps == 0:
                    continue
                where = f"layer {i} ({layer!r}{', backward direction' if d else ''})"
                per_step = ratio ** (1.0 / steps)
                if ratio < self.vanish_ratio:
                    fix = ("switch SimpleRNN to LSTM or GRU, " if type(layer).__name__ == "SimpleRNN" else "")
                    out.append(f"vanishing gradient through time in {where} at epoch {epoch}: ||dL/dh|| at the "
                               f"earliest step is {ratio:.2g}x that where the walk back starts ({steps} steps, "
                               f"x{per_step:.3f} per step), so the first steps barely shape the result. Try: "
                               f"{fix}shorter sequences (windows of several steps per input), or "
                               "recurrent_init='orthogonal'.")
                elif ratio > self.explode_ratio:
                    out.append(f"exploding gradient through time in {where} at epoch {epoch}: ||dL/dh|| grows "
                               f"{ratio:.2g}x over {steps} steps back (x{per_step:.3f} per step). Clip it: "
                               "optimizer=Adam(..., clip_norm=1.0), or lower the learning rate.")
            for d, sat in enumerate(prof["saturation"]):
                for gate, share in sat.items():
                    if share > self.saturation:
                        out.append(f"layer {i} ({layer!r}): {100 * share:.0f}% of gate '{gate}' values are "
                                   f"saturated{' (backward direction)' if d else ''} at epoch {epoch}; there the "
                                   "gate's slope is < 10% of its peak and its gradient vanishes."
                                   + (" For the forget gate f near 1 this is memory, not a fault." if gate == "f"
                                      else " Standardize the inputs or lower the learning rate."))
        return out


@dataclass
class TimeTrace:
    """Backpropagation through time for one sequence: one row per step of one recurrent layer.

    Attributes
    ----------
    layer : str
    rows : list of dict
        'step', 'real' (not padding), 'x_norm' ||x_t||, 'h_norm' ||h_t|| (the layer's output at t),
        'grad_norm' ||dL/dh_t||, 'grad_x_norm' ||dL/dx_t||, gate means ({gate: mean over units}).
    loss : float
    """

    layer: str
    rows: list = field(default_factory=list)
    loss: float = 0.0

    def __str__(self):
        gates = sorted({k for r in self.rows for k in r["gates"]})
        head = (f"{'t':>4} {'real':>4} {'||x_t||':>9} {'||h_t||':>9} {'||dL/dh_t||':>12} {'||dL/dx_t||':>12}  "
                + " ".join(f"{g:>6}" for g in gates))
        lines = [f"backprop through time in {self.layer}, one sequence, loss {self.loss:.6g}",
                 "walk back: dL/dh_(t-1) = dL/dh_t . dh_t/dh_(t-1) (+ the output's own gradient at t-1)",
                 head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r['step']:>4} {'yes' if r['real'] else 'pad':>4} {r['x_norm']:>9.3g} {r['h_norm']:>9.3g} "
                         f"{r['grad_norm']:>12.3g} {r['grad_x_norm']:>12.3g}  "
                         + " ".join(f"{r['gates'].get(g, float('nan')):>6.3f}" for g in gates))
        return "\n".join(lines)


def time_trace(model, x, y, layer=None, loss=None):
    """Trace one sequence back through the time steps of one recurrent layer.

    Parameters
    ----------
    model : Sequential
    x : array of shape (time, features) or (1, time, features)
    y : its target (a class index for a classifier)
    layer : int, optional
        Index of the recurrent layer (the first one by default).

    Returns
    -------
    TimeTrace
        Print it for the table. Forward direction of a bidirectional layer (the one whose
        gradient walks from the last step back to the first).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    if x.ndim != 3 or len(x) != 1:
        raise ValidationError(f"time_trace takes one sequence, shape (time, features); got shape {x.shape}.")
    rec = dict(_recurrent_layers(model))
    index = min(rec) if layer is None else layer
    if index not in rec:
        raise ValidationError(f"time_trace(layer={layer}) must point at a recurrent layer; they are at {sorted(rec)}.")
    target = np.asarray(y).reshape(1, -1) if np.ndim(y) else np.array([y])
    _, values, grads, value = _walk(model, x.astype(model.dtype), target, loss)
    lay = rec[index]
    gates = lay.gate_values()[0]
    m = gates["mask"]
    xin, gx, sg = to_numpy(values[index])[0], to_numpy(grads[index])[0], to_numpy(lay.state_grads[0])[0]
    out = to_numpy(values[index + 1])[0]
    H = lay.hidden
    trace = TimeTrace(layer=f"layer {index} ({lay!r})", loss=float(value))
    for t in range(xin.shape[0]):
        h = out[t, :H] if lay.return_sequences else np.full(H, np.nan)
        trace.rows.append({
            "step": t, "real": bool(m is None or to_numpy(m)[0, t, 0] > 0),
            "x_norm": float(np.linalg.norm(xin[t])), "h_norm": float(np.linalg.norm(h)),
            "grad_norm": float(np.linalg.norm(sg[t])), "grad_x_norm": float(np.linalg.norm(gx[t])),
            "gates": {k: float(to_numpy(v)[0, t].mean()) for k, v in gates.items() if k != "mask"},
        })
    return trace


class ThroughTimeDisplay:
    """||dL/dh_t|| against t for every recurrent layer (log scale), first and last record of a monitor."""

    def __init__(self, epochs, profiles):
        self.epochs, self.profiles = epochs, profiles

    @classmethod
    def from_monitor(cls, monitor, ax=None):
        return cls(monitor.epochs, monitor.profiles).plot(ax)

    def plot(self, ax=None):
        if ax is None:
            try:
                import matplotlib.pyplot as plt
            except ImportError as e:
                raise ModuleNotFoundError("glassnet's plots need matplotlib: pip install 'glassnet[report]'") from e
            ax = plt.subplots(figsize=(6, 4))[1]
        picks = sorted({0, len(self.profiles) - 1})
        for k in picks:
            for i, prof in self.profiles[k].items():
                for d, norms in enumerate(prof["grad_norm"]):
                    ax.plot(np.arange(norms.size), norms, "-" if k else ":",
                            label=f"layer {i}{' rev' if d else ''}, epoch {self.epochs[k]}")
        ax.set_yscale("log")
        ax.set_xlabel("time step t")
        ax.set_ylabel("mean ||dL/dh_t||")
        ax.set_title("gradient through time (dotted: before training)")
        ax.legend(fontsize=7)
        self.ax_, self.figure_ = ax, ax.figure
        return self
