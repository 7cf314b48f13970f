"""The course's activation functions, each a layer with its derivative next to it."""

from glassnet.backend.arrays import array_module
from glassnet.backend.checks import check_scalar
from glassnet.nn.layers.base import Layer


class Linear(Layer):
    """Identity: y = x, dy/dx = 1 (the output of a regression network)."""

    def forward(self, x):
        return x

    def backward(self, grad_output):
        return grad_output


def sigmoid(x, out=None):
    """The logistic function 1 / (1 + exp(-x)), computed as (1 + tanh(x / 2)) / 2.

    The two are equal; the tanh form never overflows for any x and can be written in place
    (``out=x`` is allowed), so the layer, the fused losses and the fast path share it.
    """
    xp = array_module(x)
    out = xp.multiply(x, 0.5, out=out)
    xp.tanh(out, out=out)
    out += 1.0
    out *= 0.5
    return out


class Sigmoid(Layer):
    """Logistic function: y = 1 / (1 + exp(-x)); dy/dx = y (1 - y)."""

    def __init__(self):
        self._y = None

    def forward(self, x):
        self._y = sigmoid(x)
        return self._y

    def backward(self, grad_output):
        y = self._cached(self._y)
        return grad_output * y * (1.0 - y)


class Tanh(Layer):
    """Hyperbolic tangent: y = tanh(x); dy/dx = 1 - y^2."""

    def __init__(self):
        self._y = None

    def forward(self, x):
        self._y = array_module(x).tanh(x)
        return self._y

    def backward(self, grad_output):
        y = self._cached(self._y)
        return grad_output * (1.0 - y * y)


class ReLU(Layer):
    """Rectified linear unit: y = max(0, x); dy/dx = 1 if x > 0 else 0."""

    def __init__(self):
        self._mask = None

    def forward(self, x):
        self._mask = x > 0
        return x * self._mask

    def backward(self, grad_output):
        return grad_output * self._cached(self._mask)


class LeakyReLU(Layer):
    """Leaky ReLU: y = x if x > 0 else alpha x; dy/dx = 1 if x > 0 else alpha."""

    config_keys = ("alpha",)

    def __init__(self, alpha=0.01):
        self.alpha = check_scalar(alpha, "alpha", float, min_val=0.0, max_val=1.0, caller="LeakyReLU")
        self._x = None

    def forward(self, x):
        self._x = x
        return array_module(x).where(x > 0, x, self.alpha * x)

    def backward(self, grad_output):
        x = self._cached(self._x)
        return grad_output * array_module(x).where(x > 0, 1.0, self.alpha).astype(x.dtype)


class Softmax(Layer):
    """Softmax over the last axis: y_i = exp(x_i - max x) / sum_j exp(x_j - max x).

    Jacobian-vector product: dL/dx = y * (g - sum_j g_j y_j). In training with
    cross-entropy the loop skips this layer and uses the fused gradient (p - y)/N.
    """

    def __init__(self):
        self._y = None

    def forward(self, x):
        xp = array_module(x)
        e = xp.exp(x - x.max(axis=-1, keepdims=True))   # the max shift keeps exp() finite
        self._y = e / e.sum(axis=-1, keepdims=True)
        return self._y

    def backward(self, grad_output):
        y = self._cached(self._y)
        return y * (grad_output - (grad_output * y).sum(axis=-1, keepdims=True))


ACTIVATIONS = {
    "linear": Linear,
    "identity": Linear,
    "sigmoid": Sigmoid,
    "logistic": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "softmax": Softmax,
}

RELU_FAMILY = (ReLU, LeakyReLU)

__all__ = ["ACTIVATIONS", "RELU_FAMILY", "LeakyReLU", "Linear", "ReLU", "Sigmoid", "Softmax", "Tanh", "sigmoid"]
