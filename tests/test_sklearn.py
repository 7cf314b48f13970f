"""glassnet.adapters.sklearn as a drop-in for scikit-learn's MLPs: checks, parameters, attributes, inputs, extras.

The run-by-run equivalence with scikit-learn (same weights, same objective) is in tests/test_sklearn_solvers.py.
"""

import inspect
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import scipy.sparse as sp  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from sklearn import neural_network as skl  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.compose import TransformedTargetRegressor  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import glassnet as g  # noqa: E402
from glassnet.adapters.sklearn import MLPClassifier, MLPRegressor, ParameterError  # noqa: E402
from glassnet.glassbox.datachecks import DataWarning  # noqa: E402

# No expected failures: every check scikit-learn 1.9 yields for these estimators passes (multilabel and
# sample-weight checks included).
CHECKED = [
    MLPClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0, max_iter=100),
    MLPRegressor(hidden_layer_sizes=(16,), learning_rate_init=0.01, random_state=0, max_iter=100),
]


@parametrize_with_checks(CHECKED)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks([MLPClassifier(hidden_layer_sizes=(16,), solver="lbfgs", random_state=0, max_iter=100),
                          MLPRegressor(hidden_layer_sizes=(16,), solver="sgd", learning_rate="adaptive",
                                       random_state=0, max_iter=100)])
def test_sklearn_compatible_other_solvers(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name", ["MLPClassifier", "MLPRegressor"])
def test_every_sklearn_parameter_with_its_default(name):
    ours = inspect.signature(getattr(g.adapters.sklearn, name).__init__).parameters
    theirs = inspect.signature(getattr(skl, name).__init__).parameters
    for p, spec in theirs.items():
        assert p in ours, p
        assert ours[p].default == spec.default, p
        assert ours[p].kind == spec.kind, p          # positional ones stay positional, in the same order
    assert list(theirs)[:3] == list(ours)[:3]
    assert set(ours) - set(theirs) == ({"dropout", "dtype", "compiled", "class_weight"} if name == "MLPClassifier"
                                       else {"dropout", "dtype", "compiled"})


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.3, stratify=y, random_state=0)


def test_fitted_attributes_are_the_models_arrays(digits):
    Xtr, Xte, ytr, yte = digits
    clf = MLPClassifier((32, 16), max_iter=30, learning_rate_init=0.01, random_state=0).fit(Xtr, ytr)
    assert clf.n_layers_ == 4 and clf.n_outputs_ == 10 and clf.out_activation_ == "softmax"
    assert [c.shape for c in clf.coefs_] == [(64, 32), (32, 16), (16, 10)]
    assert [b.shape for b in clf.intercepts_] == [(32,), (16,), (10,)]
    dense = [layer for layer in clf.model_.layers if isinstance(layer, g.Dense)]
    assert all(c is d.weight.value for c, d in zip(clf.coefs_, dense))         # views: no copies
    assert len(clf.loss_curve_) == clf.n_iter_ and clf.t_ == clf.n_iter_ * len(Xtr)
    assert clf.loss_ == clf.loss_curve_[-1] and clf.best_loss_ == min(clf.loss_curve_)
    assert clf.validation_scores_ is None and clf.best_validation_score_ is None
    assert clf.n_features_in_ == 64 and list(clf.classes_) == list(range(10))
    assert clf.score(Xte, yte) > 0.9
    before = clf.predict_proba(Xte[:5])
    clf.coefs_[-1][...] = 0.0                      # writing into coefs_ changes the network
    clf.intercepts_ = [b * 0 for b in clf.intercepts_]      # assigning copies the values in
    np.testing.assert_allclose(clf.predict_proba(Xte[:5]), 0.1)
    assert not np.allclose(before, 0.1)
    with pytest.raises(g.ValidationError, match="shapes"):
        clf.coefs_ = [np.zeros((2, 2))]
    np.testing.assert_allclose(clf.predict_log_proba(Xte[:5]), np.log(clf.predict_proba(Xte[:5])))


def test_unfitted_estimator_has_no_weights():
    clf = MLPClassifier()
    assert not hasattr(clf, "coefs_") and not hasattr(clf, "intercepts_")
    with pytest.raises(NotFittedError):
        clf.predict(np.zeros((2, 3)))
    with pytest.raises(NotFittedError):
        _ = clf.diagnosis_


