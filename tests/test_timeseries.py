"""The .ts reader and the six shipped UCR/UEA sets."""

import gzip

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from glassnet.adapters.timeseries import (
    MINIROCKET_KERNELS,
    UCR_NAMES,
    MiniRocket,
    fill_missing,
    load_ucr,
    nn1_euclidean,
    read_ts,
    standardize,
    window_slices,
)
from glassnet.backend.errors import ValidationError


def write_ts(path, series, labels, classes, missing=False, gz=False):
    lines = ["# a test file", "@problemName Synthetic", "@timeStamps false", f"@missing {str(missing).lower()}",
             f"@univariate {str(series[0].shape[1] == 1).lower()}", f"@dimensions {series[0].shape[1]}",
             f"@classLabel true {' '.join(classes)}", "@data"]
    for s, lab in zip(series, labels):
        chans = [",".join("?" if np.isnan(v) else repr(float(v)) for v in s[:, c]) for c in range(s.shape[1])]
        lines.append(":".join(chans) + ":" + lab)
    data = ("\n".join(lines) + "\n").encode()
    (path.write_bytes(gzip.compress(data)) if gz else path.write_bytes(data))
    return path


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), n=st.integers(1, 6), channels=st.integers(1, 4), max_len=st.integers(1, 12),
       gz=st.booleans(), missing=st.booleans())
def test_round_trip(tmp_path_factory, seed, n, channels, max_len, gz, missing):
    rng = np.random.default_rng(seed)
    series = [rng.normal(size=(int(rng.integers(1, max_len + 1)), channels)).astype(np.float32) for _ in range(n)]
    if missing:
        for s in series:
            s[rng.random(s.shape) < 0.2] = np.nan
    classes = ["a", "b", "c"]
    labels = [classes[int(i)] for i in rng.integers(0, 3, n)]
    path = write_ts(tmp_path_factory.mktemp("ts") / "x.ts", series, labels, classes, missing, gz)
    d = read_ts(path, pad_value=-5.0)
    T = max(len(s) for s in series)
    assert d.X.shape == (n, T, channels) and d.X.dtype == np.float32 and d.name == "Synthetic"
    assert d.lengths.tolist() == [len(s) for s in series]
    assert [d.target_names[i] for i in d.y] == labels
    for i, s in enumerate(series):
        np.testing.assert_array_equal(d.X[i, :len(s)], s)           # NaN == NaN for assert_array_equal
        assert (d.X[i, len(s):] == -5.0).all()
    np.testing.assert_array_equal(d.mask.sum(1), d.lengths)
    filled = fill_missing(d.X, d.lengths)
    assert not np.isnan(filled[d.mask.astype(bool)]).any()


def test_fill_missing_interpolates():
    X = np.array([[[np.nan], [1.0], [np.nan], [3.0], [np.nan], [9.0]]], dtype=np.float32)
    np.testing.assert_array_equal(fill_missing(X, [5])[0, :, 0], [1, 1, 2, 3, 3, 9])


@pytest.mark.parametrize("body,match", [
    ("@data\n1,2:a\n", "classLabel"),
    ("@classLabel true a b\n@data\n1,2:c\n", "class label 'c'"),
    ("@classLabel true a b\n@data\n1,x:a\n", "not a number"),
    ("@classLabel true a b\n@data\n1,2:3:a\n", "different lengths"),
    ("@classLabel true a b\n@data\n1,2:a\n1,2:3,4:a\n", "channels"),
    ("@classLabel true a\n@timeStamps true\n@data\n", "not supported"),
    ("hello\n", "header line"),
    ("@classLabel true a\n@data\n", "no series"),
])
def test_bad_files_say_where_and_what(tmp_path, body, match):
    path = tmp_path / "bad.ts"
    path.write_text(body)
    with pytest.raises(ValidationError, match=match):
        read_ts(path)


def test_checksum_and_missing_files(tmp_path):
    write_ts(tmp_path / "GunPoint_TRAIN.ts", [np.zeros((3, 1))], ["1"], ["1", "2"])
    with pytest.raises(ValidationError, match="SHA-256"):
        load_ucr("GunPoint", path=tmp_path)
    assert load_ucr("GunPoint", path=tmp_path, verify=False).X.shape == (1, 3, 1)
    with pytest.raises(ValidationError, match="found neither"):
        load_ucr("ArrowHead", path=tmp_path)
    with pytest.raises(ValidationError, match="name"):
        load_ucr("Nope")


