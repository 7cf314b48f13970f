"""Remedies phrased for the interface in use: Python calls, CLI flags, estimator parameters (issue 11 item 7)."""

import warnings

import numpy as np
import pytest

import glassnet as gn
from glassnet.glassbox.diagnostics import diagnose
from glassnet.glassbox.remedies import INTERFACES, REMEDY_TEXT, VERDICT_REMEDIES, VERIFIABLE, phrase
from tests.conftest import run_cli


def test_every_remedy_has_a_phrasing_per_interface_and_verifiable_ones_belong_to_their_verdict():
    assert all(len(texts) == len(INTERFACES) and texts[0] for texts in REMEDY_TEXT.values())
    assert all(i in REMEDY_TEXT for ids in VERDICT_REMEDIES.values() for i in ids)
    assert all(VERIFIABLE[v] <= set(VERDICT_REMEDIES[v]) for v in VERIFIABLE)
    with pytest.raises(ValueError, match="interface must be one of"):
        phrase(["l2"], "matlab")


def test_each_interface_gets_its_own_knobs():
    ids = VERDICT_REMEDIES["underfitting"]
    api, cli, est = (phrase(ids, i, verdict="underfitting", lr=1e-3, epochs=30) for i in INTERFACES)
    assert "gn.mlp(n_in, [256, 256], n_out)" in api[0] and "Adam(lr=0.01)" in api[3]
    assert cli[0].startswith("a bigger network: --hidden 256,256") and "--epochs 60" in cli[1] and "--l2 0" in cli[2]
    assert "hidden_layer_sizes=(256, 256)" in est[0] and "max_iter=60" in est[1] and "alpha=" in est[2]
    assert "learning_rate_init=0.01" in est[3]
    # only what verification can retrain with is marked so, and the estimators have no verification
    assert cli[0].endswith("[--verify tests this]") and "verify=True" in api[0]
    assert not any("verify" in r for r in cli[3:] + api[3:] + est)
    down = phrase(["lower_lr"], "cli", verdict="diverged", lr=1e-3)[0]
    assert "--lr 0.0001" in down and down.endswith("[--verify tests this]")
    # a knob the interface does not have is left out rather than phrased for another one
    assert len(phrase(VERDICT_REMEDIES["diverged"], "cli")) == len(VERDICT_REMEDIES["diverged"]) - 1


def test_diagnosis_carries_ids_and_is_rephrased():
    h = gn.History(32)
    h["loss"] = [2.3, 2.2, 2.4, 9.0]
    h.diverged = "Training diverged at epoch 4"
    d = diagnose(h)
    assert d.remedy_ids[0] == "lower_lr" and d.remedies[0].startswith("a lower learning rate")
    cli = d.phrased("cli", lr=0.5)
    assert cli.interface == "cli" and cli.verdict == d.verdict and cli.evidence == d.evidence
    assert cli.remedies[0].startswith("a lower learning rate: --lr 0.05") and "--lr 0.05" in str(cli)
    assert d.remedies[0] != cli.remedies[0]                  # the original is untouched


def test_cli_prints_flags(tmp_path):
    from sklearn.datasets import load_iris

    frame = load_iris(as_frame=True).frame
    frame.to_csv(tmp_path / "iris.csv", index=False)
    proc = run_cli("train", "iris.csv", "--target", "target", "--task", "classification", "--optimizer", "sgd",
                   "--lr", "50", "--epochs", "5", "--no-report", cwd=tmp_path)
    out = proc.stdout
    assert "verdict: diverged" in out, out
    assert "a lower learning rate: --lr 5 [--verify tests this]" in out
    assert "Adam(" not in out and "gn.mlp(" not in out
    run_cli("train", "iris.csv", "--target", "target", "--epochs", "5", "--no-report", cwd=tmp_path)
    again = run_cli("diagnose", "model.safetensors", cwd=tmp_path).stdout
    remedies = again.split("remedies:")[1].strip().splitlines()
    neutral = {i: REMEDY_TEXT[i][1] for i in ("better_features", "more_data", "noise_bound")}
    assert remedies and all("--" in r or "glassnet evaluate" in r or r.strip("- ") in neutral.values()
                            for r in remedies), again


def test_estimator_diagnosis_uses_estimator_parameters():
    from sklearn.datasets import load_iris

    from glassnet.adapters.sklearn import MLPClassifier

    X, y = load_iris(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    clf = MLPClassifier(hidden_layer_sizes=(8,), solver="sgd", learning_rate_init=50.0, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    d = clf.diagnosis_
    assert d.interface == "sklearn" and d.verdict == "diverged", str(d)
    assert d.remedies[0] == "a lower learning rate: learning_rate_init=5"
    assert not any("--" in r or "gn.mlp(" in r or "verify" in r for r in d.remedies)
    assert np.isfinite(clf.predict_proba(X)).all()
