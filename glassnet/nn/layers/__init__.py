"""Layers: each one a forward formula with its derivative beside it.

Dense and activation layers, Dropout, and the container ``Sequential``. Convolutional and
recurrent layer families get a module each here (``conv.py``, ``recurrent.py``), with their
fast forms in ``glassnet/train/fastpath/`` when they need any.
"""

from glassnet.nn.layers.activations import ACTIVATIONS, RELU_FAMILY, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from glassnet.nn.layers.base import Layer
from glassnet.nn.layers.container import Neuron, Sequential
from glassnet.nn.layers.conv import Conv1D, Conv2D
from glassnet.nn.layers.dense import Dense
from glassnet.nn.layers.dropout import Dropout
from glassnet.nn.layers.embedding import Embedding
from glassnet.nn.layers.normalization import BatchNorm
from glassnet.nn.layers.pooling import AvgPool2D, Flatten, GlobalAveragePool2D, MaxPool1D, MaxPool2D, Reshape
from glassnet.nn.layers.recurrent import GRU, LSTM, SimpleRNN

# Layer types a model file may name (glassnet.files.serialization rebuilds them by name).
LAYERS = {c.__name__: c for c in (Dense, Linear, Sigmoid, Tanh, Softmax, ReLU, LeakyReLU, Dropout)}
LAYERS.update({c.__name__: c for c in (SimpleRNN, LSTM, GRU, Embedding)})        # recurrent family
LAYERS.update({c.__name__: c for c in (
    Conv2D, Conv1D, MaxPool2D, AvgPool2D, MaxPool1D, GlobalAveragePool2D, Flatten, BatchNorm, Reshape,
)})

__all__ = ["ACTIVATIONS", "LAYERS", "RELU_FAMILY", "Dense", "Dropout", "Layer", "LeakyReLU", "Linear", "Neuron",
           "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh"]
__all__ += ["GRU", "LSTM", "Embedding", "SimpleRNN"]
__all__ += ["AvgPool2D", "BatchNorm", "Conv1D", "Conv2D", "Flatten", "GlobalAveragePool2D", "MaxPool1D",
            "MaxPool2D", "Reshape"]
