"""The named cases of issue 11: verdicts that know what is achievable, divergence without NaN, the model
returned by early stopping, leakage, label noise, an unscaled target, and verification by counterfactual."""

import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet.glassbox.achievable import (
    Achievable,
    anchor_test,
    confident_error,
    confident_issues,
    duplicate_floor,
    out_of_fold_mlp,
    reference_loss,
)
from glassnet.glassbox.datachecks import DataCheck, check_data, label_issues, leakage
from glassnet.glassbox.diagnostics import CleanTrainLoss, diagnose
from glassnet.glassbox.monitors import ActivationMonitor, GradientMonitor
from glassnet.glassbox.verify import FitSpec, verify

sk = pytest.importorskip("sklearn.datasets")


def _std(X):
    sd = X.std(axis=0)
    sd[sd == 0] = 1.0
    return (X - X.mean(axis=0)) / sd


def _fit(model, X, y, extra=(), **kw):
    cbs = [CleanTrainLoss(), Achievable(), ActivationMonitor(), GradientMonitor(warn=False), *extra]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return model.fit(X, y, verbose=0, seed=0, validation_split=0.2, callbacks=cbs, **kw)


@pytest.fixture(scope="module")
def digits():
    X, y = sk.load_digits(return_X_y=True)
    perm = np.random.default_rng(3).permutation(len(X))
    return _std(X[perm].astype(np.float64)), y[perm]


def test_linear_model_on_two_circles_is_underfitting():
    X, y = sk.make_circles(1000, noise=0.05, factor=0.5, random_state=5)
    d = diagnose(_fit(gn.mlp(2, [], 2, seed=0), X, y, epochs=30, optimizer=gn.Adam(lr=1e-2)))
    assert d.verdict == "underfitting", str(d)
    assert any("a model can do better" in e for e in d.evidence)
    assert d.remedies[0].startswith("a bigger network")


def test_linear_model_on_a_nonlinear_regression_is_underfitting():
    X, y = sk.make_friedman1(1000, noise=0.2, random_state=5)
    y = (y - y.mean()) / y.std()
    h = _fit(gn.mlp(10, [], 1, output="linear", seed=0), X, y, epochs=30, optimizer=gn.Adam(lr=1e-2))
    assert h["train_eval_loss"][-1] > 0.15 * h.baseline_loss      # the linear fit leaves a fifth of Var(y)
    d = diagnose(h)
    assert d.verdict == "underfitting", str(d)
    assert "gradient boosting" in " ".join(d.evidence)


def test_adam_lr_1_explodes_then_collapses_and_is_diverged(digits):
    X, y = digits
    h = _fit(gn.mlp(64, [64, 64], 10, seed=1), X, y, epochs=10, optimizer=gn.Adam(lr=1.0))
    guard = h.monitors["nan_guard"]
    assert all(np.isfinite(h["loss"])) and h.diverged is None       # no NaN: the old guard saw nothing
    assert guard.peak > 10 * guard.first_loss
    d = diagnose(h)
    assert d.verdict == "diverged", str(d)
    assert d.remedies[0].startswith("a lower learning rate")
    assert not any("higher learning rate" in r for r in d.remedies)


class _Guard:
    """The NaN guard's spike record, hand-made."""

    def __init__(self, first, peak, epoch, low):
        self.first_loss, self.peak, self.peak_epoch, self.peak_iteration, self.pre_peak_low = first, peak, epoch, 3, low


def _spiked(train, val, guard, **attrs):
    h = gn.History(32)
    h["loss"] = h["train_eval_loss"] = list(train)
    h["val_loss"] = list(val)
    h.baseline_loss = 2.3
    h.monitors["nan_guard"] = guard
    for k, value in attrs.items():
        setattr(h, k, value)
    return h


