"""Per-sample and per-class weights: a weight of k counts a row k times, on both training paths."""

import numpy as np
import pytest

import glassnet as g
from glassnet.train import fastpath
from tests.conftest import load_digits

CASES = [("softmax", "crossentropy", 3), ("sigmoid", "binary_crossentropy", 1), ("linear", "mse", 2)]


def _data(loss, n=40, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 5))
    y = {"crossentropy": lambda: rng.integers(0, 3, n), "binary_crossentropy": lambda: rng.integers(0, 2, n),
         "mse": lambda: rng.normal(size=(n, 2))}[loss]()
    return X, y, rng.integers(0, 4, n)          # integer weights, zeros included


@pytest.mark.parametrize("readable", [False, True])
@pytest.mark.parametrize("output,loss,k", CASES)
def test_weight_k_equals_k_copies_of_the_row(output, loss, k, readable):
    X, y, w = _data(loss)
    make = lambda: g.mlp(5, [7], k, activation="tanh", output=output, seed=0, dtype="float64")  # noqa: E731
    kw = dict(loss=loss, optimizer=g.SGD(lr=0.1), epochs=1, shuffle=False, verbose=0)
    weighted, copied = make(), make()
    rows = np.repeat(np.arange(len(X)), w)
    if readable:
        with fastpath.readable():
            hw = weighted.fit(X, y, batch_size=len(X), sample_weight=w, **kw)
            hc = copied.fit(X[rows], y[rows], batch_size=len(rows), **kw)
    else:
        hw = weighted.fit(X, y, batch_size=len(X), sample_weight=w, **kw)
        hc = copied.fit(X[rows], y[rows], batch_size=len(rows), **kw)
    np.testing.assert_allclose(hw["loss"], hc["loss"], rtol=1e-12)
    for p, q in zip(weighted.parameters(), copied.parameters(), strict=True):
        np.testing.assert_allclose(p.value, q.value, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-10, atol=1e-14)


def test_weights_follow_their_rows_through_shuffles_and_the_validation_split():
    X, y, w = _data("crossentropy", n=60)
    make = lambda: g.mlp(5, [7], 3, seed=0, dtype="float64")  # noqa: E731
    kw = dict(optimizer=g.Adam(lr=0.01), epochs=3, batch_size=8, validation_split=0.25, seed=4, verbose=0)
    fast, plain = make(), make()
    hf = fast.fit(X, y, sample_weight=w, **kw)
    with fastpath.readable():
        hp = plain.fit(X, y, sample_weight=w, **kw)
    for key in hp:
        np.testing.assert_allclose(hf[key], hp[key], rtol=1e-10)
    unweighted = make().fit(X, y, **kw)
    assert hf["loss"] != unweighted["loss"]
    assert hf["val_loss"] != unweighted["val_loss"]          # different weights -> different model ...
    ones = make().fit(X, y, sample_weight=np.full(len(X), 3.0), **kw)
    np.testing.assert_allclose(ones["loss"], unweighted["loss"], rtol=1e-12)   # ... constant weights change nothing


def test_balanced_class_weight_recovers_the_minority_class():
    # Digits "is it an 8?", with the 8s of the training half cut to 1 in 10 (about 9 of 900 rows).
    X, labels = load_digits()
    X, y = X / 16.0, (labels == 8).astype(int)
    rng = np.random.default_rng(0)
    half = rng.permutation(len(y))
    train, test = half[:900], half[900:]
    train = train[(y[train] == 0) | (rng.random(len(train)) < 0.1)]

    def minority_recall(**kw):
        model = g.mlp(64, [16], 2, seed=0)
        model.fit(X[train], y[train], optimizer=g.SGD(lr=0.05), epochs=5, batch_size=32, seed=0, verbose=0, **kw)
        pred = model.predict(X[test]).argmax(1)
        return float((pred[y[test] == 1] == 1).mean())

    plain, balanced = minority_recall(), minority_recall(class_weight="balanced")
    assert balanced > plain + 0.2, (plain, balanced)
    assert minority_recall(class_weight={0: 1.0, 1: 1.0}) == plain


@pytest.mark.parametrize("kw,match", [
    ({"sample_weight": -np.ones(40)}, "must be >= 0"),
    ({"sample_weight": np.ones(39)}, r"shape \(40,\)"),
    ({"sample_weight": np.zeros(40)}, "all zero"),
    ({"sample_weight": np.r_[np.ones(39), np.nan]}, "NaN"),
    ({"class_weight": "balance"}, "'balanced' or a dict"),
    ({"class_weight": {7: 1.0}}, "class_weight key"),
    ({"class_weight": [1, 2]}, "'balanced' or a dict"),
])
def test_bad_weights_are_clear_errors(kw, match):
    X, y, _ = _data("crossentropy")
    with pytest.raises(g.GlassnetError, match=match):
        g.mlp(5, [4], 3, seed=0).fit(X, y, epochs=1, verbose=0, **kw)


def test_class_weight_needs_a_classifier():
    X, y, _ = _data("mse")
    with pytest.raises(g.ValidationError, match="use sample_weight for regression"):
        g.mlp(5, [4], 2, output="linear", seed=0).fit(X, y, epochs=1, verbose=0, class_weight="balanced")