def test_binary_uses_one_logistic_unit_like_sklearn():
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(StandardScaler().fit_transform(X), y, test_size=0.3, stratify=y,
                                          random_state=0)
    clf = MLPClassifier((16,), max_iter=60, random_state=0).fit(Xtr, ytr)
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 1 and clf.coefs_[-1].shape == (16, 1)
    assert type(clf.model_.layers[-1]).__name__ == "Sigmoid"
    proba = clf.predict_proba(Xte)
    assert proba.shape == (len(Xte), 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    ref = skl.MLPClassifier((16,), max_iter=60, random_state=0).fit(Xtr, ytr)
    ours, theirs = clf.score(Xte, yte), ref.score(Xte, yte)
    assert ours > 0.9 and abs(ours - theirs) <= 3 * np.sqrt(theirs * (1 - theirs) / len(Xte))


def test_multilabel_targets_train_sigmoid_outputs(digits):
    Xtr, Xte, ytr, yte = digits
    # Real labels, several per image: "is even", "is at least 5", "is a multiple of 3".
    def labels(y):
        return np.column_stack([y % 2 == 0, y >= 5, y % 3 == 0]).astype(int)

    clf = MLPClassifier((32,), max_iter=80, learning_rate_init=0.01, random_state=0).fit(Xtr, labels(ytr))
    assert clf.out_activation_ == "logistic" and clf.n_outputs_ == 3
    assert type(clf.model_.layers[-1]).__name__ == "Sigmoid"
    pred = clf.predict(Xte)
    assert pred.shape == (len(Xte), 3) and set(np.unique(pred)) <= {0, 1}
    assert clf.predict_proba(Xte).shape == (len(Xte), 3)
    ref = skl.MLPClassifier((32,), max_iter=80, learning_rate_init=0.01, random_state=0).fit(Xtr, labels(ytr))
    # subset accuracy (all three labels right), the same as scikit-learn's within noise (3 binomial s.e.)
    ours, theirs = clf.score(Xte, labels(yte)), ref.score(Xte, labels(yte))
    assert ours > 0.85 and abs(ours - theirs) < 3 * np.sqrt(theirs * (1 - theirs) / len(Xte))


def test_sparse_input_in_a_pipeline_with_one_hot_encoding():
    from sklearn.preprocessing import OneHotEncoder

    X, y = load_iris(return_X_y=True)
    cats = np.column_stack([np.searchsorted(np.quantile(c, [0.25, 0.5, 0.75]), c) for c in X.T])   # binned
    pipe = make_pipeline(OneHotEncoder(handle_unknown="ignore"), MLPClassifier((16,), max_iter=200,
                                                                              learning_rate_init=0.01, random_state=0))
    Xtr, Xte, ytr, yte = train_test_split(cats, y, test_size=0.3, stratify=y, random_state=0)
    pipe.fit(Xtr, ytr)
    assert sp.issparse(pipe[0].transform(Xtr))
    assert pipe.score(Xte, yte) > 0.8


def test_convergence_warnings_like_sklearn(digits):
    Xtr, _, ytr, _ = digits
    with pytest.warns(ConvergenceWarning, match="Maximum iterations \\(3\\)"):
        MLPClassifier((8,), max_iter=3, random_state=0).fit(Xtr, ytr)
    with pytest.warns(ConvergenceWarning, match="lbfgs failed to converge"):
        MLPClassifier((8,), solver="lbfgs", max_iter=3, random_state=0).fit(Xtr, ytr)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)      # converged: no warning
        clf = MLPClassifier((8,), max_iter=500, tol=1e-2, learning_rate_init=0.01, random_state=0).fit(Xtr, ytr)
    assert clf.n_iter_ < 500


