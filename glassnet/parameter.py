"""A trainable array and its gradient, kept side by side (torch7's weight/gradWeight)."""

from dataclasses import dataclass
from typing import Any


@dataclass(eq=False)
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

    value: Any
    name: str
    grad: Any = None

    @property
    def shape(self):
        return self.value.shape

    def __repr__(self):
        return f"Parameter({self.name}, shape={tuple(self.value.shape)}, dtype={self.value.dtype})"
