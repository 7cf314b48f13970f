"""Layer 1, the network itself: parameters, initializers, layers (forward and backward side by
side), losses, and the finite-difference checks that prove every backward right.

May import: glassnet.backend.
"""

__all__ = []
