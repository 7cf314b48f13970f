"""Metrics: plain functions of (predictions, targets), returning floats."""

import numpy as np

__all__ = ["accuracy", "r2_score"]


def accuracy(pred, labels, threshold=0.5):
    """Share of rows whose predicted class equals the label.

    pred : (N, K) scores/probabilities (argmax), or (N, 1) sigmoid outputs (> threshold is class 1;
        pass threshold=0 for logits).
    labels : (N,) integer labels, or (N, K) one-hot rows.
    """
    labels = labels.argmax(axis=-1) if labels.ndim == 2 and labels.shape[-1] > 1 else labels.reshape(-1)
    if pred.shape[-1] == 1:
        guess = (pred.reshape(-1) > threshold).astype(labels.dtype)
    else:
        guess = pred.argmax(axis=-1)
    return float((guess == labels).mean())


def r2_score(pred, target):
    """Coefficient of determination: 1 - SS_res / SS_tot (averaged over outputs)."""
    pred = np.asarray(pred, dtype=np.float64).reshape(len(pred), -1)
    target = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    ss_res = ((target - pred) ** 2).sum(axis=0)
    ss_tot = ((target - target.mean(axis=0)) ** 2).sum(axis=0)
    return float(np.mean(1.0 - ss_res / np.where(ss_tot == 0, 1.0, ss_tot)))
