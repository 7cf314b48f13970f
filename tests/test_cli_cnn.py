"""``glassnet train DATA --arch cnn``: the convolutional network of glassnet.adapters.images from the CLI."""

from pathlib import Path

import numpy as np
import pytest

import glassnet as g
from glassnet.adapters.images import SAMPLE_SHAPES, image_cnn
from tests.conftest import run_cli

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_cnn_on_mnist1d_trains_saves_and_evaluates(tmp_path):
    # MNIST-1D: from ../shared/data when there, else generated (the mnist1d extra). 3 epochs of 32 batches:
    # far from the example's 0.97, but well above chance (0.1); a saved model must give the same numbers back.
    path = ["--data-path", DATA / "mnist1d"] if (DATA / "mnist1d").exists() else []
    out = run_cli("train", "mnist1d", "--arch", "cnn", *path, "--epochs", "3", "--batch-size", "128",
                  "--no-report", "--out", tmp_path / "m.safetensors", cwd=tmp_path).stdout
    assert "Conv1D(1 -> 32, 5, padding='same')" in out and "network: --arch cnn" in out
    acc_text = out.split("test loss")[1].split("accuracy")[1].split()[0]
    assert float(acc_text) > 0.3
    model = g.load(tmp_path / "m.safetensors")
    assert isinstance(model.layers[0], g.Reshape) and model.n_features == 40
    again = run_cli("evaluate", tmp_path / "m.safetensors", "mnist1d", *path, cwd=tmp_path).stdout
    assert f"accuracy {acc_text}" in again          # the same number, printed the same way
    run_cli("export", tmp_path / "m.safetensors", "--out", tmp_path / "m.onnx", cwd=tmp_path)   # rows in, as trained
    assert (tmp_path / "m.onnx").stat().st_size > 0


def test_cnn_refuses_tables_and_the_mlp_only_flags(tmp_path):
    proc = run_cli("train", "iris", "--arch", "cnn", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "needs an image or signal data set" in proc.stderr
    path = ["--data-path", DATA / "mnist1d"] if (DATA / "mnist1d").exists() else []
    proc = run_cli("train", "mnist1d", "--arch", "cnn", *path, "--cv", "3", cwd=tmp_path, check=False)
    assert proc.returncode == 1 and "--verify and --cv retrain MLPs" in proc.stderr


@pytest.mark.parametrize("dataset", sorted(SAMPLE_SHAPES))
def test_the_networks_take_rows_and_fit_their_shapes(dataset):
    shape = SAMPLE_SHAPES[dataset]
    model = image_cnn(dataset, 10)
    X = np.zeros((2, int(np.prod(shape))), np.float32)
    assert model.predict(X).shape == (2, 10)
    assert model.output_shape((X.shape[1],)) == (10,)
