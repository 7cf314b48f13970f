"""``MLPClassifier`` and ``MLPRegressor``: scikit-learn's estimators, trained by glassnet.

See :mod:`glassnet.adapters.sklearn` for the drop-in story and the few differences that remain.
"""

import numbers
import os
import warnings

import numpy as np

try:
    import scipy.optimize
    import scipy.sparse
    from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, r2_score
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import LabelBinarizer
    from sklearn.utils import check_random_state
    from sklearn.utils.metaestimators import available_if
    from sklearn.utils.multiclass import type_of_target, unique_labels
    from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ModuleNotFoundError("glassnet.adapters.sklearn needs scikit-learn (>= 1.6): pip install "
                              f"'glassnet[sklearn]' (or pip install scikit-learn). ({exc})") from exc

from glassnet.adapters import compiled as compiled_step
from glassnet.adapters.sklearn.training import (
    CHUNK,
    HIDDEN_ACTIVATIONS,
    CarryOptimizer,
    Objective,
    ParameterError,
    SklearnBatches,
    SklearnRules,
    check_option,
    check_param,
    dense_rows,
)
from glassnet.backend.errors import ValidationError
from glassnet.files.onnx import add_class_labels
from glassnet.files.onnx import to_onnx as onnx_graph
from glassnet.glassbox.datachecks import DataWarning
from glassnet.glassbox.diagnostics import diagnose, trivial_loss
from glassnet.glassbox.report import write_report as write_html_report
from glassnet.nn.layers import Dense
from glassnet.nn.losses import MSE, BinaryCrossEntropy, CrossEntropy
from glassnet.optim.optimizers import SGD, Adam
from glassnet.train.model import mlp
from glassnet.train.state import History

__all__ = ["BaseMLP", "MLPClassifier", "MLPRegressor", "warn_target_scale"]

