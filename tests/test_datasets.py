"""Tests of glassnet.adapters.datasets: IDX reading, checksums and the loaders."""

import gzip
import hashlib
import random
from pathlib import Path

import numpy as np
import pytest

from glassnet.adapters import datasets
from glassnet.adapters.datasets import Dataset, load, load_fashion_mnist, load_mnist, load_mnist1d, read_idx, write_idx
from glassnet.backend.errors import ValidationError

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
MNIST = DATA / "mnist"
FASHION = DATA / "fashion-mnist"
MNIST1D = DATA / "mnist1d" / "mnist1d_data.npz"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def needs(path):
    return pytest.mark.skipif(not Path(path).exists(), reason=f"{path} not present")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def idx_bytes(code: int, dims, payload: bytes) -> bytes:
    return bytes([0, 0, code, len(dims)]) + np.asarray(dims, dtype=">u4").tobytes() + payload


# --------------------------------------------------------------------------- #
# IDX round trip
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("dtype", ["uint8", "int8", "int16", "int32", "float32", "float64"])
@pytest.mark.parametrize("suffix", [".idx", ".idx.gz"])
def test_idx_round_trip(tmp_path, dtype, suffix):
    rng = np.random.default_rng(0)
    a = (rng.normal(size=(4, 3, 5)) * 50).astype(dtype)
    path = write_idx(tmp_path / f"a{suffix}", a)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == suffix.endswith(".gz")
    b = read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.dtype.isnative
    assert b.shape == a.shape
    np.testing.assert_array_equal(a, b)
    assert b.flags.writeable


@pytest.mark.parametrize("shape", [(7,), (2, 3), (1, 1, 1, 1), (0, 28, 28)])
def test_idx_round_trip_shapes(tmp_path, shape):
    a = np.arange(int(np.prod(shape)), dtype=np.uint8).reshape(shape)
    np.testing.assert_array_equal(read_idx(write_idx(tmp_path / "x.gz", a)), a)


def test_compression_detected_by_magic_not_name(tmp_path):
    a = np.arange(12, dtype=np.int32).reshape(3, 4)
    gz_named_plain = write_idx(tmp_path / "plain.gz", a, compress=False)
    plain_named_gz = write_idx(tmp_path / "packed.idx", a, compress=True)
    np.testing.assert_array_equal(read_idx(gz_named_plain), a)
    np.testing.assert_array_equal(read_idx(plain_named_gz), a)


def test_big_endian_on_disk(tmp_path):
    p = tmp_path / "x.idx"
    p.write_bytes(idx_bytes(0x0C, [2], np.array([1, -2], dtype=">i4").tobytes()))
    np.testing.assert_array_equal(read_idx(p), [1, -2])


def test_write_idx_rejects_bad_input(tmp_path):
    with pytest.raises(ValidationError, match="dtype"):
        write_idx(tmp_path / "x.idx", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValidationError, match="dimensions"):
        write_idx(tmp_path / "x.idx", np.float32(1.0))


# --------------------------------------------------------------------------- #
# Damaged files
# --------------------------------------------------------------------------- #

def test_truncated_payload(tmp_path):
    p = tmp_path / "x.idx"
    p.write_bytes(idx_bytes(0x08, [10, 4], bytes(39)))
    with pytest.raises(ValidationError, match=r"truncated.*\(10, 4\).*52 bytes.*51 bytes"):
        read_idx(p)


def test_trailing_bytes(tmp_path):
    p = tmp_path / "x.idx"
    p.write_bytes(idx_bytes(0x08, [2], bytes(3)))
    with pytest.raises(ValidationError, match="longer than its header"):
        read_idx(p)


def test_truncated_gzip(tmp_path):
    p = write_idx(tmp_path / "x.idx.gz", np.arange(1000, dtype=np.int16))
    p.write_bytes(p.read_bytes()[:-30])
    with pytest.raises(ValidationError, match="corrupted or truncated"):
        read_idx(p)


def test_corrupted_gzip(tmp_path):
    p = write_idx(tmp_path / "x.idx.gz", np.random.default_rng(0).normal(size=500))
    data = bytearray(p.read_bytes())
    for i in range(20, 60):
        data[i] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(ValidationError, match="corrupted or truncated"):
        read_idx(p)


@pytest.mark.parametrize("content, match", [
    (b"", "too short"),
    (b"\x00\x00", "too short"),
    (b"\x50\x4b\x03\x04" + bytes(20), "not an IDX file"),            # a zip file
    (bytes([0, 0, 0x0A, 1, 0, 0, 0, 1, 0]), "not an IDX file"),      # unknown type code 0x0A
    (bytes([0, 0, 0x08, 0]), "0 dimensions"),
    (bytes([0, 0, 0x08, 3, 0, 0, 0, 1]), "truncated header"),
])
def test_bad_header(tmp_path, content, match):
    p = tmp_path / "x.idx"
    p.write_bytes(content)
    with pytest.raises(ValidationError, match=match):
        read_idx(p)


