"""glassnet: deep learning from first principles on NumPy, as a glass box."""

from .callbacks import Callback, EarlyStopping, LearningRateScheduler, NaNGuard, ProgressPrinter, ReduceLROnPlateau
from .errors import DivergenceError, GlassnetError, GlassnetTypeError, ModelFileError, ShapeError, ValidationError
from .layers import Dense, Dropout, Layer, LeakyReLU, Linear, ReLU, Sequential, Sigmoid, Softmax, Tanh
from .losses import MSE, BinaryCrossEntropy, CrossEntropy, Loss
from .optimizers import SGD, Adam, ExponentialDecay, Optimizer, RMSprop, StepDecay
from .parameter import Parameter
from .serialization import load, save
from .training import History, evaluate, fit, predict

__version__ = "0.1.0"

__all__ = [
    "MSE", "SGD", "Adam", "BinaryCrossEntropy", "Callback", "CrossEntropy", "Dense", "DivergenceError",
    "Dropout", "EarlyStopping", "ExponentialDecay", "GlassnetError", "GlassnetTypeError", "History",
    "Layer", "LeakyReLU", "LearningRateScheduler", "Linear", "Loss", "ModelFileError", "NaNGuard",
    "Optimizer", "Parameter", "ProgressPrinter", "RMSprop", "ReLU", "ReduceLROnPlateau", "Sequential",
    "ShapeError", "Sigmoid", "Softmax", "StepDecay", "Tanh", "ValidationError", "evaluate", "fit",
    "load", "mlp", "predict", "save",
]


def mlp(n_in, hidden, n_out, *, activation="relu", output="softmax", dropout=0.0, l2=0.0, l1=0.0,
        seed=None, dtype=None):
    """Build the course's multilayer perceptron as a Sequential.

    Parameters
    ----------
    n_in, n_out : int
    hidden : sequence of int
        Hidden layer widths, e.g. (128, 64).
    activation : str or sequence of str
        Hidden activation(s): 'relu', 'leaky_relu', 'tanh', 'sigmoid', 'linear'.
    output : {'softmax', 'sigmoid', 'linear'}
    dropout : float
        Dropout probability after each hidden activation (0 = none).
    """
    from ._validation import check_choice, check_scalar
    from .layers import ACTIVATIONS

    if isinstance(hidden, str) or not hasattr(hidden, "__iter__"):
        raise GlassnetTypeError(f"mlp(hidden=...) must be a sequence of widths, e.g. (64, 32); got {hidden!r}.")
    if not isinstance(activation, str) and not hasattr(activation, "__iter__"):
        raise GlassnetTypeError(f"mlp(activation=...) must be a name or one name per hidden layer; got {activation!r}.")
    dropout = check_scalar(dropout, "dropout", float, min_val=0.0, max_val=1.0, include_max=False, caller="mlp")
    hidden = list(hidden)
    acts = [activation] * len(hidden) if isinstance(activation, str) else list(activation)
    if len(acts) != len(hidden):
        raise ValidationError(f"mlp got {len(acts)} activations for {len(hidden)} hidden layers; "
                              "give one name, or one per hidden layer.")
    layers, width = [], n_in
    for h, a in zip(hidden, acts):
        check_choice(a, "activation", tuple(ACTIVATIONS), caller="mlp")
        layers += [Dense(width, h, l2=l2, l1=l1, dtype=dtype), ACTIVATIONS[a]()]
        if dropout:
            layers.append(Dropout(dropout))
        width = h
    check_choice(output, "output", ("softmax", "sigmoid", "linear"), caller="mlp")
    layers += [Dense(width, n_out, l2=l2, l1=l1, dtype=dtype), ACTIVATIONS[output]()]
    return Sequential(layers, seed=seed)


# Adapters reachable from the top level without importing them (or their optional
# dependencies) when glassnet itself is imported: the core stays NumPy-only.
_LAZY = {
    "ModelCheckpoint": "checkpoint", "diagnose": "diagnostics", "CleanTrainLoss": "diagnostics",
    "ActivationMonitor": "monitors", "GradientMonitor": "monitors", "DataCheck": "datachecks",
    "check_data": "datachecks", "integrated_gradients": "attributions", "backprop_trace": "trace",
    "write_report": "report",
}


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'glassnet' has no attribute {name!r}")
