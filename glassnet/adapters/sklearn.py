"""scikit-learn estimators over glassnet: ``MLPClassifier`` and ``MLPRegressor``.

They speak scikit-learn (``fit``/``predict``/``score``, ``get_params``, Pipelines,
``GridSearchCV``, ``clone``) and delegate the work to the core: the network is a
:func:`glassnet.mlp` ``Sequential`` trained by the one loop in :mod:`glassnet.training`,
with :class:`~glassnet.callbacks.EarlyStopping` doing the stopping.

Parameter names follow ``sklearn.neural_network.MLPClassifier`` where the concept is the
same. The differences, on purpose:

* ``epochs`` replaces ``max_iter``: glassnet never calls an epoch an "iteration"
  (an iteration is one mini-batch). Fitted counters are ``n_epochs_`` and
  ``n_iterations_``; there is no ``n_iter_``.
* ``optimizer`` ('adam', 'sgd', 'rmsprop' or a glassnet Optimizer instance) replaces ``solver``;
  there is no L-BFGS. ``learning_rate`` schedules ('invscaling', 'adaptive') are not offered:
  use the core with a callback (``ReduceLROnPlateau``) for that.
* ``activation`` may be one name or one name per hidden layer. Both vocabularies work:
  'identity'/'linear', 'logistic'/'sigmoid', 'tanh', 'relu', plus 'leaky_relu'.
* ``dropout``: the drop probability after every hidden activation (0 = none).
* ``alpha`` is scikit-learn's L2 strength, with scikit-learn's scaling. scikit-learn adds
  ``0.5 * alpha / batch_size * ||W||^2`` to each mini-batch's mean loss; glassnet's
  ``Dense(l2=...)`` adds ``0.5 * l2 * ||W||^2``. So each Dense layer gets
  ``l2 = alpha / batch_size`` (``batch_size`` after 'auto' and clipping), and the same
  ``alpha`` means the same objective in both libraries (up to the smaller last batch, which
  scikit-learn scales by its own size). For the regressor, glassnet's MSE is
  ``mean((pred - y)^2)`` while scikit-learn's squared error carries a factor 1/2, so there
  ``l2 = 2 * alpha / batch_size``: the objective is exactly twice scikit-learn's (same
  minimizer), and so is ``loss_curve_``.
* Binary classification uses a softmax over 2 units with cross-entropy (not one sigmoid
  unit): the same code path as multiclass, and ``predict_proba`` comes straight out of the
  network. The two are equivalent models (a softmax over 2 logits is a sigmoid of their
  difference).
* Precision follows the input, as in scikit-learn: float32 ``X`` trains a float32 network
  (glassnet's fast path) and predicts float32; every other input is converted to float64.
* Without ``early_stopping`` training stops when the training loss has not improved by ``tol``
  for ``n_iter_no_change`` epochs (scikit-learn's rule); with it, the validation loss on a
  held-out ``validation_fraction`` (stratified for classifiers) is watched instead and the
  best epoch's weights are restored. scikit-learn watches the validation *score*; glassnet
  watches the validation *loss*, which is smoother.
* ``partial_fit`` runs one epoch over the given batch. The optimizer's state (Adam moments,
  momentum, step count) carries over between ``partial_fit`` calls and ``warm_start`` fits, as
  in scikit-learn, through a small callback (the core binds a fresh optimizer in every ``fit``).

Needs scikit-learn (``pip install 'glassnet[sklearn]'``).
"""

import copy
import numbers
import warnings

import numpy as np

try:
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.utils import check_random_state
    from sklearn.utils.multiclass import check_classification_targets
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ModuleNotFoundError("glassnet.sklearn needs scikit-learn (>= 1.6): pip install 'glassnet[sklearn]' "
                      f"(or pip install scikit-learn). ({exc})") from exc

from glassnet.backend.checks import check_scalar
from glassnet.backend.errors import GlassnetTypeError, ValidationError
from glassnet.glassbox.diagnostics import diagnose
from glassnet.nn.layers import ACTIVATIONS
from glassnet.optim.optimizers import SGD, Adam, Optimizer, RMSprop
from glassnet.train.callbacks import Callback, EarlyStopping
from glassnet.train.model import mlp