def test_unscaled_regression_target_warns_with_the_fix():
    X, y = load_diabetes(return_X_y=True)        # targets 25..346: far from unit scale
    Xtr, Xte, ytr, yte = train_test_split(StandardScaler().fit_transform(X), y, test_size=0.25, random_state=0)
    params = dict(hidden_layer_sizes=(32,), max_iter=300, random_state=0)       # scikit-learn's defaults else
    with pytest.warns(DataWarning, match="TransformedTargetRegressor"):
        raw = MLPRegressor(**params).fit(Xtr, ytr)
    fixed = TransformedTargetRegressor(regressor=MLPRegressor(**params), transformer=StandardScaler())
    with warnings.catch_warnings():
        warnings.simplefilter("error", DataWarning)             # standardized inside: no warning
        warnings.simplefilter("ignore", ConvergenceWarning)
        fixed.fit(Xtr, ytr)
    # the warned-about failure is real: worse than predicting the mean; the named fix repairs it
    assert raw.score(Xte, yte) < 0 < fixed.score(Xte, yte)
    with pytest.warns(DataWarning, match="tiny"):
        MLPRegressor(**{**params, "max_iter": 5}).fit(Xtr, ytr * 1e-4)


def test_onnx_export_of_a_fitted_estimator(digits, tmp_path):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from glassnet.files.onnx import to_onnx

    Xtr, Xte, ytr, _ = digits
    clf = MLPClassifier((16,), max_iter=20, random_state=0).fit(Xtr.astype(np.float32), ytr)
    to_onnx(clf.model_, tmp_path / "clf.onnx")
    session = ort.InferenceSession(str(tmp_path / "clf.onnx"), providers=["CPUExecutionProvider"])
    out = session.run(None, {"input": Xte.astype(np.float32)})[0]
    np.testing.assert_allclose(out, clf.predict_proba(Xte.astype(np.float32)), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match=r"exports itself: est\.to_onnx\(path\)"):   # the estimator, not its model_
        to_onnx(clf, tmp_path / "wrong.onnx")


def test_history_diagnosis_and_report(digits, tmp_path):
    Xtr, Xte, ytr, yte = digits
    clf = MLPClassifier((16,), early_stopping=True, max_iter=200, learning_rate_init=0.01, random_state=0)
    clf.fit(Xtr, ytr)
    h = clf.history_
    assert isinstance(h, g.History) and h.epochs == clf.n_iter_ == len(h["val_loss"]) == len(h["val_score"])
    assert h["val_score"] == clf.validation_scores_ and h.baseline_loss == pytest.approx(np.log(10), rel=0.01)
    assert clf.diagnosis_.verdict in g.glassbox.diagnostics.VERDICTS
    pytest.importorskip("matplotlib")
    clf.write_report(tmp_path / "report.html", Xte, yte)
    assert "glassnet report" in (tmp_path / "report.html").read_text()


def test_dropout_per_layer_activations_and_leaky_relu(digits):
    Xtr, Xte, ytr, yte = digits
    kw = dict(hidden_layer_sizes=(24, 12), activation=["tanh", "leaky_relu"], dropout=0.2, max_iter=40,
              learning_rate_init=0.01, random_state=7)
    a, b = MLPClassifier(**kw).fit(Xtr, ytr), MLPClassifier(**kw).fit(Xtr, ytr)
    assert a.loss_curve_ == b.loss_curve_                     # same seed, same masks, same run
    names = [type(layer).__name__ for layer in a.model_.layers]
    assert names == ["Dense", "Tanh", "Dropout", "Dense", "LeakyReLU", "Dropout", "Dense", "Softmax"]
    c = MLPClassifier(**{**kw, "dropout": 0.0}).fit(Xtr, ytr)
    assert c.loss_curve_ != a.loss_curve_ and a.score(Xte, yte) > 0.9


def test_float32_stays_float32_and_float64_stays_float64(digits):
    Xtr, Xte, ytr, _ = digits
    for dtype in (np.float32, np.float64):
        for solver in ("adam", "lbfgs"):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                clf = MLPClassifier((8,), solver=solver, max_iter=5, random_state=0).fit(Xtr.astype(dtype), ytr)
            assert clf.model_.dtype == dtype and clf.coefs_[0].dtype == dtype
            assert clf.predict_proba(Xte.astype(dtype)).dtype == dtype
    clf = MLPClassifier((8,), max_iter=30, dtype="float32", random_state=0).fit(Xtr, ytr)      # glassnet's option
    ref = MLPClassifier((8,), max_iter=30, random_state=0).fit(Xtr, ytr)
    assert clf.coefs_[0].dtype == np.float32 and clf.predict_proba(Xte).dtype == np.float32
    np.testing.assert_allclose(clf.loss_curve_, ref.loss_curve_, rtol=1e-4)     # same run, float32 rounding


