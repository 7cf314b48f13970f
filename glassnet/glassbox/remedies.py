"""Remedies phrased for the interface in use: Python calls, ``glassnet`` CLI flags, estimator parameters.

A :class:`~glassnet.glassbox.diagnostics.Diagnosis` carries remedy *ids* (``Diagnosis.remedy_ids``);
this table is the one place that says how each is written for a user of the Python API ('api'), of the
``glassnet`` command ('cli') or of the scikit-learn estimators ('sklearn'). A phrasing of ``None``
means the interface has no such knob (the CLI and the estimators already use He initialization), and
the remedy is left out there. ``{lr}`` and friends are filled from the run when the caller knows them
(:func:`phrase`), else a generic wording is used.

Remedies that :func:`glassnet.glassbox.verify.verify` can test by a counterfactual rerun (its probes)
are listed in :data:`VERIFIABLE` by verdict, and only those are marked as checkable by ``--verify`` /
``verify=True``; the estimators have no verification, so nothing is marked there.
"""

__all__ = ["INTERFACES", "REMEDY_TEXT", "VERDICT_REMEDIES", "VERIFIABLE", "phrase"]

INTERFACES = ("api", "cli", "sklearn")

# id: (api, cli, sklearn)
REMEDY_TEXT = {
    "bigger_network": ("a bigger network: gn.mlp(n_in, [256, 256], n_out) (more units per layer, or more layers)",
                       "a bigger network: --hidden 256,256", "a bigger network: hidden_layer_sizes=(256, 256)"),
    "more_epochs": ("more iterations: fit(..., epochs={epochs2})", "more iterations: --epochs {epochs2}",
                    "more iterations: max_iter={epochs2}"),
    "less_regularization": ("less regularization: gn.mlp(..., l2=0.0, dropout=0.0) (or lower values)",
                            "less regularization: --l2 0 --dropout 0 (or lower values)",
                            "less regularization: alpha=1e-5, dropout=0.0 (or lower values)"),
    "higher_lr": ("a higher learning rate, momentum, or Adam: Adam(lr={lr_up})",
                  "a higher learning rate: --lr {lr_up} (or --optimizer adam)",
                  "a higher learning rate: learning_rate_init={lr_up} (solver='adam')"),
    "better_features": ("more informative features (better data)",) * 3,
    "l2": ("regularization: gn.mlp(..., l2=1e-3) (weight decay; Dense(..., l2=1e-3) layer by layer)",
           "regularization: --l2 0.001", "regularization: alpha=1e-3"),
    "dropout": ("dropout: gn.mlp(..., dropout=0.2) (after the hidden activations)", "dropout: --dropout 0.2",
                "dropout: dropout=0.2"),
    "early_stopping": ("early stopping: EarlyStopping(patience=5, restore_best=True)",
                       "early stopping: --early-stopping --patience 5",
                       "early stopping: early_stopping=True, n_iter_no_change=5"),
    "more_data": ("more (or augmented) training data",) * 3,
    "smaller_network": ("a smaller network: gn.mlp(n_in, [32], n_out)", "a smaller network: --hidden 32",
                        "a smaller network: hidden_layer_sizes=(32,)"),
    "faster": ("a somewhat higher learning rate or momentum to get there faster: Adam(lr={lr_up3})",
               "a somewhat higher learning rate to get there faster: --lr {lr_up3}",
               "a somewhat higher learning rate to get there faster: learning_rate_init={lr_up3}"),
    "lower_lr": ("a lower learning rate (try lr / 10): Adam(lr={lr_down})", "a lower learning rate: --lr {lr_down}",
                 "a lower learning rate: learning_rate_init={lr_down}"),
    "standardize": ("standardized inputs (zero mean, unit variance per feature): (X - X.mean(0)) / X.std(0)",
                    "standardized inputs: leave out --no-scale (the CLI standardizes by default)",
                    "standardized inputs: make_pipeline(StandardScaler(), estimator)"),
    "he_init": ("He initialization for ReLU layers (Dense(..., init='he_normal'); gn.mlp does it already)",
                None, None),
    "larger_batch": ("a larger batch size (less noisy gradients): fit(..., batch_size=128)",
                     "a larger batch size: --batch-size 128", "a larger batch size: batch_size=128"),
    "smoother": ("a lower learning rate or a larger batch size (smoother curves): Adam(lr={lr_down}) or "
                 "fit(..., batch_size=128)", "smoother curves: --lr {lr_down} or --batch-size 128",
                 "smoother curves: learning_rate_init={lr_down} or batch_size=128"),
    "larger_validation": ("a larger validation set (less noisy val_loss): fit(..., validation_split=0.3)",
                          "a larger validation set: --validation-split 0.3",
                          "a larger validation set: validation_fraction=0.3"),
    "longer_look": ("more epochs, to see the trend through the noise: fit(..., epochs={epochs2})",
                    "more epochs, to see the trend through the noise: --epochs {epochs2}",
                    "more epochs, to see the trend through the noise: max_iter={epochs2}"),
    "none_needed": ("none needed; confirm on a held-out test set (gn.evaluate(model, X_test, y_test))",
                    "none needed; confirm on a held-out test set (glassnet evaluate MODEL TEST.csv)",
                    "none needed; confirm on a held-out test set (estimator.score(X_test, y_test))"),
    "noise_bound": ("none needed; a bigger network would not help: the remaining error is bounded by the noise "
                    "measured above; confirm on a held-out test set",) * 3,
    "close_the_gap": ("regularization may close the gap to the reference: gn.mlp(..., l2=1e-3) or dropout=0.2; a "
                      "bigger network would not (the training loss is already below the reference)",
                      "regularization may close the gap to the reference: --l2 0.001 or --dropout 0.2; a bigger "
                      "network would not (the training loss is already below the reference)",
                      "regularization may close the gap to the reference: alpha=1e-3 or dropout=0.2; a bigger "
                      "network would not (the training loss is already below the reference)"),
}

