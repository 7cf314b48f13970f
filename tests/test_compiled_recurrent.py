"""The compiled LSTM step loops (glassnet/adapters/compiled_recurrent.py, numba) equal the readable loops.

The NumPy loops they replace are checked the same way in tests/test_recurrent_fast.py.
"""

import numpy as np
import pytest

import glassnet as g
from glassnet.adapters import compiled_recurrent
from glassnet.nn.layers import recurrent_fast
from glassnet.nn.layers.recurrent import mask_from_lengths
from tests.test_recurrent_fast import assert_agree, both


@pytest.fixture
def on():
    pytest.importorskip("numba")
    compiled_recurrent.enable()
    try:
        yield
    finally:
        compiled_recurrent.disable()


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 2e-5)])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_compiled_lstm_equals_readable(on, dtype, tol, return_sequences, bidirectional, masked):
    fast, slow = both(g.LSTM, dtype, return_sequences=return_sequences, bidirectional=bidirectional)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 9, 3)).astype(dtype)
    mask = mask_from_lengths([9, 3, 1, 6, 8, 2], 9) if masked else None
    calls = []
    loops = recurrent_fast.COMPILED[-1]
    for name in ("lstm_forward_loop", "lstm_backward_loop"):      # count the compiled calls: they really ran
        f = getattr(loops, name)
        setattr(loops, name, lambda *a, _f=f, _n=name: (calls.append(_n), _f(*a))[1])
    y_fast, y_slow = fast.forward(x, mask=mask), slow.forward(x, mask=mask)
    G = rng.normal(size=y_fast.shape).astype(dtype)
    fast.record_state_grads = slow.record_state_grads = True
    dx_fast, dx_slow = fast.backward(G), slow.backward(G)
    assert calls.count("lstm_forward_loop") == calls.count("lstm_backward_loop") == len(fast.directions)
    assert_agree(fast, slow, (y_fast, y_slow), (dx_fast, dx_slow), dtype, tol)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compiled_and_numpy_loops_share_caches(on, dtype):
    """A forward with one loop and the backward with the other give the same gradients (same cache layout)."""
    fast, _ = both(g.LSTM, dtype, return_sequences=True)
    x = np.random.default_rng(2).normal(size=(4, 7, 3)).astype(dtype)
    G = np.random.default_rng(3).normal(size=(4, 7, 5)).astype(dtype)
    grads = []
    for first, second in ((True, True), (True, False), (False, True)):
        (compiled_recurrent.enable if first else compiled_recurrent.disable)()
        y = fast.forward(x)
        (compiled_recurrent.enable if second else compiled_recurrent.disable)()
        grads.append((y, fast.backward(G), [p.grad for p in fast.parameters()]))
    tol = 1e-10 if dtype == "float64" else 2e-5
    for y, dx, gp in grads[1:]:
        np.testing.assert_allclose(y, grads[0][0], rtol=tol, atol=tol)
        np.testing.assert_allclose(dx, grads[0][1], rtol=tol, atol=tol)
        for a, b in zip(gp, grads[0][2]):
            np.testing.assert_allclose(a, b, rtol=tol, atol=tol * 10)


def test_compiled_lstm_trains_like_numpy_loops(on):
    """A few epochs of training with the compiled loops end at the NumPy loops' weights (float64)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 8, 3))
    y = (X[:, :, 0].sum(1) > 0).astype(int)
    weights = []
    for use in (True, False):
        (compiled_recurrent.enable if use else compiled_recurrent.disable)()
        r = np.random.default_rng(1)
        model = g.Sequential([g.LSTM(3, 6, seed=r, dtype="float64"), g.Dense(6, 2, seed=r, dtype="float64"),
                              g.Softmax()])
        model.fit(X, y, optimizer=g.Adam(1e-2), epochs=3, batch_size=8, seed=0, verbose=0)
        weights.append([p.value.copy() for p in model.parameters()])
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-10)


def test_enable_without_numba_says_what_to_install(monkeypatch):
    monkeypatch.setattr(compiled_recurrent, "available", lambda: False)
    with pytest.raises(ModuleNotFoundError, match=r"glassnet\[compiled\]"):
        compiled_recurrent.enable()
    assert recurrent_fast.COMPILED == []


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_compiled_lstm_propagates_nan(on, dtype):
    """The fast-math flags assume no finite values: a NaN input gives NaN outputs and gradients, never a number."""
    lstm = g.LSTM(3, 4, return_sequences=True, seed=0, dtype=dtype)
    x = np.ones((2, 5, 3), dtype)
    x[0, 2, 1] = np.nan
    y = lstm.forward(x)
    assert np.isnan(y[0, 2:]).all() and np.isfinite(y[0, :2]).all() and np.isfinite(y[1]).all()
    dx = lstm.backward(np.ones_like(y))
    assert np.isnan(dx[0, :3]).any() and np.isfinite(dx[1]).all()
    assert all(np.isnan(p.grad).any() for p in lstm.parameters())
