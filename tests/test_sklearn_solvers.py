"""glassnet's MLP estimators follow scikit-learn's definitions: same runs, same objective, same rules.

With the same ``random_state`` both libraries start from the same weights and see the same mini-batches, so
in float64 ``solver='sgd'`` must reproduce scikit-learn's run to rounding error, and L-BFGS (same objective,
same gradient) scipy's same iterates. Adam differs only in where epsilon sits (see the module notes).
"""

import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import scipy.sparse as sp  # noqa: E402
from sklearn import neural_network as skl  # noqa: E402
from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, make_multilabel_classification  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import glassnet.adapters.sklearn as gsk  # noqa: E402
from glassnet.adapters.sklearn import training  # noqa: E402
from glassnet.nn.gradcheck import numeric_gradient, rel_error  # noqa: E402
from glassnet.train import fastpath  # noqa: E402


def _digits():
    X, y = load_digits(return_X_y=True)
    return X[:600] / 16.0, y[:600]


def _cancer():
    X, y = load_breast_cancer(return_X_y=True)
    return StandardScaler().fit_transform(X), y


def _multilabel():
    X, Y = make_multilabel_classification(n_samples=300, n_features=12, n_classes=4, random_state=0)
    return X / X.max(), Y


def _diabetes(outputs=1):
    X, y = load_diabetes(return_X_y=True)
    y = (y - y.mean()) / y.std()
    if outputs == 1:
        return X, y
    return X, np.column_stack([y, X[:, 2] * 10, -y])[:, :outputs]


PROBLEMS = {"multiclass": ("clf", _digits), "binary": ("clf", _cancer), "multilabel": ("clf", _multilabel),
            "regression": ("reg", _diabetes), "multi-output": ("reg", lambda: _diabetes(3))}


def _pair(kind, **params):
    sk_cls, gn_cls = ((skl.MLPClassifier, gsk.MLPClassifier) if kind == "clf" else (skl.MLPRegressor, gsk.MLPRegressor))
    return sk_cls(**params), gn_cls(**params)


def _fit_both(kind, X, y, fit_kw=None, **params):
    a, b = _pair(kind, **params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")           # ConvergenceWarning in both, on purpose (few epochs)
        a.fit(X, y, **(fit_kw or {}))
        b.fit(X, y, **(fit_kw or {}))
    return a, b


def _assert_same_weights(a, b, atol=1e-9):
    assert len(a.coefs_) == len(b.coefs_)
    for u, v in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_):
        assert u.shape == v.shape
        np.testing.assert_allclose(v, u, rtol=0, atol=atol)


@pytest.mark.parametrize("problem", sorted(PROBLEMS))
@pytest.mark.parametrize("schedule", ["constant", "invscaling", "adaptive"])
def test_sgd_reproduces_sklearn_run(problem, schedule):
    kind, data = PROBLEMS[problem]
    X, y = data()
    # batch 64 does not divide n: the smaller last batch must carry its own penalty scaling.
    params = dict(hidden_layer_sizes=(12, 7), activation="tanh", solver="sgd", learning_rate=schedule,
                  learning_rate_init=0.05, alpha=1e-3, batch_size=64, momentum=0.8, max_iter=25, random_state=3,
                  tol=1e-3, n_iter_no_change=2)
    a, b = _fit_both(kind, X, y, **params)
    assert b.n_iter_ == a.n_iter_ and b.t_ == a.t_ and b.n_layers_ == a.n_layers_ == 4
    assert b.n_outputs_ == a.n_outputs_ and b.out_activation_ == a.out_activation_
    _assert_same_weights(a, b)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)
    assert b.best_loss_ == pytest.approx(a.best_loss_, rel=1e-10)
    np.testing.assert_allclose(b.predict(X), a.predict(X), rtol=0, atol=1e-9)


