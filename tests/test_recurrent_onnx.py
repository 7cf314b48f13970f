"""ONNX export of recurrent models (RNN / LSTM / GRU operators, Gather for Embedding): onnxruntime parity."""

import numpy as np
import pytest

import glassnet as g

pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from glassnet.files.onnx import to_onnx  # noqa: E402


def run(proto, x):
    return ort.InferenceSession(proto.SerializeToString()).run(None, {"input": x})[0]


@pytest.mark.parametrize("cls", [g.SimpleRNN, g.LSTM, g.GRU])
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("mask_value", [None, 0.0, -3.0])
def test_stack_matches_onnxruntime(cls, bidirectional, mask_value, rng):
    r = np.random.default_rng(1)
    width = 5 * (2 if bidirectional else 1)
    model = g.Sequential([cls(3, 5, return_sequences=True, bidirectional=bidirectional, mask_value=mask_value, seed=r),
                          cls(width, 4, mask_value=None if mask_value is None else 0.0, seed=r),
                          g.Dense(4, 3, seed=r), g.Softmax()])
    for p in model.parameters():                      # biases start at 0: move them so their export is tested
        p.value += 0.2 * rng.standard_normal(p.value.shape).astype(np.float32)
    x = rng.normal(size=(5, 8, 3)).astype(np.float32)
    if mask_value is not None:
        x[1, 5:] = mask_value
        x[3, 1:] = mask_value
    np.testing.assert_allclose(run(to_onnx(model), x), model.predict(x), rtol=1e-5, atol=1e-6)


def test_sequence_output_and_embedding(rng):
    r = np.random.default_rng(2)
    model = g.Sequential([g.Embedding(9, 4, padding_idx=0, seed=r),
                          g.GRU(4, 3, return_sequences=True, bidirectional=True, mask_value=0.0, seed=r)])
    ids = rng.integers(1, 9, size=(3, 6)).astype(np.float32)
    ids[0, 2:] = 0
    proto = to_onnx(model)
    assert [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim] == ["batch", "time"]
    out = run(proto, ids)
    assert out.shape == (3, 6, 6)
    np.testing.assert_allclose(out, model.predict(ids), rtol=1e-5, atol=1e-6)
