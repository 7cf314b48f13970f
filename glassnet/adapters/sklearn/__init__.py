"""scikit-learn's ``MLPClassifier`` and ``MLPRegressor``, drop-in, trained by glassnet.

Switching is one changed import::

    from sklearn.neural_network import MLPClassifier     # before
    from glassnet.adapters.sklearn import MLPClassifier  # after

The constructors take every parameter of scikit-learn's (same names, defaults and meaning), the
fitted estimators carry the same attributes, and the same methods accept the same inputs (dense or
sparse ``X``, multilabel ``y``, ``sample_weight``). Underneath, the network is a glassnet
:class:`~glassnet.train.model.Sequential` (``model_``): the stochastic solvers run the one training
loop of :func:`glassnet.train.loop.fit` (its fast path included) with scikit-learn's rules added as
callbacks, and ``solver='lbfgs'`` hands the model's loss and gradient to scipy's L-BFGS-B; both run the
numba-compiled step of :mod:`glassnet.adapters.compiled` when numba is installed (``compiled=True``, the
default; ``compiled=False`` or ``GLASSNET_COMPILED=0`` keeps the NumPy fast path). On top:
``history_``, ``diagnosis_``, ``write_report``, ONNX export (``est.to_onnx(path)``: probabilities as
``predict_proba``, class labels), ``dropout``, one activation per hidden layer and ``'leaky_relu'``.

How scikit-learn's definitions map onto glassnet's (so that the same hyper-parameters give the
same run):

* **Objective.** scikit-learn minimizes, per mini-batch of ``m`` samples, its loss plus
  ``alpha / (2 m) * sum ||W||^2`` (``m`` is the batch's total sample weight when weighted), with
  a *half* squared error for regression and, for multilabel targets, binary cross-entropy summed
  over the labels. glassnet's losses are means over every output (no 1/2), so scikit-learn's
  gradient is ``s`` times glassnet's with ``s = 1`` (multiclass, binary), ``k`` (k labels) or
  ``k / 2`` (k regression outputs). The adapter sets each Dense layer's ``l2 = alpha / (s m)``
  batch by batch (the sampler below does it, so the smaller last batch is scaled by its own size,
  as in scikit-learn) and folds ``s`` into the optimizer: SGD's learning rate is ``s * lr``,
  Adam's epsilon ``epsilon / s``. ``loss_curve_``, ``loss_`` and ``best_loss_`` are reported as
  ``s`` times glassnet's objective, i.e. scikit-learn's numbers. (With ``k > 1`` regression outputs
  scikit-learn reports ``0.5 * mean squared error + penalty`` but follows ``k`` times that data
  gradient; both quirks are reproduced, for the stochastic solvers and for L-BFGS.)
* **Initial weights, split and shuffles** are drawn from ``check_random_state(random_state)`` in
  scikit-learn's order (Glorot-uniform weights *and* intercepts, factor 2 for 'logistic'; then
  ``train_test_split`` for ``early_stopping``; then one ``sklearn.utils.shuffle`` of the sample
  indices per epoch). With the same ``random_state``, both libraries start from the same weights
  and see the same mini-batches; in float64 with ``solver='sgd'`` the runs agree to rounding.
* ``learning_rate='invscaling'`` sets ``lr = learning_rate_init / (t_ + 1) ** power_t`` at the end of
  each epoch (``t_`` = samples seen); ``'adaptive'`` divides it by 5 when the training loss (or the
  validation score) has not improved by ``tol`` for ``n_iter_no_change`` epochs, stopping below
  1e-6. Both apply to ``solver='sgd'`` only, as in scikit-learn.
* ``early_stopping`` holds out ``validation_fraction`` and stops when the validation *score*
  (accuracy, or R^2) has not improved by ``tol`` for ``n_iter_no_change`` epochs, then restores the
  best epoch's weights. ``history_`` also gets ``val_loss`` for the glass box.

The differences that remain (documented in the README):

* Adam's epsilon: glassnet adds it to ``sqrt(v_hat)``, scikit-learn to ``sqrt(v)`` (a factor
  ``sqrt(1 - beta_2 ** t)`` apart). It matters only for weights whose gradients are of the order of
  epsilon (inputs that are almost always 0): on digits the loss curves then agree to about 0.2%; with
  ``epsilon`` -> 0 they agree to rounding (tests/test_sklearn_solvers.py).
* A run that diverges is stopped by glassnet's NaN guard (RuntimeWarning, last finite weights kept,
  ``history_.diverged`` explains it) instead of scikit-learn's ValueError on non-finite weights.
* ``MLPRegressor(loss='poisson')`` is not offered (glassnet has no exponential output layer).
* Hyper-parameters are checked in ``fit`` and a bad one raises :class:`ParameterError`, which is a
  ValueError and a TypeError like scikit-learn's ``InvalidParameterError``.

glassnet's own parameters: ``dropout`` (after each hidden activation), ``activation`` as a list (one
per hidden layer, 'leaky_relu' included) and ``dtype='float32'`` (a float32 network whatever X is;
None, the default, follows X as scikit-learn does).

``coefs_`` and ``intercepts_`` are the model's own weight arrays (views, no copies): writing into them
changes ``model_``, and assigning a list copies the values into the model.

Needs scikit-learn (``pip install 'glassnet[sklearn]'``), which brings scipy.
"""

from glassnet.adapters.sklearn.estimators import MLPClassifier, MLPRegressor
from glassnet.adapters.sklearn.training import ParameterError

__all__ = ["MLPClassifier", "MLPRegressor", "ParameterError"]
