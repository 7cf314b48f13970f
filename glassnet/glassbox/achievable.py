"""What loss is achievable on a data set: the yardsticks an "underfitting" verdict needs.

A training loss is only "too high" when some model does better. Three estimates, cheapest first:

* :func:`duplicate_floor`: rows with identical inputs and different targets bound every model
  from below. For cross-entropy no model can beat the within-group label entropy
  ``sum_g n_g H(p_g) / n``; for MSE the within-group variance ``sum_g sum_i (y_i - ybar_g)^2 / n``.
  This is a hard lower bound on the *training* loss (Titanic has 12 distinct rows: its floor is high).
* :func:`reference_loss`: the out-of-fold loss of a k-nearest-neighbours model (k in 5, 15, 40 on
  standardized features) and, for regression and binary tasks, of gradient boosting (scikit-learn's
  HistGradientBoosting; its multi-class cost grows with the classes, so it is skipped there); the best
  one is kept. Some model reaches it on unseen rows, so a network whose losses stay well above it is
  underfitting; one at or below it is not (the rest may be noise). Needs scikit-learn (extra
  ``sklearn``); skipped without it.
* the label-noise rate by confident learning on out-of-fold probabilities of :func:`label_reference`
  (the best of k-NN, a small MLP and their average), tested on the rows it is surest of
  (:func:`anchor_test`; :func:`glassnet.glassbox.datachecks.label_issues`).

:class:`Achievable` is the callback that measures them when training begins and registers
itself as ``history.monitors['achievable']``; :func:`glassnet.glassbox.diagnostics.diagnose` reads it.
"""

import numpy as np

from glassnet.backend.arrays import to_numpy
from glassnet.optim.optimizers import Adam
from glassnet.train.callbacks import Callback
from glassnet.train.inference import predict
from glassnet.train.model import mlp

__all__ = ["Achievable", "anchor_test", "confident_error", "confident_issues", "detectable_rate", "duplicate_floor",
           "label_reference", "out_of_fold_knn", "out_of_fold_mlp", "per_sample_loss", "reference_loss"]

_KS = (5, 15, 40)
_EPS = 1e-7


def _task(loss):
    """'ce' (softmax cross-entropy), 'bce' (sigmoid) or 'mse' from a Loss instance."""
    name = type(loss).__name__
    return {"CrossEntropy": "ce", "BinaryCrossEntropy": "bce"}.get(name, "mse")


def _row_groups(X):
    """Group index of each row (identical rows share one) and the number of groups."""
    rows = np.ascontiguousarray(np.asarray(X, dtype=np.float64).reshape(len(X), -1))
    keys = rows.view(np.dtype((np.void, rows.dtype.itemsize * rows.shape[1]))).ravel()
    _, inverse = np.unique(keys, return_inverse=True)
    return inverse.ravel(), int(inverse.max()) + 1 if len(inverse) else 0


def duplicate_floor(X, Y, task):
    """Lower bound of the training loss set by rows with equal inputs and different targets.

    Parameters
    ----------
    X : array of shape (n, d)
    Y : array of shape (n, k)
        One-hot targets for 'ce', 0/1 for 'bce', values for 'mse'.
    task : {'ce', 'bce', 'mse'}

    Returns
    -------
    floor : float
        ``(1/n) sum_g n_g H(p_g)`` (cross-entropy; p_g the target mean of group g), the
        same with the binary entropy per output for 'bce', or the within-group variance for 'mse'.
    n_conflicting : int
        Rows in groups whose targets disagree.
    """
    Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), -1)
    g, n_groups = _row_groups(X)
    counts = np.bincount(g, minlength=n_groups).astype(np.float64)
    means = np.zeros((n_groups, Y.shape[1]))
    np.add.at(means, g, Y)
    means /= counts[:, None]
    if task == "ce":
        p = np.clip(means, 1e-300, 1.0)
        per_group = -(means * np.log(p)).sum(axis=1)
    elif task == "bce":
        p = np.clip(means, 1e-12, 1 - 1e-12)
        per_group = (-(means * np.log(p) + (1 - means) * np.log(1 - p))).mean(axis=1)
        per_group[(means == 0).all(axis=1) | (means == 1).all(axis=1)] = 0.0
    else:
        sq = ((Y - means[g]) ** 2).mean(axis=1)
        per_group = np.bincount(g, weights=sq, minlength=n_groups) / counts
    conflicting = per_group > 1e-12
    return float((counts * per_group).sum() / len(Y)), int(counts[conflicting].sum())


