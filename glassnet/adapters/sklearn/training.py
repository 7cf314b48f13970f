"""The machinery under glassnet's scikit-learn estimators: scikit-learn's rules as callbacks of glassnet's loop,
and the L-BFGS objective. See :mod:`glassnet.adapters.sklearn` for how each definition maps onto glassnet's."""

import numpy as np

try:
    import scipy.sparse
except ImportError as exc:  # pragma: no cover - exercised only without scikit-learn
    raise ModuleNotFoundError("glassnet.adapters.sklearn needs scikit-learn (>= 1.6): pip install "
                              f"'glassnet[sklearn]' (or pip install scikit-learn). ({exc})") from exc

from glassnet.backend.checks import check_scalar
from glassnet.backend.errors import GlassnetError, GlassnetTypeError, ValidationError
from glassnet.nn.layers import Dense
from glassnet.nn.losses import MSE, BinaryCrossEntropy, CrossEntropy
from glassnet.optim.optimizers import SGD
from glassnet.train import fastpath
from glassnet.train.callbacks import Callback

__all__ = ["CHUNK", "HIDDEN_ACTIVATIONS", "CarryOptimizer", "NoStep", "Objective", "ParameterError", "SklearnBatches",
           "SklearnRules", "check_option", "check_param", "data_loss", "dense_rows"]

HIDDEN_ACTIVATIONS = ("identity", "logistic", "tanh", "relu", "leaky_relu", "linear", "sigmoid")
CHUNK = 2048          # rows per chunk outside mini-batches (prediction, L-BFGS): measured fastest, see BENCHMARKS


class ParameterError(ValidationError, GlassnetTypeError):
    """A hyper-parameter out of range or of the wrong type: both a ValueError and a TypeError,
    like scikit-learn's ``InvalidParameterError``, and a :class:`~glassnet.backend.errors.GlassnetError`."""


def check_param(value, name, kind, owner, *, low=None, high=None, low_open=False, high_open=False):
    """Check one hyper-parameter in fit (scikit-learn's rule: __init__ stores, fit checks)."""
    try:
        return check_scalar(value, name, kind, caller=owner, min_val=low, max_val=high,
                            include_min=not low_open, include_max=not high_open)
    except GlassnetError as e:
        raise ParameterError(str(e)) from None


def check_option(value, name, options, owner):
    if not isinstance(value, str) or value not in options:
        raise ParameterError(f"The '{name}' parameter of {owner} must be one of {list(options)}. Got {value!r}.")
    return value


def dense_rows(X, rows, dtype):
    """X[rows] as a dense array of ``dtype`` (a sparse matrix is densified here, one chunk at a time)."""
    part = X[rows]
    if scipy.sparse.issparse(part):
        part = part.toarray()
    return np.asarray(part, dtype=dtype)


# -- callbacks that give glassnet's loop scikit-learn's rules -------------------------------
class SklearnBatches(Callback):
    """scikit-learn's mini-batches, installed as the loop's sampler (``state.batches``).

    The order is scikit-learn's: the sample indices are reshuffled once per epoch with
    ``sklearn.utils.shuffle(idx, random_state=rs)``, and consecutive slices of ``batch_size`` are the
    batches. Rows come from ``X`` held here (a sparse matrix is densified one batch at a time; the
    loop only holds a zero-stride placeholder). Before each batch of ``m`` samples of total weight
    ``W`` every Dense layer gets ``l2 = alpha / (s W)``, and the batch carries the row weights
    ``m w_i / W``: glassnet's weighted mean loss is then scikit-learn's ``np.average(l, weights=w)``
    of that batch, the penalty scikit-learn's too.
    """

    def __init__(self, X, sample_weight, alpha, scale, dense, rs, track_penalty=False):
        self.X, self.sw, self.alpha, self.scale, self.dense, self.rs = X, sample_weight, alpha, scale, dense, rs
        self.order = np.arange(X.shape[0])
        self.l2 = None
        self.track_penalty = track_penalty     # sum over the epoch's batches of m * penalty (multi-output)
        self.penalty_sum = 0.0

    def on_train_begin(self, state):
        state.batches = self

    def _penalty(self, total):
        l2 = self.alpha / (self.scale * total) if total > 0 else 0.0
        if l2 != self.l2:                                   # changes only for the last batch (or weights)
            for d in self.dense:
                d.l2 = l2
            self.l2 = l2

    def _track(self, m):
        # The step about to run adds 0.5 l2 ||W||^2 at the current weights: record it (rows-weighted).
        if self.track_penalty and self.l2:
            self.penalty_sum += m * 0.5 * self.l2 * sum(float(np.vdot(d.weight.value, d.weight.value))
                                                        for d in self.dense)

    def __call__(self, X, Y, batch_size, rng=None, W=None):
        n = self.X.shape[0]
        if rng is not None:                                 # the loop passes its rng only when shuffling
            perm = np.arange(n)                             # = sklearn.utils.shuffle(order, random_state=rs)
            self.rs.shuffle(perm)
            self.order = self.order[perm]
        dense_np = isinstance(self.X, np.ndarray)
        m = min(batch_size, n)
        xbuf = np.empty((m, self.X.shape[1]), Y.dtype) if dense_np and rng is not None else None
        ybuf = np.empty((m, Y.shape[1]), Y.dtype)
        self.penalty_sum = 0.0
        for start in range(0, n, batch_size):
            if rng is None:
                idx = slice(start, start + batch_size)
                xb = self.X[idx] if dense_np else dense_rows(self.X, idx, Y.dtype)
                yb = Y[idx]
            else:
                idx = self.order[start:start + batch_size]
                k = len(idx)
                # mode="clip": the indices are valid, and the default mode would allocate a temporary.
                xb = (np.take(self.X, idx, axis=0, out=xbuf[:k], mode="clip") if dense_np
                      else dense_rows(self.X, idx, Y.dtype))
                yb = np.take(Y, idx, axis=0, out=ybuf[:k], mode="clip")
            if self.sw is None:
                self._penalty(len(yb))
                self._track(len(yb))
                yield xb, yb
            else:
                w = self.sw[idx]
                total = float(w.sum())
                self._penalty(total)
                self._track(len(yb))
                yield xb, yb, (len(w) / total * w if total > 0 else 0 * w).astype(Y.dtype)


class CarryOptimizer(Callback):
    """Keep one optimization across ``partial_fit`` calls: state arrays, step count and learning rate.

    ``fit`` binds a freshly zeroed optimizer before any hook; this callback copies the saved state
    back in (in place, so the fast path's flat buffers see it) and saves it again at the end.
    """

    def __init__(self, saved=None):
        self.saved = saved

    def on_train_begin(self, state):
        opt = state.optimizer
        if self.saved is not None and type(opt).__name__ == self.saved["type"]:
            for name, arrays in opt.state().items():
                for current, old in zip(arrays, self.saved["arrays"][name], strict=True):
                    current[...] = old
            opt.t, opt.lr = self.saved["t"], self.saved["lr"]

    def on_train_end(self, state):
        opt = state.optimizer
        self.saved = {"type": type(opt).__name__, "t": opt.t, "lr": opt.lr,
                      "arrays": {k: [a.copy() for a in v] for k, v in opt.state().items()}}


class SklearnRules(Callback):
    """scikit-learn's end-of-epoch bookkeeping: counters, loss curve, validation score, learning-rate
    schedule and the no-improvement stop (``BaseMultilayerPerceptron._fit_stochastic``)."""

    def __init__(self, est, n_train, scale, validation, incremental, batches):
        self.est, self.n_train, self.scale, self.val, self.incremental = est, n_train, scale, validation, incremental
        self.batches = batches
        self.stopped = False

    def sklearn_loss(self, glassnet_loss):
        """scikit-learn's number for the epoch: s G, except for k > 1 regression outputs, where scikit-learn
        reports 0.5 * (mean squared error) + penalty while following k times that data gradient."""
        if not self.batches.track_penalty:
            return self.scale * glassnet_loss
        penalty = self.batches.penalty_sum / self.n_train
        return 0.5 * (glassnet_loss - penalty) + self.scale * penalty

    def on_epoch_end(self, state):
        est, opt = self.est, state.optimizer
        est.n_iter_ += 1
        est.t_ += self.n_train
        est.loss_ = self.sklearn_loss(state.history["loss"][-1])
        est.loss_curve_.append(est.loss_)
        if est.verbose:
            print(f"Iteration {est.n_iter_}, loss = {est.loss_:.8f}")
        if self.val is not None:
            self._validate(state)
        else:
            est._no_improvement_count = est._no_improvement_count + 1 if est.loss_ > est.best_loss_ - est.tol else 0
            est.best_loss_ = min(est.best_loss_, est.loss_)
        sgd = est.solver == "sgd"
        if sgd and est.learning_rate == "invscaling":
            opt.lr = self.scale * est.learning_rate_init / (est.t_ + 1) ** est.power_t
        if est._no_improvement_count > est.n_iter_no_change:
            what = "Validation score" if self.val is not None else "Training loss"
            msg = f"{what} did not improve more than tol={est.tol:f} for {est.n_iter_no_change} consecutive epochs."
            if not (sgd and est.learning_rate == "adaptive") or opt.lr / self.scale <= 1e-6:
                state.stop = self.stopped = True
                if est.verbose:
                    print(msg + " Stopping.")
            else:
                opt.lr /= 5.0
                est._no_improvement_count = 0
                if est.verbose:
                    print(msg + f" Setting learning rate to {opt.lr / self.scale:f}")
        if self.incremental:
            state.stop = True

    def _validate(self, state):
        est = self.est
        Xv, yv, Yv, swv = self.val
        out = est._outputs(Xv)
        score = est._score_outputs(out, yv, Yv, swv)
        est.validation_scores_.append(score)
        state.history.setdefault("val_score", []).append(score)
        state.history.setdefault("val_loss", []).append(data_loss(state.loss, out, Yv))
        if est.verbose:
            print(f"Validation score: {score:f}")
        improved = not score < est.best_validation_score_ + est.tol
        est._no_improvement_count = 0 if improved else est._no_improvement_count + 1
        if score > est.best_validation_score_:
            est.best_validation_score_ = score
            est._best_weights = [p.value.copy() for p in state.model.parameters()]


def data_loss(loss, out, Y):
    """The unweighted glassnet loss of outputs ``out`` (probabilities or values) against targets Y."""
    base = next(c for c in (CrossEntropy, BinaryCrossEntropy, MSE) if isinstance(loss, c))()
    with np.errstate(all="ignore"):
        return base.forward(out, Y) if np.isfinite(out).all() else float("nan")


class NoStep:
    """An optimizer that does not move the weights: lets L-BFGS use the fast step for loss and gradient."""

    def state(self):
        return {}

    def step_flat(self, w, g, tmp, state):
        pass


