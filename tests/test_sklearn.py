"""glassnet.adapters.sklearn: scikit-learn's estimator checks, meta-estimators, pandas, dtypes, real data."""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_iris  # noqa: E402
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, train_test_split  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import glassnet as g  # noqa: E402
from glassnet.adapters.sklearn import MLPClassifier, MLPRegressor  # noqa: E402

# No expected failures: every check scikit-learn 1.9 yields for these estimators passes.
# (multi-label classification is not supported, so the classifier keeps the default
# multi_label=False tag and those checks are not generated.)
CHECKED = [
    MLPClassifier((16,), learning_rate_init=0.01, random_state=0),
    MLPRegressor((16,), learning_rate_init=0.01, random_state=0),
]


@parametrize_with_checks(CHECKED)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


def test_digits_accuracy_and_fitted_attributes():
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)
    clf = MLPClassifier((64,), epochs=60, learning_rate_init=0.005, random_state=0).fit(Xtr, ytr)
    assert clf.score(Xte, yte) > 0.95
    assert clf.n_features_in_ == 64
    assert list(clf.classes_) == list(range(10))
    assert len(clf.loss_curve_) == clf.n_epochs_ == clf.history_.epochs
    assert clf.n_iterations_ == clf.n_epochs_ * int(np.ceil(len(Xtr) / 200))
    assert clf.loss_curve_[-1] < clf.loss_curve_[0] / 5
    assert clf.validation_loss_curve_ is None
    proba = clf.predict_proba(Xte)
    assert proba.shape == (len(Xte), 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(clf.predict_log_proba(Xte[:5]), np.log(proba[:5]), rtol=1e-6)
    assert isinstance(clf.model_, g.Sequential)


def test_string_labels_pandas_and_feature_names(iris):
    pd = pytest.importorskip("pandas")
    Xtr, Xte, ytr, yte = iris
    names = np.array(["setosa", "versicolor", "virginica"])
    cols = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    dtr = pd.DataFrame(Xtr, columns=cols)
    clf = MLPClassifier((16,), epochs=150, learning_rate_init=0.01, random_state=0)
    clf.fit(dtr, pd.Series(names[ytr]))
    assert list(clf.feature_names_in_) == cols
    assert list(clf.classes_) == list(names)
    pred = clf.predict(pd.DataFrame(Xte, columns=cols))
    assert pred.dtype.kind in "UO" and set(pred) <= set(names)
    assert np.mean(pred == names[yte]) > 0.9
    with pytest.warns(UserWarning, match="feature names"):
        clf.predict(Xte)                         # fitted with names, given none: sklearn warns
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(pd.DataFrame(Xte, columns=cols[::-1]))


def test_binary_is_softmax_over_two(iris):
    X, y = load_breast_cancer(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)
    clf = make_pipeline(StandardScaler(), MLPClassifier((16,), epochs=50, learning_rate_init=0.01,
                                                         random_state=0))
    clf.fit(Xtr, ytr)
    net = clf[-1]
    assert type(net.model_.layers[-1]).__name__ == "Softmax"
    assert net.model_.layers[-2].n_out == 2
    assert net.predict_proba(clf[0].transform(Xte)).shape == (len(Xte), 2)
    assert clf.score(Xte, yte) > 0.95


def test_float32_stays_float32_and_float64_stays_float64(iris):
    Xtr, Xte, ytr, _ = iris
    clf32 = MLPClassifier((8,), epochs=5, random_state=0).fit(Xtr.astype(np.float32), ytr)
    assert clf32.model_.dtype == np.float32
    assert clf32.predict_proba(Xte.astype(np.float32)).dtype == np.float32
    clf64 = MLPClassifier((8,), epochs=5, random_state=0).fit(Xtr, ytr)
    assert clf64.model_.dtype == np.float64
    assert clf64.predict_proba(Xte).dtype == np.float64
    reg = MLPRegressor((8,), epochs=5, random_state=0).fit(Xtr.astype(np.float32), Xtr[:, 0].astype(np.float32))
    assert reg.predict(Xte.astype(np.float32)).dtype == np.float32


def test_pipeline_gridsearch_and_clone(iris):
    Xtr, Xte, ytr, yte = iris
    pipe = make_pipeline(StandardScaler(), MLPClassifier(epochs=60, random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)],
                               "mlpclassifier__learning_rate_init": [0.001, 0.02]}, cv=3)
    grid.fit(Xtr, ytr)
    assert grid.best_params_["mlpclassifier__learning_rate_init"] == 0.02
    assert grid.score(Xte, yte) > 0.9
    est = MLPClassifier((5, 3), activation=["tanh", "relu"], dropout=0.1, random_state=3)
    twin = clone(est)
    assert twin.get_params() == est.get_params() and twin is not est
    assert not hasattr(twin, "model_")