def out_of_fold_knn(X, Y, task, *, folds=5, seed=0):
    """Out-of-fold k-NN predictions for each k in (5, 15, 40): ``{k: array of shape (n, outputs)}``.

    Features are standardized on each training fold, so a feature in grams does not drown the others
    (the reference says what is achievable *after* scaling). Class probabilities are the neighbours'
    label frequencies with add-1/2 smoothing, so no probability is 0 and the cross-entropy stays finite.
    Raises ModuleNotFoundError naming the extra when scikit-learn is missing.
    """
    try:
        from sklearn.model_selection import KFold
        from sklearn.neighbors import NearestNeighbors
    except ImportError as e:
        raise ModuleNotFoundError("the out-of-fold reference needs scikit-learn: "
                                  "pip install 'glassnet[sklearn]'") from e
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), -1)
    n = len(X)
    ks = [k for k in _KS if k < n * (folds - 1) / folds]
    out = {k: np.zeros_like(Y) for k in ks}
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(X):
        mu, sd = X[train].mean(axis=0), X[train].std(axis=0)
        sd[sd <= 1e-12 * np.maximum(1.0, np.abs(mu))] = 1.0    # (near-)constant columns: float dust
        nn = NearestNeighbors(n_neighbors=max(ks)).fit((X[train] - mu) / sd)
        _, idx = nn.kneighbors((X[test] - mu) / sd)
        neigh = Y[train][idx]                                   # (n_test, kmax, outputs)
        for k in ks:
            m = neigh[:, :k].mean(axis=1)
            if task == "ce":
                m = (k * m + 0.5) / (k + 0.5 * Y.shape[1])
            elif task == "bce":
                m = (k * m + 0.5) / (k + 1.0)
            out[k][test] = m
    return out


class _FoldPredictions(Callback):
    """Records a model's out-of-fold probabilities after every epoch (the reference picks the epoch), and
    stops the fold once its held-out loss has not improved for ``patience`` epochs (only to save time:
    the later epochs would be worse and are filled with the last ones recorded)."""

    def __init__(self, X_out, Y_out, patience, task="ce"):
        self.X_out, self.Y_out, self.patience, self.task = X_out, Y_out, patience, task
        self.by_epoch, self.losses = [], []

    def on_epoch_end(self, state):
        self.by_epoch.append(predict(state.model, self.X_out))
        self.losses.append(per_sample_loss(self.by_epoch[-1], self.Y_out, self.task).mean())
        state.stop = state.stop or len(self.losses) - 1 - int(np.argmin(self.losses)) >= self.patience


def out_of_fold_mlp(X, Y, *, task="ce", folds=5, seed=0, hidden=(64,), epochs=30, lr=3e-3, l2=1e-4,
                    batch_size=64, patience=5):
    """Out-of-fold predictions of a small glassnet MLP, (n, k), and the epoch count chosen.

    Each of ``folds`` stratification-free folds trains ``mlp(d, hidden, k)`` (ReLU, Adam; a softmax output
    for ``task`` 'ce', sigmoid for 'bce', linear for 'mse' with the targets standardized on the training
    folds) on the other rows, features standardized on them, and records its predictions for the held-out
    rows after every epoch. The number of epochs is one hyper-parameter chosen for all folds together by the
    out-of-fold loss (cross-validated early stopping): a network that goes on memorizing noisy labels
    becomes overconfident on the rows it did not see, and that epoch loses. No k-NN assumption
    (every feature counts equally in the distance) limits it: it learns which features matter and
    nonlinear boundaries such as concentric shells, where k-NN in a few dimensions is weak.
    """
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), -1)
    order = np.random.default_rng(seed).permutation(len(X))
    runs = []
    for f in range(folds):
        test = np.sort(order[f::folds])
        train = np.setdiff1d(np.arange(len(X)), test)
        mu, sd = X[train].mean(axis=0), X[train].std(axis=0)
        sd[sd <= 1e-12 * np.maximum(1.0, np.abs(mu))] = 1.0
        y_mu, y_sd = (Y[train].mean(axis=0), Y[train].std(axis=0) + 1e-12) if task == "mse" else (0.0, 1.0)
        rec = _FoldPredictions((X[test] - mu) / sd, (Y[test] - y_mu) / y_sd, patience, task)
        model = mlp(X.shape[1], list(hidden), Y.shape[1], l2=l2, seed=seed + f,
                    output={"ce": "softmax", "bce": "sigmoid"}.get(task, "linear"))
        model.fit((X[train] - mu) / sd, (Y[train] - y_mu) / y_sd, epochs=epochs, batch_size=batch_size,
                  optimizer=Adam(lr=lr), seed=seed + f, verbose=0, callbacks=[rec])
        rec.by_epoch += rec.by_epoch[-1:] * (epochs - len(rec.by_epoch))
        runs.append((test, np.stack(rec.by_epoch) * y_sd + y_mu))           # (epochs, n_test, k)
    per_epoch = sum(per_sample_loss(P.reshape(-1, Y.shape[1]), np.tile(Y[test], (len(P), 1)), task)
                    .reshape(len(P), -1).sum(axis=1) for test, P in runs)
    best = int(np.argmin(per_epoch))
    out = np.zeros_like(Y)
    for test, P in runs:
        out[test] = P[best]
    return out, best + 1


