"""One message format for every public error: what, where, expected, received, fix."""

import numbers
import os

import numpy as np

from glassnet.backend.errors import GlassnetTypeError, ShapeError, ValidationError

__all__ = ["check_array", "check_choice", "check_path", "check_rng", "check_scalar"]


def _where(caller):
    return f" of {caller}" if caller else ""


def check_scalar(value, name, kind, *, caller="", min_val=None, max_val=None,
                 include_min=True, include_max=True, hint=""):
    """Check a hyper-parameter and return it converted to ``kind`` (int or float)."""
    if kind is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
    else:
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if not ok:
        raise GlassnetTypeError(
            f"The '{name}' parameter{_where(caller)} must be {'an int' if kind is int else 'a float'}. "
            f"Got {value!r} of type {type(value).__name__} instead. Pass a plain number, e.g. {name}="
            f"{'1' if kind is int else '0.1'}.{(' ' + hint) if hint else ''}"
        )
    value = kind(value)
    bad = kind is float and not np.isfinite(value)     # an int is finite (np.isfinite fails beyond int64)
    if min_val is not None:
        bad |= value < min_val if include_min else value <= min_val
    if max_val is not None:
        bad |= value > max_val if include_max else value >= max_val
    if bad:
        lo = "" if min_val is None else ("[" if include_min else "(") + f"{min_val}"
        hi = "" if max_val is None else f"{max_val}" + ("]" if include_max else ")")
        rng = f"in {lo or '(-inf'}, {hi or 'inf)'}"
        raise ValidationError(
            f"The '{name}' parameter{_where(caller)} must be a finite {kind.__name__} {rng}. "
            f"Got {value!r} instead. Pass a value in that range.{(' ' + hint) if hint else ''}"
        )
    return value


def check_choice(value, name, choices, *, caller=""):
    """Check that ``value`` is one of ``choices`` (strings)."""
    if not isinstance(value, str) or value not in choices:
        raise ValidationError(
            f"The '{name}' parameter{_where(caller)} must be one of {sorted(choices)}. "
            f"Got {value!r} instead. Use one of those names."
        )
    return value


def check_rng(seed):
    """Return a ``numpy.random.Generator`` from None, an int seed or a Generator."""
    if seed is None or isinstance(seed, np.random.Generator):
        return np.random.default_rng() if seed is None else seed
    if isinstance(seed, numbers.Integral) and not isinstance(seed, bool) and seed >= 0:
        return np.random.default_rng(int(seed))
    raise GlassnetTypeError(
        f"'seed' must be None, a non-negative int or a numpy.random.Generator. Got {seed!r}. "
        "Pass an int such as seed=0 for a reproducible run, or numpy.random.default_rng(0)."
    )


def check_array(x, name, *, dtype=None, ndim_min=1, where="", allow_nan=False):
    """Convert ``x`` to a numeric array and check it is non-empty and finite.

    Returns a NumPy (or CuPy) array of ``dtype`` (kept as is when None and already float).
    """
    if isinstance(x, (str, bytes)):
        raise GlassnetTypeError(f"{name}{_where(where)} must be a numeric array, got a string.")
    if type(x).__module__.startswith("cupy"):
        arr = x if dtype is None else x.astype(dtype, copy=False)
    else:
        if hasattr(x, "to_numpy") and not isinstance(x, np.ndarray):  # pandas
            x = x.to_numpy()
        try:
            arr = np.asarray(x)
        except Exception as e:  # ragged lists and the like
            raise GlassnetTypeError(f"{name}{_where(where)} could not be read as an array: {e}") from None
        if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
            raise GlassnetTypeError(
                f"{name}{_where(where)} must hold numbers; got dtype {arr.dtype}. "
                "Encode text or categorical columns as numbers first."
            )
        if np.iscomplexobj(arr):
            raise GlassnetTypeError(f"{name}{_where(where)} must be real; got complex dtype {arr.dtype}.")
        if dtype is not None:
            with np.errstate(over="ignore", invalid="ignore"):   # reported just below, clearly
                arr = arr.astype(dtype, copy=False)
    if arr.ndim < ndim_min:
        raise ShapeError(
            f"{name}{_where(where)} must have at least {ndim_min} dimension(s); got shape {arr.shape}. "
            + ("Reshape a single sample with x.reshape(1, -1)." if ndim_min == 2 else "")
        )
    if arr.size == 0 or arr.shape[0] == 0:
        raise ValidationError(f"{name}{_where(where)} must hold at least one sample but is empty (shape {arr.shape}); "
                              "give at least one sample.")
    if not allow_nan and np.issubdtype(arr.dtype, np.floating):
        xp = np if isinstance(arr, np.ndarray) else __import__("cupy")
        with np.errstate(over="ignore", invalid="ignore"):
            # A finite sum proves every value finite without a data-sized boolean temporary.
            total_finite = bool(xp.isfinite(arr.sum()))
        finite = None if total_finite else xp.isfinite(arr)
        if finite is not None and not bool(finite.all()):
            bad = int((~finite).sum())
            first = tuple(int(i) for i in np.argwhere(np.asarray(~finite if xp is np else (~finite).get()))[0])
            raise ValidationError(
                f"{name}{_where(where)} must be finite but contains {bad} NaN or infinite value(s) in {arr.dtype} "
                f"(first at index "
                f"{first}). Impute or drop them, or rescale values too large for {arr.dtype}."
            )
    return arr


def check_path(path, where):
    """Return ``path`` as a str; a TypeError naming ``where`` for anything that is not a path."""
    if not isinstance(path, (str, os.PathLike)):
        # NOTE: open(3) would silently read file descriptor 3 (and open(0) standard input).
        raise GlassnetTypeError(f"The path passed to {where} must be a str or os.PathLike; got "
                                f"{type(path).__name__} {str(path)[:80]!r}. Pass the file's path, e.g. "
                                "'model.safetensors' or a pathlib.Path.")
    return os.fspath(path)