__all__ = ["MLPClassifier", "MLPRegressor"]

_HIDDEN_ACTIVATIONS = tuple(sorted(set(ACTIVATIONS) - {"softmax"}))


def _check_number(value, name, kind, owner, *, low=None, high=None, low_open=False, high_open=False):
    """Validate one hyper-parameter in fit (scikit-learn's rule: __init__ stores, fit checks)."""
    return check_scalar(value, name, kind, caller=owner, min_val=low, max_val=high,
                        include_min=not low_open, include_max=not high_open)


class _CarryOptimizerState(Callback):
    """Put a previous run's optimizer state back after ``fit`` has bound a fresh optimizer.

    ``fit`` calls ``optimizer.setup`` (zeroed state) before any hook; this callback then copies
    the saved arrays from :meth:`Optimizer.state` and the step count back in, and saves them
    again when training ends, so a stream of ``partial_fit`` calls is one optimization.
    """

    def __init__(self, saved=None):
        self.saved = saved

    def on_train_begin(self, state):
        opt = state.optimizer
        if self.saved is not None and type(opt).__name__ == self.saved["type"]:
            for name, arrays in opt.state().items():
                for current, old in zip(arrays, self.saved["arrays"][name], strict=True):
                    current[...] = old
            opt.t = self.saved["t"]

    def on_train_end(self, state):
        opt = state.optimizer
        self.saved = {"type": type(opt).__name__, "t": opt.t,
                      "arrays": {k: [a.copy() for a in v] for k, v in opt.state().items()}}