def per_sample_loss(P, Y, task):
    """Loss of predictions P for targets Y, one value per row (cross-entropy, binary CE or squared error)."""
    Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), -1)
    if task == "ce":
        return -(Y * np.log(np.clip(P, _EPS, 1.0))).sum(axis=1)
    if task == "bce":
        P = np.clip(P, _EPS, 1 - _EPS)
        return -(Y * np.log(P) + (1 - Y) * np.log(1 - P)).mean(axis=1)
    return ((P - Y) ** 2).mean(axis=1)


def confident_issues(labels, probabilities):
    """Confident learning (Northcutt et al. 2021): which labels are likely wrong, from out-of-fold probabilities.

    Each class j gets the threshold t_j = mean of p_ij over the rows labelled j (how confident the
    model is on its own class). Row i *confidently belongs* to the classes j with p_ij >= t_j; when
    there are any, its likely class is the most probable of them, and the label is an issue when that
    class is not the given one. These are the off-diagonal entries of the confident joint.

    Parameters
    ----------
    labels : int array of shape (n,)
    probabilities : array of shape (n, k)
        Out-of-fold predicted probabilities (never from a model that trained on the row).

    Returns
    -------
    bool array of shape (n,)
    """
    labels = np.asarray(labels).astype(np.int64).ravel()
    P = np.asarray(probabilities, dtype=np.float64)
    k = P.shape[1]
    t = np.array([P[labels == j, j].mean() if (labels == j).any() else np.inf for j in range(k)])
    above = P >= t[None, :]
    masked = np.where(above, P, -np.inf)
    guess = masked.argmax(axis=1)
    return above.any(axis=1) & (guess != labels)


def confident_error(labels, probabilities, share=0.1):
    """The reference's error rate on the ``share`` of rows it is surest of (highest max probability).

    Confident learning flags a label when the reference confidently prefers another class, and on hard
    data (overlapping classes, a weak reference) it also flags correct labels of rows near the class
    boundaries. Label noise that does not depend on the inputs (the kind confident learning estimates)
    is different: it is as frequent where the reference is sure as anywhere else, so a noise rate rho
    shows up as an error rate of about rho on the reference's most confident rows, where the hard rows
    contribute almost nothing. On the clean tables of the benchmark this is at most 2.5% while k-NN
    flags up to 16% of their labels; with 30% planted noise it is 19-43%.

    Returns
    -------
    float
        Share of the ``ceil(share * n)`` most confident rows whose most probable class is not the label.
    """
    labels = np.asarray(labels).astype(np.int64).ravel()
    P = np.asarray(probabilities, dtype=np.float64)
    m = max(1, int(np.ceil(share * len(P))))
    top = np.argsort(-P.max(axis=1), kind="stable")[:m]
    return float((P[top].argmax(axis=1) != labels[top]).mean())


