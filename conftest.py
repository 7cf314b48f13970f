"""Doctest collection: skip adapter modules whose optional packages are not installed."""

import importlib.util

_NEEDS = {
    "glassnet/adapters/sklearn": "sklearn",
}
collect_ignore = [path for path, module in _NEEDS.items() if importlib.util.find_spec(module) is None]