class _BaseMLP(BaseEstimator):
    """Shared parameters, network construction and training of the two estimators."""

    _output = "linear"
    _alpha_scale = 1.0        # MLPRegressor: 2, see the module notes on alpha

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, optimizer="adam", alpha=0.0001,
                 batch_size="auto", learning_rate_init=0.001, epochs=200, dropout=0.0, momentum=0.9,
                 nesterovs_momentum=True, beta_1=0.9, beta_2=0.999, epsilon=1e-8, shuffle=True,
                 random_state=None, tol=1e-4, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, warm_start=False, verbose=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.optimizer = optimizer
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.epochs = epochs
        self.dropout = dropout
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.warm_start = warm_start
        self.verbose = verbose

    # -- validation of the hyper-parameters (done in fit, never in __init__) ------------------
    def _hidden_and_activations(self):
        owner = type(self).__name__
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool) else sizes
        try:
            sizes = list(sizes)
        except TypeError:
            raise GlassnetTypeError(f"The 'hidden_layer_sizes' parameter of {owner} must be an int or a sequence of "
                                    f"ints, e.g. (100,) or (64, 32). Got {sizes!r}.") from None
        sizes = [_check_number(h, "hidden_layer_sizes", int, owner, low=1) for h in sizes]
        acts = self.activation
        if not isinstance(acts, (str, list, tuple)):
            raise GlassnetTypeError(f"The 'activation' parameter of {owner} must be a name such as 'relu' or a "
                                    f"list of names, one per hidden layer. Got {acts!r}.")
        acts = [acts] * len(sizes) if isinstance(acts, str) else list(acts)
        if len(acts) != len(sizes):
            raise ValidationError(f"{owner} got {len(acts)} activations for {len(sizes)} hidden layers "
                                  f"(hidden_layer_sizes={self.hidden_layer_sizes!r}). Give one name, or one per layer.")
        for a in acts:
            if a not in _HIDDEN_ACTIVATIONS:
                raise ValidationError(f"The 'activation' parameter of {owner} must name one of "
                                      f"{list(_HIDDEN_ACTIVATIONS)} (or a list of them, one per hidden layer). "
                                      f"Got {a!r}.")
        return sizes, acts

    def _effective_batch_size(self, n_samples):
        if self.batch_size == "auto":
            return min(200, n_samples)
        size = _check_number(self.batch_size, "batch_size", int, type(self).__name__, low=1)
        if size > n_samples:
            warnings.warn(f"Got batch_size={size} but only {n_samples} samples; using batch_size={n_samples}.",
                          UserWarning, stacklevel=3)
        return min(size, n_samples)

    def _make_optimizer(self):
        owner = type(self).__name__
        if isinstance(self.optimizer, Optimizer):
            return copy.deepcopy(self.optimizer)     # setup() binds parameters: never mutate the user's object
        lr = _check_number(self.learning_rate_init, "learning_rate_init", float, owner, low=0.0, low_open=True)
        if self.optimizer == "sgd":
            momentum = _check_number(self.momentum, "momentum", float, owner, low=0.0, high=1.0)
            return SGD(lr=lr, momentum=momentum, nesterov=bool(self.nesterovs_momentum) and momentum > 0)
        if self.optimizer == "adam":
            return Adam(lr=lr,
                        beta1=_check_number(self.beta_1, "beta_1", float, owner, low=0.0, high=1.0, high_open=True),
                        beta2=_check_number(self.beta_2, "beta_2", float, owner, low=0.0, high=1.0, high_open=True),
                        eps=_check_number(self.epsilon, "epsilon", float, owner, low=0.0, low_open=True))
        if self.optimizer == "rmsprop":
            return RMSprop(lr=lr)
        raise ValidationError(f"The 'optimizer' parameter of {owner} must be 'adam', 'sgd', 'rmsprop' or a glassnet "
                              f"Optimizer instance. Got {self.optimizer!r}.")

    def _seeds(self):
        """Two independent seeds (weights/dropout, shuffling) from ``random_state``."""
        rs = self.random_state
        if isinstance(rs, numbers.Integral) and not isinstance(rs, bool):
            return np.random.SeedSequence(int(rs)).generate_state(2)
        return check_random_state(rs).randint(0, 2**31 - 1, size=2)

    # -- the shared fit -------------------------------------------------------------------
    def _train(self, X, Y, n_out, *, epochs, incremental):
        """Build (unless continuing) and train the network on prepared X (float) and targets Y."""

        owner = type(self).__name__
        n_samples = X.shape[0]
        batch_size = self._effective_batch_size(n_samples)
        alpha = _check_number(self.alpha, "alpha", float, owner, low=0.0)
        dropout = _check_number(self.dropout, "dropout", float, owner, low=0.0, high=1.0, high_open=True)
        model_seed, fit_seed = self._seeds()
        continuing = incremental or (self.warm_start and hasattr(self, "model_"))
        if continuing and self.model_.dtype != X.dtype:
            X = X.astype(self.model_.dtype)
        if not continuing:
            sizes, acts = self._hidden_and_activations()
            self.model_ = mlp(X.shape[1], sizes, n_out, activation=acts, output=self._output, dropout=dropout,
                              l2=self._alpha_scale * alpha / batch_size, seed=int(model_seed), dtype=X.dtype)
        carry = _CarryOptimizerState(getattr(self, "_optimizer_state", None) if continuing else None)
        callbacks, split = [carry], 0.0
        if not incremental:
            patience = _check_number(self.n_iter_no_change, "n_iter_no_change", int, owner, low=1)
            tol = _check_number(self.tol, "tol", float, owner, low=0.0)
            if self.early_stopping:
                split = _check_number(self.validation_fraction, "validation_fraction", float, owner,
                                      low=0.0, high=1.0, low_open=True, high_open=True)
                callbacks.append(EarlyStopping("val_loss", patience=patience, min_delta=tol, restore_best=True))
            else:
                # scikit-learn's rule: stop when the training loss stalls; keep the last weights.
                callbacks.append(EarlyStopping("loss", patience=patience, min_delta=tol, restore_best=False))
        history = self.model_.fit(X, Y, optimizer=self._make_optimizer(), epochs=epochs, batch_size=batch_size,
                                  validation_split=split, shuffle=bool(self.shuffle),
                                  seed=np.random.default_rng(int(fit_seed)), callbacks=callbacks,
                                  verbose=int(bool(self.verbose)))
        self._optimizer_state = carry.saved
        self._record(history, incremental)
        return self

    def _record(self, history, incremental):
        if incremental and hasattr(self, "history_"):
            for key, curve in history.items():
                self.history_.setdefault(key, []).extend(curve)
            self.history_.epochs += history.epochs
            self.history_.iterations += history.iterations
            self.history_.diverged = history.diverged or self.history_.diverged
        else:
            self.history_ = history
        self.loss_curve_ = list(self.history_["loss"])
        self.validation_loss_curve_ = list(self.history_["val_loss"]) if "val_loss" in self.history_ else None
        self.best_loss_ = min(self.validation_loss_curve_ or self.loss_curve_)
        self.n_epochs_ = self.history_.epochs
        self.n_iterations_ = self.history_.iterations

    @property
    def diagnosis_(self):
        """The fit verdict of :func:`glassnet.diagnostics.diagnose` on ``history_`` (computed on access)."""
        check_is_fitted(self, "history_")

        return diagnose(self.history_)

    def _forward(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=[np.float64, np.float32])
        return self.model_.predict(X.astype(self.model_.dtype, copy=False))