def test_missing_file(tmp_path):
    with pytest.raises(ValidationError, match="does not exist"):
        read_idx(tmp_path / "nope.idx")
    with pytest.raises(ValidationError, match="directory"):
        read_idx(tmp_path)


def test_errors_are_value_errors(tmp_path):
    p = tmp_path / "x.idx"
    p.write_bytes(b"junk")
    with pytest.raises(ValueError):
        read_idx(p)


# --------------------------------------------------------------------------- #
# Checksums
# --------------------------------------------------------------------------- #

def test_sha256_of_file_and_of_payload_accepted(tmp_path):
    a = np.arange(100, dtype=np.uint8)
    p = write_idx(tmp_path / "x.idx.gz", a)
    raw = p.read_bytes()
    np.testing.assert_array_equal(read_idx(p, sha256=sha(raw)), a)
    np.testing.assert_array_equal(read_idx(p, sha256=sha(gzip.decompress(raw)).upper()), a)


def test_sha256_mismatch(tmp_path):
    p = write_idx(tmp_path / "x.idx", np.arange(5, dtype=np.uint8))
    with pytest.raises(ValidationError, match=r"Checksum mismatch.*expected SHA-256 0{64}, got [0-9a-f]{64}"):
        read_idx(p, sha256="0" * 64)


def test_sha256_malformed(tmp_path):
    p = write_idx(tmp_path / "x.idx", np.arange(5, dtype=np.uint8))
    with pytest.raises(ValidationError, match="64-character"):
        read_idx(p, sha256="abc")


def test_known_name_verified_automatically(tmp_path):
    fake = write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", np.zeros(10, dtype=np.uint8))
    with pytest.raises(ValidationError, match="standard fashion-mnist, mnist file.*verify=False"):
        read_idx(fake)
    assert read_idx(fake, verify=False).shape == (10,)
    # The dotted spelling and the uncompressed name are recognised too.
    for name in ("t10k-labels.idx1-ubyte", "t10k-labels-idx1-ubyte"):
        other = write_idx(tmp_path / name, np.zeros(10, dtype=np.uint8))
        with pytest.raises(ValidationError, match="Checksum mismatch"):
            read_idx(other)


def test_known_checksums_match_shared_sha256sums():
    """The embedded table agrees with every SHA256SUMS file in the shared data folder."""
    sums = sorted(DATA.glob("*/SHA256SUMS"))
    if not sums:
        pytest.skip(f"no SHA256SUMS under {DATA}")
    for listing in sums:
        for line in listing.read_text().splitlines():
            if not line.strip():
                continue
            digest, name = line.split()
            versions = datasets.KNOWN_SHA256[name[:-3] if name.endswith(".gz") else name]
            assert digest in {gz for _, gz, _ in versions}, (listing, name)


# --------------------------------------------------------------------------- #
# Loaders on synthetic files
# --------------------------------------------------------------------------- #