def test_same_seed_same_model_and_per_layer_activations(iris):
    Xtr, _, ytr, _ = iris
    kw = dict(hidden_layer_sizes=(6, 5), activation=["tanh", "leaky_relu"], dropout=0.2, epochs=20,
              random_state=7)
    a, b = MLPClassifier(**kw).fit(Xtr, ytr), MLPClassifier(**kw).fit(Xtr, ytr)
    assert a.loss_curve_ == b.loss_curve_
    names = [type(layer).__name__ for layer in a.model_.layers]
    assert names == ["Dense", "Tanh", "Dropout", "Dense", "LeakyReLU", "Dropout", "Dense", "Softmax"]
    c = MLPClassifier(**{**kw, "random_state": 8}).fit(Xtr, ytr)
    assert c.loss_curve_ != a.loss_curve_


def test_alpha_uses_sklearn_scaling(iris):
    Xtr, _, ytr, _ = iris
    clf = MLPClassifier((8,), alpha=0.5, batch_size=16, epochs=1, random_state=0).fit(Xtr, ytr)
    dense = [layer for layer in clf.model_.layers if isinstance(layer, g.Dense)]
    assert all(layer.l2 == pytest.approx(0.5 / 16) for layer in dense)
    auto = MLPClassifier((8,), alpha=0.5, epochs=1, random_state=0).fit(Xtr, ytr)   # auto: min(200, n)
    assert auto.model_.layers[0].l2 == pytest.approx(0.5 / len(Xtr))
    reg = MLPRegressor((8,), alpha=0.5, batch_size=16, epochs=1, random_state=0).fit(Xtr, Xtr[:, 0])
    assert reg.model_.layers[0].l2 == pytest.approx(2 * 0.5 / 16)     # MSE without sklearn's 1/2


def test_early_stopping_holds_out_and_restores_best():
    X, y = load_digits(return_X_y=True)
    clf = MLPClassifier((32,), early_stopping=True, validation_fraction=0.2, n_iter_no_change=3, epochs=500,
                        learning_rate_init=0.01, random_state=0).fit(X / 16, y)
    curve = clf.validation_loss_curve_
    assert curve is not None and len(curve) == clf.n_epochs_ < 500
    best = int(np.argmin(curve))
    assert clf.n_epochs_ == best + 1 + 4             # stops after patience+1 epochs without improvement
    assert clf.best_loss_ == min(curve)
    # The restored weights are the best epoch's: their validation loss is the curve's minimum, so
    # the training loss they give on the full data differs from the last epoch's.
    assert clf.history_.best_epoch == best


def test_plateau_on_training_loss_stops_like_sklearn(iris):
    Xtr, _, ytr, _ = iris
    clf = MLPClassifier((8,), epochs=5000, tol=1e-2, n_iter_no_change=2, learning_rate_init=0.01,
                        random_state=0).fit(Xtr, ytr)
    assert clf.n_epochs_ < 5000
    last = clf.loss_curve_[-3:]
    assert min(last) > min(clf.loss_curve_[:-3]) - 1e-2