def test_string_labels_pandas_and_feature_names():
    pd = pytest.importorskip("pandas")
    X, y = load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])
    cols = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    clf = MLPClassifier((16,), max_iter=300, learning_rate_init=0.01, random_state=0)
    clf.fit(pd.DataFrame(X, columns=cols), pd.Series(names[y]))
    assert list(clf.feature_names_in_) == cols and list(clf.classes_) == list(names)
    pred = clf.predict(pd.DataFrame(X, columns=cols))
    assert np.mean(pred == names[y]) > 0.9
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(pd.DataFrame(X, columns=cols[::-1]))


def test_bad_parameters_and_misuse_raise_sklearn_error_types(digits):
    Xtr, _, ytr, _ = digits
    for bad in (dict(activation="swish"), dict(solver="newton"), dict(learning_rate="cyclic"), dict(alpha=-1.0),
                dict(max_iter=2.5), dict(hidden_layer_sizes=(4, 0)), dict(momentum=1.5), dict(batch_size=0),
                dict(validation_fraction=1.0), dict(activation=["relu", "tanh"]), dict(dropout=1.0)):
        with pytest.raises(ParameterError) as info:
            MLPClassifier(**bad).fit(Xtr, ytr)
        assert isinstance(info.value, ValueError) and isinstance(info.value, TypeError)   # as InvalidParameterError
        assert isinstance(info.value, g.GlassnetError)
    with pytest.raises(ParameterError, match="poisson"):
        MLPRegressor(loss="poisson").fit(Xtr, ytr)
    with pytest.raises(ParameterError, match="dropout"):
        MLPClassifier(solver="lbfgs", dropout=0.1).fit(Xtr, ytr)
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")     # as in scikit-learn
    with pytest.raises(ValueError, match="classes must be passed"):
        MLPClassifier().partial_fit(Xtr, ytr)
    with pytest.raises(ValueError, match="early_stopping"):
        MLPClassifier(early_stopping=True).partial_fit(Xtr, ytr, classes=np.arange(10))
    clf = MLPClassifier((4,), random_state=0).partial_fit(Xtr[:50], ytr[:50], classes=np.arange(10))
    with pytest.raises(ValueError, match="not in `self.classes_`"):
        clf.partial_fit(Xtr[:3], [0, 1, 11])
    with pytest.raises(ValueError, match="sample_weight"):
        MLPClassifier().fit(Xtr, ytr, sample_weight=np.ones(3))


@settings(max_examples=15, deadline=None)
@given(n=st.integers(3, 40), d=st.integers(1, 6), hidden=st.lists(st.integers(1, 5), max_size=2),
       k=st.integers(1, 3), solver=st.sampled_from(["adam", "sgd", "lbfgs"]), sparse=st.booleans())
def test_shapes_for_any_data(n, d, hidden, k, solver, sparse):
    rng = np.random.default_rng(n * 7 + d)
    X = rng.normal(size=(n, d))
    Y = rng.normal(size=(n, k))
    Xin = sp.csr_matrix(X) if sparse else X
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reg = MLPRegressor(hidden_layer_sizes=tuple(hidden), solver=solver, max_iter=3, random_state=0)
        reg.fit(Xin, Y[:, 0] if k == 1 else Y)
    units = [d, *hidden, k]
    assert [c.shape for c in reg.coefs_] == list(zip(units[:-1], units[1:]))
    assert reg.predict(Xin).shape == ((n,) if k == 1 else (n, k))
    assert np.isfinite(reg.predict(X)).all() and reg.n_layers_ == len(hidden) + 2


