"""Time series from the UCR/UEA archive: the ``.ts`` format, and six classification sets shipped here.

The ``.ts`` format (sktime/aeon, the archive's own) is text: ``#`` comment lines, a header of
``@tag value`` lines ending at ``@data``, then one series per line::

    @problemName JapaneseVowels
    @univariate false          (more than one channel)
    @dimensions 12
    @equalLength false         (series of different lengths)
    @missing false             ('?' marks a missing value when true)
    @classLabel true 1 2 3     (the class labels, in the order they get indices 0, 1, 2)
    @data
    1.86,1.89,...:-0.20,-0.19,...:...:3      (channels separated by ':', the label last)

:func:`read_ts` returns a :class:`SeriesDataset` with X of shape (n, time, channels), the
glassnet sequence layout, padded after each series' end to the longest length with
``pad_value``, and ``lengths``; missing values are NaN (see :func:`fill_missing`). A recurrent
layer with ``mask_value=pad_value`` then stops each series at its own end.

The six sets of :data:`UCR_NAMES` come from the aeon 1.6.0 wheel (BSD-3-Clause), gzipped in
``glassnet/adapters/ucr_data/`` with their licence and checked against SHA-256 sums on load.
"""

from __future__ import annotations

import gzip
import hashlib
import itertools
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from glassnet.backend.checks import check_choice, check_path, check_rng
from glassnet.backend.errors import ValidationError
from glassnet.nn.layers import GRU, LSTM, BatchNorm, Conv1D, Dense, GlobalAveragePool2D, ReLU, SimpleRNN, Softmax
from glassnet.train.model import Sequential

__all__ = ["ARCHS", "MINIROCKET_KERNELS", "UCR_DATA", "UCR_NAMES", "UCR_SHA256", "MiniRocket", "SeriesDataset",
           "fill_missing", "load_ucr", "model_inputs", "nn1_euclidean", "prepare_like", "read_series", "read_ts",
           "series_classifier", "standardize", "window_slices"]

UCR_DATA = Path(__file__).resolve().parent / "ucr_data"
UCR_NAMES = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "OSULeaf", "JapaneseVowels", "BasicMotions")
#: Network families of :func:`series_classifier`.
ARCHS = ("cnn1d", "lstm", "gru", "rnn")
UCR_SHA256 = {
    "ArrowHead_TEST.ts": "5417dab42626d41df5e435bb22458c2df40dfad4bcd3b59559bbe72e20e84904",
    "ArrowHead_TRAIN.ts": "a83c470aaf611a5f5284377cce27a5fc9f6292bc3d110257b0fd4905ced5ee72",
    "BasicMotions_TEST.ts": "79213102bc6fca1a398ad98ce1185dff0208fa3d1465e687f48288946b0ff8dc",
    "BasicMotions_TRAIN.ts": "8dc43cc6306cb679c888c01e26f91772ac4441a916da43bac8b79734a538b9d6",
    "GunPoint_TEST.ts": "79332750788a6227b325b96bd0d70130c8eb707b9731f8d7dec62b7a7d36017e",
    "GunPoint_TRAIN.ts": "f842401779fd9800d247d8b33121a1a4643710a19b24917dbdd9a060ca8630d5",
    "ItalyPowerDemand_TEST.ts": "26122451f87dd0387ef90b18bc8a86c041371b8a1c068004922b939971247144",
    "ItalyPowerDemand_TRAIN.ts": "341269cb7e6cef96846b30e774580beec79addb93848ba360145219115a74b7c",
    "JapaneseVowels_TEST.ts": "b3d41d6a0ca3bcad3afb9ca7d4365382aa51341e2e58bae2a574babdda5b9462",
    "JapaneseVowels_TRAIN.ts": "68a430eabd919cc77f40b1f5f3bc0dcafacc1486bca9260785aeb7d262cc78cd",
    "OSULeaf_TEST.ts": "6c549dd354f9e42d5985fa5fab75321ca9acefc7873457e71467fc8a31f107ce",
    "OSULeaf_TRAIN.ts": "86b9d6e860414ffd26cebc62fff84ffb37fa588ef3e5bf79e4094a437c36ddfc",
}