class BaseMLP(BaseEstimator):
    """Shared parameters, network construction and the two solvers."""

    _loss_name = "squared_error"

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0, dtype=None, compiled=True):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.dropout = dropout
        self.dtype = dtype
        self.compiled = compiled

    # -- the weights, as scikit-learn names them ----------------------------------------
    def _dense(self):
        if "model_" not in self.__dict__:
            raise AttributeError(f"This {type(self).__name__} instance is not fitted yet: no coefs_/intercepts_.")
        return [d for d in self.model_.layers if isinstance(d, Dense)]

    @property
    def coefs_(self):
        """Weight matrices, ``coefs_[i]`` of shape (units in layer i, units in layer i + 1): the model's arrays."""
        return [d.weight.value for d in self._dense()]

    @coefs_.setter
    def coefs_(self, values):
        self._assign(values, "weight")

    @property
    def intercepts_(self):
        """Bias vectors, ``intercepts_[i]`` of shape (units in layer i + 1,): the model's arrays."""
        return [d.bias.value for d in self._dense()]

    @intercepts_.setter
    def intercepts_(self, values):
        self._assign(values, "bias")

    def _assign(self, values, which):
        params = [getattr(d, which) for d in self._dense()]
        if len(values) != len(params) or any(np.shape(v) != p.value.shape for v, p in zip(values, params)):
            raise ValidationError(f"Assigning {'coefs_' if which == 'weight' else 'intercepts_'} needs "
                                  f"{len(params)} arrays of shapes {[p.value.shape for p in params]}; got shapes "
                                  f"{[np.shape(v) for v in values]}.")
        for v, p in zip(values, params):
            p.value[...] = v

    @property
    def diagnosis_(self):
        """glassnet's fit verdict on ``history_`` (:func:`glassnet.diagnose`), computed on access, with its
        remedies written as this estimator's parameters (``hidden_layer_sizes=``, ``alpha=``, ``max_iter=``)."""
        check_is_fitted(self, "history_")
        lr = self.learning_rate_init if isinstance(self.learning_rate_init, float) else None
        return diagnose(self.history_).phrased("sklearn", lr=lr, epochs=self.max_iter)

    def write_report(self, path, X, y, **kwargs):
        """Write glassnet's HTML report (curves, verdict, data checks) for held-out (X, y) to ``path``."""
        check_is_fitted(self, "model_")
        X = validate_data(self, X, reset=False, dtype=(np.float64, np.float32))
        y = np.asarray(y)
        if hasattr(self, "classes_") and self.n_outputs_ > 1:   # the report reads indices and names y's classes
            y = np.searchsorted(self.classes_, y) if y.ndim == 1 else y
            kwargs.setdefault("class_names", [str(c) for c in self.classes_])
        kwargs.setdefault("diagnosis", self.diagnosis_)        # remedies as estimator parameters
        return write_html_report(path, self.model_, self.history_, X, y, **kwargs)

    def to_onnx(self, path=None, *, dtype="float32"):
        """The fitted network as an ONNX graph (needs the ``onnx`` extra), saved to ``path`` if given.

        Input ``"input"`` of shape (batch, n_features_in_): the rows ``predict`` takes, after the Pipeline's
        earlier steps (those are scikit-learn's to convert, e.g. with skl2onnx). Output ``"output"``:
        ``predict_proba``'s probabilities (both columns for a binary classifier) or ``predict``'s values;
        single-label classifiers add ``"label"`` (batch,), ``str`` of the most probable class of ``classes_``.
        """
        check_is_fitted(self, "model_")
        proto = onnx_graph(self.model_, n_features=self.n_features_in_, dtype=dtype)
        binarizer = getattr(self, "_label_binarizer", None)
        if binarizer is not None and binarizer.y_type_ != "multilabel-indicator":
            if self.n_outputs_ == 1:       # one sigmoid unit: [1 - p, p], as predict_proba
                proto = _two_class_probabilities(proto)
            proto = add_class_labels(proto, list(self.classes_))
        if path is not None:
            import onnx

            onnx.save_model(proto, os.fspath(path))
        return proto

    # -- hyper-parameters (checked in fit, never in __init__) ---------------------------
    def _check_params(self):
        owner = type(self).__name__
        sizes = self.hidden_layer_sizes
        sizes = [sizes] if isinstance(sizes, numbers.Integral) and not isinstance(sizes, bool) else sizes
        try:
            sizes = list(sizes)
        except TypeError:
            raise ParameterError(f"The 'hidden_layer_sizes' parameter of {owner} must be an int or a sequence of "
                                 f"ints, e.g. (100,) or (64, 32). Got {sizes!r}.") from None
        sizes = [check_param(h, "hidden_layer_sizes", int, owner, low=1) for h in sizes]
        acts = self.activation
        if not isinstance(acts, (str, list, tuple)):
            raise ParameterError(f"The 'activation' parameter of {owner} must be a name such as 'relu' or a list "
                                 f"of names, one per hidden layer. Got {acts!r}.")
        acts = [acts] * len(sizes) if isinstance(acts, str) else list(acts)
        if len(acts) != len(sizes):
            raise ParameterError(f"{owner} got {len(acts)} activations for {len(sizes)} hidden layers "
                                 f"(hidden_layer_sizes={self.hidden_layer_sizes!r}). Give one name, or one per layer.")
        for a in acts:
            check_option(a, "activation", HIDDEN_ACTIVATIONS, owner)
        check_option(self.solver, "solver", ("lbfgs", "sgd", "adam"), owner)
        check_option(self.learning_rate, "learning_rate", ("constant", "invscaling", "adaptive"), owner)
        for name, kind, kw in (("alpha", float, dict(low=0.0)),
                               ("learning_rate_init", float, dict(low=0.0, low_open=True)),
                               ("power_t", float, dict(low=0.0)), ("max_iter", int, dict(low=1)),
                               ("tol", float, dict(low=0.0)), ("momentum", float, dict(low=0.0, high=1.0)),
                               ("validation_fraction", float, dict(low=0.0, high=1.0, low_open=True, high_open=True)),
                               ("beta_1", float, dict(low=0.0, high=1.0, high_open=True)),
                               ("beta_2", float, dict(low=0.0, high=1.0, high_open=True)),
                               ("epsilon", float, dict(low=0.0, low_open=True)), ("max_fun", int, dict(low=1)),
                               ("dropout", float, dict(low=0.0, high=1.0, high_open=True))):
            check_param(getattr(self, name), name, kind, owner, **kw)
        if not (self.n_iter_no_change == np.inf):
            check_param(self.n_iter_no_change, "n_iter_no_change", int, owner, low=1)
        if self.batch_size != "auto":
            check_param(self.batch_size, "batch_size", int, owner, low=1)
        if self.solver == "lbfgs" and self.dropout:
            raise ParameterError(f"{owner}(solver='lbfgs') needs a deterministic objective; dropout={self.dropout!r} "
                                 "makes every evaluation random. Use solver='adam' or 'sgd' with dropout.")
        if self.dtype is not None:
            check_option(self.dtype, "dtype", ("float32", "float64"), owner)
        if not isinstance(self.compiled, (bool, np.bool_)):
            raise ParameterError(f"The 'compiled' parameter of {owner} must be True or False; got {self.compiled!r}.")
        if not isinstance(self._loss_name, str):
            raise ParameterError(f"The 'loss' parameter of {owner} must be 'squared_error'; got {self._loss_name!r}. "
                                 f"loss is {owner}'s first positional parameter (as in scikit-learn): pass "
                                 "hidden_layer_sizes by keyword, e.g. MLPRegressor(hidden_layer_sizes=(32,)).")
        if self._loss_name != "squared_error":
            raise ParameterError(f"{owner}(loss={self._loss_name!r}) is not available in glassnet: only "
                                 "'squared_error'. For counts, fit log1p(y) with TransformedTargetRegressor.")
        return sizes, acts

    def _first_pass(self, incremental):
        return "model_" not in self.__dict__ or (not self.warm_start and not incremental)

    # -- the shared fit --------------------------------------------------------------------
    def _fit(self, X, y, sample_weight, incremental):
        owner = type(self).__name__
        sizes, acts = self._check_params()
        first = self._first_pass(incremental)
        X, Y, y_scored = self._validate_input(X, y, incremental, reset=first)
        if scipy.sparse.issparse(X):
            X = X.tocsr()
        if sample_weight is not None:
            sample_weight = self._check_sample_weight(sample_weight, X)
        rs = check_random_state(self.random_state)
        if first and self.dtype is not None and X.dtype != self.dtype:
            X = X.astype(self.dtype)
        if first:
            self._initialize(X, Y, sizes, acts, rs)
        elif Y.shape[1] != self.n_outputs_:
            raise ValueError(f"y has {Y.shape[1]} output column(s) but the fitted {owner} has {self.n_outputs_}. "
                             "Keep the same targets across partial_fit/warm_start calls, or refit.")
        if X.dtype != self.model_.dtype:
            X = X.astype(self.model_.dtype)
        Y = Y.astype(self.model_.dtype)
        with compiled_step.by_default(self.compiled):          # numba's step when installed (BENCHMARKS.md)
            if self.solver == "lbfgs":
                self._fit_lbfgs(X, Y, sample_weight)
            else:
                self._fit_stochastic(X, Y, y_scored, sample_weight, rs, incremental)
        return self

    def _check_sample_weight(self, sample_weight, X):
        n = X.shape[0]
        if isinstance(sample_weight, numbers.Number):
            sample_weight = np.full(n, sample_weight, dtype=np.float64)
        sw = np.asarray(sample_weight, dtype=np.float64)
        if sw.ndim != 1 or sw.shape[0] != n:
            raise ValueError(f"sample_weight.shape == {sw.shape}, expected {(n,)}! Give one weight per row of X.")
        if not np.isfinite(sw).all() or (sw < 0).any():
            raise ValueError("sample_weight must be finite and non-negative; got "
                             f"{'non-finite values' if not np.isfinite(sw).all() else 'negative values'}.")
        if not sw.any():
            raise ValueError("Sample weights must contain at least one non-zero number; got all zeros.")
        return sw

    def _initialize(self, X, Y, sizes, acts, rs):
        """Build ``model_`` with scikit-learn's initial weights (drawn from ``rs`` in its order)."""
        self.n_iter_, self.t_ = 0, 0
        self.n_outputs_ = Y.shape[1]
        self.n_layers_ = len(sizes) + 2
        self.out_activation_ = self._out_activation(Y)
        output = {"softmax": "softmax", "logistic": "sigmoid", "identity": "linear"}[self.out_activation_]
        units = [X.shape[1], *sizes, self.n_outputs_]
        factors = [2.0 if a in ("logistic", "sigmoid") else 6.0 for a in acts]
        # the output layer: scikit-learn's one activation decides (the last hidden one when there are several)
        last = acts[-1] if acts else self.activation if isinstance(self.activation, str) else "relu"
        factors.append(2.0 if last in ("logistic", "sigmoid") else 6.0)
        draws = []
        for fan_in, fan_out, factor in zip(units[:-1], units[1:], factors):
            bound = np.sqrt(factor / (fan_in + fan_out))
            draws.append((rs.uniform(-bound, bound, (fan_in, fan_out)), rs.uniform(-bound, bound, fan_out)))
        dropout = float(self.dropout)
        seed = int(rs.randint(2**31 - 1)) if dropout else 0     # only then: keeps sklearn's random stream
        self.model_ = mlp(X.shape[1], sizes, self.n_outputs_, activation=acts, output=output, dropout=dropout,
                          seed=seed, dtype=X.dtype)
        for d, (W, b) in zip([d for d in self.model_.layers if isinstance(d, Dense)], draws):
            d.weight.value[...] = W
            d.bias.value[...] = b
        self.history_ = History()
        self._optimizer_state = None
        self._best_weights = [p.value.copy() for p in self.model_.parameters()]
        self.loss_curve_ = []
        if self.solver != "lbfgs":
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = [], -np.inf, None
            else:
                self.validation_scores_, self.best_validation_score_, self.best_loss_ = None, None, np.inf

    def _scale(self):
        """s: scikit-learn's gradient over glassnet's (see the module notes)."""
        if self.out_activation_ == "softmax":
            return 1.0
        if self.out_activation_ == "logistic":
            return float(self.n_outputs_)
        return self.n_outputs_ / 2.0

    def _loss(self):
        return {"softmax": CrossEntropy, "logistic": BinaryCrossEntropy, "identity": MSE}[self.out_activation_]()

    def _optimizer(self, scale):
        if self.solver == "sgd":
            momentum = float(self.momentum)
            return SGD(lr=scale * self.learning_rate_init, momentum=momentum,
                       nesterov=bool(self.nesterovs_momentum) and momentum > 0)
        return Adam(lr=self.learning_rate_init, beta1=self.beta_1, beta2=self.beta_2, eps=self.epsilon / scale)

    def _fit_stochastic(self, X, Y, y_scored, sw, rs, incremental):
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        validation = None
        if self.early_stopping:
            stratify = Y if self._stratify() else None
            parts = train_test_split(X, Y, y_scored, *([] if sw is None else [sw]), random_state=rs,
                                     test_size=self.validation_fraction, stratify=stratify)
            X, Xv, Y, Yv, _, yv = parts[:6]
            sw, swv = (parts[6], parts[7]) if sw is not None else (None, None)
            if Xv.shape[0] < 2:
                raise ValueError("The validation set is too small. Increase 'validation_fraction' or the size of "
                                 "your dataset.")
            validation = (Xv, yv, Yv, swv)
        n = X.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n)
        else:
            if self.batch_size > n:
                warnings.warn("Got `batch_size` less than 1 or larger than sample size. It is going to be clipped",
                              stacklevel=4)
            batch_size = int(np.clip(self.batch_size, 1, n))
        scale = self._scale()
        loss = self._loss()
        dense = [d for d in self.model_.layers if isinstance(d, Dense)]
        batches = SklearnBatches(X, sw, float(self.alpha), scale, dense, rs,
                           track_penalty=self.out_activation_ == "identity" and self.n_outputs_ > 1)
        carry = CarryOptimizer(self._optimizer_state if incremental else None)
        rules = SklearnRules(self, n, scale, validation, incremental, batches)
        # The loop sees the real array when X is dense; a zero-stride placeholder (no memory) when sparse.
        X_loop = X if isinstance(X, np.ndarray) else np.broadcast_to(np.zeros((), Y.dtype), X.shape)
        self.history_.baseline_loss = trivial_loss(loss, Y)
        self.n_iter_ = 0
        for d in dense:     # the nominal penalty, set before fit: the loop decides on penalties from it
            d.l2 = float(self.alpha) / (scale * batch_size)
        history = self.model_.fit(X_loop, Y, loss=loss, optimizer=self._optimizer(scale), epochs=int(self.max_iter),
                                  batch_size=batch_size, shuffle=bool(self.shuffle), seed=0,
                                  callbacks=[batches, carry, rules], verbose=0)
        for d in dense:
            d.l2 = float(self.alpha) / (scale * batch_size)
        self._optimizer_state = carry.saved
        self._merge_history(history)
        if self.early_stopping:             # as scikit-learn: the best weights seen (initial ones at worst)
            for p, best in zip(self.model_.parameters(), self._best_weights):
                p.value[...] = best
            self.history_.restored_best = True
            self.history_.best_epoch = int(np.argmax(self.validation_scores_))
        if not incremental and not rules.stopped and history.diverged is None and self.n_iter_ == self.max_iter:
            warnings.warn(f"Stochastic Optimizer: Maximum iterations ({self.max_iter}) reached and the optimization "
                          "hasn't converged yet.", ConvergenceWarning, stacklevel=4)

    def _merge_history(self, history):
        h = self.history_
        for key, curve in history.items():
            h.setdefault(key, []).extend(curve)
        h.epochs += history.epochs
        h.iterations += history.iterations
        h.batch_size = history.batch_size
        h.diverged = history.diverged or h.diverged

    def _fit_lbfgs(self, X, Y, sw):
        scale = self._scale()
        # k > 1 regression outputs: scikit-learn's value is 0.5 * MSE + penalty, its gradient k times that data
        # gradient; reproduced, so that L-BFGS takes scikit-learn's steps.
        objective = Objective(self.model_, X, Y, sw, float(self.alpha), scale, self._loss(),
                               value_scale=0.5 if self.out_activation_ == "identity" else None)
        curve = []

        def record(intermediate_result):
            curve.append(float(intermediate_result.fun))

        try:
            res = scipy.optimize.minimize(objective, objective.theta(), method="L-BFGS-B", jac=True, callback=record,
                                          options={"maxfun": int(self.max_fun), "maxiter": int(self.max_iter),
                                                   "gtol": float(self.tol)})
            objective.set_theta(res.x)
        finally:
            objective.release()
        for d in objective.dense:
            d.l2 = float(self.alpha) / (scale * objective.total)
        self.model_.eval()
        if res.status != 0:
            msg = res.message.decode("latin1") if isinstance(res.message, bytes) else str(res.message)
            warnings.warn(f"lbfgs failed to converge after {res.nit} iteration(s) (status={res.status}):\n{msg}\n\n"
                          f"Increase the number of iterations to improve the convergence (max_iter={self.max_iter}).\n"
                          "You might also want to scale the data as shown in:\n"
                          "    https://scikit-learn.org/stable/modules/preprocessing.html",
                          ConvergenceWarning, stacklevel=4)
        self.n_iter_ = min(int(res.nit), int(self.max_iter))
        self.loss_ = float(res.fun)
        self.loss_curve_ += curve
        h = History()
        h["loss"] = [v / objective.value_scale for v in curve]
        h.epochs = h.iterations = len(curve)
        h.baseline_loss = trivial_loss(self._loss(), Y)
        self.history_ = h

    # -- prediction ------------------------------------------------------------------------
    def _outputs(self, X):
        """The network's outputs for prepared X (dense or sparse), in evaluation mode, chunk by chunk."""
        model = self.model_
        model.eval()
        dtype = model.dtype
        outs = [model.forward(dense_rows(X, slice(i, i + CHUNK), dtype)) for i in range(0, X.shape[0], CHUNK)]
        return np.concatenate(outs, axis=0)

    def _forward(self, X):
        check_is_fitted(self, "model_")
        X = validate_data(self, X, accept_sparse=["csr", "csc"], reset=False, dtype=(np.float64, np.float32))
        return self._outputs(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags


def _two_class_probabilities(proto):
    """Turn a graph's one sigmoid output p (batch, 1) into ``"output"`` = [1 - p, p] (batch, 2)."""
    import onnx
    from onnx import helper, numpy_helper

    graph = proto.graph
    p = graph.output[0]
    p_name, elem = p.name + ".p", p.type.tensor_type.elem_type
    for node in graph.node:
        node.output[:] = [p_name if o == p.name else o for o in node.output]
    one = numpy_helper.from_array(np.ones((1, 1), dtype=onnx.helper.tensor_dtype_to_np_dtype(elem)), "one")
    graph.initializer.append(one)
    graph.node.extend([helper.make_node("Sub", ["one", p_name], [p_name + ".q"], name="one_minus_p"),
                       helper.make_node("Concat", [p_name + ".q", p_name], [p.name], axis=1, name="both_classes")])
    del graph.output[0]
    graph.output.insert(0, helper.make_tensor_value_info(p.name, elem, ["batch", 2]))
    onnx.checker.check_model(proto)
    return proto


def _has_partial_fit(est):
    if est.solver not in ("sgd", "adam"):
        raise AttributeError(f"partial_fit is only available for stochastic optimizers. {est.solver} is not "
                             "stochastic.")
    return True


_CLASSIFIER_DOC = """Multilayer perceptron classifier: scikit-learn's ``MLPClassifier``, trained by glassnet.

    Parameters
    ----------
    hidden_layer_sizes : array-like of int, default=(100,)
        Widths of the hidden layers; () gives (multinomial) logistic regression.
    activation : str or list of str, default='relu'
        'identity', 'logistic', 'tanh', 'relu', or glassnet's 'leaky_relu'; one name, or one per hidden layer.
    solver : {'lbfgs', 'sgd', 'adam'}, default='adam'
        'lbfgs' is scipy's L-BFGS-B on the flat parameter vector (full batch).
    alpha : float, default=1e-4
        L2 strength: ``alpha / (2 m) * sum ||W||^2`` is added to each batch's loss (m samples).
    batch_size : int or 'auto', default='auto'
        Samples per mini-batch; 'auto' is min(200, n_samples). Not used by 'lbfgs'.
    learning_rate : {'constant', 'invscaling', 'adaptive'}, default='constant'
        Schedule for solver='sgd' (see the module notes).
    learning_rate_init : float, default=1e-3
    power_t : float, default=0.5
        Exponent of 'invscaling'.
    max_iter : int, default=200
        Epochs for 'sgd'/'adam' (each sample seen max_iter times), iterations for 'lbfgs'.
    shuffle : bool, default=True
    random_state : int, RandomState or None
        Initial weights, validation split, shuffles (and dropout masks): same int, same model.
    tol : float, default=1e-4
        Least improvement of the loss (or validation score) that counts; 'lbfgs': its gtol.
    verbose : bool, default=False
        Print scikit-learn's progress lines.
    warm_start : bool, default=False
        Start the next ``fit`` from the fitted weights.
    momentum : float in [0, 1], default=0.9
    nesterovs_momentum : bool, default=True
        For solver='sgd'.
    early_stopping : bool, default=False
        Hold out ``validation_fraction`` and stop on the validation score; restores the best weights.
    validation_fraction : float in (0, 1), default=0.1
    beta_1, beta_2, epsilon : float
        For solver='adam'.
    n_iter_no_change : int, default=10
        Epochs without improvement by ``tol`` before stopping ('sgd', 'adam').
    max_fun : int, default=15000
        Most loss evaluations for 'lbfgs'.
    dropout : float in [0, 1), default=0.0
        glassnet's: drop probability after each hidden activation.
    dtype : {None, 'float32', 'float64'}, default=None
        glassnet's: precision of the network. None follows X, as scikit-learn does (float64 input, float64
        weights); 'float32' trains and predicts in float32 whatever X is (about half the memory traffic; fits
        measured 1.1-1.8x faster than in float64, BENCHMARKS.md).
    compiled : bool, default=True
        glassnet's: train with the numba-compiled step (:mod:`glassnet.adapters.compiled`) when numba is
        installed (``pip install 'glassnet[compiled]'``); False, or the environment variable
        ``GLASSNET_COMPILED=0``, keeps the NumPy fast path. Same results to rounding (float64: 1e-9);
        fits measured 0.5-0.8x the NumPy path's time (BENCHMARKS.md). The first fit on a new
        installation compiles (about 8 s, cached on disk for later processes).
    class_weight : {None, 'balanced'} or dict {label: weight}, default=None
        glassnet's (scikit-learn's MLP has none): each row's weight in the objective is multiplied by its
        class's; 'balanced' gives class c the weight n / (K n_c). Combined with ``sample_weight`` by product.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    coefs_, intercepts_ : list of ndarray
        The model's weight matrices and bias vectors (views of ``model_``'s arrays, not copies).
    n_iter_ : int
        Epochs run by the last ``fit`` ('lbfgs': iterations).
    t_ : int
        Samples seen by the stochastic solvers (all ``fit`` calls of a warm start).
    loss_, best_loss_ : float
        The last epoch's and the lowest loss, scikit-learn's objective; best_loss_ is None with
        early stopping.
    loss_curve_ : list of float
    validation_scores_ : list of float or None
        Validation accuracy per epoch with ``early_stopping``.
    best_validation_score_ : float or None
    n_layers_, n_outputs_ : int
    out_activation_ : {'softmax', 'logistic'}
        'logistic' for binary (one output unit) and multilabel targets.
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X was a DataFrame with string column names.
    model_ : glassnet.Sequential
        The network (``glassnet.save(est.model_, path)``; ONNX with labels: ``est.to_onnx(path)``).
    history_ : glassnet.History
        glassnet's curves: 'loss' (glassnet's scaling), 'accuracy', 'val_loss', 'val_score'.
    diagnosis_ : glassnet.glassbox.diagnostics.Diagnosis
        The fit verdict, computed from ``history_``.

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier((16,), learning_rate_init=0.01, max_iter=300, random_state=0).fit(X, y)
    >>> clf.score(X, y) > 0.9
    True
    """


class MLPClassifier(ClassifierMixin, BaseMLP):
    __doc__ = _CLASSIFIER_DOC

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, solver="adam", alpha=0.0001,
                 batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5, max_iter=200,
                 shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False, momentum=0.9,
                 nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9, beta_2=0.999,
                 epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0, dtype=None, compiled=True,
                 class_weight=None):
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
                         learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
                         max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
                         warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
                         early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
                         beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
                         dropout=dropout, dtype=dtype, compiled=compiled)
        self.class_weight = class_weight

    def _class_weighted(self, y, sample_weight):
        """``sample_weight`` times each row's class weight ('balanced': n / (K n_c), or a dict by label)."""
        if self.class_weight is None:
            return sample_weight
        from sklearn.utils.class_weight import compute_sample_weight

        cw = compute_sample_weight(self.class_weight, y)
        return cw if sample_weight is None else cw * self._check_sample_weight(sample_weight, cw.reshape(-1, 1))

    def _out_activation(self, Y):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _stratify(self):
        return self.n_outputs_ == 1           # scikit-learn stratifies binary problems only

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc", "coo"], multi_output=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if not hasattr(self, "classes_") or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start and not incremental:
                if set(classes) != set(self.classes_):
                    raise ValueError("warm_start can only be used where `y` has the same classes as in the previous "
                                     f"call to fit. Previously got {self.classes_}, `y` has {classes}")
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(f"`y` has classes not in `self.classes_`. `self.classes_` has {self.classes_}. "
                                 f"'y' has {classes}.")
        Y = self._label_binarizer.transform(y).astype(bool)
        scored = self._label_binarizer.inverse_transform(Y)      # what predict returns for a perfect fit
        return X, Y, scored

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X of shape (n_samples, n_features), dense or sparse, and labels y
        (n_samples,) or a label indicator matrix (n_samples, n_labels) for multilabel; returns self."""
        return self._fit(X, y, self._class_weighted(y, sample_weight), incremental=False)

    @available_if(_has_partial_fit)
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y). The first call needs ``classes``: every label that will ever appear."""
        if not hasattr(self, "classes_"):
            if classes is None:
                raise ValueError("classes must be passed on the first call to partial_fit.")
            self.classes_ = unique_labels(classes)
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y if type_of_target(y).startswith("multilabel") else self.classes_)
        elif classes is not None and not np.array_equal(unique_labels(classes), self.classes_):
            raise ValueError(f"`classes={classes!r}` is not the same as on the first call to partial_fit: "
                             f"{self.classes_}.")
        return self._fit(X, y, sample_weight, incremental=True)

    def _score_outputs(self, out, y, Y, sample_weight):
        """Validation accuracy (early_stopping) of outputs ``out`` against labels y / their indicator rows Y.

        accuracy_score's number, ``np.average(row predicted right, weights=sample_weight)``, taken from the
        indicator targets directly: accuracy_score's input checks and the inverse label transform were most of
        an early-stopping epoch's cost (BENCHMARKS.md). A row is right when the arg-max class is (softmax) or
        when every output is on the right side of LabelBinarizer's threshold 0.5 (binary, multilabel).
        """
        if not np.isfinite(out).all():
            return np.nan
        if len(self.classes_) < 2:                       # a single class: LabelBinarizer's own rule
            return accuracy_score(y, self._labels(out), sample_weight=sample_weight)
        if self.out_activation_ == "softmax":
            right = out.argmax(axis=1) == Y.argmax(axis=1)
        else:
            right = ((out > 0.5) == (Y > 0.5)).all(axis=1)
        return float(np.average(right, weights=sample_weight))

    def _labels(self, out):
        return self._label_binarizer.inverse_transform(out.ravel() if self.n_outputs_ == 1 else out)

    def predict(self, X):
        """Predicted classes, shape (n_samples,) (or the indicator matrix for multilabel)."""
        return self._labels(self._forward(X))

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes) in the order of ``classes_``."""
        out = self._forward(X)
        if self.n_outputs_ == 1:
            return np.column_stack([1 - out[:, 0], out[:, 0]])
        return out

    def predict_log_proba(self, X):
        """log of :meth:`predict_proba`."""
        p = self.predict_proba(X)
        return np.log(p, out=p)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMLP):
    """Multilayer perceptron regressor: scikit-learn's ``MLPRegressor``, trained by glassnet.

    Takes :class:`MLPClassifier`'s parameters plus ``loss`` ('squared_error' only: scikit-learn's half
    squared error) and has its fitted attributes except ``classes_``; ``out_activation_`` is
    'identity' and ``validation_scores_`` holds R^2. ``y`` may have several columns.

    Targets far from unit scale defeat training (the network starts with outputs near 0 and the
    tolerance ``tol`` is absolute): ``fit`` then warns (a glassnet ``DataWarning``) and names the fix,
    ``TransformedTargetRegressor(regressor=MLPRegressor(...), transformer=StandardScaler())``.

    Examples
    --------
    >>> from sklearn.datasets import load_diabetes
    >>> X, y = load_diabetes(return_X_y=True)
    >>> reg = MLPRegressor(hidden_layer_sizes=(32,), learning_rate_init=0.01, max_iter=300, random_state=0)
    >>> reg.fit(X, y / y.std()).score(X, y / y.std()) > 0.4
    True
    """

    def __init__(self, loss="squared_error", hidden_layer_sizes=(100,), activation="relu", *, solver="adam",
                 alpha=0.0001, batch_size="auto", learning_rate="constant", learning_rate_init=0.001, power_t=0.5,
                 max_iter=200, shuffle=True, random_state=None, tol=1e-4, verbose=False, warm_start=False,
                 momentum=0.9, nesterovs_momentum=True, early_stopping=False, validation_fraction=0.1, beta_1=0.9,
                 beta_2=0.999, epsilon=1e-8, n_iter_no_change=10, max_fun=15000, dropout=0.0, dtype=None,
                 compiled=True):
        super().__init__(hidden_layer_sizes, activation, solver=solver, alpha=alpha, batch_size=batch_size,
                         learning_rate=learning_rate, learning_rate_init=learning_rate_init, power_t=power_t,
                         max_iter=max_iter, shuffle=shuffle, random_state=random_state, tol=tol, verbose=verbose,
                         warm_start=warm_start, momentum=momentum, nesterovs_momentum=nesterovs_momentum,
                         early_stopping=early_stopping, validation_fraction=validation_fraction, beta_1=beta_1,
                         beta_2=beta_2, epsilon=epsilon, n_iter_no_change=n_iter_no_change, max_fun=max_fun,
                         dropout=dropout, dtype=dtype, compiled=compiled)
        self.loss = loss

    @property
    def _loss_name(self):
        return self.loss

    def _out_activation(self, Y):
        return "identity"

    def _stratify(self):
        return False

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(self, X, y, accept_sparse=["csr", "csc", "coo"], multi_output=True, y_numeric=True,
                             dtype=(np.float64, np.float32), reset=reset)
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        Y = y.reshape(len(y), -1)
        if reset:
            warn_target_scale(Y, self)
        return X, Y, y

    def fit(self, X, y, sample_weight=None):
        """Fit the model to X (dense or sparse) and targets y of shape (n_samples,) or (n_samples, n_outputs)."""
        return self._fit(X, y, sample_weight, incremental=False)

    @available_if(_has_partial_fit)
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current network (building it on the first call)."""
        return self._fit(X, y, sample_weight, incremental=True)

    def _score_outputs(self, out, y, Y, sample_weight):
        """Validation R^2 (early_stopping) of outputs ``out`` against targets y.

        r2_score's number by r2_score's own steps (the common floating dtype, a column per output, the weighted
        sums, 1 for a perfect fit and 0 for a constant target missed, the mean over outputs), without its input
        checks, which cost more than the rest of a small epoch (BENCHMARKS.md).
        """
        if not np.isfinite(out).all():
            return np.nan
        if len(y) < 2:                                   # not defined: r2_score's warning and nan
            return r2_score(y, out.ravel() if out.shape[1] == 1 else out, sample_weight=sample_weight)
        floats = [a.dtype for a in (y, out, sample_weight) if a is not None and a.dtype.kind == "f"]
        dtype = np.result_type(*floats) if floats else np.float64
        y_true, y_pred = np.asarray(y, dtype).reshape(len(y), -1), np.asarray(out, dtype)
        sw = None if sample_weight is None else np.asarray(sample_weight, dtype)
        weight = 1.0 if sw is None else sw[:, None]
        numerator = np.sum(weight * (y_true - y_pred) ** 2, axis=0)
        denominator = np.sum(weight * (y_true - np.average(y_true, axis=0, weights=sw)) ** 2, axis=0)
        scores = np.ones(y_true.shape[1], dtype)
        valid = (numerator != 0) & (denominator != 0)
        scores[valid] = 1 - numerator[valid] / denominator[valid]
        scores[(numerator != 0) & (denominator == 0)] = 0.0
        return float(np.average(scores))

    def predict(self, X):
        """Predictions, shape (n_samples,) or (n_samples, n_outputs) like the fitted y."""
        out = self._forward(X)
        return out.ravel() if out.shape[1] == 1 else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        return tags


