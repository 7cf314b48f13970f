"""The fully connected layer: every output neuron is a weighted sum of every input."""

import numpy as np

from glassnet.backend.arrays import resolve_dtype
from glassnet.backend.checks import check_array, check_rng, check_scalar
from glassnet.backend.errors import ShapeError
from glassnet.nn.init import get_init, zeros
from glassnet.nn.layers.base import Layer
from glassnet.nn.parameter import Parameter

__all__ = ["check_input", "Dense"]


class Dense(Layer):
    """Fully connected layer: y = x @ W + b.

    Parameters
    ----------
    n_in, n_out : int
        Input and output features. ``x`` has shape (..., n_in); ``y`` has shape (..., n_out).
    l2 : float, default=0.0
        L2 strength on W (not b): adds 0.5 * l2 * ||W||^2 to the objective.
    l1 : float, default=0.0
        L1 strength on W: adds l1 * sum|W| to the objective.
    init : str or callable, default='glorot_uniform'
        Initializer name from :data:`glassnet.nn.init.INITS`, chosen here, where the layer is
        made: 'he_normal' before a ReLU-family activation, Glorot before sigmoid/tanh/linear (the
        builder :func:`glassnet.mlp` picks so). Containers never re-initialize a layer.
    seed : int or numpy.random.Generator, optional
        Source of the initial weights. Same seed, same weights; pass one Generator to every layer
        of a model to fix the whole model with one seed.
    dtype : {'float32', 'float64'}, default float32

    Examples
    --------
    >>> layer = Dense(3, 2, seed=0)
    >>> layer.forward(np.ones((4, 3), dtype=np.float32)).shape
    (4, 2)
    """

    config_keys = ("n_in", "n_out", "l2", "l1", "init")

    def __init__(self, n_in, n_out, *, l2=0.0, l1=0.0, init="glorot_uniform", seed=None, dtype=None):
        self.n_in = check_scalar(n_in, "n_in", int, min_val=1, caller="Dense")
        self.n_out = check_scalar(n_out, "n_out", int, min_val=1, caller="Dense")
        self.l2 = check_scalar(l2, "l2", float, min_val=0.0, caller="Dense")
        self.l1 = check_scalar(l1, "l1", float, min_val=0.0, caller="Dense")
        self._init_fn = get_init(init)
        self.init = init if isinstance(init, str) else getattr(init, "__name__", "custom")
        self.dtype = resolve_dtype(dtype)
        self.weight = Parameter(None, "weight")
        self.bias = Parameter(zeros(self.n_out, dtype=self.dtype), "bias")
        self.rng = check_rng(seed)
        self.reset_parameters()
        self._x = None

    def reset_parameters(self, init=None):
        """Draw new weights from ``self.rng`` (zero the bias) with ``init`` or the layer's own."""
        fn = get_init(init) if init is not None else self._init_fn
        self.weight.value = fn((self.n_in, self.n_out), self.rng, self.dtype)
        self.bias.value = zeros(self.n_out, dtype=self.dtype)

    def forward(self, x):
        if x.shape[-1] != self.n_in:
            raise ShapeError(
                f"Dense({self.n_in} -> {self.n_out}) expects inputs with {self.n_in} features in the "
                f"last axis; got shape {tuple(x.shape)}. Check n_in or the data's columns."
            )
        self._x = x
        return x @ self.weight.value + self.bias.value

    def backward(self, grad_output):
        x = self._cached(self._x)
        W = self.weight.value
        x2 = x.reshape(-1, self.n_in)
        g2 = grad_output.reshape(-1, self.n_out)
        self.weight.grad = x2.T @ g2                      # dL/dW = x^T g
        if self.l2:
            self.weight.grad += self.l2 * W               # d(0.5 l2 ||W||^2)/dW
        if self.l1:
            self.weight.grad += self.l1 * np.sign(W)      # d(l1 |W|)/dW
        self.bias.grad = g2.sum(axis=0)                   # dL/db = sum over the batch
        return grad_output @ W.T                          # dL/dx = g W^T

    def parameters(self):
        return [self.weight, self.bias]

    def penalty(self):
        W = self.weight.value
        total = 0.0
        if self.l2:
            total += 0.5 * self.l2 * float((W * W).sum())
        if self.l1:
            total += self.l1 * float(abs(W).sum())
        return total

    def __repr__(self):
        reg = (f", l2={self.l2:g}" if self.l2 else "") + (f", l1={self.l1:g}" if self.l1 else "")
        return f"Dense({self.n_in} -> {self.n_out}{reg})"


def check_input(x, n_in, where, dtype=None):
    """Validate a user batch (converted to ``dtype``) for a model whose first layer takes ``n_in`` features."""
    x = check_array(x, "X", ndim_min=2, where=where, dtype=dtype)
    if n_in is not None and x.shape[-1] != n_in:
        raise ShapeError(
            f"X passed to {where} has {x.shape[-1]} features (shape {tuple(x.shape)}) but the model's "
            f"first layer expects {n_in}. Use the same columns as in training."
        )
    return x
