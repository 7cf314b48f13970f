"""Export a glassnet :class:`~glassnet.nn.layers.Sequential` model to ONNX.

The graph has one input ``"input"`` of shape ``("batch", n_features)`` and one
output ``"output"``; the batch dimension is dynamic. Each layer becomes at most
one ONNX node, chosen from a single table (:data:`LAYER_TO_ONNX`):

=============  =========================================================
glassnet       ONNX
=============  =========================================================
Dense          ``Gemm`` (transB=0), initializers ``layer{i}.weight`` / ``layer{i}.bias``
ReLU           ``Relu``
LeakyReLU      ``LeakyRelu`` (alpha)
Sigmoid        ``Sigmoid``
Tanh           ``Tanh``
Softmax        ``Softmax`` (axis=-1)
Linear         ``Identity``
Dropout        skipped (an inference graph has no dropout)
=============  =========================================================

Layers are recognised by class name, so any object with a ``layers`` list
works. The exported graph computes what ``model.predict`` computes (evaluation
mode).

Needs the optional ``onnx`` package (``pip install 'glassnet[onnx]'``);
:func:`quantize_dynamic_int8` also needs ``onnxruntime``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import warnings
from pathlib import Path

import numpy as np

from glassnet.backend.errors import ValidationError

__all__ = ["CONV_TO_ONNX", "LAYER_TO_ONNX", "add_class_labels", "prepend_standardization", "prepend_table_encoding",
           "quantize_dynamic_int8", "table_input_name", "to_onnx"]

_MIN_OPSET = 13  # Softmax with a true per-axis definition (axis=-1) starts at opset 13.


def _require(module: str, feature: str = "glassnet.files.onnx"):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        pkg = module.split(".")[0]
        raise ModuleNotFoundError(
            f"{feature} needs the {pkg!r} package: pip install 'glassnet[onnx]' "
            f"(or pip install {pkg}). ({exc})") from exc


def _to_numpy(value) -> np.ndarray:
    if type(value).__module__.startswith("cupy"):  # parameters living on the GPU
        value = value.get()
    return np.asarray(value)


# --------------------------------------------------------------------------- #
# One builder per layer type
# --------------------------------------------------------------------------- #

class _Graph:
    """Nodes and initializers collected while walking the layers."""

    def __init__(self, onnx, dtype: np.dtype):
        self.onnx = onnx
        self.dtype = dtype
        self.nodes = []
        self.initializers = []

    def node(self, op, inputs, index, layer, **attrs):
        out = f"layer{index}.out"
        self.nodes.append(self.onnx.helper.make_node(
            op, inputs, [out], name=f"layer{index}.{type(layer).__name__}", **attrs))
        return out

    def tensor(self, name, value):
        self.initializers.append(self.onnx.numpy_helper.from_array(
            np.ascontiguousarray(_to_numpy(value), dtype=self.dtype), name=name))
        return name


def _dense(g: _Graph, layer, i: int, x: str, width: int | None):
    W = _to_numpy(layer.weight.value)
    b = _to_numpy(layer.bias.value)
    if W.ndim != 2 or b.shape != (W.shape[1],):
        raise ValidationError(
            f"Layer {i} ({type(layer).__name__}) has weight shape {W.shape} and bias shape {b.shape}; "
            f"expected (n_in, n_out) and (n_out,).")
    if width is not None and W.shape[0] != width:
        raise ValidationError(
            f"Layer {i} ({type(layer).__name__}) takes {W.shape[0]} inputs but receives {width} "
            f"(from n_features or the previous Dense layer). Pass n_features={W.shape[0]} "
            f"or fix the model.")
    w = g.tensor(f"layer{i}.weight", W)
    c = g.tensor(f"layer{i}.bias", b)
    return g.node("Gemm", [x, w, c], i, layer, alpha=1.0, beta=1.0, transA=0, transB=0), W.shape[1]


def _unary(op, **attrs):
    def build(g: _Graph, layer, i: int, x: str, width):
        return g.node(op, [x], i, layer, **attrs), width
    return build


def _leaky_relu(g: _Graph, layer, i: int, x: str, width):
    return g.node("LeakyRelu", [x], i, layer, alpha=float(layer.alpha)), width


def _skip(g: _Graph, layer, i: int, x: str, width):
    return x, width


# -- the recurrent family: ONNX's RNN / LSTM / GRU operators, and Gather for Embedding ----------------
# ONNX wants time-major X (time, batch, features), weights (directions, gates * H, n_in) in its own gate
# order (LSTM i, o, f, c; GRU z, r, h) and biases [input part, recurrent part]. glassnet's mask_value
# becomes ``sequence_lens``: per sequence, the steps where some feature differs from it (padding at the end).
_ONNX_GATES = {"SimpleRNN": ("RNN", [0]), "LSTM": ("LSTM", [0, 3, 1, 2]), "GRU": ("GRU", [1, 0, 2])}


def _recurrent(g: _Graph, layer, i: int, x: str, width):
    onnx = g.onnx
    op, order = _ONNX_GATES[type(layer).__name__]
    H, n_in = layer.hidden, layer.n_in
    if width is not None and width != n_in:
        raise ValidationError(f"Layer {i} ({layer!r}) takes {n_in} features per step but receives {width}.")

    def blocks(a, axis):
        parts = np.split(_to_numpy(a), len(order), axis=axis)
        return np.concatenate([parts[k] for k in order], axis=axis)
    Ws, Rs, Bs = [], [], []
    for W, U, b, *rest in layer.directions:
        Ws.append(blocks(W.value, 1).T)
        Rs.append(blocks(U.value, 1).T)
        rb = np.zeros(len(order) * H)
        if rest:                                   # GRU: b_rec is ONNX's Rb of the h gate (linear_before_reset)
            rb[2 * H:] = _to_numpy(rest[0].value)
        Bs.append(np.concatenate([blocks(b.value, 0), rb]))
    p = f"layer{i}."
    inputs = [f"{p}x_tm", g.tensor(p + "W", np.stack(Ws)), g.tensor(p + "R", np.stack(Rs)),
              g.tensor(p + "B", np.stack(Bs))]
    make = onnx.helper.make_node
    g.nodes.append(make("Transpose", [x], [f"{p}x_tm"], perm=[1, 0, 2], name=f"{p}to_time_major"))
    if layer.mask_value is not None:
        mv = g.tensor(p + "mask_value", np.array(layer.mask_value))
        zero = g.tensor(p + "zero", np.array(0.0))
        g.initializers.append(onnx.numpy_helper.from_array(np.array([2], np.int64), p + "axis_f"))
        g.initializers.append(onnx.numpy_helper.from_array(np.array([1], np.int64), p + "axis_t"))
        g.nodes += [make("Equal", [x, mv], [p + "eq"]), make("Not", [p + "eq"], [p + "ne"]),
                    make("Cast", [p + "ne"], [p + "nef"], to=onnx.helper.np_dtype_to_tensor_dtype(g.dtype)),
                    make("ReduceSum", [p + "nef", p + "axis_f"], [p + "cnt"], keepdims=0),
                    make("Greater", [p + "cnt", zero], [p + "real"]),
                    make("Cast", [p + "real"], [p + "realf"], to=onnx.helper.np_dtype_to_tensor_dtype(g.dtype)),
                    make("ReduceSum", [p + "realf", p + "axis_t"], [p + "lenf"], keepdims=0),
                    make("Cast", [p + "lenf"], [p + "lens"], to=onnx.TensorProto.INT32)]
        inputs.append(p + "lens")
    attrs = {"hidden_size": H, "direction": "bidirectional" if layer.bidirectional else "forward"}
    if op == "GRU":
        attrs["linear_before_reset"] = 1
    outs = [p + "Y", p + "Y_h"] + ([p + "Y_c"] if op == "LSTM" else [])
    g.nodes.append(make(op, inputs, outs, name=f"{p}{type(layer).__name__}", **attrs))
    if layer.return_sequences:                     # (time, dirs, batch, H) -> (batch, time, dirs * H)
        g.initializers.append(onnx.numpy_helper.from_array(np.array([0, 0, -1], np.int64), p + "shape"))
        g.nodes += [make("Transpose", [p + "Y"], [p + "Y_bt"], perm=[2, 0, 1, 3]),
                    make("Reshape", [p + "Y_bt", p + "shape"], [f"layer{i}.out"])]
    else:                                          # (dirs, batch, H) -> (batch, dirs * H)
        g.initializers.append(onnx.numpy_helper.from_array(np.array([0, -1], np.int64), p + "shape"))
        g.nodes += [make("Transpose", [p + "Y_h"], [p + "Y_hb"], perm=[1, 0, 2]),
                    make("Reshape", [p + "Y_hb", p + "shape"], [f"layer{i}.out"])]
    g.seq = layer.return_sequences
    return f"layer{i}.out", layer.n_out


def _embedding(g: _Graph, layer, i: int, x: str, width):
    p = f"layer{i}."
    make = g.onnx.helper.make_node
    g.nodes += [make("Round", [x], [p + "ids_f"]),
                make("Cast", [p + "ids_f"], [p + "ids"], to=g.onnx.TensorProto.INT64),
                make("Gather", [g.tensor(p + "weight", layer.weight.value), p + "ids"], [f"layer{i}.out"], axis=0)]
    g.seq = True
    return f"layer{i}.out", layer.dim


#: Class name -> builder ``(graph, layer, index, input_name, width) -> (output_name, width)``.
#: The one place that says how each glassnet layer is written in ONNX.
LAYER_TO_ONNX = {
    "Dense": _dense,
    "ReLU": _unary("Relu"),
    "LeakyReLU": _leaky_relu,
    "Sigmoid": _unary("Sigmoid"),
    "Tanh": _unary("Tanh"),
    "Softmax": _unary("Softmax", axis=-1),
    "Linear": _unary("Identity"),
    "Dropout": _skip,
}
LAYER_TO_ONNX.update({"SimpleRNN": _recurrent, "LSTM": _recurrent, "GRU": _recurrent, "Embedding": _embedding})


# --------------------------------------------------------------------------- #
# Convolutional layers. glassnet is channels last (NHWC images, NLC signals),
# ONNX's Conv/pooling/BatchNormalization are channels first: each such node is
# wrapped in two Transposes (onnxruntime's optimizer cancels the pairs between
# consecutive nodes). ``shape`` is one sample's shape, e.g. (28, 28, 1).
# --------------------------------------------------------------------------- #

def _channels_first(g: _Graph, layer, i: int, x: str, shape, op, inputs=(), **attrs):
    """x (N, ..., C) -> Transpose -> op (channels first) -> Transpose -> (N, ..., C)."""
    helper = g.onnx.helper
    rank = len(shape) + 1
    to_first = [0, rank - 1, *range(1, rank - 1)]
    to_last = [0, *range(2, rank), 1]
    name = f"layer{i}.{type(layer).__name__}"
    g.nodes.append(helper.make_node("Transpose", [x], [f"layer{i}.cf_in"], name=f"{name}.to_nchw", perm=to_first))
    g.nodes.append(helper.make_node(op, [f"layer{i}.cf_in", *inputs], [f"layer{i}.cf_out"], name=name, **attrs))
    g.nodes.append(helper.make_node("Transpose", [f"layer{i}.cf_out"], [f"layer{i}.out"], name=f"{name}.to_nhwc",
                                    perm=to_last))
    return f"layer{i}.out"


def _image_shape(layer, i, shape, rank):
    if not isinstance(shape, tuple) or len(shape) != rank:
        raise ValidationError(
            f"Layer {i} ({layer!r}) needs {'(height, width, channels)' if rank == 3 else '(length, channels)'} "
            f"inputs; it receives {shape!r}. Pass to_onnx(model, input_shape=...) with one sample's shape.")
    return layer.output_shape(shape)


def _conv(g: _Graph, layer, i: int, x: str, shape):
    one_d = type(layer).__name__ == "Conv1D"
    out = _image_shape(layer, i, shape, 2 if one_d else 3)
    W = _to_numpy(layer.weight.value)
    if one_d:
        (_, (_, le, r)), w_onnx = layer.geometry(1, shape[0]), W.transpose(2, 1, 0)     # (O, C, k)
        pads, kernel, strides = [le, r], [W.shape[0]], [layer.stride_hw[1]]
    else:
        ((_, t, b), (_, le, r)), w_onnx = layer.geometry(*shape[:2]), W.transpose(3, 2, 0, 1)   # (O, C, kh, kw)
        pads, kernel, strides = [t, le, b, r], list(W.shape[:2]), list(layer.stride_hw)
    w = g.tensor(f"layer{i}.weight", w_onnx)
    c = g.tensor(f"layer{i}.bias", layer.bias.value)
    return _channels_first(g, layer, i, x, shape, "Conv", [w, c], kernel_shape=kernel, strides=strides,
                           pads=pads), out


def _pool(op):
    def build(g: _Graph, layer, i: int, x: str, shape):
        one_d = type(layer).__name__ == "MaxPool1D"
        pool = layer.pool2d if one_d else layer
        out = _image_shape(layer, i, shape, 2 if one_d else 3)
        k, s = (pool.kernel_hw[1:], pool.stride_hw[1:]) if one_d else (pool.kernel_hw, pool.stride_hw)
        return _channels_first(g, layer, i, x, shape, op, kernel_shape=list(k), strides=list(s)), out
    return build


def _global_average_pool(g: _Graph, layer, i: int, x: str, shape):
    out = _image_shape(layer, i, shape, len(shape) if isinstance(shape, tuple) and len(shape) >= 2 else 3)
    name = _channels_first(g, layer, i, x, shape, "GlobalAveragePool")
    g.nodes.append(g.onnx.helper.make_node("Flatten", [name], [f"layer{i}.flat"], name=f"layer{i}.flatten", axis=1))
    return f"layer{i}.flat", out[0]


def _flatten(g: _Graph, layer, i: int, x: str, shape):
    width = int(np.prod(shape)) if isinstance(shape, tuple) else shape
    return g.node("Flatten", [x], i, layer, axis=1), width      # NHWC rows in C order, as glassnet's Flatten


def _reshape(g: _Graph, layer, i: int, x: str, shape):
    layer.output_shape(shape if isinstance(shape, tuple) else (shape,))
    dims = f"layer{i}.shape"                                       # int64, not the graph's float dtype
    g.initializers.append(g.onnx.numpy_helper.from_array(np.array([-1, *layer.shape], np.int64), name=dims))
    return g.node("Reshape", [x, dims], i, layer), layer.shape


def _batchnorm(g: _Graph, layer, i: int, x: str, shape):
    inputs = [g.tensor(f"layer{i}.{p.name}", p.value) for p in (layer.weight, layer.bias, layer.running_mean,
                                                                layer.running_var)]
    if not isinstance(shape, tuple) or len(shape) == 1:          # (N, F): the channel axis is already 1
        return g.node("BatchNormalization", [x, *inputs], i, layer, epsilon=float(layer.eps)), shape
    return _channels_first(g, layer, i, x, shape, "BatchNormalization", inputs, epsilon=float(layer.eps)), shape


#: The convolutional family: per-sample shapes (tuples) flow between these builders.
CONV_TO_ONNX = {
    "Conv2D": _conv, "Conv1D": _conv, "MaxPool2D": _pool("MaxPool"), "MaxPool1D": _pool("MaxPool"),
    "AvgPool2D": _pool("AveragePool"), "GlobalAveragePool2D": _global_average_pool, "Flatten": _flatten,
    "BatchNorm": _batchnorm, "Reshape": _reshape,
}
LAYER_TO_ONNX.update(CONV_TO_ONNX)


# --------------------------------------------------------------------------- #
# Export
# --------------------------------------------------------------------------- #

def to_onnx(model, path=None, *, n_features: int | None = None, opset: int = 17,
            dtype: str = "float32", input_shape: tuple | None = None):
    """Convert a Sequential model to an ONNX graph, and optionally save it.

    Parameters
    ----------
    model : Sequential
        The model; anything with a ``layers`` list of Dense / activation /
        Dropout layers (matched by class name, see :data:`LAYER_TO_ONNX`).
    path : str or os.PathLike, optional
        Where to write the ``.onnx`` file. Parent folders must exist.
    n_features : int, optional
        Input width. Default: ``n_in`` of the first Dense layer; required when
        the model has no Dense layer.
    opset : int, default 17
        ONNX opset of the default domain, from 13 (first opset whose Softmax
        works on one axis) to the newest one the installed ``onnx`` knows.
    dtype : {"float32", "float64"}, default "float32"
        Element type of the input, weights and output.
    input_shape : tuple of int, optional
        One sample's shape for a convolutional model, channels last: (H, W, C) for images,
        (L, C) for signals. The input is then ``("batch", *input_shape)``.

    Returns
    -------
    onnx.ModelProto
        The checked model (``onnx.checker.check_model`` passed). Input
        ``"input"`` of shape ``("batch", n_features)``, output ``"output"``.

    Raises
    ------
    ValidationError
        A layer type has no ONNX mapping (the message names it), the layer
        widths do not chain, or an argument is out of range.
    ImportError
        The ``onnx`` package is missing.

    Examples
    --------
    >>> proto = to_onnx(model, "model.onnx")              # doctest: +SKIP
    >>> import onnxruntime as ort                          # doctest: +SKIP
    >>> sess = ort.InferenceSession("model.onnx")          # doctest: +SKIP
    >>> sess.run(None, {"input": X.astype("float32")})[0]  # doctest: +SKIP
    """
    onnx = _require("onnx")
    layers = getattr(model, "layers", None)
    if layers is None or isinstance(layers, (str, bytes)):
        raise ValidationError(
            f"to_onnx expects a Sequential model (an object with a 'layers' list); got "
            f"{type(model).__name__}. " + ("A fitted estimator exports itself: est.to_onnx(path)." if hasattr(
                model, "to_onnx") else "Wrap the layers: Sequential([Dense(4, 3), Softmax()])."))
    layers = list(layers)
    if not layers:
        raise ValidationError("to_onnx got a model with no layers; add at least one layer.")
    try:
        np_dtype = np.dtype(dtype)
    except TypeError:
        np_dtype = None
    if np_dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValidationError(f"The 'dtype' parameter of to_onnx must be 'float32' or 'float64'. Got {dtype!r}.")
    newest = onnx.defs.onnx_opset_version()
    if isinstance(opset, bool) or not isinstance(opset, (int, np.integer)) or not _MIN_OPSET <= opset <= newest:
        raise ValidationError(
            f"The 'opset' parameter of to_onnx must be an int from {_MIN_OPSET} to {newest} "
            f"(the newest opset of onnx {onnx.__version__}). Got {opset!r}.")

    # Reject unknown layers up front, naming every offender.
    unknown = [f"layer {i} ({type(l).__name__})" for i, l in enumerate(layers)
               if type(l).__name__ not in LAYER_TO_ONNX]
    if unknown:
        raise ValidationError(
            f"to_onnx cannot export {', '.join(unknown)}: no ONNX mapping for this layer type. "
            f"Supported layers: {', '.join(LAYER_TO_ONNX)}. Replace the layer, or add a builder "
            f"to glassnet.files.onnx.LAYER_TO_ONNX.")

    # duck-typed: the first layer that has weights says whether the input is a sequence
    first_weighted = next((l for l in layers if hasattr(l, "weight") or hasattr(l, "directions")), None)
    sequences = type(first_weighted).__name__ in ("SimpleRNN", "LSTM", "GRU", "Embedding")
    if input_shape is None and layers and type(layers[0]).__name__ == "Reshape":
        input_shape = (layers[0].n_in,)                       # it takes rows: their width is known
    if input_shape is not None or any(type(l).__name__ in CONV_TO_ONNX for l in layers):
        width = _check_input_shape(input_shape, layers)        # one sample's shape, e.g. (28, 28, 1)
        input_dims = ["batch", *width]
    else:
        if n_features is None and type(first_weighted).__name__ == "Embedding":
            n_features = "time"
        elif n_features is None and sequences:
            n_features = first_weighted.n_in
        if n_features is None:
            first = next((l for l in layers if type(l).__name__ == "Dense"), None)
            if first is None:
                raise ValidationError(
                    "to_onnx cannot infer the input width: the model has no Dense layer. Pass n_features=.")
            n_features = int(_to_numpy(first.weight.value).shape[0])
        elif n_features != "time" and (isinstance(n_features, bool) or not isinstance(n_features, (int, np.integer))
                                       or n_features < 1):
            raise ValidationError(f"The 'n_features' parameter of to_onnx must be a positive int. Got {n_features!r}.")
        n_features = n_features if n_features == "time" else int(n_features)
        width = None if n_features == "time" else n_features
        input_dims = _input_shape(first_weighted, sequences, n_features)

    g = _Graph(onnx, np_dtype)
    g.seq = sequences
    name = "input"
    for i, layer in enumerate(layers):
        name, width = LAYER_TO_ONNX[type(layer).__name__](g, layer, i, name, width)
    # The graph output gets a fixed name; a model made only of skipped layers
    # still needs one node to connect input to output.
    if g.nodes and g.nodes[-1].output[0] == name:
        g.nodes[-1].output[0] = "output"
    else:
        g.nodes.append(onnx.helper.make_node("Identity", [name], ["output"], name="output"))

    elem = onnx.helper.np_dtype_to_tensor_dtype(np_dtype)
    graph = onnx.helper.make_graph(
        g.nodes, "glassnet_sequential",
        [onnx.helper.make_tensor_value_info("input", elem, input_dims)],
        [onnx.helper.make_tensor_value_info("output", elem, ["batch", "time", width] if g.seq else
                                            ["batch", *(width if isinstance(width, tuple) else [width])])],
        initializer=g.initializers,
    )
    opset_ids = [onnx.helper.make_opsetid("", int(opset))]
    proto = onnx.helper.make_model(
        graph, opset_imports=opset_ids, producer_name="glassnet",
        # The oldest IR version that can carry this opset: readable by the
        # widest range of runtimes.
        ir_version=onnx.helper.find_min_ir_version_for(opset_ids),
    )
    proto.doc_string = "Exported by glassnet.files.onnx.to_onnx: " + " -> ".join(
        type(l).__name__ for l in layers)
    onnx.checker.check_model(proto, full_check=True)
    if path is not None:
        onnx.save_model(proto, os.fspath(path))
    return proto


def _check_input_shape(input_shape, layers):
    if input_shape is None:
        raise ValidationError("to_onnx needs input_shape=(height, width, channels) (or (length, channels)) for a "
                              "convolutional model: one sample's shape, e.g. input_shape=(28, 28, 1).")
    if (not isinstance(input_shape, (tuple, list)) or not input_shape
            or not all(isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 1 for d in input_shape)):
        raise ValidationError(f"The 'input_shape' parameter of to_onnx must be a tuple of positive ints, e.g. "
                              f"(28, 28, 1); got {input_shape!r}.")
    shape = tuple(int(d) for d in input_shape)
    walk = shape
    for i, layer in enumerate(layers):              # a mismatch names its layer before any node is written
        try:
            walk = layer.output_shape(walk)
        except ValidationError as e:
            raise ValidationError(f"to_onnx: layer {i} ({layer!r}) does not fit input_shape={shape}: {e}") from None
    return shape


def _input_shape(first, sequences, n_features):
    """("batch", n_features), or ("batch", "time", n_in) / ("batch", "time") for sequence models."""
    if not sequences:
        return ["batch", n_features]
    return ["batch", "time"] if type(first).__name__ == "Embedding" else ["batch", "time", n_features]


# --------------------------------------------------------------------------- #
# Quantization
# --------------------------------------------------------------------------- #

def _gemm_to_matmul_add(onnx, proto):
    """Rewrite plain Gemm nodes (alpha=beta=1, no transpose) as MatMul + Add.

    onnxruntime's dynamic quantizer handles MatMul but not Gemm; the two forms
    compute the same thing.
    """
    proto = type(proto).FromString(proto.SerializeToString())  # deep copy
    new_nodes = []
    for node in proto.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        plain = (node.op_type == "Gemm" and node.domain in ("", "ai.onnx")
                 and attrs.get("alpha", 1.0) == 1.0 and attrs.get("beta", 1.0) == 1.0
                 and not attrs.get("transA", 0) and not attrs.get("transB", 0))
        if not plain:
            new_nodes.append(node)
            continue
        a, b, *c = node.input
        if not c or not c[0]:
            new_nodes.append(onnx.helper.make_node("MatMul", [a, b], list(node.output), name=node.name))
            continue
        mid = f"{node.name or node.output[0]}.matmul"
        new_nodes.append(onnx.helper.make_node("MatMul", [a, b], [mid], name=mid))
        new_nodes.append(onnx.helper.make_node("Add", [mid, c[0]], list(node.output),
                                               name=f"{node.name or node.output[0]}.add"))
    del proto.graph.node[:]
    proto.graph.node.extend(new_nodes)
    return proto


def quantize_dynamic_int8(src, dst):
    """Quantize a model's weights to int8 with onnxruntime's dynamic quantization.

    Weights become int8 (per tensor, 7 bits used so that x86 CPUs without VNNI do
    not saturate their int16 pair sums); activations are quantized to uint8 on
    the fly at run time. Gemm nodes are first rewritten as MatMul + Add, the
    form onnxruntime's dynamic quantizer handles.

    Parameters
    ----------
    src : str, os.PathLike or onnx.ModelProto
        The float model (a file, or the object returned by :func:`to_onnx`).
    dst : str or os.PathLike
        Where to write the quantized ``.onnx`` file.

    Returns
    -------
    pathlib.Path
        ``dst``. Load it with ``onnxruntime.InferenceSession(str(dst))``.

    Raises
    ------
    ImportError
        ``onnx`` or ``onnxruntime`` is missing.
    ValidationError
        ``src`` is not a readable ONNX model.
    """
    onnx = _require("onnx", "glassnet.files.onnx.quantize_dynamic_int8")
    quant = _require("onnxruntime.quantization", "glassnet.files.onnx.quantize_dynamic_int8")
    if isinstance(src, onnx.ModelProto):
        proto = src
    elif isinstance(src, (str, os.PathLike)):
        if not Path(src).is_file():
            raise ValidationError(f"quantize_dynamic_int8: {src} does not exist or is not a file. "
                                  f"Pass the .onnx file written by to_onnx(model, path).")
        try:
            proto = onnx.load_model(os.fspath(src))
        except Exception as exc:
            raise ValidationError(f"quantize_dynamic_int8: cannot read {src} as an ONNX model "
                                  f"({type(exc).__name__}: {exc}).") from None
    else:
        raise ValidationError(f"quantize_dynamic_int8: 'src' must be a path or an onnx.ModelProto; "
                              f"got {type(src).__name__}.")
    proto = _gemm_to_matmul_add(onnx, proto)
    dst = Path(dst)
    import tempfile

    # Older onnxruntime releases take only a file path as input.
    with tempfile.TemporaryDirectory(prefix="glassnet-quant-") as tmp:
        src_file = Path(tmp) / "float.onnx"
        onnx.save_model(proto, os.fspath(src_file))
        # Only the network's matrix products: the preprocessing tables (Gather) stay exact.
        with _quiet_onnxruntime():
            # reduce_range: 7-bit weights. On x86 without VNNI the u8 x s8 products are summed in pairs into
            # int16, which saturates with 8-bit weights: on a Zen 3 (AVX2) a 20-64-10 ReLU net's outputs were off
            # by 0.39 of 1.6 with 8 bits, 0.02 with 7 (onnxruntime 1.32; its docs advise this on non-VNNI CPUs).
            quant.quantize_dynamic(os.fspath(src_file), os.fspath(dst), weight_type=quant.QuantType.QInt8,
                                   op_types_to_quantize=["MatMul"], reduce_range=True)
    return dst


@contextlib.contextmanager
def _quiet_onnxruntime():
    """Keep onnxruntime's advice ("Please consider to run pre-processing before quantization") out of
    the caller's output: the quantizer logs it through the root logger and ``warnings``."""
    root = logging.getLogger()
    levels = [(root, root.level)] + [(logging.getLogger(n), logging.getLogger(n).level)
                                     for n in list(logging.root.manager.loggerDict) if n.startswith("onnx")]
    for logger, _ in levels:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in levels:
            logger.setLevel(level)