def test_adaptive_schedule_really_changes_the_rate():
    X, y = _digits()
    params = dict(hidden_layer_sizes=(8,), solver="sgd", learning_rate="adaptive", learning_rate_init=0.5,
                  batch_size=100, max_iter=60, random_state=0, tol=0.5, n_iter_no_change=1)
    a, b = _fit_both("clf", X, y, **params)
    assert b.n_iter_ == a.n_iter_ < 60                     # stopped once the rate fell below 1e-6
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("problem", ["multiclass", "binary", "multilabel", "regression"])
def test_early_stopping_reproduces_sklearn(problem, weighted):
    kind, data = PROBLEMS[problem]
    X, y = data()
    params = dict(hidden_layer_sizes=(10,), solver="sgd", learning_rate_init=0.05, max_iter=40, random_state=1,
                  early_stopping=True, validation_fraction=0.2, n_iter_no_change=3, tol=1e-3)
    fit_kw = {"sample_weight": np.random.default_rng(3).uniform(0.0, 3.0, len(X))} if weighted else None
    a, b = _fit_both(kind, X, y, fit_kw, **params)
    assert b.n_iter_ == a.n_iter_
    np.testing.assert_allclose(b.validation_scores_, a.validation_scores_, rtol=1e-10)
    assert b.best_validation_score_ == pytest.approx(a.best_validation_score_, rel=1e-12)
    assert b.best_loss_ is None and a.best_loss_ is None
    _assert_same_weights(a, b)                             # the best epoch's weights, restored
    assert b.history_.restored_best and len(b.history_["val_loss"]) == b.n_iter_


@pytest.mark.parametrize("problem", ["multiclass", "binary", "multilabel"])
def test_validation_accuracy_is_accuracy_score(problem):
    """The early-stopping score, taken from the indicator targets, is accuracy_score's number on the labels,
    ties at the threshold 0.5 and in the arg-max included."""
    from sklearn.metrics import accuracy_score

    kind, data = PROBLEMS[problem]
    X, y = data()
    est = gsk.MLPClassifier(hidden_layer_sizes=(4,), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    Y = est._validate_input(X, y, False, reset=False)[1].astype(np.float64)
    rng = np.random.default_rng(0)
    for trial in range(20):
        out = rng.choice([0.0, 0.25, 0.5, 0.75, 1.0], size=Y.shape)    # coarse values: ties are common
        if est.out_activation_ == "softmax":
            out /= np.maximum(out.sum(axis=1, keepdims=True), 1e-12)
        sw = rng.uniform(0.0, 2.0, len(y)) if trial % 2 else None
        expected = accuracy_score(y, est._labels(out), sample_weight=sw)
        assert est._score_outputs(out, y, Y, sw) == expected


@pytest.mark.parametrize("outputs", [1, 3])
def test_validation_r2_is_r2_score(outputs):
    """The regressor's early-stopping score is r2_score's number: dtypes, weights, constant and perfect targets."""
    from sklearn.metrics import r2_score

    X, y = _diabetes(outputs)
    est = gsk.MLPRegressor(hidden_layer_sizes=(4,), max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X, y)
    rng = np.random.default_rng(0)
    Y = y.reshape(len(y), -1)
    for trial in range(12):
        target = Y.copy()
        if trial % 4 == 1:
            target[:, 0] = 2.5                                    # a constant output: r2_score's special cases
        out = target + rng.normal(0, 0.5, target.shape) * (trial % 3 != 2)   # every third: a perfect fit
        out = out.astype(np.float32 if trial % 2 else np.float64)
        sw = rng.uniform(0.0, 2.0, len(y)) if trial % 5 < 2 else None
        t = target.ravel() if outputs == 1 else target
        expected = r2_score(t, out.ravel() if outputs == 1 else out, sample_weight=sw)
        assert est._score_outputs(out, t, None, sw) == expected, trial


@pytest.mark.parametrize("solver", ["sgd", "lbfgs"])
@pytest.mark.parametrize("problem", ["multiclass", "multilabel", "regression"])
def test_sample_weight_reproduces_sklearn(problem, solver):
    kind, data = PROBLEMS[problem]
    X, y = data()
    w = np.random.default_rng(0).uniform(0.0, 3.0, len(X))
    params = dict(hidden_layer_sizes=(9,), solver=solver, learning_rate_init=0.05, alpha=1e-2, batch_size=50,
                  max_iter=15, random_state=0)
    a, b = _fit_both(kind, X, y, fit_kw={"sample_weight": w}, **params)
    _assert_same_weights(a, b, atol=1e-8)
    assert b.loss_ == pytest.approx(a.loss_, rel=1e-9)
    # weighting matters: an unweighted fit ends elsewhere
    c = _pair(kind, **params)[1]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c.fit(X, y)
    assert np.abs(c.coefs_[0] - b.coefs_[0]).max() > 1e-3


@pytest.mark.parametrize("problem", ["multiclass", "binary", "regression", "multi-output"])
def test_lbfgs_reproduces_sklearn(problem):
    kind, data = PROBLEMS[problem]
    X, y = data()
    params = dict(hidden_layer_sizes=(10,), activation="logistic", solver="lbfgs", alpha=1e-3, max_iter=25,
                  random_state=0)
    a, b = _fit_both(kind, X, y, **params)
    assert b.n_iter_ == a.n_iter_
    assert b.loss_ == pytest.approx(a.loss_, rel=1e-8)
    _assert_same_weights(a, b, atol=1e-6)


@pytest.mark.parametrize("problem", ["multiclass", "multilabel", "regression"])
def test_adam_follows_sklearn_up_to_epsilon_placement(problem):
    kind, data = PROBLEMS[problem]
    X, y = data()
    params = dict(hidden_layer_sizes=(16,), max_iter=20, random_state=0, learning_rate_init=0.01)
    # epsilon -> 0 removes the one difference (where epsilon is added): then the runs agree to rounding
    a, b = _fit_both(kind, X, y, epsilon=1e-30, **params)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)
    _assert_same_weights(a, b, atol=1e-8)
    # with the default epsilon the runs differ only through weights whose gradients are ~epsilon (digits'
    # always-blank pixels): the curves stay within a percent
    a, b = _fit_both(kind, X, y, **params)
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-2)