class MLPClassifier(ClassifierMixin, _BaseMLP):
    """Multilayer perceptron classifier (softmax output, cross-entropy loss) in scikit-learn's clothes.

    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Widths of the hidden layers; () gives multinomial logistic regression.
    activation : str or sequence of str, default='relu'
        Hidden activation, one name or one per hidden layer: 'relu', 'leaky_relu', 'tanh',
        'logistic' ('sigmoid'), 'identity' ('linear').
    optimizer : {'adam', 'sgd', 'rmsprop'} or glassnet Optimizer, default='adam'
        With an Optimizer instance, ``learning_rate_init`` and the momentum/beta parameters are ignored.
    alpha : float, default=1e-4
        L2 strength with scikit-learn's scaling (Dense ``l2 = alpha / batch_size``; twice that in
        MLPRegressor; see the module notes).
    batch_size : int or 'auto', default='auto'
        Samples per iteration; 'auto' is min(200, n_samples).
    learning_rate_init : float, default=1e-3
    epochs : int, default=200
        Maximum passes over the training set (scikit-learn's ``max_iter``).
    dropout : float in [0, 1), default=0.0
        Drop probability after each hidden activation.
    momentum, nesterovs_momentum : float, bool
        For ``optimizer='sgd'``.
    beta_1, beta_2, epsilon : float
        For ``optimizer='adam'``.
    shuffle : bool, default=True
        Reshuffle the samples every epoch.
    random_state : int, RandomState or None
        Seeds the weights, dropout masks, shuffles and validation split. Same int, same model.
    tol : float, default=1e-4
        Minimum loss improvement that counts as progress.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` (stratified) and stop when the validation loss stalls
        for ``n_iter_no_change`` epochs, restoring the best weights.
    validation_fraction : float in (0, 1), default=0.1
    n_iter_no_change : int, default=10
        Patience, in epochs.
    warm_start : bool, default=False
        Continue from the fitted network on the next ``fit``.
    verbose : bool, default=False
        Print one line per epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        The labels, sorted; any hashable labels (strings included) work.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X was a DataFrame with string column names.
    model_ : glassnet.Sequential
        The trained network (save it with ``glassnet.save(est.model_, path)``).
    history_ : glassnet.History
        Per-epoch curves ('loss', 'accuracy', and 'val_*' with early stopping).
    loss_curve_ : list of float
        Training loss per epoch, L2 penalty included (as scikit-learn's).
    validation_loss_curve_ : list of float or None
        Validation loss per epoch with ``early_stopping``, else None.
    best_loss_ : float
        The lowest validation loss (training loss without early stopping).
    n_epochs_, n_iterations_ : int
        Epochs run and mini-batches seen.
    diagnosis_ : glassnet.diagnostics.Diagnosis
        The fit verdict (underfitting / overfitting / good fit ...), computed from ``history_``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier((16,), epochs=100, learning_rate_init=0.01, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """

    _output = "softmax"

    def fit(self, X, y):
        """Train on X of shape (n_samples, n_features) and labels y of shape (n_samples,); returns self."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32])
        if not (self.warm_start and hasattr(self, "model_")):
            self.classes_ = None
        codes = self._encode(y, first=not (self.warm_start and hasattr(self, "model_")))
        epochs = _check_number(self.epochs, "epochs", int, type(self).__name__, low=1)
        return self._train(X, codes, len(self.classes_), epochs=epochs, incremental=False)

    def partial_fit(self, X, y, classes=None):
        """One epoch over (X, y). The first call needs ``classes``, every label that will ever appear."""
        first = not hasattr(self, "model_")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], reset=first)
        if first:
            if classes is None:
                raise ValidationError("MLPClassifier.partial_fit needs classes=... (all labels, e.g. np.unique(y_all)) "
                                      "on its first call, because later batches may miss some classes.")
            check_classification_targets(np.asarray(classes))
            self.classes_ = np.unique(np.asarray(classes))
        codes = self._encode(y, first=False)
        return self._train(X, codes, len(self.classes_), epochs=1, incremental=not first)

    def _encode(self, y, first):
        check_classification_targets(y)
        if first:
            self.classes_ = np.unique(y)
            if len(self.classes_) < 2:
                raise ValidationError(f"MLPClassifier needs samples of at least 2 classes; got 1 class "
                                      f"({self.classes_[0]!r}). A classifier must see every class it should predict.")
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            raise ValidationError(f"y holds labels {unseen[:5].tolist()} that are not in classes_ "
                                  f"{self.classes_[:10].tolist()}. Pass every label in 'classes' (partial_fit) "
                                  "or refit without warm_start.")
        return np.searchsorted(self.classes_, y).astype(np.int64)

    def predict_proba(self, X):
        """Class probabilities, shape (n_samples, n_classes), columns in the order of ``classes_``."""
        return self._forward(X)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`."""
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class of each row, shape (n_samples,)."""
        proba = self.predict_proba(X)          # first: it raises NotFittedError before fit
        return self.classes_[np.argmax(proba, axis=1)]


class MLPRegressor(RegressorMixin, _BaseMLP):
    """Multilayer perceptron regressor (linear output, mean squared error) in scikit-learn's clothes.

    Takes the same parameters as :class:`MLPClassifier` and has the same fitted attributes
    except ``classes_``. ``y`` may have several columns (multi-output regression); the
    targets are not rescaled, so standardize them when their scale is far from 1.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = MLPRegressor((32,), epochs=300, learning_rate_init=0.01, random_state=0).fit(X, y / y.std())
    >>> reg.score(X, y / y.std()) > 0.4
    True
    """

    _output = "linear"
    _alpha_scale = 2.0        # glassnet's MSE has no 1/2: double the L2 to keep sklearn's minimizer

    def fit(self, X, y):
        """Train on X of shape (n_samples, n_features) and y of shape (n_samples,) or (n_samples, n_outputs)."""
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True, y_numeric=True)
        epochs = _check_number(self.epochs, "epochs", int, type(self).__name__, low=1)
        self._y_ndim = y.ndim
        return self._train(X, y, 1 if y.ndim == 1 else y.shape[1], epochs=epochs, incremental=False)

    def partial_fit(self, X, y):
        """One epoch over (X, y), continuing from the current network (building it on the first call)."""
        first = not hasattr(self, "model_")
        X, y = validate_data(self, X, y, dtype=[np.float64, np.float32], multi_output=True, y_numeric=True,
                             reset=first)
        if first:
            self._y_ndim = y.ndim
        n_out = 1 if y.ndim == 1 else y.shape[1]
        if not first and n_out != self.model_.layers[-2].n_out:
            raise ValidationError(f"y has {n_out} column(s) but the fitted network predicts "
                                  f"{self.model_.layers[-2].n_out}. Keep the same targets across partial_fit calls.")
        return self._train(X, y, n_out, epochs=1, incremental=not first)

    def predict(self, X):
        """Predictions, shape (n_samples,) or (n_samples, n_outputs) like the fitted y."""
        out = self._forward(X)
        return out.ravel() if self._y_ndim == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags
