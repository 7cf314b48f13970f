"""The glass box through time: per-step gradient norms, gate saturation, the one-sequence trace."""

import numpy as np
import pytest

import glassnet as g
from glassnet.backend.errors import ValidationError
from glassnet.glassbox.through_time import ThroughTimeMonitor, gate_saturation, time_profile, time_trace
from glassnet.nn.layers.recurrent import mask_from_lengths


def test_state_grads_are_the_gradient_wrt_each_state(rng):
    """dL/dh_t recorded in the backward loop equals the gradient of L with respect to the output h_t
    when the loss only reads the last state (finite differences through a perturbation of h_t)."""
    layer = g.LSTM(2, 3, return_sequences=True, seed=0, dtype="float64")
    x = rng.normal(size=(2, 6, 2))
    G = np.zeros((2, 6, 3))
    G[:, -1] = rng.normal(size=(2, 3))                  # loss = sum(G * h): only the last step counts
    layer.record_state_grads = True
    layer.forward(x)
    layer.backward(G)
    sg = layer.state_grads[0]
    np.testing.assert_allclose(sg[:, -1], G[:, -1])
    # chain rule by hand one step back: the state gradient at t-1 = (state gradient at t) times dh_t/dh_(t-1)
    eps, t = 1e-6, 3
    for b in range(2):
        for j in range(3):
            def loss_with(delta, b=b, j=j):
                # run steps 0..t-1 normally, nudge h_(t-1), continue: equals d L / d h_(t-1)[b, j]
                return float((_continue(layer, x, t, b, j, delta) * G).sum())
            num = (loss_with(eps) - loss_with(-eps)) / (2 * eps)
            assert num == pytest.approx(sg[b, t - 1, j], rel=1e-6, abs=1e-9)


def _continue(layer, x, t, b, j, delta):
    """LSTM output sequence when h_(t-1)[b, j] is nudged by delta (the readable step written again)."""
    from glassnet.nn.layers.activations import sigmoid
    W, U, bias = (p.value for p in layer.directions[0])
    H = layer.hidden
    h, c = np.zeros((2, H)), np.zeros((2, H))
    out = np.zeros((2, x.shape[1], H))
    for s in range(x.shape[1]):
        if s == t:
            h = h.copy()
            h[b, j] += delta
        a = x[:, s] @ W + h @ U + bias
        i, f, gg, o = sigmoid(a[:, :H]), sigmoid(a[:, H:2 * H]), np.tanh(a[:, 2 * H:3 * H]), sigmoid(a[:, 3 * H:])
        c = f * c + i * gg
        h = o * np.tanh(c)
        out[:, s] = h
    return out


def test_simple_rnn_vanishes_where_lstm_keeps_more(rng):
    """On long sequences the SimpleRNN gradient decays back through time; the monitor says so in words."""
    X = rng.normal(size=(64, 120, 1)).astype(np.float32)
    y = (X[:, :5, 0].sum(1) > 0).astype(int)           # depends on the first steps only
    r = np.random.default_rng(0)
    model = g.Sequential([g.SimpleRNN(1, 8, recurrent_init="glorot_uniform", seed=r), g.Dense(8, 2, seed=r),
                          g.Softmax()])
    mon = ThroughTimeMonitor()
    model.fit(X, y, optimizer=g.Adam(1e-3), epochs=1, batch_size=32, seed=0, verbose=0, callbacks=[mon])
    norms = mon.profiles[-1][0]["grad_norm"][0]
    assert norms.shape == (120,) and norms[0] < 1e-3 * norms[-1]
    text = " ".join(mon.advice())
    assert "vanishing gradient through time in layer 0 (SimpleRNN(1 -> 8))" in text and "LSTM or GRU" in text
    assert mon.epochs == [0, 1]


