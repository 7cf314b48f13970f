"""Weight initializers: plain functions of (shape, rng, dtype).

He (Kaiming) for the ReLU family keeps the variance of activations constant when half
the units are off: Var(W) = 2 / n_in. Glorot (Xavier) for sigmoid/tanh balances the
forward and backward variance: Var(W) = 2 / (n_in + n_out).
"""

import numpy as np

from glassnet.backend.checks import check_choice

__all__ = ["get_init", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "INITS", "zeros"]


def he_normal(shape, rng, dtype=np.float32):
    """W ~ N(0, 2 / n_in)."""
    n_in = shape[0]
    return (rng.standard_normal(shape) * np.sqrt(2.0 / n_in)).astype(dtype)


def he_uniform(shape, rng, dtype=np.float32):
    """W ~ U(-a, a), a = sqrt(6 / n_in)."""
    a = np.sqrt(6.0 / shape[0])
    return rng.uniform(-a, a, size=shape).astype(dtype)


def glorot_uniform(shape, rng, dtype=np.float32):
    """W ~ U(-a, a), a = sqrt(6 / (n_in + n_out))."""
    a = np.sqrt(6.0 / (shape[0] + shape[-1]))
    return rng.uniform(-a, a, size=shape).astype(dtype)


def glorot_normal(shape, rng, dtype=np.float32):
    """W ~ N(0, 2 / (n_in + n_out))."""
    return (rng.standard_normal(shape) * np.sqrt(2.0 / (shape[0] + shape[-1]))).astype(dtype)


def zeros(shape, rng=None, dtype=np.float32):
    """All zeros (biases)."""
    return np.zeros(shape, dtype=dtype)


INITS = {f.__name__: f for f in (he_normal, he_uniform, glorot_uniform, glorot_normal, zeros)}


def get_init(name):
    """Look an initializer up by name, with a clear error for unknown names."""
    if callable(name):
        return name
    check_choice(name, "init", tuple(INITS))
    return INITS[name]
