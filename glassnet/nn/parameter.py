"""A trainable array and its gradient, kept side by side (torch7's weight/gradWeight)."""

__all__ = ["Parameter"]


class Parameter:
    """A trainable array, its name and the gradient of the objective with respect to it.

    Attributes
    ----------
    value : ndarray
        The parameter itself; optimizers update it in place. Assigning a new array is fine.
    name : str
        'weight' or 'bias'; used by serialization and ONNX initializer names.
    grad : ndarray or None
        dL/dvalue, same shape as ``value``; *set* (never accumulated) by ``backward``.
    """

    __slots__ = ("value", "name", "grad")

    def __init__(self, value, name, grad=None):
        self.value, self.name, self.grad = value, name, grad

    @property
    def shape(self):
        return self.value.shape

    def __repr__(self):
        return f"Parameter({self.name}, shape={tuple(self.value.shape)}, dtype={self.value.dtype})"
