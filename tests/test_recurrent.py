"""Recurrent layers and Embedding: gradient checks (float64, masked and unmasked), masks, PyTorch parity."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glassnet as g
from glassnet.backend.errors import GlassnetTypeError, ShapeError, ValidationError
from glassnet.nn.gradcheck import check_layer, check_model, numeric_gradient, rel_error
from glassnet.nn.layers.recurrent import mask_from_lengths

CELLS = [g.SimpleRNN, g.LSTM, g.GRU]


def jittered(layer, rng, scale=0.3):
    """Move every parameter off its initial value (biases start at 0) so no gradient term hides."""
    for p in layer.parameters():
        p.value += scale * rng.standard_normal(p.value.shape)
    return layer


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("return_sequences", [False, True])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_gradcheck(cls, return_sequences, bidirectional, masked, rng):
    layer = jittered(cls(3, 4, return_sequences=return_sequences, bidirectional=bidirectional, seed=1,
                         dtype="float64"), rng)
    if masked:
        layer.fixed_mask = mask_from_lengths([5, 2, 1, 4], 5)
    errors = check_layer(layer, rng.normal(size=(4, 5, 3)))
    assert max(errors.values()) < 1e-6
    expected = {"input"} | {p.name for p in layer.parameters()}
    assert set(errors) == expected and len(expected) == 1 + len(layer.directions) * (4 if cls is g.GRU else 3)


@pytest.mark.parametrize("cls", CELLS)
def test_gradcheck_through_mask_value_and_a_stack(cls, rng):
    """A whole model: masked first layer (mask_value), a stacked second layer (mask_value=0), Dense, softmax."""
    lengths = np.array([6, 3, 1, 5])
    x = rng.normal(size=(4, 6, 2))
    x[mask_from_lengths(lengths, 6) == 0] = -9.0
    model = g.Sequential([
        jittered(cls(2, 3, return_sequences=True, bidirectional=True, mask_value=-9.0, seed=2, dtype="float64"),
                 rng),
        jittered(cls(6, 3, mask_value=0.0, seed=3, dtype="float64"), rng),
        g.Dense(3, 2, seed=4, dtype="float64"), g.Softmax()])
    # The padded inputs are exactly -9, so a perturbation of a *real* entry never flips the mask; check
    # the parameters only (the input gradient at padding is 0 by construction, tested below).
    errors = check_model(model, g.CrossEntropy(), x, np.array([0, 1, 1, 0]))
    assert max(errors.values()) < 1e-6


@pytest.mark.parametrize("cls", CELLS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padding_changes_nothing(cls, bidirectional, rng):
    """State and gradient stop at each sequence's end: a padded sequence gives what it gives alone."""
    layer = jittered(cls(3, 4, return_sequences=True, bidirectional=bidirectional, mask_value=0.0, seed=0,
                         dtype="float64"), rng)
    lengths = [7, 3, 5]
    x = np.zeros((3, 7, 3))
    for i, n in enumerate(lengths):
        x[i, :n] = rng.normal(size=(n, 3))
    G = rng.normal(size=(3, 7, layer.n_out))
    y = layer.forward(x)
    dx = layer.backward(G)
    for i, n in enumerate(lengths):
        yi = layer.forward(x[i:i + 1, :n])
        dxi = layer.backward(G[i:i + 1, :n])
        np.testing.assert_allclose(y[i, :n], yi[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(y[i, n:], 0.0)           # padded outputs are 0
        np.testing.assert_allclose(dx[i, :n], dxi[0], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(dx[i, n:], 0.0)          # no gradient reaches padding
    last = cls(3, 4, bidirectional=bidirectional, mask_value=0.0, seed=0, dtype="float64")
    for p, q in zip(last.parameters(), layer.parameters()):
        p.value = q.value
    h = last.forward(x)
    for i, n in enumerate(lengths):
        np.testing.assert_allclose(h[i], last.forward(x[i:i + 1, :n])[0], rtol=1e-12, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(cls=st.sampled_from(CELLS), batch=st.integers(1, 4), steps=st.integers(1, 6), n_in=st.integers(1, 4),
       hidden=st.integers(1, 5), seq=st.booleans(), bi=st.booleans())
def test_shapes(cls, batch, steps, n_in, hidden, seq, bi):
    layer = cls(n_in, hidden, return_sequences=seq, bidirectional=bi, seed=0)
    x = np.random.default_rng(batch).normal(size=(batch, steps, n_in)).astype(np.float32)
    y = layer.forward(x)
    width = hidden * (2 if bi else 1)
    assert y.shape == ((batch, steps, width) if seq else (batch, width)) and y.dtype == np.float32
    dx = layer.backward(np.ones_like(y))
    assert dx.shape == x.shape and dx.dtype == np.float32
    assert all(p.grad.shape == p.value.shape and p.grad.dtype == np.float32 for p in layer.parameters())


@settings(max_examples=20, deadline=None)
@given(shape=st.sampled_from([(4, 3), (2, 5, 2), (2, 5, 4), (1, 2, 3, 3)]))
def test_bad_shapes_are_explained(shape):
    layer = g.LSTM(3, 2, seed=0)
    with pytest.raises(ShapeError, match=r"\(batch, time, 3\)"):
        layer.forward(np.zeros(shape, np.float32))


def test_bad_arguments_and_masks():
    with pytest.raises(ValidationError, match="hidden"):
        g.GRU(3, 0)
    with pytest.raises(GlassnetTypeError, match="bidirectional"):
        g.LSTM(3, 2, bidirectional="yes")
    with pytest.raises(ValidationError, match="recurrent_init"):
        g.SimpleRNN(3, 2, recurrent_init="identity")
    with pytest.raises(ShapeError, match=r"mask .* \(batch, time\)"):
        g.SimpleRNN(3, 2, seed=0).forward(np.zeros((2, 4, 3), np.float32), mask=np.ones((2, 3)))
    with pytest.raises(RuntimeError, match="before forward"):
        g.GRU(3, 2, seed=0).backward(np.zeros((1, 2)))
    with pytest.raises(ValidationError, match="lengths"):
        mask_from_lengths([2.5], 3)


def test_repr_config_and_seed():
    layer = g.LSTM(3, 8, return_sequences=True, bidirectional=True, mask_value=0.0, seed=5)
    assert repr(layer) == "LSTM(3 -> 8, return_sequences=True, bidirectional=True, mask_value=0.0)"
    again = g.LSTM(**layer.config(), seed=5)
    assert all(np.array_equal(p.value, q.value) for p, q in zip(layer.parameters(), again.parameters()))
    assert [p.name for p in again.parameters()] == ["weight", "recurrent_weight", "bias", "weight_reverse",
                                                     "recurrent_weight_reverse", "bias_reverse"]
    # forget gate bias starts at 1, the recurrent blocks are orthogonal
    np.testing.assert_array_equal(layer.directions[0][2].value[8:16], 1.0)
    U = layer.directions[0][1].value[:, :8].astype(np.float64)
    np.testing.assert_allclose(U @ U.T, np.eye(8), atol=1e-6)


def test_float64_on_request(rng):
    layer = g.GRU(2, 3, dtype="float64", seed=0)
    assert all(p.value.dtype == np.float64 for p in layer.parameters())
    assert layer.forward(rng.normal(size=(2, 4, 2))).dtype == np.float64


# -- Embedding ----------------------------------------------------------------------------------------
def test_embedding_gradient_and_padding(rng):
    emb = g.Embedding(7, 3, padding_idx=0, dtype="float64", seed=0)
    ids = rng.integers(0, 7, size=(4, 6)).astype(np.float64)
    ids[0, :3] = 2                                    # a repeated token: its row sums the gradients
    G = rng.normal(size=(4, 6, 3))
    y = emb.forward(ids)
    np.testing.assert_array_equal(y[ids == 0], 0.0)
    assert not emb.backward(G).any()
    analytic = emb.weight.grad.copy()
    numeric = numeric_gradient(lambda: float((emb.forward(ids) * G).sum()), emb.weight.value)
    numeric[0] = 0                                    # the padding row is frozen
    assert rel_error(analytic, numeric) < 1e-8
    assert not analytic[0].any()


def test_embedding_rejects_bad_ids():
    emb = g.Embedding(5, 2, seed=0)
    with pytest.raises(ValidationError, match=r"integer token ids in \[0, 4\]; got \[5.0\]"):
        emb.forward(np.array([[1.0, 5.0]]))
    with pytest.raises(ValidationError, match="got \\[1.5\\]"):
        emb.forward(np.array([[1.5]]))


def test_embedding_then_lstm_learns_a_token_rule():
    """Tokens -> Embedding -> LSTM (masked padding) -> Dense: does the sequence contain token 3 before token 4?"""
    rng = np.random.default_rng(0)
    n, T = 600, 10
    lengths = rng.integers(3, T + 1, size=n)
    ids = rng.integers(1, 6, size=(n, T))
    ids[mask_from_lengths(lengths, T) == 0] = 0
    y = np.array([int(3 in s[:L] and 4 in s[:L] and list(s[:L]).index(3) < list(s[:L]).index(4))
                  for s, L in zip(ids, lengths)])
    r = np.random.default_rng(1)
    model = g.Sequential([g.Embedding(6, 8, padding_idx=0, seed=r), g.LSTM(8, 16, mask_value=0.0, seed=r),
                          g.Dense(16, 2, seed=r), g.Softmax()])
    hist = model.fit(ids[:450].astype(np.float32), y[:450], optimizer=g.Adam(0.01), epochs=25, batch_size=32,
                     seed=0, verbose=0)
    acc = model.evaluate(ids[450:].astype(np.float32), y[450:])["accuracy"]
    majority = max(y[450:].mean(), 1 - y[450:].mean())
    assert hist["loss"][-1] < hist["loss"][0] and acc > majority + 0.1, (acc, majority)
