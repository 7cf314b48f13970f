"""Small, offline data sets for examples, tests and benchmarks.

Nothing here downloads anything. Every loader reads files that are already on
disk (or, for MNIST-1D, generates the data procedurally) and returns a
:class:`Dataset`.

Return convention
-----------------
Every loader returns a :class:`Dataset`: a frozen record with the arrays ``X``
(float32, shape ``(n_samples, n_features)``) and ``y`` (int64 class indices for
classification, float32 targets for regression), the ``task``
(``"classification"`` or ``"regression"``), the ``split`` it holds
(``"train"``, ``"test"`` or ``"all"``), ``n_classes`` and a few descriptive
fields. It unpacks like a pair, so both styles work::

    data = load_mnist("/data/mnist", kind="test")
    data.X.shape, data.task            # ((10000, 784), 'classification')
    X, y = load_mnist("/data/mnist", kind="test")

Loaders of data sets that come with a train/test split take ``kind="train"``
or ``kind="test"``; call them twice to get both halves.

File formats
------------
MNIST and Fashion-MNIST use the IDX format (read by :func:`read_idx`, gzip
compressed or plain). Files with one of the standard names are checked
against embedded SHA-256 sums (:data:`KNOWN_SHA256`) unless ``verify=False``.

Optional packages (imported only by the functions that need them):

* ``scikit-learn`` for the small tabular sets of :func:`load`
  ("digits", "iris", "wine", "breast_cancer", "diabetes");
* ``mnist1d`` to generate MNIST-1D when no file is given.

Both come with ``pip install 'glassnet[datasets]'``. Fashion-MNIST is found
without any argument when Debian's ``dataset-fashion-mnist`` package is
installed (``apt-get install dataset-fashion-mnist``, files in
``/usr/share/datasets/fashion-mnist``).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import re
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glassnet.backend.checks import check_path
from glassnet.backend.errors import ValidationError

__all__ = [
    "Dataset",
    "KNOWN_SHA256",
    "FASHION_MNIST_SEARCH_PATHS",
    "NAMES",
    "read_idx",
    "write_idx",
    "load_mnist",
    "load_fashion_mnist",
    "load_mnist1d",
    "load",
]

# --------------------------------------------------------------------------- #
# Checksums
# --------------------------------------------------------------------------- #

#: SHA-256 sums of the standard files, keyed by file name without ``.gz``.
#: Each entry lists the known versions as ``(dataset, sha256 of the .gz file,
#: sha256 of the uncompressed IDX payload)``. A file passes automatic
#: verification when the hash of its bytes on disk or of its decompressed
#: payload equals one of the listed values, so re-compressed copies (Debian
#: rewrites the gzip headers) and gunzipped copies pass too. MNIST and
#: Fashion-MNIST share file names, hence several versions per name.
#: Sources: the SHA256SUMS files of the project's shared data folder, the
#: upstream MNIST / Fashion-MNIST distributions, and for ``mnist1d_data.npz``
#: the npz converted from the authors' pickle.
KNOWN_SHA256: dict[str, tuple[tuple[str, str, str], ...]] = {
    "train-images-idx3-ubyte": (
        ("mnist",
         "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
         "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db"),
        ("fashion-mnist",
         "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
         "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888"),
    ),
    "train-labels-idx1-ubyte": (
        ("mnist",
         "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
         "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5"),
        ("fashion-mnist",
         "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
         "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9"),
    ),
    "t10k-images-idx3-ubyte": (
        ("mnist",
         "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
         "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7"),
        ("fashion-mnist",
         "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
         "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b"),
    ),
    "t10k-labels-idx1-ubyte": (
        ("mnist",
         "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
         "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2"),
        ("fashion-mnist",
         "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
         "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34"),
    ),
    # The first 10,000 MNIST training images (a reconstructed subset).
    "train-images-first10k-idx3-ubyte": (
        ("mnist",
         "373dd205f0b61550d5708369902aa4722afeac30fea9ee2b19e42c1a65d91901",
         "2889698e6bc3614913e76901316712919d1998fc2b44512451bfe65bc1e668b1"),
    ),
    # MNIST-1D, 4000 train / 1000 test (an npz file: no separate payload).
    "mnist1d_data.npz": (
        ("mnist1d",
         "c33e1c51ad6d7b4548f8019b536e5bf40f0cf805c1b83b2b3045e8a79045408a",
         "c33e1c51ad6d7b4548f8019b536e5bf40f0cf805c1b83b2b3045e8a79045408a"),
    ),
}

#: Folders :func:`load_fashion_mnist` searches when no path is given.
#: ``/usr/share/datasets/fashion-mnist`` is where Debian's
#: ``dataset-fashion-mnist`` package installs the four files.
FASHION_MNIST_SEARCH_PATHS: tuple[str, ...] = (
    "/usr/share/datasets/fashion-mnist",
    "/usr/local/share/datasets/fashion-mnist",
)

_FASHION_CLASSES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot")
_DIGIT_CLASSES = tuple(str(d) for d in range(10))

_SKLEARN_SETS = {
    # name: (sklearn loader, task)
    "digits": ("load_digits", "classification"),
    "iris": ("load_iris", "classification"),
    "wine": ("load_wine", "classification"),
    "breast_cancer": ("load_breast_cancer", "classification"),
    "diabetes": ("load_diabetes", "regression"),
}

#: Names accepted by :func:`load`.
NAMES: tuple[str, ...] = (*_SKLEARN_SETS, "mnist", "fashion_mnist", "mnist1d")


# --------------------------------------------------------------------------- #
# The returned record
# --------------------------------------------------------------------------- #

@dataclass(frozen=True, eq=False)
class Dataset:
    """A data set split, as returned by every loader of this module.

    Unpacks like the pair ``(X, y)``: ``X, y = load("iris")``.

    Attributes
    ----------
    X : numpy.ndarray
        Features, float32, shape ``(n_samples, n_features)``.
    y : numpy.ndarray
        Targets, shape ``(n_samples,)``: int64 class indices in
        ``[0, n_classes)`` for classification, float32 for regression.
    task : {"classification", "regression"}
        What ``y`` holds.
    name : str
        Canonical data set name (one of :data:`NAMES`).
    split : {"train", "test", "all"}
        Which part of the data set this is; ``"all"`` for sets that come
        without a split.
    n_classes : int or None
        Number of classes; None for regression.
    target_names : tuple of str or None
        Class names, index ``i`` naming class ``i``; None for regression.
    source : str
        Where the data came from (a path, a package, or a generator call).
    """

    X: np.ndarray
    y: np.ndarray
    task: str
    name: str
    split: str
    n_classes: int | None
    target_names: tuple[str, ...] | None = None
    source: str = ""

    def __iter__(self):
        return iter((self.X, self.y))

    @property
    def n_samples(self) -> int:
        """Number of rows of ``X``."""
        return int(self.X.shape[0])

    @property
    def n_features(self) -> int:
        """Number of columns of ``X``."""
        return int(self.X.shape[1])

    def __repr__(self) -> str:
        extra = f", n_classes={self.n_classes}" if self.n_classes is not None else ""
        return (f"Dataset(name={self.name!r}, split={self.split!r}, task={self.task!r}, "
                f"X={self.X.dtype}{list(self.X.shape)}, y={self.y.dtype}{list(self.y.shape)}{extra})")


# --------------------------------------------------------------------------- #
# IDX files
# --------------------------------------------------------------------------- #

_IDX_DTYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _known_key(path: Path) -> str:
    """Key of ``KNOWN_SHA256`` for a file name (``.gz`` dropped, ``.idx`` -> ``-idx``)."""
    name = path.name
    if name.endswith(".gz"):
        name = name[:-3]
    return name.replace(".idx", "-idx")


def _check_hashes(path: Path, raw: bytes, payload: bytes, *, sha256, verify: bool) -> None:
    """Verify an explicit ``sha256`` and, when ``verify``, the known-name table."""
    file_hash = hashlib.sha256(raw).hexdigest()
    payload_hash = file_hash if payload is raw else hashlib.sha256(payload).hexdigest()
    if sha256 is not None:
        if not isinstance(sha256, str) or not re.fullmatch(r"[0-9a-fA-F]{64}", sha256.strip()):
            raise ValidationError(
                f"The 'sha256' argument must be a 64-character hexadecimal SHA-256 digest. "
                f"Got {sha256!r}. Pass the value printed by `sha256sum FILE`, or None to skip the check.")
        want = sha256.strip().lower()
        if want not in (file_hash, payload_hash):
            got = file_hash if payload is raw else f"{file_hash} (file) / {payload_hash} (decompressed)"
            raise ValidationError(
                f"Checksum mismatch for {path}: expected SHA-256 {want}, got {got}. "
                f"The file is corrupted, truncated or a different file; fetch it again, "
                f"or pass the right 'sha256'.")
    if not verify:
        return
    versions = KNOWN_SHA256.get(_known_key(path))
    if not versions:
        return
    if any(file_hash in (gz, pl) or payload_hash in (gz, pl) for _, gz, pl in versions):
        return
    names = ", ".join(sorted({ds for ds, _, _ in versions}))
    raise ValidationError(
        f"Checksum mismatch for {path}: a file named {path.name!r} is a standard {names} file, "
        f"but its SHA-256 ({file_hash}"
        + ("" if payload is raw else f", decompressed {payload_hash}")
        + ") matches no known version (glassnet.adapters.datasets.KNOWN_SHA256). The file is corrupted, "
        "truncated or altered; fetch it again, or pass verify=False if you trust this copy.")


def _read_bytes(path) -> tuple[Path, bytes]:
    p = Path(check_path(path, "the dataset reader")).expanduser()
    if not p.is_file():
        where = "is a directory, not a file" if p.is_dir() else "does not exist"
        raise ValidationError(f"Cannot read {p}: the path {where}. Check the path.")
    return p, p.read_bytes()


def read_idx(path, *, sha256: str | None = None, verify: bool = True) -> np.ndarray:
    """Read an IDX file (the MNIST format), gzip-compressed or plain.

    Compression is detected from the magic bytes, not from the file name.

    Parameters
    ----------
    path : str or os.PathLike
        The file to read.
    sha256 : str, optional
        Expected SHA-256 hex digest, of the file as stored (what
        ``sha256sum`` prints) or of its decompressed IDX payload. A mismatch
        raises :class:`~glassnet.errors.ValidationError`.
    verify : bool, default True
        When the file has one of the standard MNIST / Fashion-MNIST names
        (see :data:`KNOWN_SHA256`), check it against the known checksums.
        Pass False for your own files that happen to have a standard name.

    Returns
    -------
    numpy.ndarray
        The array, with the shape stored in the header and the stored element
        type in native byte order (uint8, int8, int16, int32, float32 or
        float64). The array is writable and owns its data.

    Raises
    ------
    ValidationError
        If the file is missing, not valid gzip, truncated, has a bad IDX
        header (magic, type code, number of dimensions), a size that does not
        match its dimensions, or a checksum mismatch.

    Notes
    -----
    An IDX file is: two zero bytes, a type code byte, the number of
    dimensions ``d``, ``d`` big-endian uint32 sizes, then the data, big-endian,
    row-major. MNIST images are type 0x08 (uint8) with ``d = 3``.

    Examples
    --------
    >>> images = read_idx("t10k-images-idx3-ubyte.gz")   # doctest: +SKIP
    >>> images.shape, images.dtype  # doctest: +SKIP
    ((10000, 28, 28), dtype('uint8'))
    """
    p, raw = _read_bytes(path)
    payload = raw
    if raw[:2] == _GZIP_MAGIC:
        try:
            payload = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValidationError(
                f"Cannot read {p}: it starts like a gzip file but is corrupted or truncated "
                f"({type(exc).__name__}: {exc}). Expected a complete gzip-compressed IDX file; "
                f"fetch the file again.") from None
    _check_hashes(p, raw, payload, sha256=sha256, verify=verify)

    n = len(payload)
    if n < 4:
        raise ValidationError(
            f"Cannot read {p}: {n} bytes is too short for an IDX header (at least 4 bytes expected). "
            f"The file is empty or truncated.")
    zero, code, ndim = payload[0:2], payload[2], payload[3]
    if zero != b"\x00\x00" or code not in _IDX_DTYPES:
        raise ValidationError(
            f"Cannot read {p}: not an IDX file. Expected a magic number 0x0000TTDD with type code TT in "
            f"{{{', '.join(f'0x{c:02X}' for c in _IDX_DTYPES)}}}, got 0x{payload[:4].hex().upper()}. "
            f"Check that this is an MNIST-style .idx (or .idx.gz) file.")
    if ndim == 0:
        raise ValidationError(
            f"Cannot read {p}: the IDX header declares 0 dimensions (expected at least 1). "
            f"The file is corrupted.")
    header = 4 + 4 * ndim
    if n < header:
        raise ValidationError(
            f"Cannot read {p}: truncated header; {ndim} dimensions need {header} header bytes, "
            f"the file has {n}. Fetch the file again.")
    dims = tuple(int(d) for d in np.frombuffer(payload, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_DTYPES[code]
    count = int(np.prod(dims, dtype=np.int64)) if dims else 0
    expected = header + count * dtype.itemsize
    if n != expected:
        what = "truncated" if n < expected else "longer than its header says"
        raise ValidationError(
            f"Cannot read {p}: the file is {what}. Its header declares dimensions {dims} of "
            f"{dtype.name} ({expected} bytes in all), but the (decompressed) file has {n} bytes. "
            f"Fetch the file again.")
    arr = np.frombuffer(payload, dtype=dtype, count=count, offset=header)
    return arr.astype(dtype.newbyteorder("="), copy=True).reshape(dims)


def write_idx(path, array, *, compress: bool | None = None) -> Path:
    """Write an array to an IDX file (the inverse of :func:`read_idx`).

    Parameters
    ----------
    path : str or os.PathLike
        Destination file; overwritten if it exists.
    array : array_like
        Data of dtype uint8, int8, int16, int32, float32 or float64, with at
        least one dimension.
    compress : bool, optional
        Gzip the file. Default: True when ``path`` ends with ``.gz``.

    Returns
    -------
    pathlib.Path
        The path written.
    """
    a = np.asarray(array)
    codes = {v.newbyteorder("="): k for k, v in _IDX_DTYPES.items()}
    code = codes.get(a.dtype.newbyteorder("="))
    if code is None:
        raise ValidationError(
            f"write_idx cannot store dtype {a.dtype}: expected one of uint8, int8, int16, int32, "
            f"float32, float64. Convert the array with .astype() first.")
    if a.ndim == 0 or a.ndim > 255 or any(s >= 2**32 for s in a.shape):
        raise ValidationError(
            f"write_idx needs an array with 1 to 255 dimensions, each below 2**32; got shape {a.shape}.")
    p = Path(path)
    data = (bytes([0, 0, code, a.ndim]) + np.asarray(a.shape, dtype=">u4").tobytes()
            + np.ascontiguousarray(a, dtype=_IDX_DTYPES[code]).tobytes())
    if compress is None:
        compress = p.name.endswith(".gz")
    if compress:
        data = gzip.compress(data, mtime=0)
    p.write_bytes(data)
    return p


# --------------------------------------------------------------------------- #
# MNIST and Fashion-MNIST
# --------------------------------------------------------------------------- #

_SUBSET = re.compile(r"-first\d+k-")


def _check_kind(kind, caller) -> str:
    if kind not in ("train", "test"):
        raise ValidationError(
            f"The 'kind' parameter of {caller} must be 'train' or 'test'. Got {kind!r} instead.")
    return kind


def _find(folder: Path, stems: list[str]) -> Path | None:
    for stem in stems:
        for name in (stem + ".gz", stem):
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


def _load_idx_split(folder, kind: str, *, name: str, verify: bool, classes) -> Dataset:
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ValidationError(
            f"The {name} folder {folder} does not exist or is not a directory. Pass the folder that "
            f"holds the IDX files (e.g. train-images-idx3-ubyte.gz).")
    prefix = "train" if kind == "train" else "t10k"
    image_stems = [f"{prefix}-images-idx3-ubyte", f"{prefix}-images.idx3-ubyte"]
    if kind == "train":
        # Prefix subsets such as train-images-first10k-idx3-ubyte.gz, largest first.
        subsets = sorted((p for p in folder.glob("train-images-first*k-idx3-ubyte*")),
                         key=lambda p: -int(re.search(r"first(\d+)k", p.name).group(1)))
        image_stems += [_known_key(p) for p in subsets]
    label_stems = [f"{prefix}-labels-idx1-ubyte", f"{prefix}-labels.idx1-ubyte"]
    images_path, labels_path = _find(folder, image_stems), _find(folder, label_stems)
    missing = [stems[0] + "[.gz]" for stems, found in ((image_stems, images_path), (label_stems, labels_path))
               if found is None]
    if missing:
        raise ValidationError(
            f"Cannot load the {name} {kind} split from {folder}: missing {', '.join(missing)}. "
            f"Found: {sorted(p.name for p in folder.iterdir()) or 'nothing'}. "
            f"Pass the folder that holds the four IDX files.")
    images = read_idx(images_path, verify=verify)
    labels = read_idx(labels_path, verify=verify)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise ValidationError(
            f"{images_path} should hold uint8 images of shape (n, rows, cols); got {images.dtype} "
            f"of shape {images.shape}.")
    if labels.ndim != 1 or labels.dtype != np.uint8:
        raise ValidationError(
            f"{labels_path} should hold uint8 labels of shape (n,); got {labels.dtype} of shape {labels.shape}.")
    if len(images) != len(labels):
        if len(images) < len(labels) and _SUBSET.search(images_path.name):
            # A prefix subset of the training images (e.g. the first 10,000):
            # its labels are the first len(images) entries of the full label file.
            labels = labels[: len(images)]
        else:
            raise ValidationError(
                f"{images_path.name} holds {len(images)} images but {labels_path.name} holds "
                f"{len(labels)} labels; they must match. Check that both files belong to the same "
                f"data set and split.")
    if labels.size and labels.max() >= len(classes):
        raise ValidationError(
            f"{labels_path} has label {int(labels.max())}; expected labels 0..{len(classes) - 1}.")
    X = images.reshape(len(images), -1).astype(np.float32)
    X /= np.float32(255.0)
    return Dataset(X=X, y=labels.astype(np.int64), task="classification", name=name, split=kind,
                   n_classes=len(classes), target_names=classes, source=str(images_path.parent))


def load_mnist(path, *, kind: str = "train", verify: bool = True) -> Dataset:
    """Load MNIST handwritten digits from a folder of IDX files.

    Parameters
    ----------
    path : str or os.PathLike
        Folder holding ``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``,
        ``t10k-images-idx3-ubyte.gz`` and ``t10k-labels-idx1-ubyte.gz`` (each
        may also be uncompressed, or use the ``train-images.idx3-ubyte``
        spelling). Nothing is downloaded.
    kind : {"train", "test"}, default "train"
        Which split to load.
    verify : bool, default True
        Check files with standard names against :data:`KNOWN_SHA256`.

    Returns
    -------
    Dataset
        ``X`` float32 of shape ``(n, 784)`` scaled to [0, 1] (pixel / 255),
        ``y`` int64 digits 0..9; unpacks as ``X, y``.

    Notes
    -----
    When the full training images are absent but a prefix subset named like
    ``train-images-first10k-idx3-ubyte.gz`` is present (the first 10,000
    training images, as in the project's shared data folder), that subset is
    used and the 60,000 training labels are truncated to its length: labels
    ``0..n-1`` belong to images ``0..n-1``. Any other count mismatch between
    images and labels is an error.

    Examples
    --------
    >>> X, y = load_mnist("/data/mnist", kind="test")   # doctest: +SKIP
    >>> X.shape, y[:5]  # doctest: +SKIP
    ((10000, 784), array([7, 2, 1, 0, 4]))
    """
    _check_kind(kind, "load_mnist")
    if path is None:
        raise ValidationError(
            "load_mnist needs 'path', the folder with the MNIST IDX files; glassnet never downloads "
            "data. Fetch the four files (e.g. train-images-idx3-ubyte.gz) and pass their folder.")
    return _load_idx_split(path, kind, name="mnist", verify=verify, classes=_DIGIT_CLASSES)


def load_fashion_mnist(path=None, *, kind: str = "train", verify: bool = True) -> Dataset:
    """Load Fashion-MNIST (Zalando article images, 10 classes).

    Parameters
    ----------
    path : str or os.PathLike, optional
        Folder holding the four IDX files (same names as MNIST). When None,
        the folders of :data:`FASHION_MNIST_SEARCH_PATHS` are searched; the
        first is where Debian's ``dataset-fashion-mnist`` package installs
        them (``apt-get install dataset-fashion-mnist``). Nothing is
        downloaded.
    kind : {"train", "test"}, default "train"
        Which split to load (60,000 or 10,000 images).
    verify : bool, default True
        Check files against :data:`KNOWN_SHA256`. Debian's copies have
        rewritten gzip headers; they pass through their decompressed payload
        checksums.

    Returns
    -------
    Dataset
        ``X`` float32 of shape ``(n, 784)`` in [0, 1], ``y`` int64 in 0..9;
        ``target_names`` holds the class names ("T-shirt/top", ..., "Ankle boot").

    Raises
    ------
    ValidationError
        If ``path`` is None and no search folder holds the files (the message
        lists the folders searched), or if a file is missing or damaged.
    """
    _check_kind(kind, "load_fashion_mnist")
    if path is None:
        prefix = "train" if kind == "train" else "t10k"
        for candidate in FASHION_MNIST_SEARCH_PATHS:
            folder = Path(candidate)
            if (_find(folder, [f"{prefix}-images-idx3-ubyte"]) is not None
                    and _find(folder, [f"{prefix}-labels-idx1-ubyte"]) is not None):
                path = folder
                break
        else:
            raise ValidationError(
                "Fashion-MNIST was not found; looked in: " + ", ".join(FASHION_MNIST_SEARCH_PATHS)
                + f" (for {prefix}-images-idx3-ubyte[.gz] and {prefix}-labels-idx1-ubyte[.gz]). "
                "Install Debian's package (apt-get install dataset-fashion-mnist) or pass path= "
                "the folder with the IDX files. glassnet never downloads data.")
    return _load_idx_split(path, kind, name="fashion_mnist", verify=verify, classes=_FASHION_CLASSES)


# --------------------------------------------------------------------------- #
# MNIST-1D
# --------------------------------------------------------------------------- #

@functools.lru_cache(maxsize=4)
def _generate_mnist1d(seed: int):
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:
        raise ModuleNotFoundError(
            "glassnet.adapters.datasets.load_mnist1d needs the 'mnist1d' package to generate MNIST-1D: "
            "pip install 'glassnet[datasets]' (or pip install mnist1d), or pass path= a saved "
            f"mnist1d_data.npz. ({exc})") from exc
    import random

    args = get_dataset_args()
    args.seed = seed
    # make_dataset reseeds the global `random` and `numpy.random` generators;
    # restore them so that loading data has no side effect on the caller.
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(args)  # procedural: never downloads
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    return tuple(np.asarray(data[k]) for k in ("x", "y", "x_test", "y_test"))


def load_mnist1d(path=None, *, kind: str = "train", seed: int = 42, verify: bool = True) -> Dataset:
    """Load MNIST-1D: 10 classes of length-40 1-D signals (4000 train / 1000 test).

    Parameters
    ----------
    path : str or os.PathLike, optional
        An ``.npz`` file with arrays ``x``, ``y``, ``x_test``, ``y_test``
        (such as ``mnist1d_data.npz``), or a folder holding
        ``mnist1d_data.npz``. Read with ``allow_pickle=False``. When None,
        the data set is generated with the ``mnist1d`` package's procedural
        ``make_dataset`` (no download); with the default ``seed=42`` this
        reproduces the authors' frozen data set (identical labels, signals
        within 1e-15).
    kind : {"train", "test"}, default "train"
        Which split to return.
    seed : int, default 42
        Seed of the generator; ignored when ``path`` is given. The global
        ``random`` / ``numpy.random`` states are left untouched.
    verify : bool, default True
        Check a file named ``mnist1d_data.npz`` against :data:`KNOWN_SHA256`.

    Returns
    -------
    Dataset
        ``X`` float32 of shape ``(n, 40)`` (standardised signals), ``y`` int64 in 0..9.

    Raises
    ------
    ImportError
        If ``path`` is None and the ``mnist1d`` package is not installed.
    ValidationError
        If the file is missing, damaged or lacks the expected arrays.
    """
    _check_kind(kind, "load_mnist1d")
    if path is None:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValidationError(f"The 'seed' parameter of load_mnist1d must be a non-negative int. Got {seed!r}.")
        x, y, x_test, y_test = _generate_mnist1d(int(seed))
        source = f"mnist1d.data.make_dataset(seed={int(seed)})"
    else:
        p = Path(path).expanduser()
        if p.is_dir():
            p = p / "mnist1d_data.npz"
        p, raw = _read_bytes(p)
        _check_hashes(p, raw, raw, sha256=None, verify=verify)
        try:
            import io
            with np.load(io.BytesIO(raw), allow_pickle=False) as npz:
                missing = [k for k in ("x", "y", "x_test", "y_test") if k not in npz.files]
                if missing:
                    raise ValidationError(
                        f"{p} lacks the arrays {missing}; expected an MNIST-1D npz with x, y, x_test, "
                        f"y_test. Found: {npz.files}.")
                x, y, x_test, y_test = (npz[k] for k in ("x", "y", "x_test", "y_test"))
        except ValidationError:
            raise
        except Exception as exc:  # zipfile.BadZipFile, ValueError (pickled objects), OSError
            raise ValidationError(
                f"Cannot read {p} as an .npz archive of plain arrays ({type(exc).__name__}: {exc}). "
                f"The file is corrupted or not an MNIST-1D npz.") from None
        source = str(p)
    X, Y = (x, y) if kind == "train" else (x_test, y_test)
    X = np.array(X, dtype=np.float32).reshape(len(X), -1)
    Y = np.array(Y, dtype=np.int64).reshape(-1)
    if len(X) != len(Y):
        raise ValidationError(f"MNIST-1D {kind} split has {len(X)} signals but {len(Y)} labels.")
    return Dataset(X=X, y=Y, task="classification", name="mnist1d", split=kind, n_classes=10,
                   target_names=_DIGIT_CLASSES, source=source)


# --------------------------------------------------------------------------- #
# One entry point
# --------------------------------------------------------------------------- #

def _load_sklearn(name: str) -> Dataset:
    loader_name, task = _SKLEARN_SETS[name]
    try:
        import sklearn.datasets as skd
    except ImportError as exc:
        raise ModuleNotFoundError(
            f"glassnet.adapters.datasets.load({name!r}) needs the 'scikit-learn' package: "
            f"pip install 'glassnet[datasets]' (or pip install scikit-learn). ({exc})") from exc
    bunch = getattr(skd, loader_name)()
    X = np.asarray(bunch.data, dtype=np.float32)
    if task == "classification":
        y = np.asarray(bunch.target, dtype=np.int64)
        names = tuple(str(t) for t in bunch.target_names)
        n_classes = len(names)
    else:
        y = np.asarray(bunch.target, dtype=np.float32)
        names, n_classes = None, None
    return Dataset(X=X, y=y, task=task, name=name, split="all", n_classes=n_classes,
                   target_names=names, source=f"sklearn.datasets.{loader_name}()")


def load(name: str, *, kind: str | None = None, path=None, seed: int = 42, verify: bool = True) -> Dataset:
    """Load a data set by name.

    Parameters
    ----------
    name : str
        One of :data:`NAMES`: ``"digits"``, ``"iris"``, ``"wine"``,
        ``"breast_cancer"`` (classification) and ``"diabetes"`` (regression)
        from scikit-learn's bundled copies; ``"mnist"``, ``"fashion_mnist"``,
        ``"mnist1d"``. Case and ``-``/``_`` do not matter
        (``"fashion-mnist"`` works).
    kind : {"train", "test", "all"}, optional
        Split. The scikit-learn sets have no split (None or "all"); the
        others default to "train".
    path : str or os.PathLike, optional
        Data location for "mnist" (required), "fashion_mnist" and "mnist1d"
        (optional; see their loaders). Not accepted for scikit-learn sets.
    seed : int, default 42
        Generator seed for "mnist1d" without ``path``.
    verify : bool, default True
        Verify checksums of files with standard names.

    Returns
    -------
    Dataset
        ``X`` float32 of shape ``(n_samples, n_features)``; ``y`` int64 for
        classification, float32 for regression; ``task`` says which. Features
        are returned as stored (the scikit-learn sets are not rescaled, e.g.
        "digits" pixels are 0..16; MNIST-style images are scaled to [0, 1]).

    Raises
    ------
    ValidationError
        Unknown name, or a ``kind`` / ``path`` that does not apply.
    ImportError
        The optional package a set needs is missing.

    Examples
    --------
    >>> data = load("iris")                      # doctest: +SKIP
    >>> data.X.shape, data.task, data.n_classes  # doctest: +SKIP
    ((150, 4), 'classification', 3)
    """
    if not isinstance(name, str):
        raise ValidationError(f"Data set name must be a str, one of {list(NAMES)}. Got {name!r}.")
    key = name.strip().lower().replace("-", "_")
    if key not in NAMES:
        raise ValidationError(f"Unknown data set {name!r}. Expected one of {list(NAMES)}.")
    if key in _SKLEARN_SETS:
        if kind not in (None, "all"):
            raise ValidationError(
                f"The {key!r} data set has no train/test split; 'kind' must be None or 'all', got {kind!r}. "
                f"Split it yourself (e.g. with a seeded permutation).")
        if path is not None:
            raise ValidationError(
                f"The {key!r} data set ships with scikit-learn; 'path' does not apply (got {path!r}).")
        return _load_sklearn(key)
    kind = "train" if kind is None else kind
    if key == "mnist":
        return load_mnist(path, kind=kind, verify=verify)
    if key == "fashion_mnist":
        return load_fashion_mnist(path, kind=kind, verify=verify)
    return load_mnist1d(path, kind=kind, seed=seed, verify=verify)
