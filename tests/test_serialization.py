import json
import pickle
import struct

import numpy as np
import pytest

import glassnet as g
from glassnet.files.serialization import pack


@pytest.fixture
def model():
    rng = np.random.default_rng(0)
    return g.Sequential([g.Dense(4, 8, l2=0.01, init="he_normal", seed=rng), g.LeakyReLU(0.05),
                         g.Dropout(0.2, seed=rng), g.Dense(8, 3, seed=rng), g.Softmax()])


def test_round_trip_identical_predictions(tmp_path, model, rng):
    X = rng.normal(size=(10, 4)).astype(np.float32)
    path = tmp_path / "m.safetensors"
    g.save(model, path)
    loaded = g.load(path)
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    assert [repr(a) for a in loaded.layers] == [repr(b) for b in model.layers]
    assert not list(tmp_path.glob(".tmp-*"))


def test_float64_round_trip(tmp_path):
    m = g.mlp(3, [4], 1, output="linear", dtype="float64", seed=0)
    g.save(m, tmp_path / "m")
    assert g.load(tmp_path / "m").dtype == np.float64


def test_readable_by_safetensors_package(tmp_path, model):
    st = pytest.importorskip("safetensors.numpy")
    g.save(model, tmp_path / "m.safetensors")
    tensors = st.load_file(str(tmp_path / "m.safetensors"))
    np.testing.assert_array_equal(tensors["layers.0.weight"], model[0].weight.value)


def test_pickle_rejected(tmp_path, model):
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"weights": [1, 2, 3]}))
    with pytest.raises(g.ModelFileError, match="pickle"):
        g.load(path)


def test_truncated_file(tmp_path, model):
    path = tmp_path / "m.safetensors"
    g.save(model, path)
    data = path.read_bytes()
    for cut in (0, 4, 20, len(data) - 10):
        path.write_bytes(data[:cut])
        with pytest.raises(g.ModelFileError):
            g.load(path)


def test_non_glassnet_safetensors(tmp_path):
    path = tmp_path / "other.safetensors"
    path.write_bytes(pack({"w": np.zeros(3, np.float32)}, {"format": "pt"}))
    with pytest.raises(g.ModelFileError, match="not a glassnet model"):
        g.load(path)


def test_other_format_version_names_both(tmp_path, model):
    g.save(model, tmp_path / "m")
    data = (tmp_path / "m").read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header["__metadata__"]["format_version"] = "99"
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    (tmp_path / "m").write_bytes(struct.pack("<Q", len(text)) + text + data[8 + n:])
    with pytest.raises(g.ModelFileError, match="'99'.*'1'"):
        g.load(tmp_path / "m")


def test_missing_file():
    with pytest.raises(g.ModelFileError, match="Cannot read"):
        g.load("/nonexistent/model.safetensors")
