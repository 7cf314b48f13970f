"""Gradient checking against central differences, in float64.

Public so that users writing their own layers check them the same way the tests do.
The objective checked for a layer is L = sum(forward(x) * G) + penalty() for a fixed
random G, whose exact gradient is what ``backward(G)`` must return.
"""

import numpy as np

from glassnet.backend.errors import GlassnetError
from glassnet.nn.losses import check_output_and_loss

__all__ = ["check_layer", "check_loss", "check_model", "GradientCheckError", "numeric_gradient", "rel_error"]


class GradientCheckError(GlassnetError, AssertionError):
    """An analytic gradient disagrees with the finite-difference estimate."""


def numeric_gradient(f, x, eps=1e-6):
    """Central differences: df/dx_i ~ (f(x + eps e_i) - f(x - eps e_i)) / (2 eps), x changed in place."""
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


def rel_error(a, b):
    """max |a - b| / max(1, |a|, |b|), elementwise, then the max."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float((np.abs(a - b) / np.maximum(1.0, np.maximum(np.abs(a), np.abs(b)))).max()) if a.size else 0.0


def _report(results, tol, what):
    bad = {k: v for k, v in results.items() if not v <= tol}
    if bad:
        raise GradientCheckError(f"Gradient check of {what} failed (tolerance {tol:g}): " +
                                 ", ".join(f"{k}: max rel error {v:.3g}" for k, v in bad.items()))
    return results


def check_layer(layer, x, *, eps=1e-6, tol=1e-6, seed=0):
    """Check dL/dx and every parameter gradient of ``layer`` at float64 input ``x``.

    Returns
    -------
    dict
        {'input': err, 'weight': err, ...}: max relative error per gradient.
    Raises
    ------
    GradientCheckError
        When any error exceeds ``tol``.
    """
    x = np.array(x, dtype=np.float64)
    G = np.random.default_rng(seed).standard_normal(layer.forward(x).shape)

    def objective():
        return float((layer.forward(x) * G).sum()) + layer.penalty()

    layer.forward(x)
    grad_x = layer.backward(G)
    analytic = {"input": grad_x, **{p.name: p.grad.copy() for p in layer.parameters()}}
    results = {"input": rel_error(analytic["input"], numeric_gradient(objective, x, eps))}
    for p in layer.parameters():
        results[p.name] = rel_error(analytic[p.name], numeric_gradient(objective, p.value, eps))
    return _report(results, tol, repr(layer))


def check_loss(loss, pred, target, *, from_logits=False, eps=1e-6, tol=1e-6):
    """Check ``loss.backward()`` against central differences of ``loss.forward``."""
    pred = np.array(pred, dtype=np.float64)
    loss.forward(pred, target, from_logits=from_logits)
    analytic = loss.backward().copy()
    numeric = numeric_gradient(lambda: loss.forward(pred, target, from_logits=from_logits), pred, eps)
    return _report({"pred": rel_error(analytic, numeric)}, tol, repr(loss))


def check_model(model, loss, X, y, *, fused=None, eps=1e-6, tol=1e-6):
    """Check every parameter gradient of ``model`` under ``loss`` (penalties included) on (X, y).

    ``fused=None`` fuses the output layer with the loss exactly as ``fit`` does.
    Dropout layers must have a ``fixed_mask`` (or be in eval mode) for the check to be meaningful.
    """

    X = np.array(X, dtype=np.float64)
    if fused is None:
        fused = check_output_and_loss(model, loss)
    stop = len(model.layers) - 1 if fused else None

    def objective():
        return loss.forward(model.forward(X, stop=stop), y, from_logits=fused) + model.penalty()

    objective()
    model.backward(loss.backward(), stop=stop)
    results = {}
    for name, p in model.named_parameters():
        analytic = p.grad.copy()
        results[name] = rel_error(analytic, numeric_gradient(objective, p.value, eps))
    return _report(results, tol, "model")
