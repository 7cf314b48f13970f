"""Which inputs (and which hidden units) made the model say what it said.

All methods differentiate one output f_c(x) (class ``target``'s probability by default) with
respect to the input by one forward and one backward pass, seeding the backward with a
one-hot gradient on output c. The input is cast to float64 so the weights (float32) are used
exactly and the sums below are accurate.

* gradient x input: a_i = x_i * df_c/dx_i.
* integrated gradients (Sundararajan et al., 2017):
  a_i = (x_i - x'_i) * integral_0^1 df_c/dx_i(x' + t (x - x')) dt, approximated with the
  trapezoid rule. Completeness: sum_i a_i = f_c(x) - f_c(x'); the relative error of that sum
  is reported and the number of steps doubled until it is below ``tol``.
* neuron trace: for each hidden layer, h_j * df_c/dh_j, the share of the output each unit
  carried (gradient x activation at that layer).
* permutation importance: drop in score when one feature column is shuffled (scikit-learn).
"""

from dataclasses import dataclass

import numpy as np

from glassnet.backend.errors import ValidationError
from glassnet.glassbox.trace import walk
from glassnet.nn.layers import Sigmoid, Softmax, Tanh
from glassnet.nn.layers.activations import RELU_FAMILY
from glassnet.nn.losses import default_loss
from glassnet.train.metrics import accuracy

__all__ = ["Attribution", "gradient_x_input", "integrated_gradients", "neuron_trace", "NeuronContribution",
           "output_gradient", "permutation_importance"]


def _prepare(model, X):
    X = np.asarray(X, dtype=np.float64)
    X = X.reshape(1, -1) if X.ndim == 1 else X
    if X.ndim != 2 or X.shape[1] != model.n_features:
        raise ValidationError(f"attributions need rows of {model.n_features} features; got shape {X.shape}. "
                              "Pass one sample (n_features,) or a batch (n, n_features).")
    return X


def _targets(model, X, target):
    """Class per row: the given one, or the predicted class."""
    if target is None:
        out = walk(model, X, lambda o: np.zeros_like(o))[0][-1]
        return out.argmax(axis=1) if out.shape[1] > 1 else np.zeros(len(X), dtype=int)
    return np.broadcast_to(np.asarray(target, dtype=int), (len(X),))


def output_gradient(model, X, target):
    """f_c(X) and df_c/dX for each row (output c = ``target[row]``).

    Returns
    -------
    f : array of shape (n,)
    grad : array of shape (n, n_features)
    """
    rows = np.arange(len(X))
    seen = {}

    def seed(out):
        seen["f"] = out[rows, target]
        g = np.zeros_like(out)
        g[rows, target] = 1.0
        return g

    values, grads = walk(model, X, seed)
    return seen["f"], grads[0]


def gradient_x_input(model, X, target=None):
    """Saliency a = x * df_c/dx for each row; array of shape (n, n_features)."""
    X = _prepare(model, X)
    _, g = output_gradient(model, X, _targets(model, X, target))
    return X * g


@dataclass
class Attribution:
    """Integrated-gradients result for one sample.

    Attributes
    ----------
    values : array of shape (n_features,)
    target : int
    f_x, f_baseline : float
        The explained output at the input and at the baseline.
    completeness_error : float
        |sum(values) - (f_x - f_baseline)| / |f_x - f_baseline|.
    steps : int
    """

    values: np.ndarray
    target: int
    f_x: float
    f_baseline: float
    completeness_error: float
    steps: int

    def __str__(self):
        return (f"integrated gradients for output {self.target}: sum of attributions "
                f"{self.values.sum():.6g} vs f(x) - f(baseline) = {self.f_x:.6g} - {self.f_baseline:.6g} "
                f"= {self.f_x - self.f_baseline:.6g} (completeness error {100 * self.completeness_error:.3g}%, "
                f"{self.steps} steps)")


