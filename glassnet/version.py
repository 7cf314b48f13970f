"""The version of glassnet, in one place: pyproject.toml reads it from here, model files record it."""

__version__ = "0.2.0"
__all__ = ["__version__"]