def anchor_test(labels, probabilities, rate, share=0.1):
    """How strongly the reference's most confident rows say that more than ``rate`` of the labels are wrong.

    Anchor points (rows whose true class is certain, e.g. Liu and Tao 2016) carry input-independent label
    noise at its full rate rho and almost no hard-row errors, so among the ``m = ceil(share * n)`` rows
    the reference is surest of, the number ``e`` whose label is not its most probable class is about
    Binomial(m, rho). The one-sided binomial tail P(X >= e | m, rate) is the p-value of "the noise rate
    is at most ``rate``": small means the evidence says it is higher. The sample size is in it, so 2
    wrong labels among 15 anchor rows (a table of 142 rows) are not taken for 13% noise.

    Returns
    -------
    dict
        ``{'errors': e, 'rows': m, 'estimate': e / m, 'p_value': float}``.
    """
    labels = np.asarray(labels).astype(np.int64).ravel()
    P = np.asarray(probabilities, dtype=np.float64)
    m = max(1, int(np.ceil(share * len(P))))
    top = np.argsort(-P.max(axis=1), kind="stable")[:m]
    e = int((P[top].argmax(axis=1) != labels[top]).sum())
    return {"errors": e, "rows": m, "estimate": e / m, "p_value": _binomial_tail(e, m, rate)}


def _binomial_tail(e, m, rate):
    """P(X >= e) for X ~ Binomial(m, rate)."""
    from math import exp, lgamma, log

    if rate <= 0.0 or rate >= 1.0:
        return float(e == 0) if rate <= 0.0 else 1.0
    # in logs: C(m, i) overflows a float beyond m ~ 1000
    p = sum(exp(lgamma(m + 1) - lgamma(i + 1) - lgamma(m - i + 1) + i * log(rate) + (m - i) * log(1.0 - rate))
            for i in range(e, m + 1))
    return float(min(1.0, p))


def detectable_rate(rows, rate, *, alpha=0.05, power=0.8):
    """The lowest noise rate :func:`anchor_test` on ``rows`` anchor rows reports (p < ``alpha``) ``power`` of the time.

    The test reports when the count of wrong anchor labels reaches c, the smallest count whose tail under
    ``rate`` is below ``alpha``; the answer is the smallest rho (on a 0.5% grid) with P(X >= c | rows, rho) at
    least ``power``: what a clean verdict of the test can vouch for. 1.0 when no count can reach alpha.
    """
    c = next((e for e in range(rows + 1) if _binomial_tail(e, rows, rate) < alpha), None)
    if c is None:
        return 1.0
    return next((r for r in np.arange(rate, 1.0, 0.005) if _binomial_tail(c, rows, float(r)) >= power), 1.0)


def label_reference(X, labels, *, folds=5, seed=0):
    """The out-of-fold class probabilities label checks read: the best of k-NN, an MLP and their average.

    Candidates: k-NN (k = 5, 15, 40; :func:`out_of_fold_knn`), a small MLP (:func:`out_of_fold_mlp`) and
    the mean of the best k-NN's and the MLP's probabilities (two models with different inductive biases
    err on different rows, so their average is often better calibrated than either). The one with the
    lowest out-of-fold cross-entropy is kept: on rows none of them trained on, the likelihood of the given
    labels says which probabilities are closest to the truth, whatever the data set. k-NN is weak where
    the distance is (uninformative features, concentric shells), the MLP on tiny tables; the choice
    follows the data.

    Returns
    -------
    dict
        ``{'probabilities': (n, k), 'name': str, 'loss': mean out-of-fold cross-entropy, 'se': its standard
        error, 'constant_loss': the class-frequency entropy (the best constant prediction's loss), 'losses':
        {candidate name: loss}}``. Raises ModuleNotFoundError without scikit-learn (k-NN).
    """
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    labels = np.asarray(labels).astype(np.int64).ravel()
    Y = np.eye(int(labels.max()) + 1)[labels]
    cands = {f"k-NN (k={k})": P for k, P in out_of_fold_knn(X, Y, "ce", folds=folds, seed=seed).items()}
    knn = min(cands, key=lambda c: per_sample_loss(cands[c], Y, "ce").mean())
    P_mlp, epochs = out_of_fold_mlp(X, Y, folds=folds, seed=seed)
    cands[f"MLP (64 ReLU, {epochs} epochs)"] = P_mlp
    cands[f"mean of {knn} and the MLP"] = (cands[knn] + P_mlp) / 2
    per = {c: per_sample_loss(P, Y, "ce") for c, P in cands.items()}
    best = min(per, key=lambda c: per[c].mean())
    prior = Y.mean(axis=0)
    prior = prior[prior > 0]
    return {"probabilities": cands[best], "name": f"out-of-fold {best}, {folds}-fold", "loss": float(per[best].mean()),
            "se": float(per[best].std() / np.sqrt(len(Y))), "constant_loss": float(-(prior * np.log(prior)).sum()),
            "losses": {c: float(v.mean()) for c, v in per.items()}}


