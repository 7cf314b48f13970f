"""Light image augmentation as a training callback: random shifts and horizontal flips per mini-batch.

``fit(..., callbacks=[RandomShiftFlip(max_shift=2, seed=0)])`` on channels-last images (N, H, W, C):
each training batch the loop draws is replaced by a copy in which every image is moved by (dy, dx),
each drawn uniformly from {-max_shift, ..., max_shift} (the uncovered border is zero, the background
of MNIST-like data), and mirrored left-right with probability ``flip`` (0.5 by default; 0 for digits,
whose mirror image is another symbol). Validation and test data are never touched. The callback
wraps ``state.batches`` (the sampler hook the distributed adapter uses too), so it composes with the
fast path and with any sampler installed before it. Its random state is not part of a checkpoint: a run
resumed with it draws other shifts than the uninterrupted run would (the weights still load exactly).
"""

import numpy as np

from glassnet.backend.checks import check_rng, check_scalar
from glassnet.backend.errors import ValidationError
from glassnet.train.callbacks import Callback

__all__ = ["RandomShiftFlip"]


class RandomShiftFlip(Callback):
    """Shift every training image by up to ``max_shift`` pixels and mirror it with probability ``flip``.

    Parameters
    ----------
    max_shift : int >= 0
        Largest shift in pixels, per axis.
    flip : float in [0, 1]
        Probability of a left-right mirror (the W axis).
    seed : int or numpy.random.Generator, optional
        Source of the shifts and flips (independent of fit's shuffling seed).
    """

    def __init__(self, max_shift=2, flip=0.5, seed=None):
        self.max_shift = check_scalar(max_shift, "max_shift", int, min_val=0, caller="RandomShiftFlip")
        self.flip = check_scalar(flip, "flip", float, min_val=0.0, max_val=1.0, caller="RandomShiftFlip")
        self.rng = check_rng(seed)
        self.pad = None

    def __repr__(self):
        return f"RandomShiftFlip(max_shift={self.max_shift}, flip={self.flip})"

    def on_train_begin(self, state):
        if state.X.ndim != 4:
            raise ValidationError(f"RandomShiftFlip: expected channels-last images of shape (N, H, W, C), "
                                  f"received X of shape {state.X.shape}; reshape, e.g. X.reshape(-1, 28, 28, 1)")
        inner = state.batches

        def batches(X, Y, batch_size, rng=None, W=None):
            for batch in inner(X, Y, batch_size, rng, W):
                yield (self.augment(batch[0]), *batch[1:])

        state.batches = batches

    def state_dict(self):
        # The generator's position: a resumed run draws the shifts an uninterrupted one would.
        return {"rng": self.rng.bit_generator.state}

    def load_state_dict(self, state):
        self.rng.bit_generator.state = state["rng"]

    def augment(self, x):
        """A shifted and flipped copy of the batch x (N, H, W, C); x itself is left as it is."""
        n, h, w, _ = x.shape
        s = self.max_shift
        if self.pad is None or self.pad.shape[0] < n or self.pad.shape[1:] != (h + 2 * s, w + 2 * s, x.shape[3]):
            self.pad = np.zeros((n, h + 2 * s, w + 2 * s, x.shape[3]), x.dtype)   # the border stays zero
        pad = self.pad[:n]
        pad[:, s:s + h, s:s + w] = x
        flip = self.rng.random(n) < self.flip
        pad[flip] = pad[flip, :, ::-1]                          # mirrored about the centre: still centred
        dy, dx = self.rng.integers(0, 2 * s + 1, n), self.rng.integers(0, 2 * s + 1, n)
        rows = dy[:, None] + np.arange(h)                      # (n, h): the rows each image reads
        cols = dx[:, None] + np.arange(w)
        return pad[np.arange(n)[:, None, None], rows[:, :, None], cols[:, None, :]]
