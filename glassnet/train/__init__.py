"""Layer 3, the training loop: mini-batches, ``fit``, ``evaluate``/``predict``, callbacks, History,
the model class that holds ``fit``, and the one place for speed tricks (``fastpath``).

May import: glassnet.backend, glassnet.nn, glassnet.optim.
"""

__all__ = []
