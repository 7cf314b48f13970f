"""Array-module selection: NumPy by default, CuPy when the data lives on a GPU.

Layers call :func:`array_module` only where they *create* arrays; arithmetic is
written with operators so the same code runs on both backends (CuPy's
``get_array_module`` idiom). CuPy is imported only when asked for.
"""

import numpy as np

from glassnet.backend.checks import check_choice

__all__ = ["array_module", "cupy_or_none", "DEFAULT_DTYPE", "get_cupy", "on_device_of", "resolve_dtype",
           "to_device", "to_numpy"]

DEFAULT_DTYPE = np.float32


def resolve_dtype(dtype):
    """Return the floating dtype to use: float32 unless float64 is asked for."""

    if dtype is None:
        return np.dtype(DEFAULT_DTYPE)
    try:
        name = np.dtype(dtype).name
    except TypeError:                     # np.dtype('nope'): report it like any other bad choice
        name = dtype
    check_choice(name, "dtype", ("float32", "float64"))
    dt = np.dtype(name)
    return dt


def cupy_or_none():
    """Return the cupy module if it is importable, else None."""
    try:
        import cupy
    except Exception:  # ImportError, or a CUDA runtime that fails to load
        return None
    return cupy


def array_module(x):
    """Return ``numpy`` or ``cupy``, whichever owns ``x``."""
    if type(x).__module__.startswith("cupy"):
        import cupy

        return cupy
    return np


def get_cupy():
    """Import cupy or explain how to get it."""
    cp = cupy_or_none()
    if cp is None:
        raise ModuleNotFoundError(
            "The GPU backend needs CuPy and a CUDA device: pip install 'glassnet[gpu]' "
            "(cupy-cuda12x), then move the model with model.to('gpu')."
        )
    return cp


def to_device(x, device):
    """Move an array to ``device`` ('cpu' or 'gpu')."""
    if device == "cpu":
        return to_numpy(x)
    cp = get_cupy()
    return cp.asarray(x)


def to_numpy(x):
    """Return ``x`` as a NumPy array (copying from the GPU when needed)."""
    if type(x).__module__.startswith("cupy"):
        return x.get()
    return np.asarray(x)


def on_device_of(x, ref):
    """``x`` as an array of the module that owns ``ref`` (one host-to-device copy if needed)."""
    xp = array_module(ref)
    if array_module(x) is xp:
        return x
    return to_numpy(x) if xp is np else xp.asarray(x)
