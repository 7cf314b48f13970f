"""Attributions: integrated gradients' completeness on a trained digits model, saliency, neuron trace."""

import numpy as np
import pytest

import glassnet as gn
from glassnet.backend.errors import ValidationError
from glassnet.glassbox.attributions import (
    gradient_x_input,
    integrated_gradients,
    neuron_trace,
    output_gradient,
    permutation_importance,
)
from glassnet.glassbox.trace import backprop_trace


@pytest.fixture(scope="module")
def trained():
    pytest.importorskip("sklearn")
    from glassnet.adapters.datasets import load

    ds = load("digits")
    X, y = ds.X / 16.0, ds.y
    model = gn.mlp(64, [32], 10, seed=0)
    model.fit(X, y, epochs=10, optimizer=gn.SGD(lr=0.1, momentum=0.9), verbose=0, seed=0)
    return model, X, y


def test_integrated_gradients_completeness_within_one_percent(trained):
    model, X, _ = trained
    for i in range(10):
        a = integrated_gradients(model, X[i])
        p = model.predict(X[i:i + 1])[0]
        assert a.target == int(p.argmax()) and a.f_x == pytest.approx(float(p[a.target]), rel=1e-5)
        delta = a.f_x - a.f_baseline
        assert abs(a.values.sum() - delta) <= 0.01 * abs(delta)
        assert a.completeness_error == pytest.approx(abs(a.values.sum() - delta) / abs(delta))
        assert "completeness error" in str(a)


def test_integrated_gradients_exact_for_a_linear_model():
    model = gn.Sequential([gn.Dense(3, 1, seed=0), gn.Linear()])
    x = np.array([1.0, -2.0, 0.5])
    a = integrated_gradients(model, x, target=0, steps=2)
    W = model.layers[0].weight.value[:, 0].astype(np.float64)
    np.testing.assert_allclose(a.values, x * W, rtol=1e-6)      # IG of w.x + b from 0 is x * w
    assert a.completeness_error < 1e-6


def test_gradients_match_finite_differences(trained):
    model, X, _ = trained
    x = X[3:4].astype(np.float64)
    f, g = output_gradient(model, x, np.array([5]))
    eps = 1e-6
    for j in (10, 20, 35):
        xp, xm = x.copy(), x.copy()
        xp[0, j] += eps
        xm[0, j] -= eps
        num = (output_gradient(model, xp, np.array([5]))[0] - output_gradient(model, xm, np.array([5]))[0]) / (2 * eps)
        assert g[0, j] == pytest.approx(float(num[0]), rel=1e-4, abs=1e-9)
    np.testing.assert_allclose(gradient_x_input(model, x, target=5), x * g)


def test_neuron_trace_last_hidden_layer_is_h_times_w(trained):
    model, X, _ = trained
    c = int(model.predict(X[:1]).argmax())
    top = neuron_trace(model, X[0], top=3)
    assert [n.layer for n in top] == [1, 1, 1]
    model.eval()
    h = np.maximum(X[:1].astype(np.float64) @ model.layers[0].weight.value + model.layers[0].bias.value, 0)[0]
    contrib = h * model.layers[2].weight.value[:, c]
    assert [n.unit for n in top] == list(np.argsort(-np.abs(contrib))[:3])
    assert top[0].contribution == pytest.approx(float(contrib[top[0].unit]), rel=1e-6)


def test_backprop_trace_shows_the_chain_rule(trained):
    model, X, y = trained
    t = backprop_trace(model, X[0], int(y[0]))
    assert len(t.rows) == len(model.layers)
    p = t.rows[-1]["output"]
    np.testing.assert_allclose(t.rows[-1]["grad_input"], p - np.eye(10)[y[0]], atol=1e-6)  # softmax + CE: p - y
    np.testing.assert_allclose(t.rows[0]["grad_output"], t.rows[1]["grad_input"])          # the chain links
    text = str(t)
    assert "chain rule" in text and "g * 1[x > 0]" in text and "||dL/dweight||" in text
    with pytest.raises(ValidationError, match="features"):
        backprop_trace(model, X[0][:5], 0)


def test_permutation_importance_through_sklearn(trained):
    pytest.importorskip("sklearn")
    model, X, y = trained
    r = permutation_importance(model, X[:300], y[:300], n_repeats=2, seed=0)
    assert r.importances.shape == (64, 2)
    assert r.importances_mean[0] == 0.0                 # pixel 0 is always blank in digits
    assert r.importances_mean.max() > 0.01


def test_bad_input_shape_is_explained(trained):
    model, X, _ = trained
    with pytest.raises(ValidationError, match="64 features"):
        integrated_gradients(model, X[0][:10])
    with pytest.raises(ValidationError, match="one sample"):
        integrated_gradients(model, X[:2])
