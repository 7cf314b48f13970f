"""A stack of layers: forward in order, backward in reverse (the chain rule)."""

from dataclasses import dataclass

import numpy as np

from glassnet.backend.arrays import to_device, to_numpy
from glassnet.backend.checks import check_scalar
from glassnet.backend.errors import GlassnetTypeError, ValidationError
from glassnet.nn.layers.activations import RELU_FAMILY, Linear, Sigmoid, Softmax, Tanh
from glassnet.nn.layers.base import Layer
from glassnet.nn.layers.dense import Dense, check_input

__all__ = ["Neuron", "Sequential", "check_model"]


def check_model(model, where):
    """``model`` if it is a Sequential, else the one TypeError of every function that needs a model."""
    if not isinstance(model, Sequential):
        raise GlassnetTypeError(f"{where} needs a glassnet Sequential model; got {type(model).__name__}. "
                                "Build one with glassnet.Sequential([...]) or glassnet.mlp(...).")
    return model


@dataclass
class Neuron:
    """One neuron of a Dense layer, as the course draws it: z = w . x + b, a = f(z)."""

    layer: int
    unit: int
    weights: np.ndarray
    bias: float
    activation: str
    weighted_sum: np.ndarray | None = None
    output: np.ndarray | None = None

    def __str__(self):
        lines = [f"neuron {self.unit} of layer {self.layer}: a = {self.activation}(w . x + b)",
                 f"  {len(self.weights)} weights, |w| mean {np.abs(self.weights).mean():.4g}, b = {self.bias:.4g}"]
        if self.weighted_sum is not None:
            lines.append(f"  z = w . x + b = {np.array2string(self.weighted_sum, precision=4)}")
            lines.append(f"  a = {self.activation}(z) = {np.array2string(self.output, precision=4)}")
        return "\n".join(lines)