def make_idx_folder(folder, n_train=6, n_test=4, train_images_name="train-images-idx3-ubyte.gz",
                    n_train_labels=None):
    rng = np.random.default_rng(1)
    folder.mkdir(exist_ok=True)
    write_idx(folder / train_images_name, rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte.gz",
              rng.integers(0, 10, n_train_labels or n_train).astype(np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte", rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte", rng.integers(0, 10, n_test).astype(np.uint8))
    return folder


def test_load_mnist_synthetic(tmp_path):
    folder = make_idx_folder(tmp_path / "m")
    with pytest.raises(ValidationError, match="Checksum mismatch"):
        load_mnist(folder)            # standard names, non-standard content
    data = load_mnist(folder, verify=False)
    assert isinstance(data, Dataset)
    assert data.X.shape == (6, 784) and data.X.dtype == np.float32
    assert data.y.shape == (6,) and data.y.dtype == np.int64
    assert 0.0 <= data.X.min() and data.X.max() <= 1.0
    raw = read_idx(folder / "train-images-idx3-ubyte.gz", verify=False)
    np.testing.assert_allclose(data.X, raw.reshape(6, -1) / 255.0, rtol=1e-6)
    X, y = load_mnist(folder, kind="test", verify=False)      # unpacks as a pair
    assert X.shape == (4, 784) and y.shape == (4,)
    assert data.task == "classification" and data.n_classes == 10 and data.split == "train"
    assert "mnist" in repr(data)


def test_load_mnist_prefix_subset_truncates_labels(tmp_path):
    folder = make_idx_folder(tmp_path / "m", n_train=5, n_train_labels=9,
                             train_images_name="train-images-first1k-idx3-ubyte.gz")
    labels = read_idx(folder / "train-labels-idx1-ubyte.gz", verify=False)
    X, y = load_mnist(folder, verify=False)
    assert X.shape == (5, 784)
    np.testing.assert_array_equal(y, labels[:5])


def test_load_mnist_count_mismatch_is_an_error(tmp_path):
    folder = make_idx_folder(tmp_path / "m", n_train=5, n_train_labels=9)
    with pytest.raises(ValidationError, match="5 images but .* 9 labels"):
        load_mnist(folder, verify=False)


def test_load_mnist_bad_arguments(tmp_path):
    with pytest.raises(ValidationError, match="'train' or 'test'"):
        load_mnist(tmp_path, kind="validation")
    with pytest.raises(ValidationError, match="never downloads"):
        load_mnist(None)
    with pytest.raises(ValidationError, match="not a directory"):
        load_mnist(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValidationError, match=r"missing train-images-idx3-ubyte\[.gz\], train-labels"):
        load_mnist(tmp_path / "empty")


def test_fashion_mnist_not_found_lists_search_paths(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "FASHION_MNIST_SEARCH_PATHS", (str(tmp_path / "a"), str(tmp_path / "b")))
    with pytest.raises(ValidationError, match=r"looked in: .*a, .*b.*apt-get install dataset-fashion-mnist"):
        load_fashion_mnist()


def test_fashion_mnist_search_path_used(tmp_path, monkeypatch):
    folder = make_idx_folder(tmp_path / "f")
    monkeypatch.setattr(datasets, "FASHION_MNIST_SEARCH_PATHS", (str(tmp_path / "none"), str(folder)))
    data = load_fashion_mnist(kind="test", verify=False)
    assert data.X.shape == (4, 784) and data.target_names[9] == "Ankle boot"
    assert data.source == str(folder)


def test_load_mnist1d_npz_errors(tmp_path):
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValidationError, match="npz"):
        load_mnist1d(bad)
    partial = tmp_path / "partial.npz"
    np.savez(partial, x=np.zeros((3, 40)), y=np.zeros(3, dtype=np.int64))
    with pytest.raises(ValidationError, match=r"lacks the arrays \['x_test', 'y_test'\]"):
        load_mnist1d(partial)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, x=np.array([{}], dtype=object), y=np.zeros(1), x_test=np.zeros(1), y_test=np.zeros(1))
    with pytest.raises(ValidationError):
        load_mnist1d(pickled)


def test_load_mnist1d_npz_synthetic(tmp_path):
    p = tmp_path / "mine.npz"
    rng = np.random.default_rng(0)
    np.savez(p, x=rng.normal(size=(8, 40)), y=np.arange(8) % 10, x_test=rng.normal(size=(2, 40)),
             y_test=np.array([3, 4]))
    X, y = load_mnist1d(p, kind="test")
    assert X.dtype == np.float32 and X.shape == (2, 40)
    np.testing.assert_array_equal(y, [3, 4])


def test_load_name_errors():
    with pytest.raises(ValidationError, match="Unknown data set 'cifar10'"):
        load("cifar10")
    with pytest.raises(ValidationError, match="must be a str"):
        load(3)


# --------------------------------------------------------------------------- #
# Real files (skipped when the shared data folder or the Debian package is absent)
# --------------------------------------------------------------------------- #

@needs(MNIST / "t10k-images-idx3-ubyte.gz")
def test_real_mnist_test():
    data = load_mnist(MNIST, kind="test")
    assert data.X.shape == (10000, 784) and data.X.dtype == np.float32
    assert data.X.min() == 0.0 and data.X.max() == 1.0
    np.testing.assert_array_equal(np.bincount(data.y),
                                  [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009])
    np.testing.assert_array_equal(data.y[:5], [7, 2, 1, 0, 4])


