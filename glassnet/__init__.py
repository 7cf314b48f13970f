"""glassnet: deep learning from first principles on NumPy, as a glass box.

The package is layered; each folder imports only the ones before it (ARCHITECTURE.md,
checked in CI by ``tools/layers.py``):

    backend -> nn -> optim -> train -> glassbox -> files -> adapters

This module re-exports the names a user needs. The glass box, files and adapters are
reached lazily, so ``import glassnet`` imports nothing but NumPy.
"""

import importlib

from glassnet.backend.errors import (
    CallOrderError,
    DivergenceError,
    GlassnetError,
    GlassnetTypeError,
    ModelFileError,
    ShapeError,
    ValidationError,
)
from glassnet.nn.layers import (
    AvgPool2D,
    BatchNorm,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    GlobalAveragePool2D,
    Layer,
    LeakyReLU,
    Linear,
    MaxPool1D,
    MaxPool2D,
    ReLU,
    Reshape,
    Sigmoid,
    Softmax,
    Tanh,
)
from glassnet.nn.layers.embedding import Embedding
from glassnet.nn.layers.recurrent import GRU, LSTM, SimpleRNN
from glassnet.nn.losses import MSE, BinaryCrossEntropy, CrossEntropy, Loss
from glassnet.nn.parameter import Parameter
from glassnet.optim.optimizers import SGD, Adam, ExponentialDecay, Optimizer, RMSprop, StepDecay
from glassnet.train.callbacks import (
    Callback,
    EarlyStopping,
    LearningRateScheduler,
    NaNGuard,
    ProgressPrinter,
    ReduceLROnPlateau,
)
from glassnet.train.inference import evaluate, predict
from glassnet.train.loop import fit
from glassnet.train.model import Sequential, mlp
from glassnet.train.state import History
from glassnet.version import __version__

# Above the training loop: reachable as glassnet.NAME, imported on first use.
_LAZY = {
    "diagnose": "glassbox.diagnostics", "CleanTrainLoss": "glassbox.diagnostics",
    "ActivationMonitor": "glassbox.monitors", "GradientMonitor": "glassbox.monitors",
    "DataCheck": "glassbox.datachecks", "check_data": "glassbox.datachecks",
    "integrated_gradients": "glassbox.attributions", "backprop_trace": "glassbox.trace",
    "write_report": "glassbox.report",
    "save": "files.serialization", "load": "files.serialization", "ModelCheckpoint": "files.checkpoint",
    "to_onnx": "files.onnx",
    "MLPClassifier": "adapters.sklearn", "MLPRegressor": "adapters.sklearn",
}

__all__ = [
    "MSE", "SGD", "Adam", "BinaryCrossEntropy", "CallOrderError", "Callback", "CrossEntropy", "Dense",
    "DivergenceError",
    "Dropout", "EarlyStopping", "ExponentialDecay", "GlassnetError", "GlassnetTypeError", "History",
    "Layer", "LeakyReLU", "LearningRateScheduler", "Linear", "Loss", "ModelFileError", "NaNGuard",
    "Optimizer", "Parameter", "ProgressPrinter", "RMSprop", "ReLU", "ReduceLROnPlateau", "Sequential",
    "ShapeError", "Sigmoid", "Softmax", "StepDecay", "Tanh", "ValidationError", "__version__", "evaluate",
    "fit", "mlp", "predict", *sorted(_LAZY),
]
__all__ += ["GRU", "LSTM", "Embedding", "SimpleRNN"]
__all__ += ["AvgPool2D", "BatchNorm", "Conv1D", "Conv2D", "Flatten", "GlobalAveragePool2D", "MaxPool1D",
            "MaxPool2D", "Reshape"]


def __getattr__(name):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"glassnet.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'glassnet' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
