"""Safe model files: damaged or hostile files give a clear ModelFileError, and loading never runs code."""

import ast
import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

import glassnet as g
from glassnet.files.serialization import MAX_HEADER, build_model, pack, unpack
from tests.conftest import record_counts

DAMAGED = {"truncated": 0, "bit_flipped": 0, "hostile": 0}


@pytest.fixture(scope="module", autouse=True)
def _record_counts(request):
    yield
    record_counts(request.config, "damaged_model_files", dict(DAMAGED))


@pytest.fixture(scope="module")
def small_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("m") / "m.safetensors"
    g.save(g.Sequential([g.Dense(2, 3, seed=0), g.LeakyReLU(0.1), g.Dropout(0.25), g.Dense(3, 2, seed=1), g.Softmax()]),
           path)
    return path.read_bytes()


def _split(data):
    (n,) = struct.unpack("<Q", data[:8])
    return json.loads(data[8:8 + n]), data[8 + n:]


def _raw(header, body=b""):
    text = header if isinstance(header, bytes) else json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + body


def _load_bytes(tmp_path, data, match=None, kind="hostile"):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(data)
    with pytest.raises(g.ModelFileError, match=match) as info:
        g.load(path)
    DAMAGED[kind] += 1
    return str(info.value)


def _with_arch(data, arch=None, **meta_changes):
    """The file with its architecture JSON (or other metadata fields) replaced, re-checksummed."""
    tensors, meta = unpack(data)
    if arch is not None:
        meta["architecture"] = arch if isinstance(arch, str) else json.dumps(arch)
    meta.update(meta_changes)
    return pack(tensors, meta)


def _refused_in_memory(data):
    """load() minus the file read, for the exhaustive loops (thousands of variants)."""
    try:
        build_model(*unpack(data, source="model file"))
    except g.ModelFileError:
        return True
    return False


def test_every_truncation_is_rejected(tmp_path, small_file):
    for cut in (0, 7, 8, 100, len(small_file) - 1):            # a few through the real file path
        assert "bad.safetensors" in _load_bytes(tmp_path, small_file[:cut], kind="truncated")
    accepted = [cut for cut in range(len(small_file)) if not _refused_in_memory(small_file[:cut])]
    DAMAGED["truncated"] += len(small_file)
    assert accepted == []


def test_every_single_bit_flip_is_rejected(tmp_path, small_file):
    # The checksum in the metadata covers the header and the tensor bytes, so no flip goes unnoticed.
    accepted = []
    for i in range(len(small_file)):
        for bit in range(8):
            data = bytearray(small_file)
            data[i] ^= 1 << bit
            if not _refused_in_memory(bytes(data)):
                accepted.append((i, bit))
            DAMAGED["bit_flipped"] += 1
    assert accepted == []


def test_checksum_mismatch_message(tmp_path, small_file):
    data = bytearray(small_file)
    data[-1] ^= 0x10
    _load_bytes(tmp_path, bytes(data), match="checksum")


def test_glassnet_file_without_checksum_is_refused(tmp_path, small_file):
    # Otherwise a flipped bit in the key "sha256" would switch the check off.
    header, body = _split(small_file)
    del header["__metadata__"]["sha256"]
    _load_bytes(tmp_path, _raw(header, body), match="no checksum")


def test_re_checksummed_file_loads(tmp_path, small_file):
    path = tmp_path / "ok.safetensors"
    path.write_bytes(_with_arch(small_file))
    assert g.load(path).layers[1].alpha == pytest.approx(0.1)


@pytest.mark.parametrize("magic", [b"\x89PNG\r\n\x1a\n", b"\x89HDF\r\n\x1a\n", b"GGUF\x03\x00\x00\x00",
                                   b"PK\x03\x04", b"\x80\x04\x95", b"\x08\x07\x12\x04onnx", b"{\"a\": 1}"])
def test_wrong_magic(tmp_path, magic):
    _load_bytes(tmp_path, magic + bytes(64))


@pytest.mark.parametrize("n", [2**63, 2**64 - 1, MAX_HEADER + 8, 10**9])
def test_oversized_header_length(tmp_path, n):
    _load_bytes(tmp_path, struct.pack("<Q", n) + b"{}" + bytes(100), match="header length")