@needs(MNIST / "train-images-first10k-idx3-ubyte.gz")
def test_real_mnist_train_first10k():
    X, y = load(" MNIST", path=MNIST)
    assert X.shape == (10000, 784) and y.shape == (10000,)
    np.testing.assert_array_equal(y[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    np.testing.assert_array_equal(np.bincount(y), [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978])
    full = read_idx(MNIST / "train-labels-idx1-ubyte.gz")
    assert full.shape == (60000,)
    np.testing.assert_array_equal(y, full[:10000])


@needs(FASHION / "t10k-images-idx3-ubyte.gz")
@pytest.mark.parametrize("kind, n", [("train", 60000), ("test", 10000)])
def test_real_fashion_mnist(kind, n):
    data = load("fashion-mnist", path=FASHION, kind=kind)
    assert data.X.shape == (n, 784) and data.y.dtype == np.int64
    np.testing.assert_array_equal(np.bincount(data.y), [n // 10] * 10)
    assert data.name == "fashion_mnist"


@needs(DEBIAN_FASHION / "t10k-labels-idx1-ubyte.gz")
def test_debian_fashion_mnist_default_path():
    """Debian's copies have rewritten gzip headers: verified through the payload checksums."""
    X, y = load_fashion_mnist(kind="test")
    assert X.shape == (10000, 784)
    if (FASHION / "t10k-labels-idx1-ubyte.gz").exists():
        X2, y2 = load_fashion_mnist(FASHION, kind="test")
        np.testing.assert_array_equal(y, y2)
        np.testing.assert_array_equal(X, X2)


@needs(MNIST1D)
def test_real_mnist1d_npz():
    train = load_mnist1d(MNIST1D)
    test = load("mnist1d", path=MNIST1D.parent, kind="test")
    assert train.X.shape == (4000, 40) and test.X.shape == (1000, 40)
    assert train.X.dtype == np.float32 and train.y.dtype == np.int64
    # sha256 of the label arrays, from the data folder's README
    assert sha(train.y.tobytes()) == "d97dc7aecec8ad6b5d8f143ba3e9c4bd7e25c420d7dfc2eb990591cfc0ed3e15"
    assert sha(test.y.tobytes()) == "8de99be3ff9dab15ae0dc072c3d6ced7cf6b33d365888ce4a386fc944489452c"


# --------------------------------------------------------------------------- #
# scikit-learn sets
# --------------------------------------------------------------------------- #

@pytest.mark.parametrize("name, shape, task, n_classes", [
    ("digits", (1797, 64), "classification", 10),
    ("iris", (150, 4), "classification", 3),
    ("wine", (178, 13), "classification", 3),
    ("breast_cancer", (569, 30), "classification", 2),
    ("Breast-Cancer", (569, 30), "classification", 2),
    ("diabetes", (442, 10), "regression", None),
])
def test_sklearn_sets(name, shape, task, n_classes):
    pytest.importorskip("sklearn")
    data = load(name)
    assert data.X.shape == shape and data.X.dtype == np.float32
    assert data.task == task and data.n_classes == n_classes and data.split == "all"
    assert data.y.shape == (shape[0],)
    if task == "classification":
        assert data.y.dtype == np.int64
        assert set(np.unique(data.y)) == set(range(n_classes))
        assert len(data.target_names) == n_classes
    else:
        assert data.y.dtype == np.float32 and data.target_names is None
    X, y = data
    assert X is data.X and y is data.y


def test_sklearn_sets_reject_split_and_path():
    pytest.importorskip("sklearn")
    with pytest.raises(ValidationError, match="no train/test split"):
        load("iris", kind="train")
    with pytest.raises(ValidationError, match="'path' does not apply"):
        load("iris", path="/tmp")
    assert load("iris", kind="all").n_samples == 150


# --------------------------------------------------------------------------- #
# MNIST-1D generated by the mnist1d package
# --------------------------------------------------------------------------- #

def test_mnist1d_generated():
    pytest.importorskip("mnist1d")
    random.seed(123)
    np.random.seed(123)
    before = (random.random(), np.random.random())
    random.seed(123)
    np.random.seed(123)
    train = load_mnist1d(kind="train")
    after = (random.random(), np.random.random())
    assert before == after, "load_mnist1d must not change the global random states"
    test = load_mnist1d(kind="test")
    assert train.X.shape == (4000, 40) and test.X.shape == (1000, 40)
    assert train.X.dtype == np.float32 and train.y.dtype == np.int64
    assert set(np.unique(train.y)) == set(range(10))
    assert "seed=42" in train.source
    # Results are copies: changing one does not change the next call.
    train.X[:] = 0
    assert load_mnist1d().X.any()
    if MNIST1D.exists():  # seed 42 regenerates the authors' frozen data set
        frozen = load_mnist1d(MNIST1D)
        np.testing.assert_array_equal(train.y, frozen.y)
        np.testing.assert_allclose(load_mnist1d().X, frozen.X, atol=1e-6)


def test_mnist1d_seed():
    pytest.importorskip("mnist1d")
    a, b = load_mnist1d(seed=1, kind="test"), load_mnist1d(seed=1, kind="test")
    np.testing.assert_array_equal(a.X, b.X)
    assert not np.array_equal(a.X, load_mnist1d(seed=2, kind="test").X)
    with pytest.raises(ValidationError, match="non-negative int"):
        load_mnist1d(seed=-1)


def test_mnist1d_missing_package_message(monkeypatch):
    import sys

    datasets._generate_mnist1d.cache_clear()
    monkeypatch.setitem(sys.modules, "mnist1d", None)
    monkeypatch.setitem(sys.modules, "mnist1d.data", None)
    try:
        with pytest.raises(ImportError, match=r"pip install 'glassnet\[datasets\]'"):
            load_mnist1d(seed=7)
    finally:
        datasets._generate_mnist1d.cache_clear()
