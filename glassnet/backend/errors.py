"""The exception types glassnet raises on bad input or failed training.

Every public error is a subclass of the built-in type a Python user expects
(``ValueError`` or ``TypeError``), so ``except ValueError`` keeps working, and of
:class:`GlassnetError`, so ``except glassnet.GlassnetError`` catches them all.
"""

__all__ = ["CallOrderError", "DivergenceError", "GlassnetError", "GlassnetTypeError", "ModelFileError", "ShapeError",
           "ValidationError"]


class GlassnetError(Exception):
    """Base class of every error glassnet raises on purpose."""


class ValidationError(GlassnetError, ValueError):
    """A value given by the user is wrong (shape, range, NaN, unknown name...)."""


class ShapeError(ValidationError):
    """An array has the wrong number of dimensions or the wrong size."""


class GlassnetTypeError(GlassnetError, TypeError):
    """An argument has the wrong type (a string where an array was expected...)."""


class ModelFileError(ValidationError):
    """A model file is missing, damaged, of another format version, or not a glassnet model."""


class CallOrderError(GlassnetError, RuntimeError):
    """A method was called out of order (``backward`` before ``forward``...)."""


class DivergenceError(GlassnetError, FloatingPointError):
    """Training produced a NaN or infinite loss or weights."""