@dataclass(frozen=True, eq=False)
class SeriesDataset:
    """A split of a time-series classification set. Unpacks like ``(X, y)``.

    Attributes
    ----------
    X : ndarray, float32, shape (n, time, channels)
        Series padded to the longest with ``pad_value`` after each one's end; NaN where missing.
    y : ndarray, int64, shape (n,)
        Class indices, in the order of the file's ``@classLabel`` list.
    lengths : ndarray, int64, shape (n,)
        Each series' own length (the steps before its padding).
    name, split : str
    target_names : tuple of str
        The labels as written in the file; ``target_names[y[i]]`` is row i's.
    pad_value : float
    source : str
    """

    X: np.ndarray
    y: np.ndarray
    lengths: np.ndarray
    name: str
    split: str
    target_names: tuple
    pad_value: float = 0.0
    source: str = ""

    def __iter__(self):
        return iter((self.X, self.y))

    @property
    def n_classes(self):
        return len(self.target_names)

    @property
    def mask(self):
        """(n, time) float32: 1 on each series' own steps, 0 on its padding."""
        return (np.arange(self.X.shape[1])[None, :] < self.lengths[:, None]).astype(np.float32)

    def __repr__(self):
        n, T, C = self.X.shape
        span = f"{self.lengths.min()}..{self.lengths.max()}" if self.lengths.min() != self.lengths.max() else f"{T}"
        return (f"SeriesDataset(name={self.name!r}, split={self.split!r}, n={n}, length {span}, channels={C}, "
                f"n_classes={self.n_classes})")


def _open_text(path):
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return raw


def read_ts(path, *, pad_value=0.0, sha256=None, name=None, split=""):
    """Read a ``.ts`` file (plain or gzipped) into a :class:`SeriesDataset`.

    Parameters
    ----------
    path : str or PathLike
    pad_value : float, default 0.0
        Written after each series' end, up to the longest length. Choose a value the data never
        takes on every channel at once when a layer will mask on it (``mask_value=pad_value``).
    sha256 : str, optional
        Expected SHA-256 of the uncompressed text; a mismatch raises ValidationError.
    name, split : str, optional
        Recorded in the result (the name defaults to ``@problemName``).

    Raises
    ------
    ValidationError
        For a file that is not valid ``.ts`` text, naming the line and what was wrong.
    """
    path = check_path(path, "read_ts()")
    try:
        raw = _open_text(path)
    except OSError as e:
        raise ValidationError(f"read_ts cannot read {path!r}: {e.strerror}. Check the path.") from None
    if sha256 is not None and hashlib.sha256(raw).hexdigest() != sha256:
        raise ValidationError(f"{path!r} does not match its SHA-256 ({hashlib.sha256(raw).hexdigest()[:16]}... "
                              f"instead of {sha256[:16]}...): the file is damaged or not the one expected.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{path!r} is not UTF-8 text, so it is not a .ts file.") from None
    header, labels, series, targets = {}, None, [], []
    in_data = False
    for lineno, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path}:{lineno}"
        if not in_data:
            if not line.startswith("@"):
                raise ValidationError(f"{where}: expected a '@tag value' header line or '@data'; got {line[:60]!r}.")
            tag, _, value = line[1:].partition(" ")
            tag = tag.lower()
            if tag == "data":
                in_data = True
                if labels is None:
                    raise ValidationError(f"{path!r} has no '@classLabel true ...' line; read_ts reads "
                                          "classification sets, whose header lists the labels.")
            elif tag == "classlabel":
                words = value.split()
                if not words or words[0].lower() != "true" or len(words) < 2:
                    raise ValidationError(f"{where}: '@classLabel' must be 'true' followed by the labels; "
                                          f"got {value[:60]!r}.")
                labels = tuple(words[1:])
            elif tag == "timestamps" and value.strip().lower() == "true":
                raise ValidationError(f"{where}: time-stamped .ts data ('@timeStamps true') is not supported; "
                                      "resample it to a regular grid first.")
            else:
                header[tag] = value.strip()
            continue
        *channels, label = line.split(":")
        if not channels:
            raise ValidationError(f"{where}: a data line needs values, ':' and the class label; got {line[:60]!r}.")
        if label not in labels:
            raise ValidationError(f"{where}: class label {label[:30]!r} is not among the declared {list(labels)}.")
        try:
            values = [np.array([np.nan if v.strip() in ("?", "NaN", "nan") else float(v) for v in c.split(",")],
                               dtype=np.float64) for c in channels]
        except ValueError as e:
            raise ValidationError(f"{where}: a value is not a number ({e}); missing values are written '?'.") from None
        if len({len(v) for v in values}) != 1:
            raise ValidationError(f"{where}: the channels of one series have different lengths "
                                  f"{[len(v) for v in values]}; each channel must have one value per step.")
        if series and len(values) != series[0].shape[1]:
            raise ValidationError(f"{where}: {len(values)} channels, but the first series has {series[0].shape[1]}.")
        series.append(np.stack(values, axis=1))
        targets.append(labels.index(label))
    if not series:
        raise ValidationError(f"{path!r} holds no series (no lines after '@data').")
    lengths = np.array([len(s) for s in series], dtype=np.int64)
    X = np.full((len(series), int(lengths.max()), series[0].shape[1]), pad_value, dtype=np.float32)
    for i, s in enumerate(series):
        X[i, :len(s)] = s
    return SeriesDataset(X, np.array(targets, dtype=np.int64), lengths, name or header.get("problemname", ""),
                         split, labels, float(pad_value), str(path))


