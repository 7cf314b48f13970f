"""The LSTM/GRU fast path (glassnet.nn.layers.recurrent_fast) equals the readable loops, float64 and float32."""

import numpy as np
import pytest

import glassnet as g
from glassnet.nn.layers import recurrent_fast
from glassnet.nn.layers.recurrent import mask_from_lengths


def both(cls, dtype, **kw):
    rng = np.random.default_rng(0)
    fast = cls(3, 5, seed=1, dtype=dtype, **kw)
    for p in fast.parameters():
        p.value += (0.3 * rng.standard_normal(p.value.shape)).astype(dtype)
    slow = cls(3, 5, seed=1, dtype=dtype, **kw)
    for p, q in zip(slow.parameters(), fast.parameters()):
        p.value = q.value.copy()
    fast.fast, slow.fast = True, False
    return fast, slow


def assert_agree(fast, slow, ys, dxs, dtype, tol):
    """Outputs, input and parameter gradients, state gradients and gate values of two layers agree, in ``dtype``."""
    (y_fast, y_slow), (dx_fast, dx_slow) = ys, dxs
    np.testing.assert_allclose(y_fast, y_slow, rtol=tol, atol=tol)
    np.testing.assert_allclose(dx_fast, dx_slow, rtol=tol, atol=tol)
    assert dx_fast.dtype == np.dtype(dtype) and y_fast.dtype == np.dtype(dtype)
    for p, q in zip(fast.parameters(), slow.parameters()):
        assert p.grad.dtype == np.dtype(dtype)
        np.testing.assert_allclose(p.grad, q.grad, rtol=tol, atol=tol * 10, err_msg=p.name)
    for a, b in zip(fast.state_grads, slow.state_grads):
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)
    for a, b in zip(fast.gate_values(), slow.gate_values()):
        for k in a:
            if k != "mask":
                np.testing.assert_allclose(a[k], b[k], rtol=tol, atol=tol)


@pytest.mark.parametrize("cls", [g.LSTM, g.GRU])
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 2e-5)])
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("blocks", ["one", "uneven"])
def test_fast_equals_readable(cls, dtype, tol, return_sequences, bidirectional, masked, blocks, monkeypatch):
    if blocks == "uneven":          # LSTM gate derivatives in blocks of 2 steps (9 = 2 + 2 + 2 + 2 + 1), not one
        monkeypatch.setattr(recurrent_fast, "BLOCK_BYTES", 2 * 6 * 4 * 5 * np.dtype(dtype).itemsize)
    fast, slow = both(cls, dtype, return_sequences=return_sequences, bidirectional=bidirectional)
    rng = np.random.default_rng(5)
    x = rng.normal(size=(6, 9, 3)).astype(dtype)
    mask = mask_from_lengths([9, 3, 1, 6, 8, 2], 9) if masked else None
    y_fast, y_slow = fast.forward(x, mask=mask), slow.forward(x, mask=mask)
    assert len(fast._cache[2][0]) != len(slow._cache[2][0])      # the two paths really ran
    G = rng.normal(size=y_fast.shape).astype(dtype)
    fast.record_state_grads = slow.record_state_grads = True
    dx_fast, dx_slow = fast.backward(G), slow.backward(G)
    assert_agree(fast, slow, (y_fast, y_slow), (dx_fast, dx_slow), dtype, tol)
