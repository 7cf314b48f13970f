"""Array-module selection: NumPy by default, CuPy when the data lives on a GPU.

Layers call :func:`array_module` only where they *create* arrays; arithmetic is
written with operators so the same code runs on both backends (CuPy's
``get_array_module`` idiom). CuPy is imported only when asked for.
"""

import ctypes
import glob
import os

import numpy as np

from glassnet.backend.checks import check_choice

__all__ = ["axpy", "array_module", "cupy_or_none", "DEFAULT_DTYPE", "get_cupy", "on_device_of", "resolve_dtype",
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


def axpy(alpha, x, y, tmp):
    """y <- y + alpha x in place (``tmp``: scratch shaped like ``y``, may be ``x`` itself); returns y.

    NumPy has no fused multiply-add, so y += alpha x costs two passes over memory (alpha x into
    ``tmp``, then the add). The optimizers' update rules are made of such sums, so on NumPy builds
    that bundle OpenBLAS this calls that same library's axpy, one pass, on the thread pool NumPy's
    own matrix products use (BENCHMARKS.md: ~200 us saved per SGD-momentum update of a 535,818-
    parameter MLP). Anything else (CuPy arrays, other BLAS builds, non-contiguous or mixed-dtype
    arrays) takes the two-pass NumPy form; both give the same result to rounding.
    """
    fn = _blas_axpy(y.dtype) if (y.size >= AXPY_BLAS_MIN and type(x) is np.ndarray and type(y) is np.ndarray
                                 and x.dtype == y.dtype and x.flags.c_contiguous and y.flags.c_contiguous
                                 and y.flags.writeable and x.size == y.size) else None
    if fn is None:
        xp = array_module(y)
        xp.multiply(x, alpha, out=tmp)
        y += tmp
        return y
    fn(y.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)
    return y


_AXPY = {}
# Below this size the ctypes call costs more than the pass it saves (float32, measured here: 4,096
# elements 1.9 us NumPy / 4.0 us BLAS; 17,226: 5.3 / 5.8; 65,536: 15.5 / 9.4; 535,818: 359 / 86).
AXPY_BLAS_MIN = 32768


def _blas_axpy(dtype):
    """The axpy of the OpenBLAS bundled with NumPy (64-bit integer interface), or None."""
    if dtype.char not in "fd":
        return None
    if not _AXPY:
        _AXPY.update(f=None, d=None)
        libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "libscipy_openblas64_*"))
        try:
            lib = ctypes.CDLL(libs[0]) if len(libs) == 1 else None
            for char, ctype, name in (("f", ctypes.c_float, "scipy_cblas_saxpy64_"),
                                      ("d", ctypes.c_double, "scipy_cblas_daxpy64_")):
                fn = getattr(lib, name)
                fn.restype = None
                fn.argtypes = [ctypes.c_int64, ctype, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64]
                _AXPY[char] = fn
        except (OSError, AttributeError):       # another BLAS build: the NumPy form is used
            _AXPY.update(f=None, d=None)
    return _AXPY[dtype.char]
