"""The CLI's convolutional architecture for its image and signal data sets (``glassnet train DATA --arch cnn``).

The network takes the CLI's rows of pixels (N, H*W) and reshapes them itself (:class:`Reshape`), so every
other command (evaluate, predict, explain, export, summary) feeds it the same rows as an MLP. The
architecture is the one of the examples: for 28x28 images examples/cnn_fashion_mnist.py's (two 3x3
'same' convolutions, 48 and 96 channels, with BatchNorm and 2x2 max pooling, a 256-unit Dense layer with
dropout), for
MNIST-1D's 40-sample signals examples/cnn_mnist1d.py's (three 1-D convolutions with BatchNorm).
"""

import numpy as np

from glassnet.backend.errors import ValidationError
from glassnet.nn.layers import (
    BatchNorm,
    Conv1D,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    MaxPool1D,
    MaxPool2D,
    ReLU,
    Reshape,
    Softmax,
)
from glassnet.train.model import Sequential

__all__ = ["SAMPLE_SHAPES", "image_cnn"]

#: One sample's shape per data set the CNN takes (the CLI's dataset keys).
SAMPLE_SHAPES = {"fashion_mnist": (28, 28, 1), "mnist": (28, 28, 1), "mnist1d": (40, 1)}


def image_cnn(dataset, n_out, *, dropout=0.4, widths=(48, 96), hidden=256, seed=0, rows=True):
    """The convolutional network for ``dataset`` (a key of :data:`SAMPLE_SHAPES`) with ``n_out`` classes.

    ``rows=True`` (the CLI): it starts with ``Reshape`` and takes (N, H*W) rows; ``rows=False`` (the
    examples): it takes the images (N, H, W, C) or signals (N, L, 1) themselves. Same weights either way.
    For images, ``widths`` are the channels of the two convolutions and ``hidden`` the Dense layer's units.
    """
    if dataset not in SAMPLE_SHAPES:
        raise ValidationError(f"--arch cnn needs an image or signal data set ({', '.join(SAMPLE_SHAPES)}); "
                              f"got {dataset or 'a table'}. Use --arch mlp for tables.")
    rng = np.random.default_rng(seed)
    shape = SAMPLE_SHAPES[dataset]
    if len(shape) == 2:                                    # signals: examples/cnn_mnist1d.py
        return Sequential(([Reshape(shape)] if rows else []) + [
            Conv1D(1, 32, 5, padding="same", seed=rng), BatchNorm(32), ReLU(),
            Conv1D(32, 64, 3, padding="same", seed=rng), BatchNorm(64), ReLU(), MaxPool1D(2),
            Conv1D(64, 64, 3, padding="same", seed=rng), BatchNorm(64), ReLU(), MaxPool1D(2),
            Flatten(), Dense(shape[0] // 4 * 64, n_out, seed=rng), Softmax()])
    (h, w, c), (c1, c2) = shape, widths                    # images: examples/cnn_fashion_mnist.py
    return Sequential(([Reshape(shape)] if rows else []) + [
        Conv2D(c, c1, 3, padding="same", seed=rng), BatchNorm(c1), ReLU(), MaxPool2D(2),
        Conv2D(c1, c2, 3, padding="same", seed=rng), BatchNorm(c2), ReLU(), MaxPool2D(2),
        Flatten(), Dense(h // 4 * (w // 4) * c2, hidden, init="he_normal", seed=rng), ReLU(),
        Dropout(dropout, seed=rng), Dense(hidden, n_out, seed=rng), Softmax()])