def test_monitor_leaves_the_runs_gradients_and_registers(rng):
    X = rng.normal(size=(40, 10, 2)).astype(np.float32)
    y = rng.integers(0, 2, 40)
    r = np.random.default_rng(1)
    model = g.Sequential([g.GRU(2, 4, seed=r), g.Dense(4, 2, seed=r), g.Softmax()])
    mon = ThroughTimeMonitor(X[:8], y[:8])
    hist = model.fit(X, y, optimizer=g.Adam(1e-2), epochs=2, batch_size=40, seed=0, verbose=0, callbacks=[mon])
    assert hist.monitors["through_time"] is mon
    # a record runs its own backward pass; the run's gradients are put back afterwards
    sentinels = [np.full_like(p.value, 7.0) for p in model.parameters()]
    for p, s in zip(model.parameters(), sentinels):
        p.grad = s
    mon.record(99)
    assert all(p.grad is s for p, s in zip(model.parameters(), sentinels))
    assert mon.epochs == [0, 1, 2, 99] and not model.layers[0].record_state_grads
    assert set(mon.profiles[-1][0]["saturation"][0]) == {"r", "z", "n"}


def test_gate_saturation_counts_real_steps_only():
    a = np.full((2, 4, 3), 0.5)
    a[0, 2:] = 0.999                                   # saturated, but on padding
    a[1, 0] = 0.001                                    # saturated, real
    m = mask_from_lengths([2, 4], 4)[:, :, None]
    share = gate_saturation({"f": a, "g": np.zeros_like(a), "mask": m})
    assert share["f"] == pytest.approx(3 / 18) and share["g"] == 0.0


def test_time_trace_one_sequence(rng):
    r = np.random.default_rng(2)
    model = g.Sequential([g.LSTM(3, 5, return_sequences=True, mask_value=0.0, seed=r),
                          g.GRU(5, 4, mask_value=0.0, seed=r), g.Dense(4, 3, seed=r), g.Softmax()])
    x = rng.normal(size=(7, 3))
    x[5:] = 0.0                                        # a 5-step sequence padded to 7
    tr = time_trace(model, x, 2)
    assert [r["real"] for r in tr.rows] == [True] * 5 + [False] * 2
    assert all(r["grad_norm"] == 0 and r["grad_x_norm"] == 0 for r in tr.rows[5:])
    assert all(r["grad_norm"] > 0 for r in tr.rows[:5]) and set(tr.rows[0]["gates"]) == {"i", "f", "g", "o"}
    text = str(tr)
    assert "layer 0 (LSTM(3 -> 5" in text and text.count("\n") == 3 + 7
    second = time_trace(model, x, 2, layer=1)
    assert "GRU(5 -> 4" in second.layer
    with pytest.raises(ValidationError, match="recurrent layer"):
        time_trace(model, x, 2, layer=2)
    with pytest.raises(ValidationError, match="needs a model with a recurrent layer"):
        time_profile(g.mlp(3, [4], 2, seed=0), rng.normal(size=(2, 3)), [0, 1])


def test_report_of_a_sequence_model(tmp_path):
    pytest.importorskip("matplotlib")
    from glassnet.adapters.timeseries import load_ucr, standardize
    from glassnet.glassbox.report import write_report
    tr, te = load_ucr("ItalyPowerDemand"), load_ucr("ItalyPowerDemand", kind="test")
    Xtr, Xte = standardize(tr, te)
    r = np.random.default_rng(0)
    model = g.Sequential([g.LSTM(1, 8, seed=r), g.Dense(8, 2, seed=r), g.Softmax()])
    hist = model.fit(Xtr, tr.y, optimizer=g.Adam(1e-2), epochs=3, batch_size=16, seed=0, verbose=0,
                     callbacks=[ThroughTimeMonitor()])
    text = open(write_report(tmp_path / "r.html", model, hist, Xte[:50], te.y[:50]), encoding="utf-8").read()
    assert "backprop through time in layer 0 (LSTM(1 -&gt; 8))" in text and text.count("<img") >= 3