def test_a_spike_then_a_half_way_recovery_is_diverged_whatever_the_tail_says():
    e = np.arange(30)
    train = 0.05 + 2.0 * np.exp(-e / 3)                        # falls far below the start after the spike ...
    val = 0.4 + 0.03 * np.maximum(e - 10, 0)                    # ... but the tail alone reads as overfitting
    clean = diagnose(_spiked(train, val, _Guard(2.3, 2.5, 0, 2.3)))
    assert clean.verdict == "overfitting", str(clean)          # no spike: the tail's verdict
    d = diagnose(_spiked(train, val, _Guard(2.3, 2000.0, 0, 2.3)))
    assert d.verdict == "diverged", str(d)
    assert d.remedies[0].startswith("a lower learning rate")
    assert any("exploded from 2.3 to 2000" in x for x in d.evidence)


def test_a_spike_the_run_never_got_back_under_is_diverged():
    e = np.arange(20)
    train = 1.2 + 0.5 * np.exp(-e / 3)                          # never back under the pre-spike best 0.9
    d = diagnose(_spiked(train, train + 0.02, _Guard(2.3, 900.0, 2, 0.9)))
    assert d.verdict == "diverged", str(d)
    assert any("did not fully recover" in x and "(0.9)" in x for x in d.evidence)


class _Activations:
    """The ActivationMonitor's dead-unit record, hand-made: layer 3 loses 32 of its 64 units in epoch 2."""

    epochs = list(range(31))
    dead = [{1: 0, 3: 0}] * 2 + [{1: 0, 3: 32}] * 29
    units = {1: 64, 3: 64}


def test_a_spike_that_killed_units_is_diverged_however_low_the_loss_got():
    # Adam at lr 1 on wine (glassnet train wine.csv --lr 1 --hidden 64,64): training and validation loss 0,
    # test loss 1084, half of a layer dead after the spike; it read as "good fit"
    e = np.arange(30)
    train = 0.1 + 2.0 * np.exp(-e / 3)
    val = 0.3 + 2.0 * np.exp(-e / 3)
    h = _spiked(train, val, _Guard(2.3, 2000.0, 1, 2.3))
    h.monitors["activations"] = _Activations()
    d = diagnose(h)
    assert d.verdict == "diverged", str(d)
    assert any("layer 3: 32 of 64 units dead after the spike (0 before it)" in x for x in d.evidence)


def test_a_fully_recovered_spike_and_a_model_restored_from_before_it_are_not_diverged():
    e = np.arange(30)
    train = 0.1 + 2.0 * np.exp(-e / 3)
    val = 0.3 + 2.0 * np.exp(-e / 3)
    d = diagnose(_spiked(train, val, _Guard(2.3, 2000.0, 0, 2.3)))
    assert d.verdict == "good fit", str(d)                     # back under the start and nothing else wrong
    assert any("came back" in x for x in d.evidence)
    late = _spiked(train, val, _Guard(2.3, 2000.0, 25, 0.2), restored_best=True, best_epoch=20, stopped_epoch=29)
    assert diagnose(late).verdict != "diverged"


def test_strong_l2_is_underfitting_not_diverged_and_no_high_lr_warning(digits):
    X, y = digits
    h = _fit(gn.mlp(64, [64], 10, l2=1.0, seed=0), X, y, epochs=20, optimizer=gn.SGD(lr=0.05))
    d = diagnose(h)
    assert d.verdict == "underfitting", str(d)
    assert d.remedies[0].startswith("less regularization")
    g = h.monitors["gradients"]
    assert g.weight_norm[-1][0] < 0.5 * g.initial_norm[0]           # the weights did shrink
    assert not any("learning rate is too high" in m for m in g.advice())


def test_low_learning_rate_descent_is_still_improving(digits):
    X, y = digits
    h = _fit(gn.mlp(64, [64], 10, seed=0), X, y, epochs=25, optimizer=gn.Adam(lr=1e-5))
    d = diagnose(h)
    assert d.verdict == "still improving", str(d)