def test_clone_and_grid_search(digits):
    from sklearn.model_selection import GridSearchCV

    Xtr, Xte, ytr, yte = digits
    grid = GridSearchCV(MLPClassifier(max_iter=40, random_state=0),
                        {"hidden_layer_sizes": [(4,), (32,)], "solver": ["adam", "lbfgs"]}, cv=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        grid.fit(Xtr, ytr)
    assert grid.best_params_["hidden_layer_sizes"] == (32,) and grid.score(Xte, yte) > 0.9
    est = MLPClassifier((5, 3), activation=["tanh", "relu"], dropout=0.1, random_state=3)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and not hasattr(twin, "model_")


# -- acceptance: a script written for scikit-learn runs unchanged after the import switch ----------------
USER_SCRIPT = '''
import warnings
import numpy as np
import scipy.sparse as sp
from sklearn.datasets import load_diabetes, load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from sklearn.neural_network import MLPClassifier, MLPRegressor

out = {}
X, y = load_digits(return_X_y=True)
Xtr, Xte, ytr, yte = train_test_split(X / 16, y, test_size=0.3, random_state=1, stratify=y)
clf = MLPClassifier(hidden_layer_sizes=(64,), activation="relu", solver="adam", alpha=1e-4, batch_size="auto",
                    learning_rate="constant", learning_rate_init=1e-3, power_t=0.5, max_iter=200, shuffle=True,
                    random_state=0, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                    nesterovs_momentum=True, early_stopping=True, validation_fraction=0.1, beta_1=0.9,
                    beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000)
clf.fit(Xtr, ytr)
assert len(clf.coefs_) == len(clf.intercepts_) == clf.n_layers_ - 1 == 2
assert clf.coefs_[0].shape == (64, 64) and clf.intercepts_[1].shape == (10,)
assert clf.n_outputs_ == 10 and clf.out_activation_ == "softmax" and clf.n_features_in_ == 64
assert len(clf.validation_scores_) == clf.n_iter_ == len(clf.loss_curve_) and clf.t_ % clf.n_iter_ == 0
assert clf.best_validation_score_ == max(clf.validation_scores_) and clf.best_loss_ is None
assert np.allclose(clf.predict_proba(Xte).sum(axis=1), 1) and clf.predict_log_proba(Xte).shape == (len(Xte), 10)
out["adam, early stopping"] = ("acc", yte, clf.predict(Xte))

for schedule in ("invscaling", "adaptive"):
    sgd = MLPClassifier(hidden_layer_sizes=(32,), solver="sgd", learning_rate=schedule, learning_rate_init=0.2,
                        momentum=0.9, nesterovs_momentum=False, max_iter=80, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sgd.fit(Xtr, ytr)
    out["sgd " + schedule] = ("acc", yte, sgd.predict(Xte))

lbfgs = MLPClassifier(hidden_layer_sizes=(32,), solver="lbfgs", alpha=1e-3, max_iter=150, max_fun=15000,
                      random_state=0)
with warnings.catch_warnings(record=True):
    warnings.simplefilter("always")
    lbfgs.fit(Xtr, ytr)
out["lbfgs"] = ("acc", yte, lbfgs.predict(Xte))

stream = MLPClassifier(hidden_layer_sizes=(32,), learning_rate_init=0.01, random_state=0)
for epoch in range(15):
    for part in np.array_split(np.arange(len(Xtr)), 4):
        stream.partial_fit(Xtr[part], ytr[part], classes=np.arange(10))
assert len(stream.loss_curve_) == 60 and stream.t_ == 15 * len(Xtr)
out["partial_fit"] = ("acc", yte, stream.predict(Xte))

weights = np.where(ytr == 8, 3.0, 1.0)
weighted = MLPClassifier(hidden_layer_sizes=(32,), max_iter=100, learning_rate_init=0.01, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    weighted.fit(Xtr, ytr, sample_weight=weights)
out["sample_weight"] = ("acc", yte, weighted.predict(Xte))

sparse = MLPClassifier(hidden_layer_sizes=(32,), max_iter=60, learning_rate_init=0.01, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    sparse.fit(sp.csr_matrix(Xtr), ytr)
out["sparse"] = ("acc", yte, sparse.predict(sp.csr_matrix(Xte)))

Ytr = np.column_stack([ytr % 2 == 0, ytr >= 5, ytr % 3 == 0]).astype(int)
Yte = np.column_stack([yte % 2 == 0, yte >= 5, yte % 3 == 0]).astype(int)
multi = MLPClassifier(hidden_layer_sizes=(32,), max_iter=100, learning_rate_init=0.01, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    multi.fit(Xtr, Ytr)
assert multi.out_activation_ == "logistic" and multi.predict_proba(Xte).shape == (len(Xte), 3)
out["multilabel"] = ("acc", Yte, multi.predict(Xte))

warm = MLPClassifier(hidden_layer_sizes=(16,), max_iter=10, warm_start=True, random_state=0)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    warm.fit(Xtr, ytr)
    warm.fit(Xtr, ytr)
assert len(warm.loss_curve_) == 20 and any(issubclass(w.category, ConvergenceWarning) for w in caught)

Xd, yd = load_diabetes(return_X_y=True)
Xd = StandardScaler().fit_transform(Xd)
yd = (yd - yd.mean()) / yd.std()
Xa, Xb, ya, yb = train_test_split(Xd, yd, test_size=0.3, random_state=0)
reg = MLPRegressor(loss="squared_error", hidden_layer_sizes=(32,), activation="tanh", solver="adam", alpha=1.0,
                   learning_rate_init=0.01, max_iter=300, early_stopping=True, validation_fraction=0.2,
                   n_iter_no_change=20, random_state=0)
reg.fit(Xa, ya)
assert reg.out_activation_ == "identity" and reg.best_validation_score_ == max(reg.validation_scores_)
out["regressor adam"] = ("r2", yb, reg.predict(Xb))
reg2 = MLPRegressor(hidden_layer_sizes=(16,), solver="lbfgs", alpha=3.0, max_iter=300, random_state=0)
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ConvergenceWarning)
    reg2.fit(Xa, ya)
out["regressor lbfgs"] = ("r2", yb, reg2.predict(Xb))
reg3 = MLPRegressor(hidden_layer_sizes=(16,), solver="sgd", learning_rate_init=0.01, random_state=0)
for _ in range(50):
    reg3.partial_fit(Xa, ya)
out["regressor partial_fit"] = ("r2", yb, reg3.predict(Xb))
'''


def _run_user_script(source):
    scope = {}
    exec(compile(source, "<user script>", "exec"), scope)  # noqa: S102 - our own test script
    return scope["out"]


@pytest.mark.slow
def test_sklearn_user_script_runs_unchanged_with_the_same_accuracy():
    from sklearn.metrics import accuracy_score, r2_score

    switched = USER_SCRIPT.replace("from sklearn.neural_network import", "from glassnet.adapters.sklearn import")
    assert switched != USER_SCRIPT
    theirs, ours = _run_user_script(USER_SCRIPT), _run_user_script(switched)
    assert theirs.keys() == ours.keys()
    rng = np.random.default_rng(0)
    for name, (kind, truth, pred) in theirs.items():
        mine = ours[name][2]
        score = accuracy_score if kind == "acc" else r2_score
        a, b = score(truth, pred), score(truth, mine)
        # the noise of a test score: its bootstrap standard deviation over the test rows (scikit-learn's model)
        boots = [score(truth[i], pred[i]) for i in (rng.integers(0, len(truth), len(truth)) for _ in range(200))]
        noise = float(np.std(boots))
        assert abs(a - b) <= 3 * noise, (name, a, b, noise)


def test_class_weight_balanced_recovers_a_rare_class():
    X, y = load_digits(return_X_y=True)
    X, y = X / 16.0, (y == 8).astype(int)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(y))
    train, test = order[:900], order[900:]
    train = train[(y[train] == 0) | (rng.random(len(train)) < 0.1)]          # about 9 eights left
    recall = {}
    for cw in (None, "balanced"):
        clf = g.adapters.sklearn.MLPClassifier((16,), max_iter=30, random_state=0, class_weight=cw)
        pred = clf.fit(X[train], y[train]).predict(X[test])
        recall[cw] = float((pred[y[test] == 1] == 1).mean())
    assert recall["balanced"] > recall[None] + 0.1, recall


def test_report_names_the_classes_of_y():
    """String labels (iris's species names): the report's per-class figures use them, not 0, 1, 2."""
    pytest.importorskip("matplotlib")
    import tempfile

    from sklearn.datasets import load_iris

    data = load_iris()
    y = data.target_names[data.target]
    clf = MLPClassifier((8,), max_iter=30, learning_rate_init=0.01, random_state=0)
    with pytest.warns(ConvergenceWarning), tempfile.TemporaryDirectory() as tmp:
        clf.fit(data.data, y)
        text = open(clf.write_report(f"{tmp}/r.html", data.data, y), encoding="utf-8").read()
    assert all(f"{name}: " in text for name in data.target_names)