VERDICT_REMEDIES = {
    "underfitting": ["bigger_network", "more_epochs", "less_regularization", "higher_lr", "better_features"],
    "overfitting": ["l2", "dropout", "early_stopping", "more_data", "smaller_network"],
    "still improving": ["more_epochs", "faster"],
    "diverged": ["lower_lr", "standardize", "he_init", "larger_batch"],
    "too noisy to tell": ["smoother", "larger_validation", "longer_look"],
    "good fit": ["none_needed"],
}

# the remedies verify()'s probes retrain with, per verdict (see glassnet.glassbox.verify._probes)
VERIFIABLE = {
    "underfitting": {"bigger_network", "less_regularization"},
    "overfitting": {"early_stopping", "l2"},
    "still improving": {"more_epochs", "faster"},
    "diverged": {"lower_lr"},
    "too noisy to tell": {"smoother"},
}

_MARK = {"api": " [diagnose(..., verify=True) tests this]", "cli": " [--verify tests this]", "sklearn": ""}


def _values(lr, epochs):
    """The placeholders, from the run's learning rate and epochs when known."""
    return {"lr_down": f"{lr / 10:g}" if lr else "lr / 10", "lr_up": f"{lr * 10:g}" if lr else "lr x 10",
            "lr_up3": f"{lr * 3:g}" if lr else "lr x 3", "epochs2": str(2 * epochs) if epochs else "2 x epochs"}


def phrase(ids, interface="api", *, verdict=None, lr=None, epochs=None):
    """The remedies ``ids`` written for ``interface`` ('api', 'cli' or 'sklearn').

    Parameters
    ----------
    ids : list of str
        Keys of :data:`REMEDY_TEXT`, most telling first.
    interface : {'api', 'cli', 'sklearn'}
    verdict : str, optional
        Marks the remedies :data:`VERIFIABLE` for it as testable by verification (not for 'sklearn').
    lr, epochs : float and int, optional
        The run's learning rate and epochs: "--lr 0.0001" rather than "lr / 10".

    Returns
    -------
    list of str
    """
    if interface not in INTERFACES:
        raise ValueError(f"phrase: interface must be one of {INTERFACES}; got {interface!r}.")
    col, values, checkable = INTERFACES.index(interface), _values(lr, epochs), VERIFIABLE.get(verdict, set())
    out = []
    for i in ids:
        text = REMEDY_TEXT[i][col]
        if text is not None:
            out.append(text.format(**values) + (_MARK[interface] if i in checkable else ""))
    return out