# --------------------------------------------------------------------------- #
# Preprocessing in the graph (tables) and class labels
# --------------------------------------------------------------------------- #

def _rewire_input(graph, new_name):
    """Feed ``new_name`` where the graph read its first input; return the old input's name."""
    name = graph.input[0].name
    for node in graph.node:
        node.input[:] = [new_name if x == name else x for x in node.input]
    for out in graph.output:
        if out.name == name:
            raise ValidationError("the ONNX graph's input is also its output; nothing to prepend to.")
    return name


def _prepend(proto, nodes, initializers, inputs=None):
    graph = proto.graph
    all_nodes = [*nodes, *graph.node]
    del graph.node[:]
    graph.node.extend(all_nodes)
    graph.initializer.extend(initializers)
    if inputs is not None:
        del graph.input[:]
        graph.input.extend(inputs)
    return proto


def prepend_standardization(proto, mean, scale):
    """Prepend ``(x - mean) * (1 / scale)``, computed in float64, to a graph: it takes unstandardized columns.

    Parameters
    ----------
    proto : onnx.ModelProto
        From :func:`to_onnx`; its input keeps its name and shape.
    mean, scale : array of shape (n_features,)
    """
    onnx = _require("onnx")
    helper, numpy_helper, TP = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    _rewire_input(proto.graph, "standardized")
    elem = proto.graph.input[0].type.tensor_type.elem_type
    # In float64: in float32 a column such as a year (mean 2008.03, std 0.8) would lose 1e-4 of
    # its standardized value to the rounding of the mean, which shows in the probabilities.
    inits = [numpy_helper.from_array(np.asarray(mean, dtype=np.float64), "scaling.mean"),
             numpy_helper.from_array(1.0 / np.asarray(scale, dtype=np.float64), "scaling.inv_scale")]
    name = proto.graph.input[0].name
    nodes = [helper.make_node("Cast", [name], ["scaling.x64"], to=TP.DOUBLE, name="standardize_cast64"),
             helper.make_node("Sub", ["scaling.x64", "scaling.mean"], ["centered"], name="standardize_sub"),
             helper.make_node("Mul", ["centered", "scaling.inv_scale"], ["standardized64"], name="standardize_mul"),
             helper.make_node("Cast", ["standardized64"], ["standardized"], to=elem, name="standardize_cast")]
    _prepend(proto, nodes, inits)
    onnx.checker.check_model(proto)
    return proto