def test_partial_fit_streams_and_extends_history(iris):
    Xtr, Xte, ytr, yte = iris
    clf = MLPClassifier((16,), learning_rate_init=0.02, random_state=0)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(Xtr, ytr)
    for _ in range(60):
        clf.partial_fit(Xtr, ytr, classes=[0, 1, 2])
    assert len(clf.loss_curve_) == 60 and clf.n_epochs_ == 60
    assert clf._optimizer_state["t"] == 60            # Adam's step count carried across calls
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.score(Xte, yte) > 0.85
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(Xtr[:3], [0, 1, 5])
    reg = MLPRegressor((8,), random_state=0)
    reg.partial_fit(Xtr, Xtr[:, 0])
    reg.partial_fit(Xtr, Xtr[:, 0])
    assert reg.n_epochs_ == 2
    with pytest.raises(ValueError, match="column"):
        reg.partial_fit(Xtr, Xtr[:, :2])


def test_regressor_on_diabetes_and_multioutput():
    X, y = load_diabetes(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0)
    mu, sd = ytr.mean(), ytr.std()
    reg = make_pipeline(StandardScaler(), MLPRegressor((32,), epochs=200, learning_rate_init=0.01,
                                                       alpha=10.0, random_state=0))
    reg.fit(Xtr, (ytr - mu) / sd)
    assert reg.score(Xte, (yte - mu) / sd) > 0.33
    # Same alpha, same objective up to sklearn's 1/2 on the squared error: with a strong penalty
    # both libraries reach (nearly) the same minimum whatever their initial weights.
    from sklearn.neural_network import MLPRegressor as SkMLPRegressor

    ref = make_pipeline(StandardScaler(), SkMLPRegressor(hidden_layer_sizes=(32,), max_iter=200, alpha=10.0,
                                                         learning_rate_init=0.01, random_state=0))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")               # sklearn's ConvergenceWarning
        ref.fit(Xtr, (ytr - mu) / sd)
    assert reg[-1].loss_curve_[-1] / 2 == pytest.approx(ref[-1].loss_curve_[-1], rel=0.1)
    Y2 = np.column_stack([(ytr - mu) / sd, X[: len(ytr), 2] * 10])
    multi = MLPRegressor((16,), epochs=100, learning_rate_init=0.01, random_state=0).fit(Xtr, Y2)
    assert multi.predict(Xte).shape == (len(Xte), 2)


def test_bad_parameters_raise_glassnet_errors(iris):
    Xtr, _, ytr, _ = iris
    with pytest.raises(g.ValidationError, match="activation"):
        MLPClassifier(activation="swish").fit(Xtr, ytr)
    with pytest.raises(g.ValidationError, match="2 activations for 1 hidden"):
        MLPClassifier((4,), activation=["relu", "tanh"]).fit(Xtr, ytr)
    with pytest.raises(g.ValidationError, match="optimizer"):
        MLPClassifier(optimizer="lbfgs").fit(Xtr, ytr)
    with pytest.raises(g.ValidationError, match="dropout"):
        MLPClassifier(dropout=1.0).fit(Xtr, ytr)
    with pytest.raises(g.GlassnetTypeError, match="epochs"):
        MLPClassifier(epochs=2.5).fit(Xtr, ytr)
    with pytest.raises(ValueError, match="1 class"):
        MLPClassifier().fit(Xtr, np.zeros(len(Xtr)))
    with pytest.raises(NotFittedError):
        MLPRegressor().predict(Xtr)


def test_optimizer_instance_is_not_mutated(iris):
    Xtr, _, ytr, _ = iris
    opt = g.SGD(lr=0.05, momentum=0.9)
    clf = MLPClassifier((8,), optimizer=opt, epochs=30, random_state=0).fit(Xtr, ytr)
    assert opt.params == [] and opt.t == 0
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]


def test_diagnosis_attribute(iris):
    pytest.importorskip("glassnet.glassbox.diagnostics")
    Xtr, _, ytr, _ = iris
    clf = MLPClassifier((16,), early_stopping=True, epochs=40, learning_rate_init=0.01, random_state=0)
    clf.fit(Xtr, ytr)
    d = clf.diagnosis_
    assert isinstance(d.verdict, str) and d.verdict
    with pytest.raises(NotFittedError):
        _ = MLPClassifier().diagnosis_
