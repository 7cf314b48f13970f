"""A trainable array and its gradient, kept side by side (torch7's weight/gradWeight)."""


class Parameter:
    """A trainable array, its name and the gradient of the objective with respect to it.

    Attributes
    ----------
    value : ndarray
        The parameter itself; optimizers update it in place.
    name : str
        'weight' or 'bias'; used by serialization and ONNX initializer names.
    grad : ndarray or None
        dL/dvalue, same shape as ``value``; *set* (never accumulated) by ``backward``.
    """

    __slots__ = ("value", "name", "_grad", "_grad_scale")

    def __init__(self, value, name, grad=None):
        self.value, self.name = value, name
        self.grad = grad

    @property
    def grad(self):
        # The fast path may keep the gradient pre-multiplied by the learning rate (it saves a
        # pass over the weights in SGD); reading it always gives dL/dvalue itself.
        if self._grad_scale == 1.0 or self._grad is None:
            return self._grad
        return self._grad / self._grad_scale

    @grad.setter
    def grad(self, grad):
        self._grad, self._grad_scale = grad, 1.0

    def set_scaled_grad(self, buffer, scale):
        """Hold ``buffer`` = scale * dL/dvalue (used by glassnet/_fastpath.py)."""
        self._grad, self._grad_scale = buffer, float(scale)

    @property
    def shape(self):
        return self.value.shape

    def __repr__(self):
        return f"Parameter({self.name}, shape={tuple(self.value.shape)}, dtype={self.value.dtype})"
