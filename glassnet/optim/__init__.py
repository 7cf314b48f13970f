"""Layer 2, learning from gradients: the optimizers' update rules and the learning-rate schedules.

May import: glassnet.backend, glassnet.nn.
"""

__all__ = []