def reference_loss(X, Y, task, *, folds=5, seed=0):
    """The best out-of-fold loss of k-NN, gradient boosting and a small MLP: a loss some model reaches on rows
    it did not see.

    k-NN (k = 5, 15, 40) is weak where the distance is (uninformative features, a smooth function of a
    projection in many dimensions), gradient boosting (one output, or two classes) on oblique boundaries;
    the MLP (:func:`out_of_fold_mlp`, 64 ReLU units, its epochs chosen out of fold) learns which features
    matter and a projection, so a too-small network is not measured against references as weak as itself
    (fresh9: a linear model on tanh(X w), val 0.13 of Var(y) where a 64-unit network reaches 0.03, read
    "good fit" against k-NN and boosting).

    Returns
    -------
    dict
        ``{'loss': float, 'se': float (standard error of that mean), 'name': 'k-NN (k=15, 5-fold)',
        'probabilities': out-of-fold predictions of that reference}``.
    """
    preds = {f"out-of-fold k-NN (k={k}, {folds}-fold)": P
             for k, P in out_of_fold_knn(X, Y, task, folds=folds, seed=seed).items()}
    Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), -1)
    if Y.shape[1] == 1 or (task == "ce" and Y.shape[1] == 2):
        preds[f"out-of-fold gradient boosting ({folds}-fold)"] = _boosting(X, Y, task, folds, seed)
    # a budget the early stopping across folds cuts short (100 epochs at lr 1e-2: tanh(X w) in 10-d needed 60)
    P_mlp, epochs = out_of_fold_mlp(X, Y, task=task, folds=folds, seed=seed, epochs=100, lr=1e-2)
    preds[f"out-of-fold MLP (64 ReLU, {epochs} epochs, {folds}-fold)"] = P_mlp
    best = None
    for name, P in preds.items():
        per = per_sample_loss(P, Y, task)
        if best is None or per.mean() < best["loss"]:
            best = {"loss": float(per.mean()), "se": float(per.std() / np.sqrt(len(per))),
                    "name": name, "probabilities": P}
    return best


def _boosting(X, Y, task, folds, seed):
    """Out-of-fold predictions of HistGradientBoosting (100 trees, no early stopping) for one output.

    Runs on one OpenMP thread: on these small samples the thread pool's start-up dominates, and on a
    shared machine an oversubscribed pool made the same fit 40x slower (62 s against 1.6 s, measured).
    """
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.model_selection import KFold, cross_val_predict
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        return _boosting_folds(X, Y, task, folds, seed, HistGradientBoostingClassifier,
                               HistGradientBoostingRegressor, KFold, cross_val_predict)


def _boosting_folds(X, Y, task, folds, seed, HistGradientBoostingClassifier, HistGradientBoostingRegressor, KFold,
                    cross_val_predict):
    cv = KFold(folds, shuffle=True, random_state=seed)
    X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
    if task == "mse":
        est = HistGradientBoostingRegressor(max_iter=100, early_stopping=False, random_state=seed)
        return cross_val_predict(est, X, Y[:, 0], cv=cv).reshape(-1, 1)
    labels = Y.argmax(axis=1) if task == "ce" else Y[:, 0].astype(np.int64)
    if np.bincount(labels).min() < folds:
        return np.full_like(Y, np.nan)
    est = HistGradientBoostingClassifier(max_iter=100, early_stopping=False, random_state=seed)
    P = cross_val_predict(est, X, labels, cv=cv, method="predict_proba")
    return P if task == "ce" else P[:, 1:]