def test_partial_fit_and_warm_start_reproduce_sklearn():
    X, y = _digits()
    params = dict(hidden_layer_sizes=(10,), solver="sgd", learning_rate="invscaling", learning_rate_init=0.2,
                  random_state=0, max_iter=4)
    a, b = _pair("clf", **params)
    for part in np.array_split(np.arange(len(X)), 5):
        a.partial_fit(X[part], y[part], classes=np.arange(10))
        b.partial_fit(X[part], y[part], classes=np.arange(10))
    assert b.t_ == a.t_ == len(X) and b.n_iter_ == a.n_iter_ == 1
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)
    _assert_same_weights(a, b)
    a, b = _pair("clf", **{**params, "warm_start": True})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for est in (a, b):
            est.fit(X, y)
            est.fit(X, y)                                  # continues from the fitted weights
    assert len(b.loss_curve_) == len(a.loss_curve_) == 8 and b.t_ == a.t_
    np.testing.assert_allclose(b.loss_curve_, a.loss_curve_, rtol=1e-10)


def test_sparse_input_matches_dense_and_is_densified_batch_by_batch(monkeypatch):
    X, y = _digits()
    params = dict(hidden_layer_sizes=(10,), solver="sgd", learning_rate_init=0.1, batch_size=64, max_iter=5,
                  random_state=0)
    dense = gsk.MLPClassifier(**params).fit(X, y)
    seen = []
    real = training.dense_rows

    def spy(M, rows, dtype):
        out = real(M, rows, dtype)
        if sp.issparse(M):
            seen.append(out.shape[0])
        return out

    monkeypatch.setattr(training, "dense_rows", spy)
    sparse = gsk.MLPClassifier(**params).fit(sp.csr_matrix(X), y)
    assert seen and max(seen) <= 64                        # never more than one batch dense at a time
    np.testing.assert_allclose(sparse.loss_curve_, dense.loss_curve_, rtol=1e-12)
    _assert_same_weights(dense, sparse, atol=1e-12)
    ref = skl.MLPClassifier(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref.fit(sp.csr_matrix(X), y)
    _assert_same_weights(ref, sparse)
    np.testing.assert_array_equal(sparse.predict(sp.csc_matrix(X)), dense.predict(X))


# -- the L-BFGS objective ---------------------------------------------------------------------
def _objective(kind, X, y, sw=None, dtype=np.float64, alpha=0.3):
    est = (gsk.MLPClassifier if kind == "clf" else gsk.MLPRegressor)(hidden_layer_sizes=(5, 4), activation="tanh",
                                                                     solver="lbfgs", max_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X.astype(dtype), y)
    Y = est._validate_input(X, y, False, reset=False)[1].astype(dtype)
    return est, training.Objective(est.model_, X.astype(dtype), Y, sw, alpha, est._scale(), est._loss(), chunk=37,
                               value_scale=0.5 if kind == "reg" else None)


@pytest.mark.parametrize("problem", ["multiclass", "binary", "multilabel", "regression"])
@pytest.mark.parametrize("weighted", [False, True])
def test_lbfgs_objective_gradient_matches_finite_differences(problem, weighted):
    kind, data = PROBLEMS[problem]
    X, y = data()
    X, y = X[:90], y[:90]
    sw = np.random.default_rng(1).uniform(0.2, 2.0, len(X)) if weighted else None
    for readable in (False, True):
        if readable:
            with fastpath.readable():
                _, f = _objective(kind, X, y, sw)
        else:
            _, f = _objective(kind, X, y, sw)
        assert (f.fast is None) == readable
        theta = f.theta()
        _, grad = f(theta)
        numeric = numeric_gradient(lambda f=f, theta=theta: f(theta)[0], theta, eps=1e-6)
        f.release()
        assert rel_error(grad, numeric) < 1e-6


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("problem", ["multiclass", "multilabel", "multi-output"])
def test_fast_lbfgs_objective_equals_the_readable_one(problem, dtype, tol):
    kind, data = PROBLEMS[problem]
    X, y = data()
    _, fast = _objective(kind, X, y, dtype=dtype)
    with fastpath.readable():
        _, slow = _objective(kind, X, y, dtype=dtype)
    assert fast.fast is not None and slow.fast is None
    theta = fast.theta()
    theta += np.random.default_rng(0).normal(0, 0.1, theta.shape)
    (v1, g1), (v2, g2) = fast(theta), slow(theta)
    fast.release()
    assert abs(v1 - v2) <= tol * max(1.0, abs(v2))
    assert rel_error(g1, g2) < tol


def test_lbfgs_objective_is_sklearns():
    """J(theta) equals scikit-learn's own loss at the same parameters (multilabel: summed over labels)."""
    for problem in ("multiclass", "multilabel", "regression", "binary", "multi-output"):
        kind, data = PROBLEMS[problem]
        X, y = data()
        est, f = _objective(kind, X, y, alpha=0.3)
        ref = (skl.MLPClassifier if kind == "clf" else skl.MLPRegressor)(hidden_layer_sizes=(5, 4), activation="tanh",
                                                                         solver="lbfgs", max_iter=1, alpha=0.3,
                                                                         random_state=0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref.fit(X, y)
        Y = est._validate_input(X, y, False, reset=False)[1].astype(np.float64)
        theta = np.concatenate([a.ravel() for pair in zip(ref.coefs_, ref.intercepts_) for a in pair])
        value, _ = f(theta)
        f.release()
        units = [X.shape[1], 5, 4, Y.shape[1]]
        ref._coef_indptr, ref._intercept_indptr, start = [], [], 0
        for i in range(3):
            ref._coef_indptr.append((start, start + units[i] * units[i + 1], (units[i], units[i + 1])))
            start += units[i] * units[i + 1]
        for i in range(3):
            ref._intercept_indptr.append((start, start + units[i + 1]))
            start += units[i + 1]
        packed = np.concatenate([c.ravel() for c in ref.coefs_] + [b.ravel() for b in ref.intercepts_])
        acts = [X] + [None] * 3
        expected, _ = ref._loss_grad_lbfgs(packed, X, Y, None, acts, [None] * 3,
                                           [np.empty_like(c) for c in ref.coefs_],
                                           [np.empty_like(b) for b in ref.intercepts_])
        assert value == pytest.approx(expected, rel=1e-12), problem


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
def test_readable_path_gives_the_same_run(solver):
    """With the fast path off (glassnet.train.fastpath.readable) the layer-by-layer step gives the same fit."""
    X, y = _digits()
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(X))
    params = dict(hidden_layer_sizes=(12,), solver=solver, alpha=1e-2, batch_size=70, max_iter=6, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = gsk.MLPClassifier(**params).fit(X, y, sample_weight=w)
        with fastpath.readable():
            slow = gsk.MLPClassifier(**params).fit(X, y, sample_weight=w)
    np.testing.assert_allclose(slow.loss_curve_, fast.loss_curve_, rtol=1e-10)
    _assert_same_weights(fast, slow, atol=1e-10)


def _numpy_loop(monkeypatch):
    """Make the L-BFGS objective take its NumPy loop over the fast step instead of the compiled kernel."""
    monkeypatch.setattr(training.Objective, "_bind_kernel", lambda self, X, Y: None)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("problem, weighted", [("multiclass", False), ("multiclass", True), ("multilabel", False),
                                               ("multi-output", True)])
def test_compiled_lbfgs_objective_equals_its_numpy_loop(monkeypatch, problem, weighted, dtype):
    """The compiled objective (one call: theta in, chunks, penalty, gradient out) equals the loop it replaces."""
    pytest.importorskip("numba")
    kind, data = PROBLEMS[problem]
    X, y = data()
    from glassnet.adapters import compiled as compiled_step
    sw = np.random.default_rng(1).uniform(0.2, 2.0, len(X)) if weighted else None
    with compiled_step.by_default():
        _, compiled = _objective(kind, X, y, sw, dtype=dtype)
        with monkeypatch.context() as m:
            _numpy_loop(m)
            _, loop = _objective(kind, X, y, sw, dtype=dtype)
    assert loop.kernel is None and (compiled.kernel is not None) == (dtype == np.float64 or not weighted)
    theta = compiled.theta() + np.random.default_rng(0).normal(0, 0.1, compiled.theta().shape)
    for _ in range(2):                                  # the second call reuses every buffer
        (v1, g1), (v2, g2) = compiled(theta.copy()), loop(theta.copy())
        assert v1 == pytest.approx(v2, rel=1e-14) and g1.dtype == np.float64
        np.testing.assert_array_equal(g1, g2)
        theta *= 0.9
    compiled.release(), loop.release()


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("n", [600, 4500])           # one chunk of rows; three (CHUNK = 2048)
def test_compiled_lbfgs_objective_gives_the_same_iterates(monkeypatch, weighted, n):
    """scipy's L-BFGS-B takes the same steps whether the gradient comes from the compiled kernel (written into
    one buffer returned every call) or from the NumPy loop (a new array each call)."""
    pytest.importorskip("numba")
    if n == 600:
        X, y = _digits()
    else:
        from sklearn.datasets import make_classification
        X, y = make_classification(n_samples=n, n_features=20, n_informative=10, n_classes=4, random_state=0)
    w = np.random.default_rng(2).uniform(0.5, 2.0, len(X)) if weighted else None
    params = dict(hidden_layer_sizes=(16,), solver="lbfgs", alpha=1e-2, max_iter=30, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast = gsk.MLPClassifier(**params).fit(X, y, sample_weight=w)
        with monkeypatch.context() as m:
            _numpy_loop(m)
            loop = gsk.MLPClassifier(**params).fit(X, y, sample_weight=w)
    assert fast.n_iter_ == loop.n_iter_
    np.testing.assert_allclose(fast.loss_curve_, loop.loss_curve_, rtol=1e-13)
    _assert_same_weights(fast, loop, atol=1e-12)
