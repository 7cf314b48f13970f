"""Activation and gradient monitors: counts match direct computation; warnings carry numbers."""

import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet.glassbox.monitors import ActivationMonitor, GradientMonitor, hidden_activations, saturated


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    from glassnet.adapters.datasets import load

    ds = load("digits")
    return ds.X / 16.0, ds.y


def test_dead_unit_count_matches_a_direct_count(digits):
    X, y = digits
    model = gn.mlp(64, [32, 32], 10, seed=0)
    model.layers[0].bias.value[:8] = -50.0          # these 8 units can never fire on inputs in [0, 1]
    am = ActivationMonitor(X=X)
    model.fit(X, y, epochs=4, optimizer=gn.SGD(lr=0.1, momentum=0.9), verbose=0, seed=0, callbacks=[am])
    model.eval()
    Xf = X.astype(np.float32)
    h1 = np.maximum(Xf @ model.layers[0].weight.value + model.layers[0].bias.value, 0)
    h2 = np.maximum(h1 @ model.layers[2].weight.value + model.layers[2].bias.value, 0)
    assert am.dead[-1] == {1: int((h1.max(axis=0) <= 0).sum()), 3: int((h2.max(axis=0) <= 0).sum())}
    assert am.dead[-1][1] >= 8 and am.dead[0][1] >= 8
    np.testing.assert_allclose(am.active_fraction[-1][1], (h1 > 0).mean(axis=0))
    assert am.epochs == [0, 1, 2, 3, 4]
    advice = am.advice()
    assert any(f"{am.dead[-1][1]} of 32 units dead" in a and "LeakyReLU" in a and "He" in a for a in advice)


def test_huge_learning_rate_kills_units_and_the_monitor_sees_it(digits):
    X, y = digits
    model = gn.mlp(64, [64], 10, seed=0)
    am = ActivationMonitor(max_samples=400)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        h = model.fit(X, y, epochs=3, optimizer=gn.SGD(lr=3.0), verbose=0, seed=0, callbacks=[am])
    assert h.monitors["activations"] is am
    assert am.dead[-1][1] > am.dead[0][1]
    acts = hidden_activations(model, am._X)
    assert am.dead[-1][1] == int(((acts[1] > 0).sum(axis=0) == 0).sum())


def test_saturation_of_sigmoid_layers():
    rng = np.random.default_rng(0)
    model = gn.Sequential([gn.Dense(5, 6, seed=0), gn.Sigmoid(), gn.Dense(6, 2, seed=1), gn.Softmax()])
    model.layers[0].weight.value *= 200                  # pushes pre-activations into the tails
    X = rng.standard_normal((300, 5)).astype(np.float32)
    am = ActivationMonitor(X=X)
    model.fit(X, (X[:, 0] > 0).astype(int), epochs=1, optimizer=gn.SGD(lr=1e-4), verbose=0, seed=0, callbacks=[am])
    y = gn.Sigmoid().forward(X @ model.layers[0].weight.value + model.layers[0].bias.value)
    assert am.saturation[-1][1] == pytest.approx(float(saturated(gn.Sigmoid(), y).mean()), abs=1e-6)
    assert am.saturation[-1][1] > 0.9
    assert any("flat tails" in a for a in am.advice())
    assert 3 not in am.saturation[-1]                     # the output layer is not monitored


def test_gradient_monitor_records_norms_and_ratios(digits):
    X, y = digits
    model = gn.mlp(64, [32], 10, seed=0)
    gm = GradientMonitor()
    model.fit(X[:500], y[:500], epochs=3, optimizer=gn.SGD(lr=0.1), verbose=0, seed=0, callbacks=[gm])
    w0 = model.layers[0].weight.value
    assert gm.epochs == [1, 2, 3] and set(gm.grad_norm[-1]) == {0, 2}
    assert gm.grad_norm[-1][0] == pytest.approx(float(np.linalg.norm(model.layers[0].weight.grad)), rel=1e-6)
    assert 0 < gm.update_ratio[-1][0] < 1 and np.isfinite(w0).all()
    assert gm.advice() == []


def test_vanishing_gradients_are_reported_with_numbers(digits):
    X, y = digits
    model = gn.mlp(64, [32] * 6, 10, activation="sigmoid", seed=0)
    gm = GradientMonitor(vanish_ratio=0.05)
    with pytest.warns(RuntimeWarning, match="vanishing gradients"):
        model.fit(X[:300], y[:300], epochs=1, optimizer=gn.SGD(lr=0.01), verbose=0, seed=0, callbacks=[gm])
    g = gm.grad_norm[-1]
    assert g[0] < 0.05 * g[12]
    assert f"{g[0]:.3g}" in gm.advice()[0]


def test_exploding_gradients_are_reported():
    gm = GradientMonitor(explode_norm=10.0, warn=False)
    gm.dense, gm.epochs, gm.grad_norm, gm.update_ratio = [0, 2], [1], [{0: 50.0, 2: 1.0}], [{0: 3.0, 2: 0.1}]
    msgs = gm.advice()
    assert any("exploding" in m and "50" in m for m in msgs) and any("3x their own norm" in m for m in msgs)


