"""The ``glassnet`` command, driven in subprocesses (exit codes, files written, one-line errors)."""

import io
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("sklearn")
pd = pytest.importorskip("pandas")

import glassnet as g  # noqa: E402
from tests.conftest import run_cli as run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]




@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """`glassnet train` with no arguments, in an empty folder."""
    cwd = tmp_path_factory.mktemp("noargs")
    proc = run("train", cwd=cwd)
    return cwd, proc


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    from sklearn.datasets import load_diabetes, load_iris

    folder = tmp_path_factory.mktemp("tables")
    iris = load_iris(as_frame=True)
    frame = iris.frame.drop(columns="target")
    frame["species"] = np.array(iris.target_names)[iris.target]
    frame.to_csv(folder / "iris.csv", index=False)
    frame.to_parquet(folder / "iris.parquet")
    bad = frame.copy()
    bad["colour"] = "red"
    bad.to_csv(folder / "text_feature.csv", index=False)
    load_diabetes(as_frame=True).frame.to_csv(folder / "diabetes.csv", index=False)
    return folder


def test_train_without_arguments_writes_model_and_report(digits_run):
    cwd, proc = digits_run
    assert (cwd / "model.safetensors").is_file()
    if _has("glassnet.glassbox.report"):
        assert (cwd / "report.html").stat().st_size > 1000
    else:
        assert "report skipped" in proc.stdout
    # Not a terminal: one line per epoch, so logs stay readable.
    epoch_lines = [line for line in proc.stdout.splitlines() if line.startswith("epoch ")]
    assert len(epoch_lines) == 30 and epoch_lines[-1].startswith("epoch 30/30")
    test_line = next(line for line in proc.stdout.splitlines() if line.startswith("test "))
    assert float(test_line.split("accuracy ")[1].split()[0]) > 0.93
    # The file holds the network and its preprocessing: raw pixels (0..16) in, probabilities out.
    from sklearn.datasets import load_digits

    from glassnet.adapters.tabular import TabularModel

    X, y = load_digits(return_X_y=True)
    tm = TabularModel.load(cwd / "model.safetensors")
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(64)])
    assert np.mean(tm.predict_proba(frame).argmax(axis=1) == y) > 0.95
    _, meta = g.load(cwd / "model.safetensors", with_metadata=True)
    cli = meta["cli"]
    assert cli["task"] == "classification" and cli["classes"] == [str(i) for i in range(10)]
    assert len(cli["history"]["curves"]["loss"]) == 30


def test_summary_diagnose_evaluate(digits_run):
    cwd, _ = digits_run
    out = run("summary", "model.safetensors", cwd=cwd).stdout
    assert "Dense(64 -> 128)" in out and "total parameters: 17,226" in out and "30 epochs" in out
    out = run("diagnose", "model.safetensors", cwd=cwd).stdout
    assert out.startswith("verdict: ")
    out = run("evaluate", "model.safetensors", "digits", cwd=cwd).stdout
    assert "1797 samples" in out and float(out.split("accuracy ")[1].split()[0]) > 0.95


def test_predict_and_explain(digits_run):
    from sklearn.datasets import load_digits

    cwd, _ = digits_run
    run("predict", "model.safetensors", "digits", "--proba", "--out", "pred.csv", cwd=cwd)
    pred = pd.read_csv(cwd / "pred.csv")
    y = load_digits().target
    assert len(pred) == 1797 and list(pred.columns[:2]) == ["prediction", "proba_0"]
    assert np.mean(pred["prediction"].to_numpy() == y) > 0.95
    np.testing.assert_allclose(pred.filter(like="proba_").sum(axis=1), 1.0, rtol=1e-5)
    out = run("explain", "model.safetensors", "digits", "--rows", "0,5", "--top", "4", cwd=cwd).stdout
    assert out.count("completeness error") == 2 and "row 5:" in out
    errors = [float(line.split("completeness error ")[1].split("%")[0]) for line in out.splitlines()
              if "completeness error" in line]
    assert max(errors) < 1.0                     # integrated gradients add up to f(x) - f(baseline)


def test_export_onnx_matches_and_int8(digits_run):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from sklearn.datasets import load_digits

    cwd, _ = digits_run
    out = run("export", "model.safetensors", "--out", "digits.onnx", "--int8", cwd=cwd).stdout
    assert (cwd / "digits.onnx").is_file() and (cwd / "digits.int8.onnx").is_file()
    assert "int8 model written" in out
    from glassnet.adapters.tabular import TabularModel

    X = load_digits().data.astype(np.float32)
    got, labels = ort.InferenceSession(str(cwd / "digits.onnx")).run(None, {"input": X})
    tm = TabularModel.load(cwd / "model.safetensors")
    np.testing.assert_allclose(got, tm.predict_proba(pd.DataFrame(X, columns=[f"x{i}" for i in range(64)])),
                               atol=1e-5)
    assert list(labels) == [str(i) for i in got.argmax(axis=1)]
    q = ort.InferenceSession(str(cwd / "digits.int8.onnx")).run(None, {"input": X})[0]
    assert np.mean(q.argmax(axis=1) == got.argmax(axis=1)) > 0.95


def test_csv_string_labels_and_parquet(tables):
    pytest.importorskip("pyarrow")
    run("train", "iris.csv", "--target", "species", "--hidden", "16", "--activation", "tanh", "--epochs", "60",
        "--batch-size", "16", "--lr", "0.01", "--optimizer", "sgd", "--dropout", "0.1", "--l2", "1e-4",
        "--early-stopping", "--patience", "10", "--seed", "3", "--out", "iris.safetensors", "--no-report",
        "--quiet", cwd=tables)
    out = run("evaluate", "iris.safetensors", "iris.parquet", cwd=tables).stdout
    assert float(out.split("accuracy ")[1].split()[0]) > 0.85
    run("predict", "iris.safetensors", "iris.parquet", "--out", "species.csv", cwd=tables)
    pred = pd.read_csv(tables / "species.csv")["prediction"]
    assert set(pred) <= {"setosa", "versicolor", "virginica"}
    summary = run("summary", "iris.safetensors", cwd=tables).stdout
    assert "Dense(4 -> 16, l2=0.0001)" in summary and "Tanh" in summary and "Dropout" in summary