class Achievable(Callback):
    """Measure what is achievable on the training data when training begins.

    Parameters
    ----------
    max_samples : int, default 3000
        The reference and the label-noise estimate use a fixed random sample of this many rows
        (k-NN costs O(n^2 d)); the duplicate floor uses every row.
    reference : bool, default True
        Compute the out-of-fold k-NN reference (skipped, with ``reference=None``, without scikit-learn).
    seed : int, default 0
    label_noise : bool, default False
        Also estimate the label-noise rate (classification; :func:`label_reference`, which trains a small
        MLP 5 times: 0.1-4 s, a quarter of a short ``glassnet train`` on digits, so not by default). No
        verdict reads it; the report prints it. The data check computes the same on request
        (``check_data(..., label_noise=True)``, ``DataCheck(label_noise=True)``).

    Attributes
    ----------
    task : str
    floor, n_conflicting : float, int
        See :func:`duplicate_floor`.
    reference : dict or None
        See :func:`reference_loss`.
    noise_rate : float or None
        Share of sampled rows that confident learning flags as mislabeled (classification only), on the
        probabilities of :func:`label_reference` (as the data check's
        :func:`~glassnet.glassbox.datachecks.label_issues`).
    confident_error, anchor : float or None, dict or None
        The reference's error on the tenth of rows it is surest of and :func:`anchor_test` against 5%:
        the rate of input-independent label noise, which hard rows do not inflate.
    """

    def __init__(self, max_samples=3000, reference=True, seed=0, label_noise=False):
        self.max_samples = max_samples
        self.use_reference = reference
        self.label_noise = label_noise
        self.seed = seed
        self.reference = self.noise_rate = self.confident_error = self.anchor = self.label_reference = None
        self.floor, self.n_conflicting, self.task = 0.0, 0, None

    def on_train_begin(self, state):
        self.measure(to_numpy(state.X), to_numpy(state.Y), _task(state.loss))
        state.history.monitors["achievable"] = self

    def measure(self, X, Y, task):
        """Fill the attributes from prepared data (Y one-hot for cross-entropy); returns self."""
        X = np.asarray(X, dtype=np.float64).reshape(len(X), -1)
        Y = np.asarray(Y, dtype=np.float64).reshape(len(Y), -1)
        self.task = task
        self.floor, self.n_conflicting = duplicate_floor(X, Y, task)
        self.n = len(X)
        if not self.use_reference:
            return self
        idx = np.arange(len(X))
        if len(X) > self.max_samples:
            idx = np.sort(np.random.default_rng(self.seed).choice(len(X), self.max_samples, replace=False))
        try:
            self.reference = reference_loss(X[idx], Y[idx], task, seed=self.seed)
        except ModuleNotFoundError:
            self.reference = None
            return self
        if task == "ce" and Y.shape[1] > 1 and self.label_noise:
            # the label-noise estimate reads the same reference as the data check (label_issues)
            labels = Y[idx].argmax(axis=1)
            lab = label_reference(X[idx], labels, seed=self.seed)
            self.label_reference = lab["name"]
            self.noise_rate = float(confident_issues(labels, lab["probabilities"]).mean())
            self.anchor = anchor_test(labels, lab["probabilities"], 0.05)
            self.confident_error = self.anchor["estimate"]
        return self

    def describe(self):
        """The estimates as sentences (for the report and the verdict's evidence)."""
        out = []
        if self.n_conflicting:
            out.append(f"{self.n_conflicting} of {self.n} training rows share their inputs with rows of another "
                       f"target: no model can get the training loss below {self.floor:.4g}")
        if self.reference is not None:
            out.append(f"an {self.reference['name']} reaches a loss of {self.reference['loss']:.4g} "
                       f"(+/- {self.reference['se']:.2g}) on rows it did not see")
        if self.noise_rate is not None:
            a = self.anchor
            out.append(f"confident learning ({self.label_reference}) flags {100 * self.noise_rate:.1f}% of the labels "
                       f"as likely wrong; {a['errors']} of the {a['rows']} rows it is surest of disagree with their "
                       f"label, an estimated noise rate of {100 * self.confident_error:.1f}% (label noise that does "
                       "not depend on the inputs shows there, hard rows do not)")
        return out