def warn_target_scale(Y, est):
    """Warn (glass box: a DataWarning) when the scale of regression targets will defeat training.

    The network starts with outputs of order 1 around 0 and stops when the loss improves by less than
    the absolute ``tol``. Targets whose root mean square is above 10 leave the first epochs fighting
    the scale (with Adam, each weight moves by about ``learning_rate_init`` per step); targets whose
    half mean square is below ``10 * tol`` make every improvement smaller than ``tol``, so training
    stops almost at once.
    """
    Y = np.asarray(Y, dtype=np.float64)
    rms = float(np.sqrt((Y * Y).mean(axis=0)).max())
    half_ms = 0.5 * float((Y * Y).mean())
    std, mean = Y.std(axis=0), Y.mean(axis=0)
    if rms > 10:
        problem = (f"the targets' scale is large (root mean square {rms:.4g}; mean {mean.max():.4g}, std "
                   f"{std.max():.4g}), while the network starts with outputs near 0 of order 1")
    elif 0 < half_ms < 10 * float(est.tol) and std.max() > 0:
        problem = (f"the targets are tiny (half mean square {half_ms:.3g}, below 10 x tol = {10 * est.tol:g}), so "
                   "no epoch can improve the loss by tol and training stops almost at once")
    else:
        return
    warnings.warn(f"{type(est).__name__}: {problem}: training will end far from a good fit. Standardize y: "
                  "TransformedTargetRegressor(regressor=MLPRegressor(...), transformer=StandardScaler()) from "
                  "sklearn.compose (predictions come back in the original units).", DataWarning, stacklevel=5)