def test_regression_from_csv(tables):
    out = run("train", "diabetes.csv", "--target", "target", "--hidden", "32", "--epochs", "40", "--l2", "1e-3",
              "--early-stopping", "--out", "diab.safetensors", "--no-report", cwd=tables).stdout
    assert "task regression" in out
    out = run("evaluate", "diab.safetensors", "diabetes.csv", cwd=tables).stdout
    r2 = float(out.split("r2 ")[1].split()[0])
    assert r2 > 0.3                       # the target is predicted in its own units (about 25..346)
    run("predict", "diab.safetensors", "diabetes.csv", "--out", "y.csv", cwd=tables)
    pred = pd.read_csv(tables / "y.csv")["prediction"]
    assert 50 < pred.mean() < 250


@pytest.mark.parametrize("args, message", [
    (["train", "nope.csv", "--target", "y"], "does not exist"),
    (["train", "iris.csv", "--target", "petal"], "column 'petal' is not in"),
    (["train", "iris.csv"], "--target"),
    (["train", "text_feature.csv", "--target", "species", "--exclude", "colour,shade"], "'shade'"),
    (["train", "iris.txt", "--target", "species"], "neither a dataset name"),
    (["evaluate", "missing.safetensors", "iris.csv"], "Cannot read model file"),
    (["summary", "iris.csv"], "not a safetensors file"),
    (["diagnose", "garbage.safetensors"], "garbage.safetensors"),
    (["explain", "model.safetensors", "iris.csv", "--rows", "1"], "64 column(s) the model needs are missing"),
])
def test_bad_input_exits_with_one_line(tables, digits_run, args, message):
    (tables / "garbage.safetensors").write_bytes(b"\x00\x01 not a model at all")
    shutil.copy(digits_run[0] / "model.safetensors", tables / "model.safetensors")
    proc = run(*args, cwd=tables, check=False)
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"glassnet {args[0]}: error: ")
    assert message in lines[0]


def test_usage_error_exits_2(tmp_path):
    proc = run("train", "--epochs", "many", cwd=tmp_path, check=False)
    assert proc.returncode == 2 and "invalid int value" in proc.stderr


def test_progress_choice(monkeypatch):
    from glassnet.adapters import cli

    assert cli.progress(quiet=True) == ([], 0)
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    assert cli.progress(quiet=False) == ([], 1)          # logs: ProgressPrinter's one line per epoch
    pytest.importorskip("tqdm")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    callbacks, verbose = cli.progress(quiet=False)
    assert verbose == 0 and type(callbacks[0]).__name__ == "TqdmProgress"


def test_tqdm_progress_shows_epochs_batches_and_loss():
    pytest.importorskip("tqdm")
    from glassnet.adapters.progress import TqdmProgress

    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 3)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    sink = io.StringIO()
    model = g.mlp(3, [4], 2, seed=0)
    model.fit(X, y, epochs=3, batch_size=16, verbose=0, seed=0, callbacks=[TqdmProgress(file=sink, mininterval=0)])
    text = sink.getvalue()
    assert "epochs" in text and "3/3" in text
    assert "epoch 1" in text and "4/4" in text and "loss=" in text


def test_console_script_when_installed(tmp_path):
    exe = shutil.which("glassnet")
    if exe is None:
        pytest.skip("the glassnet console script is not installed (pip install -e .)")
    proc = subprocess.run([exe, "--help"], capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0 and "train" in proc.stdout


def _has(module):
    import importlib.util

    return importlib.util.find_spec(module) is not None


def test_verify_flags_retrain_and_state_the_verdict_with_numbers(tmp_path):
    penguins = Path(__file__).parent / "data" / "penguins.csv"
    out = run("train", str(penguins), "--target", "species", "--no-report", "--verify", cwd=tmp_path).stdout
    assert "verifying the verdict by retraining (--verify)" in out
    assert re.search(r"verification \([\d.]+ s in all, [\d.]+x one training\): .*val_loss [\d.e-]+ -> [\d.e-]+", out)
    assert re.search(r"placebo \(another seed\) spread \+/-[\d.e-]+: .* (confirmed|NOT confirmed)", out)
    out = run("diagnose", "model.safetensors", "--verify", cwd=tmp_path).stdout
    assert f"retraining on the {int(round(344 * 0.8))} training rows" in out
    assert "placebo (another seed) spread" in out
    bad = run("diagnose", "model.safetensors", str(Path(__file__).parent / "data" / "titanic.csv"), "--verify",
              "--target", "survived", cwd=tmp_path, check=False)
    assert bad.returncode == 1 and bad.stderr.count("\n") == 1


def test_cli_remedies_do_not_ask_to_leave_out_no_scale_when_scaling_is_on():
    from glassnet.adapters.cli import cli_diagnosis
    from glassnet.train.state import History

    h = History()
    h.diverged = "the loss became NaN at epoch 1"           # "diverged": its remedies include standardized inputs
    assert any("--no-scale" in r for r in cli_diagnosis(h, 0.1).remedies)
    scaled = cli_diagnosis(h, 0.1, scaled=True).remedies
    assert scaled and not any("--no-scale" in r for r in scaled) and any("--lr 0.01" in r for r in scaled)