def test_early_stopping_verdict_judges_the_restored_model(digits):
    X, y = digits
    es = gn.EarlyStopping(patience=5, restore_best=True)
    h = _fit(gn.mlp(64, [256, 256], 10, seed=0), X[:300], y[:300], extra=[es], epochs=200,
             optimizer=gn.Adam(lr=1e-3))
    assert h.restored_best and h.stopped_epoch is not None
    d = diagnose(h)
    assert d.verdict not in ("overfitting", "too noisy to tell", "still improving"), str(d)
    assert d.best_epoch == h.best_epoch + 1
    assert any(f"restored the weights of epoch {h.best_epoch + 1}" in e for e in d.evidence)


def test_no_overfitting_while_val_loss_is_at_its_minimum():
    h = gn.History(32)
    e = np.arange(30)
    h["loss"] = list(0.01 + 2 * np.exp(-e / 3))              # train far below val ...
    h["val_loss"] = list(0.3 + 2 * np.exp(-e / 4))           # ... but val still at its lowest at the end
    h.baseline_loss = 2.3
    assert diagnose(h).verdict != "overfitting"


def _titanic_like(seed=0):
    """891 passengers, 12 distinct input rows (class x sex x age band), survival drawn per group."""
    rng = np.random.default_rng(seed)
    cls, sex, age = rng.integers(0, 3, 891), rng.integers(0, 2, 891), rng.integers(0, 2, 891)
    p = 0.1 + 0.35 * sex + 0.15 * (2 - cls) + 0.1 * age
    y = (rng.random(891) < p).astype(np.int64)
    X = np.c_[np.eye(3)[cls], sex, age].astype(np.float64)
    return X, y


def test_conflicting_duplicates_bound_the_loss_and_no_bigger_network():
    X, y = _titanic_like()
    floor, n_conf = duplicate_floor(X, np.eye(2)[y], "ce")
    assert n_conf > 800 and 0.3 < floor < 0.69
    for hidden in ([16], [256, 256]):
        h = _fit(gn.mlp(5, hidden, 2, seed=0), X, y, epochs=30, optimizer=gn.Adam(lr=1e-2))
        d = diagnose(h)
        assert d.verdict != "underfitting", str(d)
        assert not any(r.startswith("a bigger network") for r in d.remedies)
        assert any("conflicting duplicate" in e or "share their inputs" in e for e in d.evidence)


def test_unscaled_regression_target_is_warned_about():
    X, y = sk.make_friedman1(300, random_state=0)
    issues = check_data(X, y * 800 + 3000, gn.mlp(10, [8], 1, output="linear", seed=0))
    assert "unscaled_target" in {i.kind for i in issues}
    assert "unscaled_target" not in {i.kind for i in check_data(X, (y - y.mean()) / y.std(), task="regression")}
    # a regression target is not 50 classes
    assert "class_imbalance" not in {i.kind for i in check_data(X, np.round(y), task="regression")}


def test_validation_leakage_exact_and_near(digits):
    X, y = digits
    Xt, Xv = X[:1400], X[1400:].copy()
    assert leakage(Xt, Xv) == []
    rng = np.random.default_rng(0)
    Xv[:50] = Xt[rng.choice(1400, 50, replace=False)]
    Xv[50:90] = Xt[rng.choice(1400, 40, replace=False)] + 1e-3 * rng.standard_normal((40, X.shape[1]))
    found = {i.kind: i for i in leakage(Xt, Xv)}
    assert sorted(found["leakage"].details["rows"]) == list(range(50))
    assert set(range(50, 90)) <= set(found["near_duplicate_leakage"].details["rows"])


def test_leakage_check_does_not_fire_on_low_dimensional_clean_splits():
    for seed in range(3):
        X, _ = sk.make_moons(1200, noise=0.2, random_state=seed)
        assert leakage(X[240:], X[:240]) == []


