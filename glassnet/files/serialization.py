"""Model files: the safetensors layout, written and read here with NumPy only (no pickle).

File = 8-byte little-endian header length N | N bytes of JSON header | raw tensor bytes.
The header maps each parameter name ("layers.0.weight") to its dtype, shape and byte
range, and ``__metadata__`` holds the architecture as JSON. Loading parses JSON and
copies bytes; it never executes code. Files are readable by the ``safetensors`` package.
"""

import hashlib
import json
import math
import os
import struct

import numpy as np

from glassnet.backend.arrays import to_numpy
from glassnet.backend.atomic import atomic_write
from glassnet.backend.checks import check_path
from glassnet.backend.errors import ModelFileError, ValidationError
from glassnet.nn.layers import LAYERS
from glassnet.nn.layers.container import check_model
from glassnet.train.model import Sequential
from glassnet.version import __version__

__all__ = ["REPAIR", "build_model", "check_format", "damaged", "load", "pack", "read_bytes", "save",
           "strict_json", "unpack"]

FORMAT = "glassnet"
FORMAT_VERSION = "1"
MAX_HEADER = 16 * 1024 * 1024
_DTYPES = {"F32": np.dtype("<f4"), "F64": np.dtype("<f8")}
_CODES = {v: k for k, v in _DTYPES.items()}


REPAIR = "Use an intact copy of the file, or save the model again with glassnet.save()."


def damaged(message):
    """The ModelFileError for a file that is not what it claims, ending with how to get a good one."""
    return ModelFileError(f"{message} {REPAIR}")


def strict_json(text):
    """json.loads that refuses duplicate keys and NaN/Infinity: a hostile file cannot smuggle values."""
    def pairs(items):
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise ValueError(f"duplicate key {next(k for k in keys if keys.count(k) > 1)[:80]!r}")
        return dict(items)

    def constant(name):
        raise ValueError(f"{name} is not allowed")

    return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)


def _checksum(header, body):
    # sha256 over the canonical header (without the checksum) and the tensor bytes: any flipped
    # bit in a file that still parses is caught. Stored in the metadata, which other readers ignore.
    h = hashlib.sha256(json.dumps(header, sort_keys=True, separators=(",", ":")).encode())
    h.update(body)
    return h.hexdigest()


def pack(tensors, metadata):
    """Serialize {name: ndarray} and {str: str} metadata to safetensors bytes (with a sha256 checksum)."""
    header, chunks, offset = {"__metadata__": dict(metadata)}, [], 0
    for name, arr in tensors.items():
        arr = np.ascontiguousarray(to_numpy(arr))
        if arr.dtype.newbyteorder("<") not in _CODES:
            raise ValidationError(f"Cannot save tensor {name!r} of dtype {arr.dtype}; use float32 or float64.")
        raw = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": _CODES[arr.dtype.newbyteorder("<")], "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        chunks.append(raw)
        offset += len(raw)
    header["__metadata__"]["sha256"] = _checksum(header, b"".join(chunks))
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)                      # the format aligns the data to 8 bytes
    return struct.pack("<Q", len(text)) + text + b"".join(chunks)


