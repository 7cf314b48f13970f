"""Layer 5, what leaves the process: model files (safetensors + JSON, no pickle), training
checkpoints, and the ONNX export.

May import: the layers below it; onnx/onnxruntime lazily (extra ``onnx``).
"""

__all__ = []