def test_label_issues_on_30_percent_noise_match_cleanlab(digits):
    X, y = digits
    rng = np.random.default_rng(1)
    flip = rng.random(len(y)) < 0.3
    noisy = y.copy()
    noisy[flip] = (noisy[flip] + rng.integers(1, 10, flip.sum())) % 10
    found = label_issues(X, noisy)
    m = found["mask"]
    precision, recall = (m & flip).sum() / m.sum(), (m & flip).sum() / flip.sum()
    assert precision > 0.85 and recall > 0.8, (precision, recall)
    cleanlab = pytest.importorskip("cleanlab.filter")
    oracle = cleanlab.find_label_issues(noisy, found["probabilities"], filter_by="confident_learning")
    agree = (oracle == m).mean()
    assert agree > 0.95, agree
    assert "label_issues" in {i.kind for i in check_data(X, noisy, label_noise=True)}
    assert "label_issues" not in {i.kind for i in check_data(X, y, label_noise=True)}


def test_confident_issues_on_a_hand_made_case():
    P = np.array([[0.9, 0.1], [0.8, 0.2], [0.2, 0.8], [0.1, 0.9], [0.95, 0.05]])
    labels = np.array([0, 0, 1, 1, 1])          # the last row looks like class 0
    assert confident_issues(labels, P).tolist() == [False, False, False, False, True]


def test_verify_confirms_underfitting_and_stays_in_budget():
    X, y = sk.make_moons(800, noise=0.15, random_state=7)
    spec = FitSpec(n_in=2, hidden=(1,), n_out=2, epochs=20, lr=1e-2, seed=0)
    lines = []
    v = verify(spec, X, y, "underfitting", progress=lines.append)
    assert v.confirmed, v.summary()
    assert v.probes[0].name == "4x wider" and v.probes[0].after < v.probes[0].before
    # the default budget: three trainings (original rerun, placebo, one probe), one progress line each
    assert len(lines) == 3 and "placebo" in v.summary() and "confirmed" in v.summary()


