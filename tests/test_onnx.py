"""Tests of glassnet.files.onnx: the exported graph computes what model.predict computes."""

import sys
import types

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from glassnet import Sequential  # noqa: E402
from glassnet.backend.errors import ValidationError  # noqa: E402
from glassnet.files.onnx import LAYER_TO_ONNX, quantize_dynamic_int8, to_onnx  # noqa: E402
from glassnet.nn.layers import Dense, Dropout, Layer, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh  # noqa: E402

ACTIVATIONS = {
    "Linear": Linear, "Sigmoid": Sigmoid, "Tanh": Tanh, "Softmax": Softmax, "ReLU": ReLU,
    "LeakyReLU": lambda: LeakyReLU(alpha=0.15),
}
ONNX_OP = {"Linear": "Identity", "Sigmoid": "Sigmoid", "Tanh": "Tanh", "Softmax": "Softmax",
           "ReLU": "Relu", "LeakyReLU": "LeakyRelu"}


def session(model_or_path):
    src = model_or_path.SerializeToString() if isinstance(model_or_path, onnx.ModelProto) else str(model_or_path)
    return ort.InferenceSession(src, providers=["CPUExecutionProvider"])


def run(model_or_path, X):
    return session(model_or_path).run(None, {"input": X})[0]


def mlp(act, n_in=6, hidden=16, n_out=5, seed=0, dtype=None):
    rng = np.random.default_rng(seed)
    return Sequential([Dense(n_in, hidden, seed=rng, dtype=dtype), ACTIVATIONS[act](), Dropout(0.3, seed=rng),
                       Dense(hidden, n_out, seed=rng, dtype=dtype), ACTIVATIONS[act]()])


@pytest.mark.parametrize("act", list(ACTIVATIONS))
def test_activation_matches_predict(act):
    model = mlp(act)
    proto = to_onnx(model)
    ops = [n.op_type for n in proto.graph.node]
    assert ops == ["Gemm", ONNX_OP[act], "Gemm", ONNX_OP[act]]
    rng = np.random.default_rng(1)
    for batch in (1, 37):  # the batch dimension is dynamic
        X = rng.normal(scale=2.0, size=(batch, 6)).astype(np.float32)
        out = run(proto, X)
        assert out.shape == (batch, 5) and out.dtype == np.float32
        np.testing.assert_allclose(out, model.predict(X), atol=1e-5, rtol=1e-5)


def test_graph_layout():
    model = Sequential([Dense(4, 3, seed=0), LeakyReLU(alpha=0.2), Dense(3, 2, seed=1), Softmax()])
    proto = to_onnx(model, opset=17)
    g = proto.graph
    assert [i.name for i in g.initializer] == ["layer0.weight", "layer0.bias", "layer2.weight", "layer2.bias"]
    W = onnx.numpy_helper.to_array(g.initializer[0])
    np.testing.assert_array_equal(W, model.layers[0].weight.value)  # (n_in, n_out): transB=0
    gemm = g.node[0]
    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in gemm.attribute}
    assert attrs["transB"] == 0 and attrs["transA"] == 0
    leaky = {a.name: onnx.helper.get_attribute_value(a) for a in g.node[1].attribute}
    assert leaky["alpha"] == pytest.approx(0.2)
    softmax = {a.name: onnx.helper.get_attribute_value(a) for a in g.node[3].attribute}
    assert softmax["axis"] == -1
    (inp,), (out,) = g.input, g.output
    assert inp.name == "input" and out.name == "output"
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == 4
    assert out.type.tensor_type.shape.dim[1].dim_value == 2
    assert proto.opset_import[0].version == 17
    assert set(LAYER_TO_ONNX) >= {"Dense", "ReLU", "LeakyReLU", "Sigmoid", "Tanh", "Softmax", "Linear", "Dropout"}


def test_dropout_removed():
    model = Sequential([Dropout(0.5), Dense(5, 8, seed=3), ReLU(), Dropout(0.5), Dense(8, 2, seed=4), Dropout(0.1)])
    proto = to_onnx(model)
    assert [n.op_type for n in proto.graph.node] == ["Gemm", "Relu", "Gemm"]
    assert proto.graph.node[-1].output[0] == "output"
    X = np.random.default_rng(0).normal(size=(9, 5)).astype(np.float32)
    np.testing.assert_allclose(run(proto, X), model.predict(X), atol=1e-5)


def test_only_skipped_layers_still_connects():
    proto = to_onnx(Sequential([Dropout(0.5)]), n_features=3)
    X = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(run(proto, X), X)


def test_file_round_trip(tmp_path):
    model = mlp("Tanh", seed=4)
    path = tmp_path / "model.onnx"
    proto = to_onnx(model, path)
    assert path.stat().st_size > 0
    loaded = onnx.load(str(path))
    assert loaded.SerializeToString() == proto.SerializeToString()
    onnx.checker.check_model(loaded)
    X = np.random.default_rng(2).normal(size=(11, 6)).astype(np.float32)
    np.testing.assert_allclose(run(path, X), model.predict(X), atol=1e-5)


