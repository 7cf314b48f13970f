"""Batch normalization: each feature (or channel) rescaled to zero mean and unit variance."""

import numpy as np

from glassnet.backend.arrays import array_module, resolve_dtype
from glassnet.backend.checks import check_scalar
from glassnet.backend.errors import ShapeError
from glassnet.nn.layers.base import Layer
from glassnet.nn.parameter import Parameter

__all__ = ["BatchNorm"]


class BatchNorm(Layer):
    """Batch normalization over the last axis: Dense features (N, F), conv channels (N, H, W, C) or (N, L, C).

    Training, with mu and var the mean and (biased) variance over every axis but the last (m values each):

        x_hat = (x - mu) / sqrt(var + eps),   y = gamma * x_hat + beta
        dL/dgamma = sum g x_hat,   dL/dbeta = sum g
        dL/dx = gamma / sqrt(var + eps) * (g - mean(g) - x_hat * mean(g x_hat))

    and the running statistics move toward the batch's: r <- momentum r + (1 - momentum) batch (the
    variance unbiased, m / (m - 1)). Evaluation uses the running statistics, a fixed affine map:
    y = gamma (x - r_mean) / sqrt(r_var + eps) + beta and dL/dx = g gamma / sqrt(r_var + eps).

    Parameters
    ----------
    n_features : int
        Size of the last axis (units of a Dense layer, channels of a convolution).
    momentum : float in [0, 1), default 0.9
    eps : float > 0, default 1e-5
    dtype : {'float32', 'float64'}, default float32

    Attributes
    ----------
    weight, bias : Parameter
        gamma (ones) and beta (zeros), trained.
    running_mean, running_var : Parameter
        Not trained (listed by :meth:`buffers`, saved with the model), updated in training mode.
    """

    config_keys = ("n_features", "momentum", "eps")

    def __init__(self, n_features, *, momentum=0.9, eps=1e-5, dtype=None):
        self.n_features = check_scalar(n_features, "n_features", int, min_val=1, caller="BatchNorm")
        self.momentum = check_scalar(momentum, "momentum", float, min_val=0.0, max_val=1.0, include_max=False,
                                     caller="BatchNorm")
        self.eps = check_scalar(eps, "eps", float, min_val=0.0, include_min=False, caller="BatchNorm")
        dt = resolve_dtype(dtype)
        self.weight = Parameter(np.ones(self.n_features, dt), "weight")
        self.bias = Parameter(np.zeros(self.n_features, dt), "bias")
        self.running_mean = Parameter(np.zeros(self.n_features, dt), "running_mean")
        self.running_var = Parameter(np.ones(self.n_features, dt), "running_var")
        self._cache = None

    def forward(self, x):
        if x.ndim < 2 or x.shape[-1] != self.n_features:
            raise ShapeError(f"{self!r} normalizes the last axis of size {self.n_features}; got shape "
                             f"{tuple(x.shape)}. Make n_features the number of units or channels before it.")
        xp = array_module(x)
        axes = tuple(range(x.ndim - 1))
        if self.training:
            mu = x.mean(axis=axes)
            var = ((x - mu) ** 2).mean(axis=axes)
            self.update_running(mu, var, x.size // self.n_features)
        else:
            mu, var = self.running_mean.value, self.running_var.value
        inv = 1.0 / xp.sqrt(var + self.eps)
        x_hat = (x - mu) * inv
        self._cache = (x_hat, inv, self.training)
        return x_hat * self.weight.value + self.bias.value

    def update_running(self, mu, var, m):
        """r <- momentum r + (1 - momentum) batch statistic, the variance unbiased (m values per feature)."""
        k, dtype = self.momentum, self.running_mean.value.dtype
        self.running_mean.value = k * self.running_mean.value + (1 - k) * mu.astype(dtype)
        self.running_var.value = k * self.running_var.value + (1 - k) * (var * (m / max(m - 1, 1))).astype(dtype)

    def backward(self, grad_output):
        x_hat, inv, training = self._cached(self._cache)
        axes = tuple(range(grad_output.ndim - 1))
        self.weight.grad = (grad_output * x_hat).sum(axis=axes)              # dL/dgamma
        self.bias.grad = grad_output.sum(axis=axes)                          # dL/dbeta
        scale = self.weight.value * inv
        if not training:
            return grad_output * scale                                        # a fixed affine map
        m = grad_output.size // self.n_features
        return scale * (grad_output - self.bias.grad / m - x_hat * (self.weight.grad / m))

    def parameters(self):
        return [self.weight, self.bias]

    def buffers(self):
        return [self.running_mean, self.running_var]

    def output_shape(self, input_shape):
        if input_shape is not None and input_shape and input_shape[-1] not in (None, self.n_features):
            raise ShapeError(f"{self!r} normalizes {self.n_features} features or channels; got "
                             f"gives {tuple(input_shape)}.")
        return input_shape

    def __repr__(self):
        return f"BatchNorm({self.n_features})"