def load_ucr(name, *, kind="train", path=None, pad_value=0.0, verify=True):
    """One of the six shipped UCR/UEA sets, split as the archive ships it.

    Parameters
    ----------
    name : {'GunPoint', 'ItalyPowerDemand', 'ArrowHead', 'OSULeaf', 'JapaneseVowels', 'BasicMotions'}
    kind : {'train', 'test'}
    path : str or PathLike, optional
        Folder holding ``NAME_TRAIN.ts`` / ``NAME_TEST.ts`` (plain or ``.gz``); the shipped copy by default.
    pad_value : float
        See :func:`read_ts` (only JapaneseVowels has series of different lengths).
    verify : bool
        Check the SHA-256 of the archive's files.

    Examples
    --------
    >>> data = load_ucr("JapaneseVowels", kind="train")
    >>> data.X.shape, data.n_classes, int(data.lengths.min()), int(data.lengths.max())
    ((270, 26, 12), 9, 7, 26)
    """
    check_choice(name, "name", UCR_NAMES, caller="load_ucr")
    check_choice(kind, "kind", ("train", "test"), caller="load_ucr")
    folder = UCR_DATA if path is None else Path(check_path(path, "load_ucr()"))
    stem = f"{name}_{kind.upper()}.ts"
    for candidate in (folder / stem, folder / (stem + ".gz")):
        if candidate.exists():
            return read_ts(candidate, pad_value=pad_value, sha256=UCR_SHA256[stem] if verify else None,
                           name=name, split=kind)
    raise ValidationError(f"load_ucr found neither {stem} nor {stem}.gz in {os.fspath(folder)!r}. Pass the folder "
                          "holding the archive's files, or path=None for the shipped copy.")


def read_series(data, *, pad_value=0.0):
    """(train, test) for the CLI's data argument: a shipped set's name (any case) gives its two splits; a
    ``NAME_TRAIN.ts`` path gives that file and the ``NAME_TEST.ts`` beside it (or None); any other path (file, None)."""
    name = next((n for n in UCR_NAMES if n.lower() == str(data).lower()), None)
    if name is not None:
        return load_ucr(name, pad_value=pad_value), load_ucr(name, kind="test", pad_value=pad_value)
    sibling = str(data).replace("_TRAIN.ts", "_TEST.ts").replace("_train.ts", "_test.ts")
    test = read_ts(sibling, pad_value=pad_value) if sibling != str(data) and os.path.exists(sibling) else None
    return read_ts(data, pad_value=pad_value), test


def prepare_like(data, steps, mean, std):
    """New series as a model trained on :func:`standardize`-d, padded series takes them.

    Missing values interpolated (:func:`fill_missing`), each channel z-scored with the *training*
    ``mean`` and ``std`` (per channel, over real steps, as :func:`standardize` computed them),
    padded with ``data.pad_value`` to ``steps``. Returns X (n, steps, channels) float32.

    Raises
    ------
    ValidationError
        When the series are longer than ``steps`` or have another number of channels.
    """
    n, T, C = data.X.shape
    if T > steps or C != len(mean):
        raise ValidationError(f"{data.source or data.name}: series of up to {T} steps with {C} channel(s), but the "
                              f"model takes at most {steps} steps of {len(mean)} channel(s). Give series like its "
                              "training series.")
    X = np.full((n, steps, C), data.pad_value, np.float32)
    X[:, :T] = fill_missing(data.X, data.lengths)
    m = np.arange(steps)[None, :] < data.lengths[:, None]
    X[m] = (X[m] - np.asarray(mean, np.float32)) / (np.asarray(std, np.float32) + 1e-8)
    return X