def test_header_at_the_limit_is_refused_before_parsing(tmp_path):
    data = struct.pack("<Q", MAX_HEADER + 8) + b" " * (MAX_HEADER + 8)
    _load_bytes(tmp_path, data, match="limit")


def test_shapes_that_disagree_with_the_architecture(tmp_path, small_file):
    header, body = _split(small_file)
    arch = json.loads(header["__metadata__"]["architecture"])
    arch["layers"][0]["config"]["n_out"] = 4
    _load_bytes(tmp_path, _with_arch(small_file, arch), match="shape")


def test_huge_layer_sizes_are_refused_without_allocating(tmp_path, small_file):
    # A hostile file must not make load() allocate terabytes before it notices the mismatch.
    header, body = _split(small_file)
    arch = json.loads(header["__metadata__"]["architecture"])
    arch["layers"][0]["config"]["n_in"] = 10**12
    _load_bytes(tmp_path, _with_arch(small_file, arch), match="shape")


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_weights(tmp_path, small_file, value):
    tensors, meta = unpack(small_file)
    tensors["layers.3.bias"][1] = value
    _load_bytes(tmp_path, pack(tensors, meta), match="NaN or infinite")


def test_unknown_layer_type(tmp_path, small_file):
    header, _ = _split(small_file)
    arch = json.loads(header["__metadata__"]["architecture"])
    arch["layers"][1]["type"] = "os.system"
    _load_bytes(tmp_path, _with_arch(small_file, arch), match="unknown layer type 'os.system'")


HOSTILE_ARCH = {
    "deep nesting": "[" * 100_000 + "]" * 100_000,
    "deep nesting in a config": '{"layers": [{"type": "Dense", "config": ' + '{"a": ' * 50_000 + "1" + "}" * 50_000,
    "huge integer": '{"layers": [{"type": "Dense", "config": {"n_in": ' + "9" * 5000 + "}}]}",
    "huge float": '{"layers": [{"type": "LeakyReLU", "config": {"alpha": 1e999}}]}',
    "NaN constant": '{"layers": [{"type": "LeakyReLU", "config": {"alpha": NaN}}]}',
    "not JSON": "Dense(2, 3)",
    "a list": "[1, 2]",
    "layers is a dict": '{"layers": {"type": "Dense"}}',
    "no layers": '{"layers": []}',
    "layer is a string": '{"layers": ["Dense"]}',
    "config is a list": '{"layers": [{"type": "Dense", "config": [2, 3]}]}',
    "n_in is a string": '{"layers": [{"type": "Dense", "config": {"n_in": "2", "n_out": 3}}]}',
    "n_in is a bool": '{"layers": [{"type": "Dense", "config": {"n_in": true, "n_out": 3}}]}',
    "negative size": '{"layers": [{"type": "Dense", "config": {"n_in": -2, "n_out": 3}}]}',
    "unexpected config key": '{"layers": [{"type": "Softmax", "config": {"__class__": "os.system"}}]}',
    "init is code": '{"layers": [{"type": "Dense", "config": {"n_in": 2, "n_out": 3, "init": "__import__(\'os\')"}}]}',
    "type is a list": '{"layers": [{"type": ["Dense"]}]}',
    "duplicate keys": '{"layers": [{"type": "Softmax"}], "layers": [{"type": "Sigmoid"}]}',
    "duplicate config keys": '{"layers": [{"type": "LeakyReLU", "config": {"alpha": 0.1, "alpha": 0.2}}]}',
    "bad dtype": '{"layers": [{"type": "Softmax"}], "dtype": "object"}',
    "dtype is code": '{"layers": [{"type": "Softmax"}], "dtype": {"__reduce__": 1}}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_ARCH))
def test_hostile_architecture_json(tmp_path, small_file, name):
    msg = _load_bytes(tmp_path, _with_arch(small_file, HOSTILE_ARCH[name]))
    assert len(msg) < 1000                        # the message quotes the file, not the whole payload


HOSTILE_HEADER = {
    "deep nesting": b"[" * 100_000 + b"]" * 100_000,
    "huge integer offset": b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, ' + b"9" * 5000 + b"]}}",
    "header is a list": b"[1, 2, 3]",
    "metadata not strings": b'{"__metadata__": {"format": 1}}',
    "metadata is a list": b'{"__metadata__": ["glassnet"]}',
    "duplicate tensor names": b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, '
                              b'"w": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}',
    "duplicate metadata keys": b'{"__metadata__": {"format": "glassnet", "format": "other"}}',
    "unknown dtype": b'{"w": {"dtype": "O", "shape": [1], "data_offsets": [0, 8]}}',
    "shape is a string": b'{"w": {"dtype": "F32", "shape": "1", "data_offsets": [0, 4]}}',
    "negative shape": b'{"w": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}',
    "float shape": b'{"w": {"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}}',
    "shape product overflows int64": b'{"w": {"dtype": "F32", "shape": [4294967296, 4294967296], '
                                     b'"data_offsets": [0, 0]}}',
    "offsets past the end": b'{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}',
    "offsets reversed": b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [8, 4]}}',
    "overlapping tensors": b'{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, '
                           b'"b": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}',
    "hole between tensors": b'{"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}',
    "entry is a string": b'{"w": "F32"}',
    "not UTF-8": b'{"w\xff\xfe": 1}',
    "NaN in offsets": b'{"w": {"dtype": "F32", "shape": [1], "data_offsets": [NaN, 4]}}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_HEADER))
