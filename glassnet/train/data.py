"""Mini-batches and train/validation splits."""

import numpy as np

from glassnet.backend.arrays import array_module
from glassnet.backend.checks import check_scalar
from glassnet.backend.errors import ValidationError

__all__ = ["batches", "train_val_split"]


def batches(X, Y, batch_size, rng=None, W=None):
    """Yield (X[idx], Y[idx]) mini-batches, or (X[idx], Y[idx], W[idx]) with per-sample weights ``W``;
    shuffled when ``rng`` is given.

    One epoch is one pass of this generator; each yielded batch is one iteration,
    so there are ceil(n / batch_size) iterations per epoch (the last batch may be smaller).
    Shuffling permutes indices, never the data itself. On NumPy the shuffled rows are
    gathered into buffers reused for every batch (valid until the next batch), so
    training allocates no new batch arrays.
    """
    arrays = (X, Y) if W is None else (X, Y, W)
    n = X.shape[0]
    order = rng.permutation(n) if rng is not None else None
    if order is not None and not isinstance(X, np.ndarray):
        order = array_module(X).asarray(order)       # CuPy: index on the device, one copy per epoch
    elif order is not None:
        bufs = [np.empty((min(batch_size, n),) + a.shape[1:], a.dtype) for a in arrays]
    for start in range(0, n, batch_size):
        if order is None:
            yield tuple(a[start:start + batch_size] for a in arrays)
        elif isinstance(X, np.ndarray):
            idx = order[start:start + batch_size]
            k = len(idx)
            # mode="clip": the indices are valid, and the default mode would buffer (allocate) the output.
            xb = np.take(X, idx, axis=0, out=bufs[0][:k], mode="clip")
            yb = np.take(Y, idx, axis=0, out=bufs[1][:k], mode="clip")
            yield (xb, yb) if W is None else (xb, yb, np.take(W, idx, axis=0, out=bufs[2][:k], mode="clip"))
        else:
            idx = order[start:start + batch_size]
            yield tuple(a[idx] for a in arrays)


def train_val_split(n, fraction, rng, labels=None):
    """Indices (train, val) with ``fraction`` of the n samples held out for validation.

    The split is shuffled; with ``labels`` it is stratified (every class keeps its
    share in both parts), which a course's sorted datasets need.
    """
    check_scalar(fraction, "validation_split", float, min_val=0.0, max_val=1.0,
                 include_min=False, include_max=False, caller="fit")
    if labels is None:
        order = rng.permutation(n)
        n_val = int(round(n * fraction))
        val, train = order[:n_val], order[n_val:]
    else:
        val_parts, train_parts = [], []
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            k = int(round(len(idx) * fraction))
            val_parts.append(idx[:k])
            train_parts.append(idx[k:])
        val = rng.permutation(np.concatenate(val_parts))
        train = rng.permutation(np.concatenate(train_parts))
    if len(val) == 0 or len(train) == 0:
        raise ValidationError(
            f"validation_split must leave samples on both sides, but {fraction} of {n} samples leaves an empty "
            f"{'validation' if len(val) == 0 else 'training'} "
            "set. Use a fraction that keeps at least one sample on each side, or pass validation_data."
        )
    return train, val
