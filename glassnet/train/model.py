"""The model a user trains: a layer container that also holds ``fit``, ``evaluate`` and ``predict``.

:class:`glassnet.nn.layers.Sequential` is the plain container (forward in order, backward in
reverse, like torch7's ``nn.Sequential``); this subclass sits above the training loop so the
container itself never imports it.
"""

import numpy as np

from glassnet.backend.checks import check_choice, check_rng, check_scalar
from glassnet.backend.errors import GlassnetTypeError, ValidationError
from glassnet.nn.layers import ACTIVATIONS, RELU_FAMILY, Dense, Dropout
from glassnet.nn.layers import Sequential as Container
from glassnet.train.inference import evaluate, predict
from glassnet.train.loop import fit

__all__ = ["Sequential", "mlp"]


class Sequential(Container):
    """Layers applied one after the other, plus the training loop's entry points.

    Parameters
    ----------
    layers : list of Layer
        Used as given: the container never re-initializes or re-seeds them.

    Examples
    --------
    >>> import glassnet as g
    >>> rng = np.random.default_rng(0)
    >>> model = g.Sequential([g.Dense(4, 8, init="he_normal", seed=rng), g.ReLU(),
    ...                       g.Dense(8, 3, seed=rng), g.Softmax()])
    >>> model.predict(np.ones((2, 4))).shape
    (2, 3)
    """

    def fit(self, X, y, **kwargs):
        """Train the model; see :func:`glassnet.train.loop.fit` for the arguments."""
        return fit(self, X, y, **kwargs)

    def evaluate(self, X, y, **kwargs):
        """Loss and metrics on (X, y) in evaluation mode; see :func:`glassnet.train.inference.evaluate`."""
        return evaluate(self, X, y, **kwargs)

    def predict(self, X, batch_size=4096):
        """Outputs in evaluation mode (probabilities for a classifier), as a NumPy array."""
        return predict(self, X, batch_size=batch_size)


def mlp(n_in, hidden, n_out, *, activation="relu", output="softmax", dropout=0.0, l2=0.0, l1=0.0,
        seed=None, dtype=None):
    """Build the course's multilayer perceptron as a Sequential.

    Initialization is chosen here, layer by layer: He (``he_normal``) for a Dense followed by a
    ReLU-family activation, Glorot (``glorot_uniform``) otherwise. One ``seed`` fixes every
    weight and dropout mask: each layer draws from its own generator spawned from it.

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
    seed : int or numpy.random.Generator, optional
    dtype : {'float32', 'float64'}, optional
    """
    if isinstance(hidden, str) or not hasattr(hidden, "__iter__"):
        raise GlassnetTypeError(f"mlp(hidden=...) must be a sequence of widths; got {hidden!r}. "
                                f"Pass a list or tuple, e.g. hidden=(64, 32) or [{hidden!r}].")
    if not isinstance(activation, str) and not hasattr(activation, "__iter__"):
        raise GlassnetTypeError(f"mlp(activation=...) must be a name or one name per hidden layer; got "
                                f"{activation!r}. Pass e.g. activation='relu'.")
    dropout = check_scalar(dropout, "dropout", float, min_val=0.0, max_val=1.0, include_max=False, caller="mlp")
    hidden = list(hidden)
    acts = [activation] * len(hidden) if isinstance(activation, str) else list(activation)
    if len(acts) != len(hidden):
        raise ValidationError(f"mlp needs one activation per hidden layer, but got {len(acts)} activations for "
                              f"{len(hidden)} hidden layers. Give one name, or one per hidden layer.")
    check_choice(output, "output", ("softmax", "sigmoid", "linear"), caller="mlp")
    rng = check_rng(seed)

    def child():
        return np.random.default_rng(rng.integers(2**63))

    layers, width = [], n_in
    for h, a in zip(hidden, acts, strict=True):
        check_choice(a, "activation", tuple(ACTIVATIONS), caller="mlp")
        act = ACTIVATIONS[a]()
        init = "he_normal" if isinstance(act, RELU_FAMILY) else "glorot_uniform"
        layers += [Dense(width, h, l2=l2, l1=l1, init=init, seed=child(), dtype=dtype), act]
        if dropout:
            layers.append(Dropout(dropout, seed=child()))
        width = h
    layers += [Dense(width, n_out, l2=l2, l1=l1, seed=child(), dtype=dtype), ACTIVATIONS[output]()]
    return Sequential(layers)
