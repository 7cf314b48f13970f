"""Layer 0, what every other layer stands on: the array module (NumPy, or CuPy on a GPU), the
default dtype, the exception types and the one format of user-input checks.

Imports nothing from glassnet.
"""

from glassnet.backend.arrays import (
    DEFAULT_DTYPE,
    array_module,
    cupy_or_none,
    get_cupy,
    on_device_of,
    resolve_dtype,
    to_device,
    to_numpy,
)

__all__ = ["DEFAULT_DTYPE", "array_module", "cupy_or_none", "get_cupy", "on_device_of", "resolve_dtype",
           "to_device", "to_numpy"]