def test_float64_export():
    model = Sequential([Dense(6, 8, seed=0, dtype="float64"), Tanh(), Dense(8, 3, seed=1, dtype="float64"), Softmax()])
    proto = to_onnx(model, dtype="float64")
    X = np.random.default_rng(3).normal(size=(4, 6))
    out = run(proto, X)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, model.predict(X), atol=1e-12)


def test_unknown_layer_error():
    class Conv1D(Layer):
        def forward(self, x):
            return x

    model = Sequential([Dense(4, 4, seed=0), Conv1D(), ReLU()])
    with pytest.raises(ValidationError, match=r"layer 1 \(Conv1D\).*Supported layers: Dense"):
        to_onnx(model)


def test_duck_typed_model():
    """Layers are matched by class name; any object with a `layers` list works."""
    class Dense:  # noqa: F811 -- a stand-in with the same name
        def __init__(self, W, b):
            self.weight, self.bias = types.SimpleNamespace(value=W), types.SimpleNamespace(value=b)

    class ReLU:  # noqa: F811
        pass

    rng = np.random.default_rng(0)
    W, b = rng.normal(size=(3, 2)).astype(np.float32), rng.normal(size=2).astype(np.float32)
    model = types.SimpleNamespace(layers=[Dense(W, b), ReLU()])
    X = rng.normal(size=(5, 3)).astype(np.float32)
    np.testing.assert_allclose(run(to_onnx(model), X), np.maximum(X @ W + b, 0), atol=1e-6)


def test_bad_arguments():
    model = mlp("ReLU")
    with pytest.raises(ValidationError, match="'layers' list"):
        to_onnx(object())
    with pytest.raises(ValidationError, match="no layers"):
        to_onnx(types.SimpleNamespace(layers=[]))
    with pytest.raises(ValidationError, match="'float32' or 'float64'"):
        to_onnx(model, dtype="int8")
    with pytest.raises(ValidationError, match="'opset'.*from 13"):
        to_onnx(model, opset=9)
    with pytest.raises(ValidationError, match="n_features"):
        to_onnx(Sequential([ReLU()]))
    with pytest.raises(ValidationError, match="takes 6 inputs but receives 7"):
        to_onnx(model, n_features=7)
    with pytest.raises(ValidationError, match="positive int"):
        to_onnx(model, n_features=0)


def test_missing_onnx_message(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"needs the 'onnx' package: pip install 'glassnet\[onnx\]'"):
        to_onnx(mlp("ReLU"))


# --------------------------------------------------------------------------- #
# Real data: scikit-learn digits
# --------------------------------------------------------------------------- #

@pytest.fixture(scope="module")
def digits_model():
    pytest.importorskip("sklearn")
    from glassnet.adapters.datasets import load

    data = load("digits")
    X = data.X / np.float32(16.0)
    y = data.y
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:1400], order[1400:]
    model = Sequential([Dense(64, 32, init="he_normal", seed=0), ReLU(), Dropout(0.1, seed=1),
                        Dense(32, 10, seed=2), Softmax()])
    model.fit(X[train], y[train], optimizer="adam", epochs=40, batch_size=32, verbose=0, seed=0)
    return model, X[test], y[test]


def test_digits_matches_predict(digits_model):
    model, X, y = digits_model
    out = run(to_onnx(model), X)
    np.testing.assert_allclose(out, model.predict(X), atol=1e-5)
    assert (out.argmax(1) == model.predict(X).argmax(1)).all()


def test_int8_quantization_on_digits(digits_model, tmp_path):
    model, X, y = digits_model
    fp32 = tmp_path / "digits.onnx"
    to_onnx(model, fp32)
    int8 = quantize_dynamic_int8(fp32, tmp_path / "digits.int8.onnx")
    ops = {n.op_type for n in onnx.load(str(int8)).graph.node}
    assert "MatMulInteger" in ops or "DynamicQuantizeMatMul" in ops, ops
    assert int8.stat().st_size < fp32.stat().st_size
    acc_fp32 = float((run(fp32, X).argmax(1) == y).mean())
    acc_int8 = float((run(int8, X).argmax(1) == y).mean())
    print(f"\ndigits held-out accuracy: float32 {acc_fp32:.4f}, int8 {acc_int8:.4f}, "
          f"change {100 * (acc_int8 - acc_fp32):+.2f} points; "
          f"size {fp32.stat().st_size} -> {int8.stat().st_size} bytes")
    assert acc_fp32 > 0.9
    assert acc_fp32 - acc_int8 < 0.05


def test_quantize_accepts_model_proto(tmp_path):
    model = mlp("ReLU", n_in=20, hidden=64, n_out=10)
    dst = quantize_dynamic_int8(to_onnx(model), tmp_path / "q.onnx")
    X = np.random.default_rng(0).normal(size=(16, 20)).astype(np.float32)
    out = run(dst, X)
    ref = model.predict(X)
    assert out.shape == ref.shape
    assert np.abs(out - ref).max() < 0.1 * np.abs(ref).max() + 1e-3


def test_quantize_bad_source(tmp_path):
    with pytest.raises(ValidationError, match="does not exist"):
        quantize_dynamic_int8(tmp_path / "none.onnx", tmp_path / "q.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\xff\x00garbage")
    with pytest.raises(ValidationError, match="cannot read"):
        quantize_dynamic_int8(junk, tmp_path / "q.onnx")
