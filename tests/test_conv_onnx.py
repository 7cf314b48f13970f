"""ONNX export of convolutional models: onnxruntime computes what predict computes."""

import numpy as np
import pytest

import glassnet as g
from glassnet.backend.errors import ValidationError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def trained(model, shape, rng):
    X = rng.normal(size=(48, *shape)).astype(np.float32)
    y = rng.integers(0, 3, len(X))
    model.fit(X, y, optimizer=g.Adam(0.01), epochs=2, batch_size=16, seed=0, verbose=0)   # BatchNorm stats move
    return model, X


def image_cnn(r):
    return g.Sequential([
        g.Conv2D(2, 4, 3, padding="same", seed=r), g.BatchNorm(4), g.ReLU(), g.MaxPool2D(2),
        g.Conv2D(4, 6, (3, 2), stride=(2, 1), padding=1, seed=r), g.ReLU(), g.AvgPool2D(2, stride=1),
        g.MaxPool2D(3, stride=2), g.Flatten(), g.Dropout(0.3, seed=r), g.Dense(12, 8, seed=r), g.BatchNorm(8),
        g.Tanh(), g.Dense(8, 3, seed=r), g.Softmax()])


def gap_cnn(r):
    return g.Sequential([g.Conv2D(1, 5, 5, stride=2, padding="same", seed=r), g.ReLU(), g.GlobalAveragePool2D(),
                         g.Dense(5, 3, seed=r), g.Softmax()])


def signal_cnn(r):
    return g.Sequential([g.Conv1D(1, 4, 5, padding="same", seed=r), g.BatchNorm(4), g.ReLU(), g.MaxPool1D(2),
                         g.Conv1D(4, 6, 3, stride=2, seed=r), g.ReLU(), g.Flatten(), g.Dense(24, 3, seed=r),
                         g.Softmax()])


def flat_input_cnn(r):
    return g.Sequential([g.Reshape((11, 9, 1)), g.Conv2D(1, 3, 3, seed=r), g.ReLU(), g.MaxPool2D(2), g.Flatten(),
                         g.Dense(36, 3, seed=r), g.Softmax()])


@pytest.mark.parametrize("make,shape", [(image_cnn, (15, 13, 2)), (gap_cnn, (11, 9, 1)), (signal_cnn, (20, 1)),
                                        (flat_input_cnn, (99,))])
def test_onnxruntime_parity(tmp_path, make, shape, rng):
    model, X = trained(make(np.random.default_rng(0)), shape, rng)
    g.to_onnx(model, tmp_path / "m.onnx", input_shape=shape)
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    out = sess.run(None, {"input": X})[0]
    np.testing.assert_allclose(out, model.predict(X), rtol=1e-4, atol=1e-5)


def test_conv_export_needs_a_fitting_input_shape():
    model = gap_cnn(np.random.default_rng(0))
    with pytest.raises(ValidationError, match="input_shape"):
        g.to_onnx(model)
    with pytest.raises(ValidationError, match=r"layer 0 \(Conv2D"):
        g.to_onnx(model, input_shape=(11, 9, 3))
    with pytest.raises(ValidationError, match="positive ints"):
        g.to_onnx(model, input_shape=(11, 0, 1))


def test_a_model_that_takes_rows_exports_without_input_shape(tmp_path, rng):
    # Reshape first (the CLI's --arch cnn models): the rows' width is the input's, no input_shape needed.
    model, X = trained(flat_input_cnn(np.random.default_rng(0)), (99,), rng)
    g.to_onnx(model, tmp_path / "m.onnx")
    sess = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(sess.run(None, {"input": X})[0], model.predict(X), rtol=1e-4, atol=1e-5)

