"""Real tables: preprocessing in the library, and `glassnet train FILE --target COL` on public tables.

The tables under tests/data/ (see tests/data/README.md for sources and licences) were written by
nobody here: Palmer penguins, the Titanic passenger log, R's mtcars.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import glassnet as g  # noqa: E402
from glassnet.adapters.tabular import (  # noqa: E402
    TablePreprocessor,
    TabularModel,
    infer_task,
    kfold_indices,
    onnx_feed,
    read_table,
    row_fingerprints,
    sniff_separator,
    warn_surprising_task,
)
from glassnet.backend.errors import ValidationError  # noqa: E402
from tests.conftest import run_cli as run  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"




def metric(out, name, prefix="test "):
    line = next(line for line in out.splitlines() if line.startswith(prefix))
    return float(line.split(f"{name} ")[1].split()[0])


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tables")
    for name in ("penguins.csv", "titanic.csv", "mtcars.csv"):
        shutil.copy(DATA / name, folder / name)
    return folder


@pytest.fixture(scope="module")
def penguins_model(work):
    out = run("train", "penguins.csv", "--target", "species", "--no-report", "--out", "species.safetensors",
              cwd=work).stdout
    return work, out


# -- acceptance: the tables, on the first try ------------------------------------------------
def test_penguins_species_first_try(penguins_model):
    _, out = penguins_model
    assert "task: classification (the target holds text: 3 classes)" in out
    assert "imputed with the median" in out and "indicator column" in out     # 2 rows lack measurements
    assert metric(out, "accuracy") >= 0.97


def test_penguins_body_mass_regression(work):
    out = run("train", "penguins.csv", "--target", "body_mass_g", "--no-report", "--out", "mass.safetensors",
              cwd=work).stdout
    raw = pd.read_csv(work / "penguins.csv")
    assert f"{int(raw['body_mass_g'].isna().sum())} row(s) without a 'body_mass_g' value left out" in out
    assert "task: regression" in out
    assert metric(out, "r2") >= 0.80


def test_titanic(work):
    out = run("train", "titanic.csv", "--target", "survived", "--no-report", "--out", "titanic.safetensors",
              cwd=work).stdout
    assert "column 'Unnamed: 0' left out: row names" in out
    assert metric(out, "accuracy") >= 0.77


def test_mtcars_row_names_left_out(work):
    out = run("train", "mtcars.csv", "--target", "mpg", "--no-report", "--out", "mtcars.safetensors",
              cwd=work).stdout
    assert "column 'Unnamed: 0' left out: row names" in out
    tm = TabularModel.load(work / "mtcars.safetensors")
    assert "Unnamed: 0" not in tm.preprocessor.used_columns and len(tm.preprocessor.used_columns) == 10
    pred = tm.predict(read_table(work / "mtcars.csv"))
    assert np.isfinite(pred).all() and len(pred) == 32


def test_mtcars_hp_is_not_a_22_class_problem(work):
    out = run("train", "mtcars.csv", "--target", "hp", "--no-report", "--quiet", "--out", "hp.safetensors",
              cwd=work)
    assert "task" not in out.stdout                               # --quiet
    _, meta = g.load(work / "hp.safetensors", with_metadata=True)
    assert meta["cli"]["task"] == "regression"
    forced = run("train", "mtcars.csv", "--target", "hp", "--task", "classification", "--epochs", "2",
                 "--test-split", "0", "--no-report", "--out", "hp2.safetensors", cwd=work)
    assert "warning: 22 classes for 32 rows" in forced.stderr


def test_predict_on_drifted_rows_warns_with_counts(penguins_model):
    work, _ = penguins_model
    frame = pd.read_csv(work / "penguins.csv")
    frame["body_mass_g"] = frame["body_mass_g"] / 1000          # kg instead of g
    frame["flipper_length_mm"] = frame["flipper_length_mm"] / 10  # cm instead of mm
    frame.loc[:4, "island"] = "Atlantis"
    frame.to_csv(work / "drifted.csv", index=False)
    proc = run("predict", "species.safetensors", "drifted.csv", "--out", "drifted_pred.csv", cwd=work)
    n, measured = len(frame), int(frame["body_mass_g"].notna().sum())
    assert f"column 'body_mass_g': {measured} of {n} values far below the training range" in proc.stderr
    assert f"column 'flipper_length_mm': {measured} of {n} values far below" in proc.stderr
    assert f"column 'island': 5 of {n} rows have 1 category not seen in training ('Atlantis' x5)" in proc.stderr
    # The undrifted file: not a word.
    clean = run("predict", "species.safetensors", "penguins.csv", "--out", "clean_pred.csv", cwd=work)
    assert "warning" not in clean.stderr


def test_schema_changes_are_reported(penguins_model):
    work, _ = penguins_model
    frame = pd.read_csv(work / "penguins.csv").drop(columns=["year"])
    frame["bill_depth_mm"] = frame["bill_depth_mm"].astype(object)
    frame.loc[:2, "bill_depth_mm"] = "unknown"
    frame["colour"] = "red"
    frame.to_csv(work / "schema.csv", index=False)
    proc = run("predict", "species.safetensors", "schema.csv", "--out", "-", cwd=work, check=False)
    assert proc.returncode == 1 and "column(s) the model needs are missing from the data: 'year'" in proc.stderr
    frame["year"] = 2008
    frame.to_csv(work / "schema.csv", index=False)
    proc = run("predict", "species.safetensors", "schema.csv", "--out", "-", cwd=work)
    assert "not seen in training are ignored: colour" in proc.stderr
    assert f"'bill_depth_mm' was numeric in training but 3 of {len(frame)} values are not numbers" in proc.stderr
    proc = run("predict", "species.safetensors", "schema.csv", "--exclude", "colour", "--out", "-", cwd=work)
    assert "colour" not in proc.stderr


def test_onnx_on_raw_rows_matches_predict(work, penguins_model):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    for table, target, model in (("penguins.csv", "species", "species.safetensors"),
                                 ("penguins.csv", "body_mass_g", "mass.safetensors"),
                                 ("titanic.csv", "survived", "titanic.safetensors"),
                                 ("mtcars.csv", "mpg", "mtcars.safetensors")):
        if not (work / model).exists():
            run("train", table, "--target", target, "--no-report", "--quiet", "--out", model, cwd=work)
        proc = run("export", model, "--out", f"{model}.onnx", "--int8", cwd=work)
        assert proc.stderr == ""                              # no onnxruntime advice leaking out
        tm = TabularModel.load(work / model)
        frame = read_table(work / table)
        sess = ort.InferenceSession(str(work / f"{model}.onnx"))
        got = sess.run(None, onnx_feed(tm.preprocessor, frame))
        expected = tm.predict_proba(frame)
        if tm.task == "classification":
            np.testing.assert_allclose(got[0], expected, atol=1e-5, rtol=0)
            assert list(got[1]) == list(tm.predict(frame))
            run("predict", model, table, "--out", "p.csv", cwd=work)
            assert list(pd.read_csv(work / "p.csv")["prediction"].astype(str)) == list(got[1])
        else:
            np.testing.assert_allclose(got[0], expected, rtol=1e-5)


def test_evaluate_knows_the_training_rows(penguins_model):
    work, _ = penguins_model
    proc = run("evaluate", "species.safetensors", "penguins.csv", cwd=work)
    n = len(pd.read_csv(work / "penguins.csv"))
    n_test = round(n * 0.2)
    assert f"{n - n_test} of {n} rows were used to train this model" in proc.stderr
    assert f"rows not used in training: {n_test} samples" in proc.stdout


def test_sniffed_delimiter_id_column_and_proba(penguins_model):
    work, _ = penguins_model
    frame = pd.read_csv(work / "penguins.csv")
    frame.insert(0, "tag", [f"P{i:04d}" for i in range(len(frame))])
    frame.to_csv(work / "semi.csv", sep=";", index=False)
    assert sniff_separator(work / "semi.csv") == ";"
    run("predict", "species.safetensors", "semi.csv", "--id-column", "tag", "--proba", "--out", "ids.csv", cwd=work)
    pred = pd.read_csv(work / "ids.csv")
    assert list(pred.columns[:3]) == ["tag", "prediction", "proba_Adelie"] and list(pred["tag"]) == list(frame["tag"])
    frame.to_csv(work / "tab.tsv", sep="\t", index=False)
    out = run("train", "tab.tsv", "--target", "species", "--id-column", "tag", "--epochs", "3", "--no-report",
              "--out", "tab.safetensors", cwd=work).stdout
    assert "7 feature columns" in out


def test_proba_on_regression_is_an_error(work):
    if not (work / "mtcars.safetensors").exists():
        run("train", "mtcars.csv", "--target", "mpg", "--no-report", "--quiet", "--out", "mtcars.safetensors",
            cwd=work)
    proc = run("predict", "mtcars.safetensors", "mtcars.csv", "--proba", cwd=work, check=False)
    assert proc.returncode == 1 and "--proba" in proc.stderr and "regression" in proc.stderr


def test_every_problem_column_at_once(work):
    frame = pd.DataFrame({"when": pd.date_range("2020-01-01", periods=40).astype(str),
                          "born": ["1999-03-0%d" % (i % 9 + 1) for i in range(40)],
                          "x": np.arange(40) % 7, "y": np.arange(40) % 2})
    frame.to_csv(work / "dates.csv", index=False)
    proc = run("train", "dates.csv", "--target", "y", "--exclude", "nope", cwd=work, check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and "'nope'" in lines[0]
    out = run("train", "dates.csv", "--target", "y", "--exclude", "when,born", "--epochs", "2", "--no-report",
              "--out", "dates.safetensors", cwd=work).stdout
    assert "1 feature columns" in out
    # date columns are left out with a note saying how to use them; the rest of the table trains
    out = run("train", "dates.csv", "--target", "y", "--epochs", "2", "--no-report", "--out", "dates2.safetensors",
              cwd=work).stdout
    assert "note: column 'when' left out: dates (e.g. '2020-01-01')" in out and "'born' left out: dates" in out
    assert "1 feature columns" in out and "day of year" in out
    proc = run("train", "dates.csv", "--target", "y", "--exclude", "x,nope", "--features", "when,x,zz", cwd=work,
               check=False)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 1 and len(lines) == 1 and "'nope'" in lines[0] and "'zz'" in lines[0]


@pytest.mark.slow
def test_cross_validation_then_final_model(work):
    out = run("train", "penguins.csv", "--target", "species", "--cv", "3", "--epochs", "40", "--no-report",
              "--out", "cv.safetensors", cwd=work).stdout
    folds = [line for line in out.splitlines() if line.startswith("cv fold ")]
    assert len(folds) == 3
    accs = [metric(line, "accuracy", "cv fold") for line in folds]
    summary = next(line for line in out.splitlines() if line.startswith("cv 3-fold:"))
    mean, spread = summary.split("accuracy ")[1].split(" +/- ")
    # the summary is computed from the unrounded fold scores; the fold lines print 4 significant digits
    assert abs(float(mean) - np.mean(accs)) < 1e-3 and abs(float(spread.split()[0]) - np.std(accs)) < 1e-3
    n_train = len(pd.read_csv(work / "penguins.csv")) - round(0.2 * 344)
    assert sum(int(line.split("(")[-1].split()[0]) for line in folds) == n_train   # each row validated once
    assert "model written to cv.safetensors" in out


def test_class_weight_balanced(work):
    # Titanic: 38% survived. Balanced class weights trade accuracy for recall of the rarer class.
    base = run("train", "titanic.csv", "--target", "survived", "--epochs", "20", "--no-report", "--quiet",
               "--out", "plain.safetensors", cwd=work)
    proc = run("train", "titanic.csv", "--target", "survived", "--epochs", "20", "--class-weight", "balanced",
               "--no-report", "--quiet", "--out", "cw.safetensors", cwd=work)
    assert base.returncode == proc.returncode == 0
    frame = read_table(work / "titanic.csv")
    rates = [float(np.mean(TabularModel.load(work / m).predict(frame) == "yes"))
             for m in ("plain.safetensors", "cw.safetensors")]
    assert rates[1] > rates[0]                        # the weighted model says "yes" more often
    _, meta = g.load(work / "cw.safetensors", with_metadata=True)
    assert meta["cli"]["args"]["class_weight"] == "balanced"
    proc = run("train", "mtcars.csv", "--target", "mpg", "--class-weight", "balanced", cwd=work, check=False)
    assert proc.returncode == 1 and "classification" in proc.stderr


# -- the library ------------------------------------------------------------------------------------
def test_column_rules():
    n = 40
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "Unnamed: 0": [f"car {i}" for i in range(n)], "row": np.arange(1, n + 1), "name": [f"n{i}" for i in range(n)],
        "shuffled": rng.permutation(n), "real": rng.normal(size=n), "flag": rng.random(n) > 0.5,
        "colour": pd.Categorical(rng.choice(["red", "green"], n)), "gappy": np.where(np.arange(n) % 5, 1.0, np.nan)})
    pre = TablePreprocessor().fit(frame)
    assert set(pre.left_out) == {"Unnamed: 0", "row", "name"}
    assert pre.used_columns == ["shuffled", "real", "flag", "colour", "gappy"]
    assert pre.encoded_names[:4] == ["shuffled", "real", "gappy", "gappy missing"]
    assert sorted(pre.encoded_names[4:6]) == ["flag=False", "flag=True"]
    assert sorted(pre.encoded_names[6:]) == ["colour=green", "colour=red"]
    E = pre.encode(frame)
    np.testing.assert_array_equal(E[:, 3], np.isnan(frame["gappy"]).astype(float))
    assert np.all(E[np.isnan(frame["gappy"]), 2] == 1.0)                       # the median of the rest
    X = pre.transform(frame)
    np.testing.assert_allclose(X.mean(axis=0), 0, atol=1e-12)
    # Chosen features are kept even when they look like identifiers.
    assert TablePreprocessor().fit(frame, features=["row", "real"]).used_columns == ["row", "real"]


def test_high_cardinality_and_unseen_values():
    rng = np.random.default_rng(1)
    levels = [f"l{i}" for i in range(30)]
    frame = pd.DataFrame({"c": rng.choice(levels, 300, p=np.r_[np.full(10, 0.07), np.full(20, 0.015)]),
                          "d": rng.choice(["a", "b", "c"], 300)})
    pre = TablePreprocessor(max_categories=10).fit(frame)
    spec = pre.categorical[0]
    assert len(spec["levels"]) == 10 and spec["other"] and "c=<other>" in pre.encoded_names
    new = pd.DataFrame({"c": ["zzz"], "d": ["never"]})
    assert pre.encode(new)[0, 10] == 1.0                    # unseen in a column with <other>: goes there
    # Without <other>: the average row, zeros after standardization.
    d = [i for i, name in enumerate(pre.encoded_names) if name.startswith("d=")]
    np.testing.assert_allclose(pre.transform(new)[0, d], 0.0, atol=1e-12)
    assert [f.kind for f in pre.check(new)] == ["unseen_category"]


def test_infer_task_and_warnings():
    assert infer_task(["a", "b", "a"])[0] == "classification"
    assert infer_task(np.array([0.0, 1.0, 1.0, 0.0]))[0] == "classification"
    assert warn_surprising_task("classification", np.array([0.0, 1.0] * 20), 2)[0].startswith("the target is stored")
    assert infer_task(np.arange(100) % 3)[0] == "classification"
    assert infer_task(np.arange(29))[0] == "regression"                         # 29 values for 29 rows
    assert infer_task(np.linspace(0, 1, 50))[0] == "regression"


def test_state_is_json_and_checked():
    frame = read_table(DATA / "penguins.csv").drop(columns="species")
    pre = TablePreprocessor().fit(frame, rows=np.arange(0, 344, 2))
    state = json.loads(json.dumps(pre.to_dict(), allow_nan=False))
    again = TablePreprocessor.from_dict(state)
    np.testing.assert_array_equal(again.transform(frame), pre.transform(frame))
    state["mean"] = state["mean"][:-1]
    with pytest.raises(ValidationError, match="preprocessing state is malformed"):
        TablePreprocessor.from_dict(state)


def test_helpers():
    y = np.array([0] * 30 + [1] * 10)
    folds = kfold_indices(40, 4, np.random.default_rng(0), y)
    assert sorted(np.concatenate([va for _, va in folds]).tolist()) == list(range(40))
    assert all(np.sum(y[va] == 1) in (2, 3) for _, va in folds)
    a = pd.DataFrame({"m": [3750, 4000], "s": ["x", None]})
    b = pd.DataFrame({"m": [3750.0, 4000.0], "s": ["x", np.nan]})
    assert row_fingerprints(a, ["m", "s"]) == row_fingerprints(b, ["m", "s"])


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(12, 60), n_num=st.integers(0, 3), n_cat=st.integers(0, 3), seed=st.integers(0, 2**31),
       p_missing=st.sampled_from([0.0, 0.2]))
def test_random_tables_encode_consistently(n, n_num, n_cat, seed, p_missing):
    rng = np.random.default_rng(seed)
    cols = {f"num{i}": np.where(rng.random(n) < p_missing, np.nan, rng.normal(size=n) * 10 ** i)
            for i in range(n_num)}
    cols.update({f"cat{i}": np.where(rng.random(n) < p_missing, None, rng.choice(["a", "b", "c"][: i + 1], n))
                 for i in range(n_cat)})
    cols["k"] = rng.integers(0, 3, n)
    frame = pd.DataFrame(cols)
    pre = TablePreprocessor().fit(frame)
    X = pre.transform(frame)
    assert X.shape == (n, pre.n_encoded) == (n, len(pre.encoded_names)) and np.isfinite(X).all()
    assert sorted(i for idx in pre.groups.values() for i in idx) == list(range(pre.n_encoded))
    assert pre.check(frame) == []
    # Row order does not matter: encoding is row by row.
    order = rng.permutation(n)
    np.testing.assert_array_equal(pre.transform(frame.iloc[order]), X[order])


def test_bad_arguments_say_what_and_how_to_fix():
    from glassnet.backend.errors import GlassnetTypeError

    with pytest.raises(GlassnetTypeError, match="expects a pandas DataFrame; got ndarray.*read_table"):
        TablePreprocessor().fit(np.zeros((3, 2)))
    with pytest.raises(ValidationError, match=r"max_categories=\.\.\.\) must be a positive int; got 0"):
        TablePreprocessor(max_categories=0)
    frame = pd.DataFrame({"a": np.arange(20) % 3, "b": ["x", "y"] * 10})
    with pytest.raises(ValidationError,
                       match=r"column\(s\) 'yy', 'zz' not in the data \(columns: a, b\); check the spelling"):
        TablePreprocessor().fit(frame, exclude=["zz"], features=["yy"])
    with pytest.raises(ValidationError, match="no usable feature column is left"):
        TablePreprocessor().fit(frame, exclude=["a", "b"])


json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=5),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                                        max_size=4), max_leaves=12)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["version", "max_categories", "far", "standardize", "columns", "left_out",
                                        "notes", "mean", "scale"]), json_values))
def test_hostile_preprocessing_state_is_a_clean_error(state):
    try:
        TablePreprocessor.from_dict(state)
    except ValidationError as e:
        assert "preprocessing state is malformed" in str(e)