def _per_sample_brute_force(model, loss, X, Y):
    """Each row alone through forward/backward: its weight gradient per Dense layer (float64)."""
    from glassnet.nn.losses import check_output_and_loss

    fused = check_output_and_loss(model, loss)
    stop = len(model.layers) - 1 if fused else None
    model.eval()
    out = {}
    for r in range(len(X)):
        y = model.forward(X[r:r + 1], stop=stop)
        loss.forward(y, Y[r:r + 1], from_logits=fused)
        model.backward(loss.backward(), stop=stop)
        for i, la in enumerate(model.layers):
            if isinstance(la, gn.Dense):
                out.setdefault(i, []).append(la.weight.grad - la.l2 * la.weight.value)   # the data gradient
    return {i: np.stack(g) for i, g in out.items()}


@pytest.mark.parametrize("loss_name, output, n_out, l2",
                         [("cross_entropy", "softmax", 3, 0.0), ("mse", "linear", 2, 0.1)])
def test_per_sample_gradient_norms_match_a_brute_force_loop(loss_name, output, n_out, l2):
    from glassnet.glassbox.monitors import GradientNoise, per_sample_grad_norms
    from glassnet.nn.losses import get_loss

    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 5))
    Y = np.eye(n_out)[rng.integers(0, n_out, 40)] if output == "softmax" else rng.standard_normal((40, n_out))
    model = gn.mlp(5, [7, 6], n_out, activation="tanh", output=output, l2=l2, dtype=np.float64, seed=1)
    loss = get_loss(loss_name)
    before = [p.grad for p in model.parameters()]
    found = per_sample_grad_norms(model, loss, X, Y)
    assert all(a is b for a, b in zip(before, [p.grad for p in model.parameters()], strict=True))   # untouched
    brute = _per_sample_brute_force(model, loss, X, Y)
    assert sorted(found) == sorted(brute) == [0, 2, 4]
    for i, (norms, mean) in found.items():
        G = brute[i]
        np.testing.assert_allclose(norms, np.linalg.norm(G.reshape(40, -1), axis=1), rtol=1e-10, atol=1e-14)
        np.testing.assert_allclose(mean, G.mean(axis=0), rtol=1e-10, atol=1e-14)
    # the monitor's SNR is ||mean||^2 / trace of the per-sample covariance (n - 1 normalization)
    mon = GradientNoise(max_samples=100)
    h = gn.History(8)
    state = type("S", (), {"X": X, "Y": Y, "model": model, "loss": loss, "history": h, "epoch": 0})()
    mon.on_train_begin(state)
    mon.on_epoch_end(state)
    for i, G in brute.items():
        flat = G.reshape(40, -1)
        expected = (flat.mean(axis=0) ** 2).sum() / flat.var(axis=0, ddof=1).sum()
        assert mon.snr[-1][i] == pytest.approx(expected, rel=1e-9)
    assert h.monitors["gradient_noise"] is mon and "signal-to-noise" in mon.advice()[0]


def test_gradient_noise_monitor_in_fit_and_report_text(digits):
    from glassnet.glassbox.monitors import GradientNoise
    from glassnet.glassbox.report import monitor_findings

    X, y = digits
    h = gn.mlp(64, [32], 10, seed=0).fit(X[:500], y[:500], epochs=3, verbose=0, seed=0, callbacks=[GradientNoise()])
    m = h.monitors["gradient_noise"]
    assert m.epochs == [1, 2, 3] and all(np.isfinite(list(s.values())).all() and min(s.values()) > 0 for s in m.snr)
    assert any("signal-to-noise" in line for line in monitor_findings(h))


def test_report_counts_dead_units_of_the_weights_early_stopping_restored(digits):
    from glassnet.glassbox.report import monitor_findings

    class KillMost(gn.Callback):                    # from epoch 6 on, 30 of the 32 hidden units can never fire
        def on_epoch_begin(self, state):
            if state.epoch >= 5:
                state.model.layers[0].bias.value[:30] = -1e3

    X, y = digits
    model = gn.mlp(64, [32], 10, seed=0)
    h = model.fit(X[:600], y[:600], epochs=12, verbose=0, seed=0, validation_data=(X[600:900], y[600:900]),
                  callbacks=[KillMost(), ActivationMonitor(X=X[:600]),
                             gn.EarlyStopping(patience=3, restore_best=True)])
    m = h.monitors["activations"]
    assert h.restored_best and m.dead[-1][1] >= 30          # the last epoch's record: at least the 30 killed
    acts = hidden_activations(model, X[:600].astype(np.float32))
    returned = int(((acts[1] > 0).mean(axis=0) == 0).sum())  # the model returned, counted directly
    line = next(s for s in monitor_findings(h) if s.startswith("dead ReLU units"))
    assert f"dead ReLU units: {returned} of 32 at epoch {h.best_epoch + 1} (the weights early stopping" in line
    assert returned < 30 and any("units dead" in s for s in monitor_findings(h)) == (returned > 0)