class Sequential(Layer):
    """Layers applied one after the other.

    ``backward`` walks the layers in reverse, passing each one the gradient of the
    loss with respect to its output: that walk is backpropagation. An error raised
    inside a layer gets a note naming the layer's index and repr.

    A container never changes the layers it is given: their weights, seeds and settings stay
    as they were made (choose initializers and seeds when creating the layers, or use the
    builder :func:`glassnet.mlp`).

    Parameters
    ----------
    layers : list of Layer
    """

    def __init__(self, layers):
        if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
            raise GlassnetTypeError(f"Sequential takes a list of layers, e.g. Sequential([Dense(4, 8), ReLU()]); "
                                    f"got {type(layers).__name__}. Wrap the layers in a list.")
        layers = list(layers)
        if not layers:
            raise ValidationError("Sequential needs at least one layer; got an empty list. Pass the layers, e.g. "
                                  "Sequential([Dense(4, 3), Softmax()]).")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise GlassnetTypeError(
                    f"Sequential layer {i} must be a glassnet Layer (e.g. Dense(4, 8), ReLU()); "
                    f"got {type(layer).__name__}. Instantiate classes: ReLU() not ReLU."
                )
        self.layers = layers
        self._check_chain()

    def _check_chain(self):
        # Sizes the layers fix themselves (channels, units) are checked now; spatial sizes once
        # an input shape is known (output_shape, summary).
        self.output_shape(None)

    def output_shape(self, input_shape):
        """Per-sample output shape of the stack for a per-sample ``input_shape`` (e.g. (28, 28, 1)).

        Walks every layer's ``output_shape``; a ValidationError names the first layer that cannot take
        what the layer before it gives. ``None`` entries (or ``input_shape=None``) are unknown sizes.
        """
        shape = None if input_shape is None else tuple(input_shape)
        for i, layer in enumerate(self.layers):
            try:
                shape = layer.output_shape(shape)
            except ValidationError as e:
                where = "the input" if i == 0 else f"the output of layer {i - 1} ({self.layers[i - 1]!r})"
                raise ValidationError(f"Layer {i} ({layer!r}) does not fit {where}: {e}") from None
        return shape

    # -- the contract ---------------------------------------------------------------
    def forward(self, x, stop=None):
        """Run layers[:stop] (all by default) on x and return the output."""
        for i, layer in enumerate(self.layers[:stop]):
            try:
                x = layer.forward(x)
            except Exception as e:
                e.add_note(f"in layer {i} ({layer!r}) during forward")
                raise
        return x

    def backward(self, grad_output, stop=None):
        """Backpropagate through layers[:stop] in reverse; return dL/dx of the input."""
        layers = self.layers[:stop]
        for i in range(len(layers) - 1, -1, -1):
            try:
                grad_output = layers[i].backward(grad_output)
            except Exception as e:
                e.add_note(f"in layer {i} ({layers[i]!r}) during backward")
                raise
        return grad_output

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self):
        """[(f"layers.{i}.{name}", Parameter)] in a stable order."""
        return [(f"layers.{i}.{p.name}", p) for i, l in enumerate(self.layers) for p in l.parameters()]

    def buffers(self):
        return [b for layer in self.layers for b in layer.buffers()]

    def named_buffers(self):
        """[(f"layers.{i}.{name}", Parameter)] of the untrained arrays (BatchNorm running statistics)."""
        return [(f"layers.{i}.{b.name}", b) for i, l in enumerate(self.layers) for b in l.buffers()]

    def penalty(self):
        return sum(layer.penalty() for layer in self.layers)

    def train(self):
        """Training mode: Dropout active."""
        for layer in self.layers:
            layer.training = True
        self.training = True
        return self

    def eval(self):
        """Evaluation mode: Dropout passes inputs through."""
        for layer in self.layers:
            layer.training = False
        self.training = False
        return self

    # -- conveniences ----------------------------------------------------------------
    @property
    def n_features(self):
        """Size of the input's last axis: n_in of a first Dense or recurrent layer, in_channels of a first
        convolution. None when the stack does not fix it before its first such layer.
        """
        for layer in self.layers:
            if isinstance(layer, Dense) or hasattr(layer, "n_in"):
                return layer.n_in
            if hasattr(layer, "in_channels"):
                return layer.in_channels
            if not layer.elementwise:                   # a layer that may change the shape
                return None
        return None

    @property
    def dtype(self):
        ps = self.parameters()
        return ps[0].value.dtype if ps else np.dtype(np.float32)

    def to(self, device):
        """Move every parameter to 'cpu' or 'gpu' (CuPy); returns self."""
        for p in self.parameters() + self.buffers():
            p.value = to_device(p.value, device)
            p.grad = None
        self.device = device
        return self

    def neuron(self, layer, unit, x=None):
        """The course's view of one neuron: weights, bias, activation, z and a for input x.

        Parameters
        ----------
        layer : int
            Index in ``self.layers`` of a Dense layer.
        unit : int
            Which output neuron of that layer.
        x : array of shape (n_samples, n_features) or (n_features,), optional
            Model input; when given, z = w . h + b and a = f(z) are computed for the
            input h that reaches this layer.
        """
        check_scalar(layer, "layer", int, min_val=0, max_val=len(self.layers) - 1, caller="neuron")
        dense = self.layers[layer]
        if not isinstance(dense, Dense):
            raise ValidationError(f"neuron(layer={layer}) must point at a Dense layer; got {dense!r}. "
                                  f"Use one of the Dense layers at "
                                  f"{[i for i, l in enumerate(self.layers) if isinstance(l, Dense)]}.")
        check_scalar(unit, "unit", int, min_val=0, max_val=dense.n_out - 1, caller="neuron")
        nxt = self.layers[layer + 1] if layer + 1 < len(self.layers) else Linear()
        act = nxt if isinstance(nxt, (Linear, Sigmoid, Tanh, Softmax, *RELU_FAMILY)) else Linear()
        w = to_numpy(dense.weight.value[:, unit])
        b = float(to_numpy(dense.bias.value)[unit])
        out = Neuron(layer, unit, w, b, repr(act).split("(")[0].lower())
        if x is not None:
            x = check_input(np.atleast_2d(x), self.n_features, "neuron", self.dtype)
            self.eval()
            h = self.forward(x, stop=layer)
            z = h @ dense.weight.value + dense.bias.value
            out.weighted_sum = to_numpy(z[:, unit])
            out.output = to_numpy(act.forward(z)[:, unit])
        return out

    def summary(self, print_fn=None, input_shape=None):
        """A table of layers, output shapes and parameter counts; returned as a string.

        ``input_shape`` is one sample's shape, e.g. (28, 28, 1); without it sizes the layers do not fix
        are shown as '?'.
        """
        if input_shape is None and self.n_features is not None and isinstance(self.layers[0], Dense):
            input_shape = (self.n_features,)
        self.output_shape(input_shape)                      # a mismatch names its layer
        rows, shape = [], None if input_shape is None else tuple(input_shape)
        for i, layer in enumerate(self.layers):
            shape = layer.output_shape(shape)
            n = sum(int(np.prod(p.value.shape)) for p in layer.parameters())
            text = "(batch" + "".join(f", {'?' if d is None else d}" for d in (shape or ("?",))) + ")"
            rows.append((str(i), repr(layer), text, f"{n:,}"))
        total = sum(int(np.prod(p.value.shape)) for p in self.parameters())
        head = ("#", "layer", "output shape", "params")
        widths = [max(len(r[c]) for r in rows + [head]) for c in range(4)]
        fmt = "  ".join(f"{{:<{w}}}" for w in widths)
        lines = [fmt.format(*head), "-" * (sum(widths) + 6)] + [fmt.format(*r) for r in rows]
        lines += ["-" * (sum(widths) + 6), f"total parameters: {total:,} ({self.dtype})"]
        text = "\n".join(lines)
        if print_fn is not None:
            print_fn(text)
        return text

    def __getitem__(self, i):
        return self.layers[i]

    def __len__(self):
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(repr(layer) for layer in self.layers)})"

    def __str__(self):
        inner = "\n".join(f"  ({i}) {layer!r}" for i, layer in enumerate(self.layers))
        return f"{type(self).__name__}(\n{inner}\n)"

