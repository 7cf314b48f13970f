"""``glassnet train`` on time series: a shipped UCR set by name, a .ts file with its _TEST.ts, or a held-out split."""

import numpy as np
import pytest
from test_timeseries import write_ts

from glassnet.adapters.cli import main
from glassnet.adapters.timeseries import load_ucr
from glassnet.files.serialization import load


def train(capsys, *args):
    status = main(["train", *map(str, args)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


@pytest.mark.parametrize("arch,layer", [("lstm", "LSTM"), ("cnn1d", "Conv1D")])
def test_a_shipped_set_by_name_uses_its_test_split(tmp_path, capsys, arch, layer):
    out = tmp_path / "m.safetensors"
    status, text, err = train(capsys, "gunpoint", "--arch", arch, "--hidden", "8", "--epochs", "2",
                              "--validation-split", "0", "--out", out)
    assert status == 0, err
    model, meta = load(out, with_metadata=True)
    cli = meta["cli"]
    assert type(model.layers[0]).__name__ == layer
    assert cli["classes"] == list(load_ucr("GunPoint").target_names) and cli["series"]["arch"] == arch
    assert len(cli["history"]["curves"]["loss"]) == 2
    assert f"test accuracy {cli['test']['accuracy']:.4f}  (150 series)" in text
    assert "50 training series of 150 steps, 1 channel(s), 2 classes" in text


def _synthetic(rng, n, lengths):
    """Two classes told apart by the sign of a slope; NaN holes (missing values) in some series."""
    labels = rng.integers(0, 2, n)
    series = []
    for lab, L in zip(labels, rng.integers(*lengths, n)):
        s = np.stack([np.linspace(-1, 1, L) * (1 if lab else -1), rng.normal(size=L)], axis=1)
        s[rng.integers(0, L), 1] = np.nan
        series.append(s)
    return series, [("up" if v else "down") for v in labels]


def test_a_ts_file_with_its_test_file_variable_length_and_missing(tmp_path, capsys):
    rng = np.random.default_rng(0)
    for split, n in (("TRAIN", 40), ("TEST", 20)):
        write_ts(tmp_path / f"Slope_{split}.ts", *_synthetic(rng, n, (5, 12)), ["down", "up"], missing=True)
    out = tmp_path / "m.safetensors"
    status, text, err = train(capsys, tmp_path / "Slope_TRAIN.ts", "--arch", "gru", "--hidden", "8", "--epochs", "30",
                              "--lr", "0.01", "--out", out)
    assert status == 0, err
    assert "variable lengths: padded and masked" in text and "(20 series)" in text
    model, meta = load(out, with_metadata=True)
    assert model.layers[0].mask_value == 0.0
    assert meta["cli"]["test"]["accuracy"] > 0.8     # the slope's sign is easy to learn


def test_a_ts_file_alone_holds_out_test_split(tmp_path, capsys):
    rng = np.random.default_rng(1)
    path = write_ts(tmp_path / "alone.ts", *_synthetic(rng, 50, (8, 9)), ["down", "up"], missing=True)
    status, text, err = train(capsys, path, "--arch", "rnn", "--hidden", "4", "--epochs", "1", "--test-split", "0.2",
                              "--out", tmp_path / "m.safetensors")
    assert status == 0, err
    assert "40 training series of 8 steps" in text and "(10 series)" in text


def test_arch_errors(tmp_path, capsys):
    status, _, err = train(capsys, "digits", "--arch", "lstm", "--out", tmp_path / "m.safetensors")
    assert status == 1 and "--arch lstm is for time series" in err and "use --arch mlp or cnn" in err
    status, _, err = train(capsys, "GunPoint", "--arch", "mlp", "--out", tmp_path / "m.safetensors")
    assert status == 1 and "--arch mlp is for tables and images" in err and "cnn1d" in err
    with pytest.raises(SystemExit) as e:
        train(capsys, "GunPoint", "--arch", "transformer")
    assert e.value.code == 2
    status, _, err = train(capsys, tmp_path / "nothing.ts")
    assert status == 1 and "nothing.ts" in err


def test_mpirun_glassnet_train_on_series_writes_once_from_rank_0(tmp_path):
    import sys

    from test_distributed import _mpiexec, _run
    exe = _mpiexec()
    proc, _ = _run([exe, "-n", "2", sys.executable, "-m", "glassnet", "train", "BasicMotions", "--arch", "gru",
                    "--hidden", "8", "--epochs", "2", "--out", "m.safetensors"], tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("model written to m.safetensors") == 1, proc.stdout
    assert proc.stdout.count("epoch 2/2") == 1 and proc.stdout.count("test accuracy") == 1, proc.stdout


def test_evaluate_and_predict_a_series_model(tmp_path, capsys):
    """The test series go through the training preparation again (fill, the stored standardization, padding):
    evaluate reproduces the test accuracy stored at training time, predict writes one row per series."""
    rng = np.random.default_rng(2)
    for split, n in (("TRAIN", 40), ("TEST", 20)):
        write_ts(tmp_path / f"Slope_{split}.ts", *_synthetic(rng, n, (5, 12)), ["down", "up"], missing=True)
    out = tmp_path / "m.safetensors"
    status, _, err = train(capsys, tmp_path / "Slope_TRAIN.ts", "--arch", "gru", "--hidden", "8", "--epochs", "5",
                           "--lr", "0.01", "--out", out)
    assert status == 0, err
    stored = load(out, with_metadata=True)[1]["cli"]["test"]["accuracy"]
    test = tmp_path / "Slope_TEST.ts"
    assert main(["evaluate", str(out), str(test)]) == 0
    assert f"{test}: 20 series  accuracy {stored:.4f}" in capsys.readouterr().out
    csv = tmp_path / "p.csv"
    assert main(["predict", str(out), str(test), "--proba", "--out", str(csv)]) == 0
    import pandas as pd
    frame = pd.read_csv(csv)
    assert list(frame.columns) == ["prediction", "proba_down", "proba_up"] and len(frame) == 20
    np.testing.assert_allclose(frame[["proba_down", "proba_up"]].sum(axis=1), 1, rtol=1e-5)
    labels = open(test).read().split("@data")[1].split()
    acc = np.mean([p == line.rsplit(":", 1)[1] for p, line in zip(frame["prediction"], labels)])
    assert acc == pytest.approx(stored)
    # --id-column: a .ts file has no columns, so the column named numbers the series in the file's order
    assert main(["predict", str(out), str(test), "--id-column", "series", "--out", str(csv)]) == 0
    numbered = pd.read_csv(csv)
    assert list(numbered.columns) == ["series", "prediction"] and list(numbered["series"]) == list(range(20))
    assert list(numbered["prediction"]) == list(frame["prediction"])


def test_evaluate_a_series_model_on_series_it_cannot_take(tmp_path, capsys):
    out = tmp_path / "m.safetensors"
    assert train(capsys, "ItalyPowerDemand", "--arch", "cnn1d", "--hidden", "4", "--epochs", "1", "--out", out)[0] == 0
    assert main(["evaluate", str(out), "GunPoint"]) == 1
    err = capsys.readouterr().err
    assert "150 steps with 1 channel(s)" in err and "at most 24 steps" in err


def test_a_series_model_on_labels_it_never_saw_and_diagnose(tmp_path, capsys):
    rng = np.random.default_rng(3)
    series, labels = _synthetic(rng, 30, (6, 10))
    write_ts(tmp_path / "Slope_TRAIN.ts", series, labels, ["down", "up"], missing=True)
    other = write_ts(tmp_path / "other.ts", series, ["sideways" if v == "up" else v for v in labels],
                     ["down", "sideways"], missing=True)
    out = tmp_path / "m.safetensors"
    assert train(capsys, tmp_path / "Slope_TRAIN.ts", "--arch", "gru", "--hidden", "4", "--epochs", "1",
                 "--test-split", "0", "--out", out)[0] == 0
    assert main(["evaluate", str(out), str(other)]) == 1
    err = capsys.readouterr().err
    assert "labels ['sideways']" in err and "were not seen in training" in err and "['down', 'up']" in err
    assert main(["diagnose", str(out)]) == 0                   # the verdict on the stored training curves
    assert "verdict: " in capsys.readouterr().out
    assert main(["diagnose", str(out), str(tmp_path / "Slope_TRAIN.ts"), "--verify"]) == 1
    assert "--verify retrains table models" in capsys.readouterr().err