def unpack(data, source="model file"):
    """Parse safetensors bytes into ({name: ndarray}, metadata), checking every field."""
    if len(data) < 8:
        raise damaged(f"{source} is too short ({len(data)} bytes) to be a safetensors file; it is "
                             "empty or truncated.")
    (n,) = struct.unpack("<Q", data[:8])
    if n > MAX_HEADER or n > len(data) - 8:
        # Checked only here: a valid header length may well start with the byte 0x80.
        if data[:1] == b"\x80" or data[:2] in (b"PK",):
            raise ModelFileError(f"{source} looks like a pickle/zip file (e.g. torch.save or joblib). glassnet "
                                 "never loads pickles: save models with glassnet.save().")
        raise damaged(f"{source}: header length {n} is larger than the file allows "
                             f"({len(data) - 8} bytes after the length, limit {MAX_HEADER}); the file is "
                             "truncated, damaged, or not a safetensors file.")
    try:
        header = strict_json(data[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:  # ValueError: JSONDecodeError, 4300+ digits
        raise damaged(f"{source}: the header is not valid JSON ({type(e).__name__}: {str(e)[:100]}); "
                             "the file is damaged or not a safetensors file.") from None
    if not isinstance(header, dict):
        raise damaged(f"{source}: the header must be a JSON object; got {type(header).__name__}.")
    metadata = header.pop("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise damaged(f"{source}: __metadata__ must map strings to strings.")
    body = memoryview(data)[8 + n:]
    tensors, spans = {}, []
    for name, info in header.items():
        try:
            dtype, shape, (a, b) = _DTYPES[info["dtype"]], info["shape"], info["data_offsets"]
            if not isinstance(shape, list) or not all(type(s) is int and 0 <= s < 2**40 for s in shape):
                raise ValueError
            if not (isinstance(a, int) and isinstance(b, int) and 0 <= a <= b <= len(body)):
                raise ValueError
        except (KeyError, TypeError, ValueError):
            raise damaged(f"{source}: entry {name!r} has a bad dtype, shape or data_offsets "
                                 f"({str(info)[:200]}), or points past the end of the file (truncated?).") from None
        if b - a != math.prod(shape) * dtype.itemsize:       # exact: np.prod would wrap around int64
            raise damaged(f"{source}: tensor {name!r} has {b - a} bytes but shape {shape} needs "
                                 f"{math.prod(shape) * dtype.itemsize}.")
        spans.append((a, b))
    ends = [0] + [b for _, b in sorted(spans)]
    if any(a != end for (a, _), end in zip(sorted(spans), ends, strict=False)) or ends[-1] != len(body):
        raise damaged(f"{source}: the tensors overlap, leave holes or do not cover the data "
                             f"({len(body)} bytes); the file is damaged.")
    expected = metadata.pop("sha256", None)
    # The checksum scheme is part of format version 1: a file of another version gets the
    # caller's "version X; this glassnet reads Y" error rather than "damaged".
    ours = str(metadata.get("format")).startswith(FORMAT)
    if metadata.get("format_version", FORMAT_VERSION) == FORMAT_VERSION and ours:
        if expected != _checksum({**header, "__metadata__": metadata}, body):
            raise ModelFileError(f"{source}: {'no checksum' if expected is None else 'checksum mismatch'}; the file "
                                 "was modified or damaged after it was written (a flipped bit, a partial copy). "
                                 "Use an intact copy.")
    for name, info in header.items():
        (a, b), dtype = info["data_offsets"], _DTYPES[info["dtype"]]
        tensors[name] = np.frombuffer(body[a:b], dtype=dtype).reshape(info["shape"]).copy()
    return tensors, metadata


def save(model, path, metadata=None):
    """Save a Sequential to ``path`` (safetensors weights + architecture JSON), atomically.

    ``metadata``, an optional JSON-serializable dict (feature names, class labels, input
    scaling, history...), is stored under the ``"user"`` metadata key; read it back with
    ``load(path, with_metadata=True)``.
    """
    check_model(model, "save()")
    path = check_path(path, "save()")
    for name, p in model.named_parameters():
        if not bool(np.isfinite(to_numpy(p.value)).all()):
            raise ValidationError(f"Cannot save: {name} contains NaN or infinite values, and load() would "
                                  "refuse the file. Restore good weights (NaNGuard, EarlyStopping) first.")
    arch = {"layers": [{"type": type(layer).__name__, "config": layer.config()} for layer in model.layers],
            "dtype": str(model.dtype)}
    user = metadata
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "glassnet_version": __version__,
                "architecture": json.dumps(arch)}
    if user is not None:
        if not isinstance(user, dict):
            raise ValidationError(f"save(metadata=...) must be a dict; got {type(user).__name__}.")
        try:
            metadata["user"] = json.dumps(user, allow_nan=False)
        except (TypeError, ValueError) as e:
            raise ValidationError(f"save(metadata=...) must be JSON-serializable (str, numbers, lists, dicts; "
                                  f"no NaN), but json says: {e}. Convert arrays with .tolist().") from None
    arrays = model.named_parameters() + model.named_buffers()      # buffers: BatchNorm's running statistics
    atomic_write(path, pack(dict((n, p.value) for n, p in arrays), metadata))
    return path


def load(path, with_metadata=False):
    """Load a model saved by :func:`save`. Never executes code from the file.

    With ``with_metadata=True`` return ``(model, metadata)``, where ``metadata`` is the dict
    given to ``save(..., metadata=)`` ({} when none was stored).
    """
    path = check_path(path, "load()")
    data = read_bytes(path, f"model file {os.fspath(path)!r}", "Check the path.")
    tensors, meta = unpack(data, source=f"model file {os.fspath(path)!r}")
    model = build_model(tensors, meta, source=os.fspath(path))
    if not with_metadata:
        return model
    try:
        user = strict_json(meta.get("user", "{}"))
    except (ValueError, RecursionError):
        user = None
    if not isinstance(user, dict):
        raise damaged(f"model file {os.fspath(path)!r}: the 'user' metadata is not a JSON object; "
                             "the file is damaged.")
    return model, user


def read_bytes(path, source, hint):
    """The file's bytes, or a ModelFileError naming ``source`` and a ``hint`` to fix it."""
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise ModelFileError(f"Cannot read {source}: the file must exist and be readable, but the system says "
                             f"{e.strerror!r}. {hint}") from None


def check_format(metadata, fmt, version, source, what, fix_other, fix_version):
    """Check a safetensors file's ``format`` / ``format_version`` metadata against what we read."""
    if metadata.get("format") != fmt:
        raise ModelFileError(f"{source} is a safetensors file but not a {what} (its metadata has format "
                             f"{str(metadata.get('format'))[:40]!r}, not {fmt!r}); {fix_other}.")
    if metadata.get("format_version") != version:
        raise ModelFileError(f"{source} uses {what} format version {str(metadata.get('format_version'))[:40]!r}; "
                             f"this glassnet reads version {version!r}: {fix_version}.")


# Recurrent and convolutional families: the weight's shape each config implies, checked before the layer
# allocates anything (a hostile in_channels=10**9 must not reach the allocator).
_WEIGHT_SHAPES = {
    "SimpleRNN": lambda c: [c["n_in"], c["hidden"]], "LSTM": lambda c: [c["n_in"], 4 * c["hidden"]],
    "GRU": lambda c: [c["n_in"], 3 * c["hidden"]], "Embedding": lambda c: [c["n_tokens"], c["dim"]],
    "Conv2D": lambda c: [*(c["kernel_size"] if isinstance(c["kernel_size"], list) else [c["kernel_size"]] * 2),
                         c["in_channels"], c["out_channels"]],
    "Conv1D": lambda c: [c["kernel_size"], c["in_channels"], c["out_channels"]],
    "BatchNorm": lambda c: [c["n_features"]],
}
_RECURRENT_SHAPES = ("SimpleRNN", "LSTM", "GRU", "Embedding")


def _check_weight_shape(kind, config, tensors, i, source):
    if kind not in _WEIGHT_SHAPES:
        return
    weight = tensors.get(f"layers.{i}.weight")
    expected = _WEIGHT_SHAPES[kind](config)
    if weight is None or expected != list(weight.shape):
        raise ModelFileError(f"{source}: layer {i} is {kind} with config {str(config)[:120]} (weight shape {expected}) "
                             f"but its weight has shape {None if weight is None else weight.shape}.")


_CONV_DTYPED = ("Conv2D", "Conv1D", "BatchNorm")     # convolutional layers built in the file's dtype


def build_model(tensors, meta, source="model file"):
    """Rebuild a Sequential from parsed tensors and metadata, checking it all agrees."""
    check_format(meta, FORMAT, FORMAT_VERSION, source, "glassnet model",
                 "load it with the tool that wrote it", "re-save it with a matching glassnet")
    try:
        arch = strict_json(meta["architecture"])
        specs, dtype = arch["layers"], arch.get("dtype", "float32")
        if not isinstance(specs, list) or not specs or dtype not in ("float32", "float64"):
            raise ValueError
        layers = []
        for i, spec in enumerate(specs):
            cls = LAYERS.get(spec["type"]) if isinstance(spec.get("type"), str) else None
            if cls is None:
                raise damaged(f"{source}: unknown layer type {str(spec.get('type'))[:80]!r}; known: "
                                     f"{sorted(LAYERS)}.")
            config = spec.get("config", {})
            if not isinstance(config, dict):
                raise ValueError(f"layer {i} config is a {type(config).__name__}, not an object")
            if set(config) - set(cls.config_keys):
                raise damaged(f"{source}: layer {i} ({spec['type']}) has unexpected config keys "
                                     f"{sorted(set(config) - set(cls.config_keys))[:5]}; it takes "
                                     f"{list(cls.config_keys)}.")
            weight = tensors.get(f"layers.{i}.weight")
            declared = [config.get("n_in"), config.get("n_out")]
            if spec["type"] == "Dense" and (weight is None or declared != list(weight.shape)):
                # Checked before Dense() allocates: a hostile n_in=10**12 must not reach the allocator.
                raise damaged(f"{source}: layer {i} is Dense({config.get('n_in')!r} -> {config.get('n_out')!r}) "
                                     f"but its weight has shape {None if weight is None else weight.shape}.")
            _check_weight_shape(spec["type"], config, tensors, i, source)
            kw = {"dtype": dtype} if spec["type"] in ("Dense", *_RECURRENT_SHAPES, *_CONV_DTYPED) else {}
            layers.append(cls(**config, **kw))
        model = Sequential(layers)
    except ModelFileError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        raise damaged(f"{source}: the architecture metadata is malformed "
                             f"({str(e)[:200] or type(e).__name__}).") from None
    expected = dict(model.named_parameters() + model.named_buffers())
    if set(expected) != set(tensors):
        raise damaged(f"{source}: the weights {sorted(tensors)[:6]} do not match the architecture, which "
                             f"needs {sorted(expected)[:6]}.")
    for name, p in expected.items():
        t = tensors[name]
        if t.shape != p.value.shape:
            raise damaged(f"{source}: {name} has shape {t.shape} but the architecture needs {p.value.shape}.")
        if not np.isfinite(t).all():
            raise damaged(f"{source}: {name} contains NaN or infinite weights; the model is broken.")
        p.value = t.astype(p.value.dtype, copy=False)
    return model
