"""Layers: each one a forward formula with its derivative beside it."""

from .activations import ACTIVATIONS, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from .base import Layer
from .dense import Dense
from .dropout import Dropout
from .sequential import Neuron, Sequential

LAYERS = {c.__name__: c for c in (Dense, Linear, Sigmoid, Tanh, Softmax, ReLU, LeakyReLU, Dropout)}

__all__ = ["ACTIVATIONS", "LAYERS", "Dense", "Dropout", "Layer", "LeakyReLU", "Linear", "Neuron",
           "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh"]