def model_inputs(data, meta):
    """(X, y) of new series for a model that ``glassnet train`` wrote, prepared as in its training.

    ``data``: a ``.ts`` path (its series) or a shipped set's name (its test split); ``meta``: the model file's CLI
    metadata (``series``: steps, per-channel mean and std, pad value; ``classes``). y indexes ``meta["classes"]``.
    """
    s, classes = meta["series"], list(meta["classes"])
    train, test = read_series(data, pad_value=s["pad_value"])
    d = test if test is not None and str(data).lower() in {n.lower() for n in UCR_NAMES} else train
    unseen = sorted(set(d.target_names) - set(classes))
    if unseen:
        raise ValidationError(f"labels {unseen[:5]} in {data} were not seen in training (the model's classes: "
                              f"{classes[:10]}). Evaluate on series of the training classes.")
    y = np.array([classes.index(d.target_names[i]) for i in d.y], dtype=np.int64)
    return prepare_like(d, s["steps"], s["mean"], s["std"]), y


def fill_missing(X, lengths=None):
    """Replace NaN (missing) values by linear interpolation along time, per series and channel.

    Values before the first or after the last observed one take the nearest observed value; a channel
    with no observed value becomes 0. Padding (steps at and after ``lengths[i]``) is left as it is.
    Returns a new array.
    """
    X = np.array(X, dtype=np.float32, copy=True)
    lengths = np.full(len(X), X.shape[1]) if lengths is None else np.asarray(lengths)
    for i in range(len(X)):
        for c in range(X.shape[2]):
            v = X[i, :lengths[i], c]
            bad = np.isnan(v)
            if bad.any():
                good = np.flatnonzero(~bad)
                v[bad] = np.interp(np.flatnonzero(bad), good, v[good]) if good.size else 0.0
    return X


def standardize(train, *others, per="channel"):
    """Z-score sequences with the training set's statistics over real (unpadded) steps.

    ``per='channel'``: one mean and deviation per channel; ``per='series'``: each series by its own
    (the archive's univariate sets come z-normalized per series already). Padding stays ``pad_value``.
    Returns the X arrays, train first.
    """
    check_choice(per, "per", ("channel", "series"), caller="standardize")
    outs = []
    m = train.mask.astype(bool)
    if per == "channel":
        mu, sd = train.X[m].mean(axis=0), train.X[m].std(axis=0) + 1e-8
    for d in (train, *others):
        X, mask = d.X.copy(), d.mask.astype(bool)
        if per == "series":
            for i in range(len(X)):
                s = X[i, mask[i]]
                X[i, mask[i]] = (s - s.mean(axis=0)) / (s.std(axis=0) + 1e-8)
        else:
            X[mask] = (X[mask] - mu) / sd
        outs.append(X)
    return outs


def nn1_euclidean(train, test):
    """Accuracy of the archive's standard baseline: 1-nearest neighbour in Euclidean distance.

    Series of different lengths are compared as padded to the longest of both sets with their
    ``pad_value``; missing values must be filled first.
    """
    T = max(train.X.shape[1], test.X.shape[1])
    A, B = (np.pad(d.X.astype(np.float64), ((0, 0), (0, T - d.X.shape[1]), (0, 0)), constant_values=d.pad_value)
            .reshape(len(d.X), -1) for d in (train, test))
    d = (B * B).sum(1)[:, None] - 2 * B @ A.T + (A * A).sum(1)[None, :]
    return float((train.y[d.argmin(axis=1)] == test.y).mean())