def test_hostile_header_json(tmp_path, name):
    msg = _load_bytes(tmp_path, _raw(HOSTILE_HEADER[name], bytes(8)))
    assert len(msg) < 1000


def test_trailing_garbage_is_rejected(tmp_path, small_file):
    _load_bytes(tmp_path, _with_arch(small_file) + b"\x00" * 8)


def test_other_format_version_names_both_versions(tmp_path, small_file):
    _load_bytes(tmp_path, _with_arch(small_file, format_version="2"), match="version '2'.*version '1'")


def test_loading_never_executes_code(tmp_path):
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for data in (pickle.dumps(Payload(), protocol=2), pickle.dumps(Payload(), protocol=0),
                 _raw({"__metadata__": {"format": "glassnet", "format_version": "1",
                                        "architecture": pickle.dumps(Payload(), 0).decode("latin-1")}})):
        _load_bytes(tmp_path, data)
    assert not marker.exists()


def test_file_modules_have_no_code_execution_paths():
    # Static guarantee behind "loading never executes code": no pickle, eval, exec or np.load.
    root = Path(g.__file__).parent / "files"
    for name in ("serialization.py", "checkpoint.py"):
        tree = ast.parse((root / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                assert not any(m.split(".")[0] in ("pickle", "marshal", "shelve", "dill", "joblib") for m in mods)
            if isinstance(node, ast.Call):
                fn = node.func
                called = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
                assert called not in ("eval", "exec", "compile", "__import__", "load", "loads") or (
                    isinstance(fn, ast.Attribute) and isinstance(fn.value, ast.Name) and fn.value.id == "json"
                ), f"{name}: {ast.unparse(node)[:80]}"


def test_load_path_must_be_a_path():
    # open(0) would read standard input: an int is refused instead of being taken as a descriptor.
    for bad in (0, 3, 2.5, None, b"m.safetensors", ["m"]):
        with pytest.raises(g.GlassnetTypeError, match="str or os.PathLike"):
            g.load(bad)


def test_save_rejects_what_load_would_refuse(tmp_path):
    model = g.mlp(2, [3], 2, seed=0)
    model[0].weight.value[0, 0] = np.nan
    with pytest.raises(g.ValidationError, match="NaN or infinite"):
        g.save(model, tmp_path / "nan.safetensors")
    with pytest.raises(g.GlassnetTypeError, match="Sequential"):
        g.save("not a model", tmp_path / "x.safetensors")
    with pytest.raises(g.GlassnetTypeError, match="str or os.PathLike"):
        g.save(g.mlp(2, [3], 2, seed=0), 7)
    assert list(tmp_path.iterdir()) == []


def test_save_into_missing_folder_leaves_nothing(tmp_path):
    with pytest.raises(OSError):
        g.save(g.mlp(2, [3], 2, seed=0), tmp_path / "missing" / "m.safetensors")
    assert list(tmp_path.iterdir()) == []


def test_round_trip_still_exact(tmp_path, small_file):
    path = tmp_path / "m.safetensors"
    path.write_bytes(small_file)
    model = g.load(path)
    g.save(model, tmp_path / "again.safetensors")
    assert (tmp_path / "again.safetensors").read_bytes() == small_file
