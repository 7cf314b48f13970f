"""A backpropagation trace for learners: the chain rule, layer by layer, for one sample.

Forward: x_0 = input, x_{i+1} = f_i(x_i), L = loss(x_n, y).
Backward: g_n = dL/dx_n, then g_i = dL/dx_i = g_{i+1} . dx_{i+1}/dx_i, layer by layer in reverse,
which is exactly what ``Sequential.backward`` does; here every intermediate value is kept.
"""

from dataclasses import dataclass, field

import numpy as np

from glassnet.backend.errors import ValidationError
from glassnet.nn.layers import Dense, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from glassnet.nn.layers.dropout import Dropout
from glassnet.nn.losses import default_loss
from glassnet.train.inference import prepare_data

__all__ = ["backprop_trace", "BackpropTrace", "LOCAL_RULES", "walk"]

# The local derivative each layer applies (what the chain rule multiplies by), in the course's notation.
LOCAL_RULES = {
    Dense: "g W^T  (and dL/dW = x^T g, dL/db = g)",
    ReLU: "g * 1[x > 0]",
    LeakyReLU: "g * (1 if x > 0 else alpha)",
    Sigmoid: "g * y (1 - y)",
    Tanh: "g * (1 - y^2)",
    Softmax: "y * (g - sum(g y))",
    Linear: "g",
    Dropout: "g * mask / (1 - p)  (identity in eval mode)",
}


def walk(model, x, grad_fn, stop=None):
    """Forward through every layer keeping each output, then backward keeping each gradient.

    Parameters
    ----------
    model : Sequential
    x : array of shape (n, n_features)
    grad_fn : callable
        ``grad_fn(output) -> dL/doutput``, an array shaped like the model output.
    stop : int, optional
        Walk ``model.layers[:stop]`` only (e.g. -1 to stop at the logits, before Softmax).

    Returns
    -------
    values : list of arrays
        ``values[0] = x`` and ``values[i + 1]`` is the output of layer i.
    grads : list of arrays
        ``grads[i]`` = dL/dvalues[i] (so ``grads[0]`` is the gradient with respect to the input).

    Notes
    -----
    Runs in evaluation mode and overwrites the layers' caches and ``p.grad`` (``backward`` sets
    them); call it between training steps, never inside one.
    """
    model.eval()
    layers = model.layers[:stop]
    values = [x]
    for layer in layers:
        values.append(layer.forward(values[-1]))
    grads = [None] * len(values)
    grads[-1] = grad_fn(values[-1])
    for i in range(len(layers) - 1, -1, -1):
        grads[i] = layers[i].backward(grads[i + 1])
    return values, grads


@dataclass
class BackpropTrace:
    """Forward values and backward gradients of one sample, layer by layer.

    Attributes
    ----------
    rows : list of dict
        One per layer: 'index', 'layer', 'input', 'output', 'grad_output', 'grad_input',
        'rule' (the local derivative), 'param_grads' ({name: ||dL/dp||}).
    loss : float
    loss_name : str
    """

    rows: list = field(default_factory=list)
    loss: float = 0.0
    loss_name: str = ""
    width: int = 4

    def __str__(self):
        def vec(a):
            a = np.ravel(a)
            head = ", ".join(f"{v:+.3g}" for v in a[:self.width])
            return f"[{head}{', ...' if a.size > self.width else ''}] ({a.size})"

        lines = [f"forward: x_0 = input; x_(i+1) = layer_i(x_i); loss L = {self.loss_name}(x_n, y) = {self.loss:.6g}",
                 "backward (chain rule): dL/dx_i = dL/dx_(i+1) * dx_(i+1)/dx_i, from the loss down to the input", ""]
        head = f"{'#':>2}  {'layer':<22} {'forward x_(i+1)':<52} {'backward dL/dx_i':<52} local rule"
        lines += [head, "-" * len(head)]
        for r in self.rows:
            lines.append(f"{r['index']:>2}  {r['layer'][:22]:<22} {vec(r['output']):<52} {vec(r['grad_input']):<52} "
                         f"{r['rule']}")
            if r["param_grads"]:
                grads = ", ".join(f"||dL/d{k}|| = {v:.3g}" for k, v in r["param_grads"].items())
                lines.append(f"{'':>2}  {'':<22} {grads}")
        return "\n".join(lines)


def backprop_trace(model, x, y, loss=None, width=4):
    """Trace one sample through the network and back.

    Parameters
    ----------
    model : Sequential
    x : array of shape (n_features,) or (1, n_features)
    y : int, float or array
        Its target (a class index for a classifier).
    loss : Loss, optional
        Defaults to the model's usual loss (cross-entropy after Softmax, ...). The trace uses the
        unfused path, so the Softmax row shows how its Jacobian turns -y/p into p - y.
    width : int
        How many entries of each vector ``__str__`` prints.

    Returns
    -------
    BackpropTrace

    Examples
    --------
    >>> import glassnet as gn
    >>> model = gn.mlp(2, [3], 2, seed=0)
    >>> print(backprop_trace(model, [0.5, -1.0], 1).rows[-1]["layer"])
    Softmax()
    """

    loss = default_loss(model) if loss is None else loss
    x = np.asarray(x, dtype=np.float64).reshape(1, -1)
    if x.shape[1] != model.n_features:
        raise ValidationError(f"backprop_trace got a sample with {x.shape[1]} features; the model takes "
                              f"{model.n_features}. Pass one row of X.")
    _, Y, _ = prepare_data(model, loss, x, np.asarray(y).reshape(1, -1) if np.ndim(y) else np.array([y]),
                           "backprop_trace")
    Y = Y.astype(np.float64)
    value = {}

    def grad_fn(out):
        value["loss"] = loss.forward(out, Y)
        return loss.backward()

    values, grads = walk(model, x, grad_fn)
    trace = BackpropTrace(loss=value["loss"], loss_name=type(loss).__name__, width=width)
    for i, layer in enumerate(model.layers):
        trace.rows.append({
            "index": i, "layer": repr(layer), "input": values[i][0], "output": values[i + 1][0],
            "grad_output": grads[i + 1][0], "grad_input": grads[i][0],
            "rule": LOCAL_RULES.get(type(layer), "layer.backward(g)"),
            "param_grads": {p.name: float(np.linalg.norm(p.grad)) for p in layer.parameters() if p.grad is not None},
        })
    return trace