def series_classifier(arch, n_channels, n_classes, widths=(32, 64, 32), *, mask_value=None, seed=None, dtype=None):
    """A classifier of (batch, time, channels) series: a fully convolutional or a recurrent network.

    ``'cnn1d'`` is the fully convolutional network (FCN) of Wang, Yan & Oates (2017), the standard
    strong deep baseline of the UCR archive: one block per width, Conv1D (kernel 8, 5, 3, then 3;
    'same' padding, so every step is kept) + BatchNorm + ReLU, then the global average over time,
    a Dense layer and a softmax. The average makes it indifferent to where in the series a shape
    occurs. ``'lstm'``, ``'gru'``, ``'rnn'``: one recurrent layer per width (all but the last return
    their whole sequence), the last state into Dense + softmax; ``mask_value`` marks padding steps
    (series of different lengths) so that each state stops at its series' end.

    Parameters
    ----------
    arch : {'cnn1d', 'lstm', 'gru', 'rnn'}
    n_channels, n_classes : int
    widths : sequence of int
        Filters per convolution block, or state sizes of the stacked recurrent layers.
    mask_value : float, optional
        Recurrent networks only (the FCN averages over padding too, as in the paper).
    seed : int or numpy.random.Generator, optional
    dtype : {'float32', 'float64'}, default float32

    Returns
    -------
    glassnet.Sequential
        Maps (batch, time, n_channels) to class probabilities (batch, n_classes).
    """
    check_choice(arch, "arch", ARCHS, caller="series_classifier")
    widths = [int(w) for w in widths]
    if not widths or min(widths) < 1:
        raise ValidationError(f"series_classifier needs at least one width >= 1; got {widths!r}.")
    rng = check_rng(seed)
    layers, c = [], int(n_channels)
    if arch == "cnn1d":
        for k, w in enumerate(widths):
            layers += [Conv1D(c, w, (8, 5, 3)[min(k, 2)], padding="same", seed=rng, dtype=dtype),
                       BatchNorm(w, dtype=dtype), ReLU()]
            c = w
        layers.append(GlobalAveragePool2D())
    else:
        Cell = {"lstm": LSTM, "gru": GRU, "rnn": SimpleRNN}[arch]
        for k, w in enumerate(widths):
            layers.append(Cell(c, w, return_sequences=k < len(widths) - 1, mask_value=mask_value, seed=rng,
                               dtype=dtype))
            c = w
    return Sequential(layers + [Dense(c, int(n_classes), seed=rng, dtype=dtype), Softmax()])


def window_slices(X, lengths, copies, seed=None, ratio=0.9):
    """Augmentation by window slicing (Le Guennec, Malinowski & Tavenard 2016): ``copies`` new series per series.

    Each copy is a random window of ``ratio`` of the series' own length, stretched back to that
    length by linear interpolation: the same shape a little shifted and stretched, which a class
    should survive. Padding after each series' end stays as it was.

    Parameters
    ----------
    X : ndarray (n, time, channels)
    lengths : array of int (n,)
        Each series' own length.
    copies : int >= 1
    seed : int or numpy.random.Generator, optional
    ratio : float in (0, 1]

    Returns
    -------
    ndarray (copies * n, time, channels)
        Copy j of series i is row j * n + i (so the labels are ``np.tile(y, copies)``).
    """
    rng = check_rng(seed)
    X, lengths = np.asarray(X), np.asarray(lengths)
    n, T, C = X.shape
    out = np.array(np.tile(X, (copies, 1, 1)), copy=True)
    for j in range(copies):
        for i in range(n):
            L = int(lengths[i])
            w = max(2, int(round(ratio * L))) if L > 1 else 1
            start = rng.integers(0, L - w + 1)
            pos = start + np.linspace(0, w - 1, L)          # where each output step reads, in [start, start + w - 1]
            lo = np.floor(pos).astype(int)
            hi = np.minimum(lo + 1, L - 1)
            frac = (pos - lo)[:, None]
            out[j * n + i, :L] = X[i, lo] * (1 - frac) + X[i, hi] * frac
    return out


#: The 84 MiniRocket kernels (Dempster, Schmidt & Webb 2021): length 9, weight 2 at three places, -1 at the other
#: six (so each sums to 0 and a constant series gives 0), one row per choice of the three places.
MINIROCKET_KERNELS = np.array([[2.0 if p in c else -1.0 for p in range(9)]
                               for c in itertools.combinations(range(9), 3)], dtype=np.float32)


def _golden_quantiles(n):
    """n quantiles spread evenly over (0, 1): the fractional parts of k times the golden ratio (MiniRocket's)."""
    return (np.arange(1, n + 1) * ((np.sqrt(5) + 1) / 2)) % 1