def table_input_name(column):
    """The ONNX input name of a categorical column: ``col_`` + the name with unsafe characters as '_'."""
    return "col_" + re.sub(r"[^0-9A-Za-z_]", "_", str(column))


def prepend_table_encoding(proto, columns):
    """Prepend the encoding of raw table rows (imputation, missing indicators, one-hot) to a graph.

    Parameters
    ----------
    proto : onnx.ModelProto
        A graph whose input takes the encoded columns: numeric values, then missing indicators,
        then one block per categorical column.
    columns : dict
        ``{"numeric": [{"name", "fill", "indicator"}, ...], "categorical": [{"name", "levels",
        "table"}, ...]}`` (:meth:`glassnet.adapters.tabular.TablePreprocessor.onnx_columns`).
        ``table`` has one row per level plus a last row for values never seen in training.

    The new graph has a float input ``"input"`` of shape (batch, n_numeric), NaN for a missing
    value, and one string input (batch, 1) per categorical column, named by
    :func:`table_input_name` ('' for a missing value). Levels are looked up with
    ``ai.onnx.ml.LabelEncoder`` (unknown strings get the last row) and rows taken with ``Gather``.
    """
    onnx = _require("onnx")
    helper, numpy_helper, TP = onnx.helper, onnx.numpy_helper, onnx.TensorProto
    graph = proto.graph
    old = graph.input[0]
    elem = old.type.tensor_type.elem_type
    dtype = helper.tensor_dtype_to_np_dtype(elem)
    _rewire_input(graph, "encoded")
    numeric, categorical = columns.get("numeric", []), columns.get("categorical", [])
    nodes, inits, inputs, blocks = [], [], [], []
    if numeric:
        inputs.append(helper.make_tensor_value_info("input", elem, ["batch", len(numeric)]))
        inits.append(numpy_helper.from_array(np.asarray([c["fill"] for c in numeric], dtype=dtype), "table.fill"))
        nodes += [helper.make_node("IsNaN", ["input"], ["table.isnan"], name="table_isnan"),
                  helper.make_node("Where", ["table.isnan", "table.fill", "input"], ["table.imputed"],
                                   name="table_impute")]
        blocks.append("table.imputed")
        flagged = [i for i, c in enumerate(numeric) if c["indicator"]]
        if flagged:
            inits.append(numpy_helper.from_array(np.asarray(flagged, dtype=np.int64), "table.flagged"))
            nodes += [helper.make_node("Cast", ["table.isnan"], ["table.isnan_f"], to=elem, name="table_cast"),
                      helper.make_node("Gather", ["table.isnan_f", "table.flagged"], ["table.indicators"], axis=1,
                                       name="table_indicators")]
            blocks.append("table.indicators")
    if categorical:
        inits.append(numpy_helper.from_array(np.asarray([-1], dtype=np.int64), "table.flat_shape"))
    for j, c in enumerate(categorical):
        name = table_input_name(c["name"])
        table = np.asarray(c["table"], dtype=dtype)
        inputs.append(helper.make_tensor_value_info(name, TP.STRING, ["batch", 1]))
        inits.append(numpy_helper.from_array(table, f"table.{j}.rows"))
        nodes += [helper.make_node("LabelEncoder", [name], [f"table.{j}.index"], domain="ai.onnx.ml",
                                   keys_strings=list(c["levels"]), values_int64s=list(range(len(c["levels"]))),
                                   default_int64=len(c["levels"]), name=f"table_{j}_lookup"),
                  helper.make_node("Reshape", [f"table.{j}.index", "table.flat_shape"], [f"table.{j}.flat"],
                                   name=f"table_{j}_flatten"),
                  helper.make_node("Gather", [f"table.{j}.rows", f"table.{j}.flat"], [f"table.{j}.onehot"], axis=0,
                                   name=f"table_{j}_onehot")]
        blocks.append(f"table.{j}.onehot")
    if not blocks:
        raise ValidationError("prepend_table_encoding got no columns; pass at least one numeric or categorical.")
    nodes.append(helper.make_node("Concat", blocks, ["encoded"], axis=1, name="table_concat")
                 if len(blocks) > 1 else helper.make_node("Identity", blocks, ["encoded"], name="table_concat"))
    _prepend(proto, nodes, inits, inputs)
    if not any(o.domain == "ai.onnx.ml" for o in proto.opset_import) and categorical:
        proto.opset_import.append(helper.make_opsetid("ai.onnx.ml", 2))
    proto.ir_version = max(proto.ir_version, helper.find_min_ir_version_for(list(proto.opset_import)))
    del old
    onnx.checker.check_model(proto)
    return proto


def add_class_labels(proto, classes):
    """Add an output ``"label"`` (batch,) of strings: the class name of each row's largest output."""
    onnx = _require("onnx")
    helper = onnx.helper
    graph = proto.graph
    out = graph.output[0].name
    graph.node.extend([
        helper.make_node("ArgMax", [out], ["label.index"], axis=1, keepdims=0, name="label_argmax"),
        helper.make_node("LabelEncoder", ["label.index"], ["label"], domain="ai.onnx.ml",
                         keys_int64s=list(range(len(classes))), values_strings=[str(c) for c in classes],
                         default_string="", name="label_lookup")])
    graph.output.append(helper.make_tensor_value_info("label", onnx.TensorProto.STRING, ["batch"]))
    if not any(o.domain == "ai.onnx.ml" for o in proto.opset_import):
        proto.opset_import.append(helper.make_opsetid("ai.onnx.ml", 2))
    proto.ir_version = max(proto.ir_version, helper.find_min_ir_version_for(list(proto.opset_import)))
    onnx.checker.check_model(proto)
    return proto