def test_diagnose_verify_true_reports_before_and_after():
    X, y = sk.make_moons(800, noise=0.15, random_state=8)
    spec = FitSpec(n_in=2, hidden=(32,), n_out=2, epochs=3, lr=3e-3, optimizer="sgd", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model, h = spec.replace(callbacks=(CleanTrainLoss(),)).fit(X, y, validation_data=(X[:160], y[:160]))
    d = diagnose(h, verify=True, spec=spec, X=X[160:], y=y[160:], validation_data=(X[:160], y[:160]))
    assert d.verification is not None
    assert "->" in d.evidence[-1] and "placebo" in d.evidence[-1]


def test_label_noise_check_calibrates_a_weak_reference_on_clean_hard_data():
    # 20 features, 12 of them noise: the references are imperfect, and confident learning flags hard rows
    X, y = sk.make_classification(1200, 20, n_informative=8, n_classes=4, n_clusters_per_class=2, class_sep=1.5,
                                  flip_y=0.0, random_state=1)
    X = _std(X)
    found = label_issues(X, y)
    assert found["rate"] > 0.02                                 # the reference flags rows ...
    assert found["anchor"]["p_value"] > 0.05                    # ... but its surest rows show no noise
    assert "label_issues" not in {i.kind for i in check_data(X, y, label_noise=True)}
    rng = np.random.default_rng(0)
    flip = rng.random(len(y)) < 0.3
    noisy = y.copy()
    noisy[flip] = (noisy[flip] + rng.integers(1, 4, flip.sum())) % 4
    assert label_issues(X, noisy)["confident_error"] > 0.15     # input-independent noise shows there too
    assert "label_issues" in {i.kind for i in check_data(X, noisy, label_noise=True)}


def test_label_noise_on_concentric_shells_is_found_and_clean_shells_are_not():
    # the issue's 30% noise case where out-of-fold k-NN is right on fewer than half the rows (shells in 4-d);
    # the MLP candidate of the reference learns the radius
    X, y = sk.make_gaussian_quantiles(n_samples=960, n_features=4, n_classes=3, random_state=21)
    X = _std(X)
    rng = np.random.default_rng(21)
    flip = rng.random(len(y)) < 0.3
    noisy = y.copy()
    noisy[flip] = (noisy[flip] + rng.integers(1, 3, flip.sum())) % 3
    assert "label_issues" in {i.kind for i in check_data(X, noisy, label_noise=True)}
    assert "label_issues" not in {i.kind for i in check_data(X, y, label_noise=True)}
    # the minority shells of an imbalanced clean sample are hard, not noisy
    keep = (y == 0) | (rng.random(len(y)) < 0.1)
    assert "label_issues" not in {i.kind for i in check_data(X[keep], y[keep], label_noise=True)}


def test_label_check_abstains_when_the_reference_learned_nothing():
    rng = np.random.default_rng(4)
    X, y = rng.standard_normal((600, 5)), rng.integers(0, 3, 600)      # labels independent of the inputs
    kinds = {i.kind: i for i in check_data(X, y, label_noise=True)}
    assert "label_issues" not in kinds
    assert kinds["label_check_abstained"].severity == "info" and "majority class" in kinds[
        "label_check_abstained"].message
    with warnings.catch_warnings(record=True) as caught:     # an abstention is not warned about
        warnings.simplefilter("always")
        DataCheck(label_noise=True).on_train_begin(_State(X, y))
    assert not [w for w in caught if "label_check_abstained" in str(w.message)]


class _State:
    def __init__(self, X, y):
        from glassnet.nn.losses import get_loss
        from glassnet.train.state import History

        self.X, self.Y, self.model, self.validation_data = X, np.eye(3)[y], None, None
        self.loss = get_loss("cross_entropy")
        self.history = History()


def test_detectable_rate_is_where_the_test_reports_four_times_in_five():
    from glassnet.glassbox.achievable import _binomial_tail, detectable_rate
    for rows in (16, 27, 96, 500):
        low = detectable_rate(rows, 0.05)
        c = next(e for e in range(rows + 1) if _binomial_tail(e, rows, 0.05) < 0.05)     # the count that reports
        assert _binomial_tail(c, rows, low) >= 0.8 > _binomial_tail(c, rows, low - 0.005)
    assert detectable_rate(16, 0.05) > detectable_rate(96, 0.05) > detectable_rate(500, 0.05) > 0.05
    # a simulation of the test itself agrees: 96 anchor rows at the detectable rate report about 80% of the time
    rng = np.random.default_rng(0)
    low = detectable_rate(96, 0.05)
    reported = np.mean([_binomial_tail(int(rng.binomial(96, low)), 96, 0.05) < 0.05 for _ in range(4000)])
    assert 0.78 < reported < 0.86


def test_a_clean_label_check_says_what_it_could_have_seen():
    from sklearn.datasets import load_breast_cancer
    X, y = load_breast_cancer(return_X_y=True)
    kinds = {i.kind: i for i in check_data((X - X.mean(0)) / X.std(0), y, label_noise=True)}
    assert "label_issues" not in kinds
    power = kinds["label_check_power"]
    assert power.severity == "info" and power.details["rows"] == 57 and 0.05 < power.details["detectable_rate"] < 0.2
    assert "4 times in 5" in power.message


def test_anchor_test_is_the_binomial_tail():
    P = np.tile([[0.9, 0.1]], (150, 1))
    labels = np.zeros(150, dtype=int)
    labels[:2] = 1                                     # 2 of the 15 surest rows (the first 15: ties keep order)
    a = anchor_test(labels, P, 0.05)
    assert (a["errors"], a["rows"]) == (2, 15)
    assert a["p_value"] == pytest.approx(1 - 0.95 ** 15 - 15 * 0.05 * 0.95 ** 14, rel=1e-12)
    assert anchor_test(labels, P, 0.0)["p_value"] == 0.0 and anchor_test(labels[::-1], P, 0.0)["p_value"] == 1.0


def test_out_of_fold_mlp_never_sees_the_rows_it_predicts():
    X, y = sk.make_moons(300, noise=0.1, random_state=2)
    P, epochs = out_of_fold_mlp(X, np.eye(2)[y], folds=3, epochs=8)
    assert P.shape == (300, 2) and 1 <= epochs <= 8 and np.allclose(P.sum(axis=1), 1, atol=1e-5)
    assert (P.argmax(axis=1) == y).mean() > 0.75            # it learns (chance: 0.5)
    # labels independent of the inputs: a model that saw its rows would fit some of them; out of fold it is chance
    rng = np.random.default_rng(5)
    X, y = rng.standard_normal((400, 30)), rng.integers(0, 2, 400)
    P, _ = out_of_fold_mlp(X, np.eye(2)[y], folds=4, epochs=30, patience=30)
    assert abs((P.argmax(axis=1) == y).mean() - 0.5) < 3 * np.sqrt(0.25 / 400)


def test_out_of_fold_mlp_regression_never_sees_the_rows_it_predicts():
    # targets independent of the inputs: out of fold the MLP can do no better than the training folds' mean
    rng = np.random.default_rng(6)
    X, y = rng.standard_normal((400, 10)), 3.0 + 2.0 * rng.standard_normal((400, 1))
    P, epochs = out_of_fold_mlp(X, y, task="mse", folds=4, epochs=30, patience=30)
    assert P.shape == (400, 1) and 1 <= epochs <= 30
    assert ((P - y) ** 2).mean() >= 0.95 * y.var()                    # in the targets' own units (not standardized)


def test_the_reference_includes_an_mlp_so_a_linear_model_on_a_projection_is_underfitting():
    # y = tanh(X w): k-NN in 10-d and axis-aligned trees approximate a projection poorly, a linear model well but
    # not fully; a 64-unit network fits it. Against k-NN and boosting alone the linear model looked like a good fit.
    rng = np.random.default_rng(19)
    X = rng.standard_normal((1200, 10))
    y = np.tanh(X @ rng.standard_normal(10) / 2) + 0.05 * rng.standard_normal(1200)
    y = ((y - y.mean()) / y.std()).reshape(-1, 1)
    Xt, yt, Xv, yv = X[240:], y[240:], X[:240], y[:240]
    ref = reference_loss(Xt, yt, "mse")
    assert ref["name"].startswith("out-of-fold MLP")
    model = gn.mlp(10, [], 1, output="linear", seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        h = model.fit(Xt, yt, epochs=30, batch_size=32, optimizer=gn.Adam(lr=1e-2), validation_data=(Xv, yv), seed=0,
                      verbose=0, callbacks=[CleanTrainLoss(), Achievable()])
    assert ref["loss"] < 0.6 * h["val_loss"][-1]                      # the network beats the linear model's floor
    d = diagnose(h)
    assert d.verdict == "underfitting" and "out-of-fold MLP" in " ".join(d.evidence), str(d)


def test_confident_error_on_a_hand_made_case():
    P = np.array([[0.99, 0.01], [0.98, 0.02], [0.6, 0.4], [0.45, 0.55], [0.3, 0.7]] * 2)
    labels = np.array([0, 1, 0, 0, 1] * 2)                       # one of the two surest rows is mislabelled
    assert confident_error(labels, P, share=0.4) == 0.5
    assert confident_error(labels, P, share=0.2) == 0.0


def test_achievable_label_noise_estimate_is_the_data_checks():
    X, y = sk.make_blobs(300, centers=3, random_state=0)
    X = _std(X)
    a = Achievable(label_noise=True).measure(X, np.eye(3)[y], "ce")
    f = label_issues(X, y)
    assert a.noise_rate == f["rate"] and a.anchor == f["anchor"]
    assert "rows it is surest of" in " ".join(a.describe())
    assert Achievable().measure(X, np.eye(3)[y], "ce").noise_rate is None      # off by default (its cost)