SHAPES = {"GunPoint": ((50, 150, 1), (150, 150, 1), 2), "ItalyPowerDemand": ((67, 24, 1), (1029, 24, 1), 2),
          "ArrowHead": ((36, 251, 1), (175, 251, 1), 3), "OSULeaf": ((200, 427, 1), (242, 427, 1), 6),
          "JapaneseVowels": ((270, 26, 12), (370, 29, 12), 9), "BasicMotions": ((40, 100, 6), (40, 100, 6), 4)}
# 1-NN Euclidean on the shipped splits, as the issue measured them independently (aeon's loaders).
NN1 = {"GunPoint": 0.913, "ItalyPowerDemand": 0.955, "ArrowHead": 0.800, "OSULeaf": 0.521, "JapaneseVowels": 0.916,
       "BasicMotions": 0.600}


@pytest.mark.parametrize("name", UCR_NAMES)
def test_shipped_sets(name):
    tr, te = load_ucr(name), load_ucr(name, kind="test")
    (a, b, k) = SHAPES[name]
    assert tr.X.shape == a and te.X.shape == b and tr.n_classes == k == te.n_classes
    assert set(np.unique(tr.y)) == set(range(k)) and not np.isnan(tr.X).any()
    assert nn1_euclidean(tr, te) == pytest.approx(NN1[name], abs=5e-4)
    Xtr, Xte = standardize(tr, te)
    m = tr.mask.astype(bool)
    np.testing.assert_allclose(Xtr[m].mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(Xtr[m].std(0), 1, atol=1e-3)
    if name == "JapaneseVowels":
        assert tr.lengths.min() == 7 and te.lengths.max() == 29 and (Xte[~te.mask.astype(bool)] == 0).all()


def test_window_slices_stretch_a_window_of_each_series_back_to_its_length():
    rng = np.random.default_rng(0)
    X = np.zeros((3, 10, 2), np.float32)
    lengths = np.array([10, 6, 1])
    for i, L in enumerate(lengths):
        X[i, :L] = rng.normal(size=(L, 2))
    out = window_slices(X, lengths, 2, seed=1, ratio=0.7)
    assert out.shape == (6, 10, 2) and out.dtype == X.dtype
    for j in range(2):
        for i, L in enumerate(lengths):
            s = out[j * 3 + i]
            np.testing.assert_array_equal(s[L:], 0)                    # padding left alone
            lo, hi = X[i, :L].min(axis=0), X[i, :L].max(axis=0)        # interpolation stays inside the series
            assert (s[:L] >= lo - 1e-6).all() and (s[:L] <= hi + 1e-6).all()
    np.testing.assert_array_equal(out[2], X[2])                         # a one-step series is itself
    np.testing.assert_allclose(window_slices(X, lengths, 1, seed=1, ratio=1.0), X, atol=1e-6)   # the whole window
    np.testing.assert_array_equal(out, window_slices(X, lengths, 2, seed=1, ratio=0.7))       # seeded


def test_minirocket_dilated_convolution_is_the_direct_sum_and_its_features_are_ppvs():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(5, 40)).astype(np.float32)
    rocket = MiniRocket(n_features=84 * 6, seed=0)
    for d in (1, 2, 3, 4):
        Xp = np.pad(X.astype(np.float64), ((0, 0), (4 * d, 4 * d)))      # zero padding, 4 dilated steps each side
        direct = sum(Xp[:, p * d:p * d + 40, None] * MINIROCKET_KERNELS[:, p] for p in range(9))
        np.testing.assert_allclose(rocket._convolve(X, d), direct, atol=1e-5)
    assert (MINIROCKET_KERNELS.sum(1) == 0).all() and len({tuple(k) for k in MINIROCKET_KERNELS}) == 84
    F = rocket.fit(X).transform(X[:, :, None])
    assert F.shape == (5, 84 * 6) and F.dtype == np.float32 and ((F >= 0) & (F <= 1)).all()
    assert list(rocket.dilations) == [1, 2, 3, 4] and rocket.per_dilation.sum() == 6    # (40 - 1) / 8 = 4.9
    np.testing.assert_array_equal(F, MiniRocket(n_features=84 * 6, seed=0).fit(X).transform(X))    # seeded
    np.testing.assert_array_equal(rocket.transform(X[:2], chunk=1), F[:2])                           # chunking
    with pytest.raises(ValidationError, match="univariate"):
        rocket.transform(np.zeros((2, 40, 3)))
    with pytest.raises(ValidationError, match="T >= 9"):
        rocket.transform(np.zeros((2, 8)))
