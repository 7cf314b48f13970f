"""Export trained glassnet models to other formats.

Submodules import their optional dependencies lazily, so ``import
glassnet.export`` works without them:

* :mod:`glassnet.export.onnx` -- ONNX graphs (``pip install 'glassnet[onnx]'``):
  :func:`~glassnet.export.onnx.to_onnx` and
  :func:`~glassnet.export.onnx.quantize_dynamic_int8`.
"""

__all__ = ["to_onnx", "quantize_dynamic_int8"]


def __getattr__(name):
    # Lazy re-export: importing glassnet.export.onnx pulls in nothing optional
    # until a function runs, but keep even that out of ``import glassnet.export``.
    if name in __all__:
        from . import onnx as _onnx

        return getattr(_onnx, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