class MiniRocket:
    """Random-convolution features of univariate series: MiniRocket (Dempster, Schmidt & Webb 2021).

    The 84 fixed kernels of :data:`MINIROCKET_KERNELS`, each at up to 32 dilations spread exponentially
    from 1 to (length - 1) / 8, slide over the series as one glassnet :class:`~glassnet.nn.layers.Conv1D` (84
    output channels, 'same' padding). Dilation d is an ordinary convolution of the d interleaved sub-series
    x[r], x[r + d], ... (reshape, no dilated kernel needed). Each (kernel, dilation) output gets a few biases:
    quantiles of its output on one random training series. A feature is the proportion of positive values
    (PPV) of output - bias, over the whole series or (every other kernel) only where no padding was read.
    About ``n_features`` features in [0, 1]; a linear classifier on them does the rest.

    Parameters
    ----------
    n_features : int, default 10000
        Rounded down to a multiple of 84.
    max_dilations : int, default 32
    seed : int or numpy.random.Generator, optional
        Draws the series each bias is taken from (the only randomness).
    """

    def __init__(self, n_features=10_000, max_dilations=32, seed=None):
        if int(n_features) < 84:
            raise ValidationError(f"MiniRocket needs n_features >= 84 (one per kernel); got {n_features!r}.")
        self.n_features, self.max_dilations, self.rng = int(n_features), int(max_dilations), check_rng(seed)
        self.conv = Conv1D(1, 84, 9, padding="same", dtype="float32")
        self.conv.weight.value = MINIROCKET_KERNELS.T.reshape(9, 1, 84).copy()

    def _convolve(self, X, d):
        """(n, T) -> (n, T, 84): the 84 kernels at dilation d, zero padding (the d sub-series, each convolved)."""
        n, T = X.shape
        Tp = -(-T // d) * d                    # zeros after the end read as the padding they would be
        sub = np.pad(X, ((0, 0), (0, Tp - T))).reshape(n, Tp // d, d).transpose(0, 2, 1).reshape(n * d, Tp // d, 1)
        out = self.conv.forward(np.ascontiguousarray(sub, dtype=np.float32))
        return out.reshape(n, d, Tp // d, 84).transpose(0, 2, 1, 3).reshape(n, Tp, 84)[:, :T]

    def fit(self, X):
        """Choose the dilations and biases from training series ``X`` of shape (n, T) or (n, T, 1)."""
        X = self._series(X)
        T = X.shape[1]
        per_kernel = self.n_features // 84
        count = min(per_kernel, self.max_dilations)
        top = np.log2(max((T - 1) / 8, 1))
        self.dilations, counts = np.unique(np.logspace(0, top, count, base=2).astype(int), return_counts=True)
        self.per_dilation = (counts * per_kernel / count).astype(int)
        for i in range(per_kernel - self.per_dilation.sum()):          # the rounding remainder, one each
            self.per_dilation[i % len(self.per_dilation)] += 1
        q = _golden_quantiles(84 * per_kernel)
        self.biases, start = [], 0
        for d, f in zip(self.dilations, self.per_dilation):
            C = self._convolve(X[self.rng.integers(0, len(X), 84)], d)      # one random series per kernel
            qk = q[start:start + 84 * f].reshape(84, f)
            self.biases.append(np.stack([np.quantile(C[k, :, k], qk[k]) for k in range(84)]).astype(np.float32))
            start += 84 * f
        return self

    def transform(self, X, chunk=64):
        """(n, T) or (n, T, 1) series -> (n, features) float32 PPV features."""
        X = self._series(X)
        out = []
        for i in range(0, len(X), chunk):
            feats = []
            for j, (d, b) in enumerate(zip(self.dilations, self.biases)):
                C = self._convolve(X[i:i + chunk], d)
                pad = 4 * d
                inner = (j + np.arange(84)) % 2 == 1                 # MiniRocket: every other kernel, no padding
                ppv = np.empty((len(C), 84, b.shape[1]))
                ppv[:, ~inner] = (C[:, :, ~inner, None] > b[~inner]).mean(1)                      # over all steps
                ppv[:, inner] = (C[:, pad:C.shape[1] - pad, inner, None] > b[inner]).mean(1)     # steps off the pad
                feats.append(ppv.reshape(len(C), -1))
            out.append(np.concatenate(feats, 1))
        return np.concatenate(out).astype(np.float32)

    def _series(self, X):
        X = np.asarray(X, dtype=np.float32)
        if X.ndim == 3:
            if X.shape[2] != 1:
                raise ValidationError(f"MiniRocket takes univariate series; got {X.shape[2]} channels "
                                      "(shape (n, T, C)). Pass one channel, X[:, :, [c]].")
            X = X[:, :, 0]
        if X.ndim != 2 or X.shape[1] < 9:
            raise ValidationError(f"MiniRocket takes series of shape (n, T) or (n, T, 1) with T >= 9; got "
                                  f"{X.shape}.")
        return X