class Objective:
    """scikit-learn's objective on the flat parameter vector, for scipy's L-BFGS-B.

    ``J(theta) = s * L(theta) + alpha / (2 W) * sum_l ||W_l||^2`` with ``L`` glassnet's (sample-
    weighted) mean loss over all of X and ``W`` the total sample weight; ``dJ/dtheta`` from the
    model's backward pass. X is processed in chunks of rows (sparse chunks densified one at a
    time); each chunk's loss is weighted by its share of ``W``, so the sum over chunks is the loss
    over X. Unweighted Dense stacks use glassnet's fused training step (glassnet/train/fastpath.py)
    with an optimizer that never moves the weights; anything else the layer-by-layer
    forward/backward. With the compiled step (numba) and dense X, one compiled call per evaluation
    (:meth:`glassnet.adapters.compiled.CompiledStep.objective`) does the same operations in the same
    order: theta into the flat parameters, every chunk, the L2 term, the gradient into one float64
    buffer that every call returns (scipy's L-BFGS-B copies it before use). ``tests/test_sklearn_solvers.py``
    checks each against finite differences and against each other, and that scipy takes the same steps.
    """

    def __init__(self, model, X, Y, sample_weight, alpha, scale, loss, chunk=CHUNK, value_scale=None):
        self.model, self.X, self.Y, self.alpha, self.scale, self.chunk = model, X, Y, alpha, scale, chunk
        self.value_scale = scale if value_scale is None else value_scale
        self.params = model.parameters()
        self.dense = [d for d in model.layers if isinstance(d, Dense)]
        n = X.shape[0]
        self.w = np.ones(n, Y.dtype) if sample_weight is None else sample_weight.astype(Y.dtype)
        self.total = float(self.w.sum())
        self.weighted = sample_weight is not None
        self.loss = loss
        self.fused = type(model.layers[-1]).__name__ in ("Softmax", "Sigmoid")
        self.sizes = [p.value.size for p in self.params]
        self.fast = self.kernel = None
        if fastpath.enabled():
            opt = SGD(lr=1.0).setup(self.params)
            probe = np.empty((1, X.shape[1]), Y.dtype)
            self.fast = fastpath.build_fast_step(model, loss, opt, probe)
            if self.fast is not None:
                self.fast.opt = NoStep()
                self.params = self.fast.params                  # same Parameters, values now views
                self._bind_kernel(X, Y)
        self.n_calls = 0

    def _bind_kernel(self, X, Y):
        # The compiled step's whole objective (glassnet/adapters/compiled.py) for dense X: theta written into the
        # flat parameters, every chunk and the penalty in one compiled call, the gradient into one buffer.
        bind = getattr(self.fast, "objective", None)
        if bind is None or not isinstance(X, np.ndarray) or (self.weighted and self.w.dtype != np.float64):
            return
        for d in self.dense:
            d.l2 = 0.0                                           # the penalty is added by the kernel
        X, Y = np.ascontiguousarray(X, Y.dtype), np.ascontiguousarray(Y)
        self.kernel = bind(X, Y, self.w if self.weighted else None, self.total, self.chunk)
        self.grad = np.empty(sum(self.sizes), np.float64)    # returned to scipy, which copies it before use

    def theta(self):
        return np.concatenate([p.value.ravel() for p in self.params]).astype(np.float64)

    def set_theta(self, theta):
        off = 0
        for p, size in zip(self.params, self.sizes):
            p.value[...] = theta[off:off + size].reshape(p.value.shape)
            off += size

    def __call__(self, theta):
        self.n_calls += 1
        if self.kernel is not None:
            if theta.shape != self.grad.shape or theta.dtype != np.float64:   # compiled code checks no bounds
                raise ValueError(f"theta must be float64 of shape {self.grad.shape}; got {theta.dtype} {theta.shape}.")
            l2 = self.alpha / self.total
            return self.kernel(theta, self.scale, self.value_scale, l2, 0.5 * self.alpha / self.total,
                               self.grad), self.grad
        self.set_theta(theta)
        for d in self.dense:
            d.l2 = 0.0                                       # the penalty is added once, below
        grad = np.zeros(theta.shape, np.float64)
        data = 0.0
        n = self.X.shape[0]
        self.model.train()
        for start in range(0, n, self.chunk):
            rows = slice(start, start + self.chunk)
            xb = dense_rows(self.X, rows, self.Y.dtype)
            yb = self.Y[rows]
            # Weighted: rows weigh n_c w_i / W, so the chunk's mean loss is its share of the total.
            w = len(xb) / self.total * self.w[rows] if self.weighted else None
            factor = 1.0 if self.weighted else len(xb) / n
            if self.fast is not None:
                value, _ = self.fast(xb, yb, w)                # loss and gradients; the weights stay put
            else:
                stop = len(self.model.layers) - 1 if self.fused else None
                out = self.model.forward(xb, stop=stop)
                value = self.loss.forward(out, yb, from_logits=self.fused, weight=w)
                self.model.backward(self.loss.backward(), stop=stop)
            data += factor * value
            off = 0
            for p, size in zip(self.params, self.sizes):
                grad[off:off + size] += factor * p.grad.ravel()
                off += size
        value = self.value_scale * data
        grad *= self.scale
        off = 0
        for p, size in zip(self.params, self.sizes):
            if p.name == "weight":
                W = p.value.astype(np.float64).ravel()
                value += 0.5 * self.alpha / self.total * float(W @ W)
                grad[off:off + size] += self.alpha / self.total * W
            off += size
        return value, grad

    def release(self):
        if self.fast is not None:
            self.fast.release()
            self.fast = self.kernel = None
