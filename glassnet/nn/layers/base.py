"""The Layer contract (torch7 style, no autograd).

``forward(x)`` computes the output and caches exactly what ``backward`` needs.
``backward(grad_output)`` returns dL/dx and *sets* (never accumulates) ``p.grad``
for every parameter ``p`` in ``parameters()``.
"""


from glassnet.backend.errors import CallOrderError

__all__ = ["Layer", "cached"]


def cached(value, owner):
    """``value`` (what forward cached), or the one "backward before forward" error of layers and losses."""
    if value is None:
        name = type(owner).__name__
        raise CallOrderError(f"{name}.backward() needs the values its forward() caches, but was called before "
                             "forward(). Call forward(...) first.")
    return value


class Layer:
    """Base class of every layer.

    Subclasses override :meth:`forward` and :meth:`backward`, and, when they have
    hyper-parameters, list their constructor arguments in ``config_keys`` so that
    serialization can rebuild them.
    """

    training = True
    config_keys = ()

    def forward(self, x):
        raise NotImplementedError

    def backward(self, grad_output):
        raise NotImplementedError

    def __call__(self, x):
        return self.forward(x)

    def parameters(self):
        """Trainable :class:`~glassnet.parameter.Parameter` objects, in a stable order."""
        return []

    def penalty(self):
        """Regularization term this layer adds to the objective (0 for most layers)."""
        return 0.0

    def config(self):
        """Constructor arguments, JSON-friendly, enough to rebuild the layer."""
        return {k: getattr(self, k) for k in self.config_keys}

    def _cached(self, value):
        return cached(value, self)

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items())
        return f"{type(self).__name__}({args})"
