"""Data checks: each problem is found, named and explained; clean data raises nothing."""

import numpy as np
import pytest

import glassnet as gn
from glassnet.backend.errors import ValidationError
from glassnet.glassbox.datachecks import DataCheck, DataWarning, check_data


def kinds(issues):
    return {i.kind for i in issues}


def test_clean_data_has_no_issues():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 4))
    y = rng.integers(0, 3, 200)
    assert check_data(X, y, gn.mlp(4, [8], 3, seed=0)) == []


def test_each_problem_is_found():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((300, 5))
    X[:, 1] = 7.0                                   # constant
    X[:, 2] *= 1e4                                  # another scale
    X[5, 0] = np.nan
    X[10:20] = X[20:30]                             # duplicates
    y = np.sort(np.r_[np.zeros(280, int), np.ones(15, int), np.full(5, 2)])
    issues = check_data(X, y, gn.mlp(5, [8], 3, seed=0), "mse")
    assert kinds(issues) >= {"nan_inf", "constant_features", "feature_scales", "duplicates", "sorted_labels",
                             "class_imbalance", "rare_classes", "output_loss_mismatch"}
    text = {i.kind: i.message for i in issues}
    assert "columns 0" in text["nan_inf"] and "columns 1" in text["constant_features"]
    assert "10 duplicated" in text["duplicates"]
    assert "93.3%" in text["class_imbalance"]
    assert "CrossEntropy" in text["output_loss_mismatch"]


def test_output_width_and_conflicting_duplicates():
    X = np.tile(np.arange(12.0).reshape(6, 2), (2, 1))
    y = np.r_[np.arange(6) % 3, (np.arange(6) + 1) % 3]
    issues = check_data(X, y, gn.mlp(2, [4], 5, seed=0))
    msgs = {i.kind: i for i in issues}
    assert "conflicting_duplicates" in msgs and msgs["output_loss_mismatch"].severity == "error"
    assert "5 units" in msgs["output_loss_mismatch"].message


def test_datacheck_callback_warns_and_strict_raises():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 3)).astype(np.float32)
    X[:, 0] = 1.0
    y = (X[:, 1] + X[:, 2] > 0).astype(int)        # not a threshold of one column: that is a target leak
    cb = DataCheck()
    with pytest.warns(DataWarning, match="constant"):
        h = gn.mlp(3, [4], 2, seed=0).fit(X, y, epochs=1, verbose=0, seed=0, callbacks=[cb])
    assert kinds(cb.issues) == {"constant_features"} and h.monitors["data"] is cb
    y3 = np.r_[np.zeros(99, int), 1]
    with pytest.warns(DataWarning), pytest.raises(ValidationError, match="strict"):
        gn.mlp(3, [4], 2, seed=0).fit(X, y3, epochs=1, verbose=0, seed=0, callbacks=[DataCheck(strict=True)])
