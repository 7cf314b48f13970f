"""Gradient clipping by global norm (Optimizer(clip_norm=...)), on the readable and the flat fast path."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glassnet as g
from glassnet.backend.errors import ValidationError
from glassnet.nn.parameter import Parameter
from glassnet.train import fastpath


@settings(max_examples=40, deadline=None)
@given(clip=st.floats(0.01, 100.0), scale=st.floats(1e-3, 1e3), seed=st.integers(0, 1000))
def test_clip_bounds_the_global_norm_and_keeps_the_direction(clip, scale, seed):
    rng = np.random.default_rng(seed)
    params = [Parameter(rng.normal(size=s), "weight") for s in [(3, 4), (4,), (2, 2, 2)]]
    for p in params:
        p.grad = scale * rng.normal(size=p.value.shape)
    before = np.concatenate([p.grad.ravel() for p in params])
    w0 = [p.value.copy() for p in params]
    opt = g.SGD(lr=1.0, clip_norm=clip).setup(params)
    opt.step()
    after = np.concatenate([p.grad.ravel() for p in params])
    norm = np.linalg.norm(before)
    assert opt.grad_norm == pytest.approx(norm, rel=1e-12)
    assert np.linalg.norm(after) == pytest.approx(min(norm, clip), rel=1e-9)
    np.testing.assert_allclose(after * norm, before * np.linalg.norm(after), rtol=1e-9, atol=1e-12)
    for p, w in zip(params, w0):                      # SGD, lr 1: w moved by exactly the clipped gradient
        np.testing.assert_allclose(w - p.value, p.grad, rtol=1e-12, atol=1e-12)


def test_clip_norm_is_validated_and_shown():
    with pytest.raises(ValidationError, match="clip_norm"):
        g.Adam(clip_norm=0.0)
    assert repr(g.Adam(0.01, clip_norm=1.0)) == "Adam(lr=0.01, beta1=0.9, beta2=0.999, eps=1e-08, clip_norm=1.0)"
    assert repr(g.RMSprop()) == "RMSprop(lr=0.001, rho=0.9, eps=1e-08)"


@pytest.mark.parametrize("opt", [lambda: g.SGD(0.5, momentum=0.9, clip_norm=0.5),
                                 lambda: g.Adam(0.05, clip_norm=0.5), lambda: g.RMSprop(0.01, clip_norm=0.5)])
def test_fast_and_readable_paths_clip_alike(opt, rng):
    """The fast path clips the flat gradient buffer: same run as the readable per-parameter clip (float64)."""
    X = rng.normal(size=(120, 5)) * 4
    y = (X[:, 0] * X[:, 1] > 0).astype(int)
    runs = []
    for readable in (False, True):
        model = g.mlp(5, [16], 2, seed=0, dtype="float64")
        if readable:
            with fastpath.readable():
                h = model.fit(X, y, optimizer=opt(), epochs=3, batch_size=16, seed=0, verbose=0)
        else:
            h = model.fit(X, y, optimizer=opt(), epochs=3, batch_size=16, seed=0, verbose=0)
        runs.append((h["loss"], [p.value.copy() for p in model.parameters()]))
    np.testing.assert_allclose(runs[0][0], runs[1][0], rtol=1e-10)
    for a, b in zip(runs[0][1], runs[1][1]):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