def integrated_gradients(model, x, target=None, baseline=None, steps=64, tol=0.01, max_steps=2048):
    """Integrated gradients of output ``target`` for one sample, with the completeness check.

    Parameters
    ----------
    model : Sequential
    x : array of shape (n_features,)
    target : int, optional
        Output to explain; the predicted class by default.
    baseline : array of shape (n_features,), optional
        The "absence of signal" x'; zeros by default (a black image, all features at 0).
    steps : int
        Initial number of trapezoid intervals; doubled until the completeness error is below
        ``tol`` or ``max_steps`` is reached.

    Returns
    -------
    Attribution
    """
    x = _prepare(model, x)
    if len(x) != 1:
        raise ValidationError(f"integrated_gradients explains one sample; got {len(x)} rows. Loop over them.")
    base = np.zeros_like(x) if baseline is None else _prepare(model, baseline)
    c = int(_targets(model, x, target)[0])
    while True:
        t = np.linspace(0.0, 1.0, steps + 1)[:, None]
        path = base + t * (x - base)                               # (steps + 1, n_features)
        f, g = output_gradient(model, path, np.full(steps + 1, c))
        mean_grad = (g[:-1] + g[1:]).sum(axis=0) / (2 * steps)     # trapezoid rule for the integral
        values = ((x - base)[0] * mean_grad)
        delta = f[-1] - f[0]
        err = abs(values.sum() - delta) / max(abs(delta), 1e-12)
        if err <= tol or steps >= max_steps:
            return Attribution(values, c, float(f[-1]), float(f[0]), float(err), steps)
        steps *= 2


@dataclass
class NeuronContribution:
    layer: int
    unit: int
    activation: float
    contribution: float


def neuron_trace(model, x, target=None, top=5, logits=True):
    """The hidden units that contributed most to one prediction.

    For every hidden activation layer (ReLU family, Sigmoid, Tanh; not the output layer), the
    contribution of unit j is h_j * dz_c/dh_j (gradient x activation), where h is that layer's
    output for sample ``x`` and z_c the explained output. For the last hidden layer this is
    exactly h_j W_jc, the term unit j adds to the logit.

    Parameters
    ----------
    logits : bool, default True
        Explain the logit z_c (before a final Softmax/Sigmoid), which does not saturate when the
        model is confident; False explains the probability.

    Returns
    -------
    list of NeuronContribution
        The ``top`` units by |contribution| for each hidden layer, layers in order.
    """
    x = _prepare(model, x)
    c = int(_targets(model, x, target)[0])
    squash = isinstance(model.layers[-1], (Softmax, Sigmoid))
    stop = -1 if logits and squash else None
    values, grads = walk(model, x, lambda o: np.eye(o.shape[1])[[c]], stop=stop)
    out = []
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers[:stop]):
        if i == last or not isinstance(layer, (*RELU_FAMILY, Sigmoid, Tanh)):
            continue
        h, g = values[i + 1][0], grads[i + 1][0]
        contrib = h * g
        for j in np.argsort(-np.abs(contrib))[:top]:
            out.append(NeuronContribution(i, int(j), float(h[j]), float(contrib[j])))
    return out


def permutation_importance(model, X, y, n_repeats=5, seed=0, scoring=None):
    """Mean drop in score when each feature is shuffled, via :func:`sklearn.inspection.permutation_importance`.

    Parameters
    ----------
    scoring : callable(model, X, y) -> float, optional
        Higher is better; accuracy for a classifier, -MSE otherwise.

    Returns
    -------
    sklearn.utils.Bunch
        ``importances_mean``, ``importances_std``, ``importances`` of shape (n_features, n_repeats).
    """
    try:
        from sklearn.inspection import permutation_importance as sk_pi
    except ImportError as e:
        raise ModuleNotFoundError("permutation_importance needs scikit-learn: pip install 'glassnet[sklearn]'") from e

    classifier = default_loss(model).output_layer is not None

    def default_scoring(est, X_, y_):
        pred = est.predict(X_)
        if classifier:
            return accuracy(pred, np.asarray(y_))
        return -float(((pred - np.asarray(y_).reshape(pred.shape)) ** 2).mean())

    return sk_pi(_Fitted(model), np.asarray(X, dtype=np.float32), np.asarray(y), scoring=scoring or default_scoring,
                 n_repeats=n_repeats, random_state=seed)


class _Fitted:
    """The minimal estimator face scikit-learn's permutation_importance needs: fit and predict."""

    def __init__(self, model):
        self.model = model

    def fit(self, X, y):
        return self

    def predict(self, X):
        return self.model.predict(X)
