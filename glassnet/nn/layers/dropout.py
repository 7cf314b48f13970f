"""Inverted dropout: the course's remedy for overfitting by co-adaptation."""

from glassnet.backend.arrays import array_module
from glassnet.backend.checks import check_rng, check_scalar
from glassnet.nn.layers.base import Layer

__all__ = ["Dropout"]


class Dropout(Layer):
    """Zero each input with probability ``p`` in training, scaling the rest by 1/(1-p).

    Training: y = x * m / (1 - p), m ~ Bernoulli(1 - p); dL/dx = g * m / (1 - p).
    Evaluation: y = x (the scaling in training keeps the expected value the same).

    Parameters
    ----------
    p : float in [0, 1)
        Drop probability.
    seed : int or numpy.random.Generator, optional
        Source of the masks.
    """

    config_keys = ("p",)

    def __init__(self, p=0.5, *, seed=None):
        self.p = check_scalar(p, "p", float, min_val=0.0, max_val=1.0, include_max=False,
                              caller="Dropout", hint="Use 0 for no dropout.")
        self.rng = check_rng(seed)
        self.fixed_mask = None      # set by gradient checks: reuse one mask
        self._scale = None

    def forward(self, x):
        if not self.training or self.p == 0.0:
            self._scale = 1.0
            return x
        if self.fixed_mask is not None:
            keep = self.fixed_mask
        else:
            keep = self._rng_for(array_module(x)).random(x.shape, dtype=x.dtype) >= self.p
        self._scale = keep * (1.0 / (1.0 - self.p))
        self._scale = self._scale.astype(x.dtype, copy=False)
        return x * self._scale

    def _rng_for(self, xp):
        # CuPy draws the mask on the device from a generator seeded once from self.rng,
        # so a seed still fixes the run and no mask crosses the bus.
        if xp.__name__ == "numpy":
            return self.rng
        cached = getattr(self, "_device_rng", None)
        if cached is None or cached[0] is not self.rng:
            self._device_rng = cached = (self.rng, xp.random.default_rng(int(self.rng.integers(2**63))))
        return cached[1]

    def backward(self, grad_output):
        return grad_output * self._cached(self._scale)
