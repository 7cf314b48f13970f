import json
import os
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def away_from_zero(x, margin=1e-3):
    """Push |x| < margin outward so ReLU-family kinks do not spoil finite differences."""
    return np.where(np.abs(x) < margin, np.sign(x + 1e-12) * margin * 2, x)


def record_counts(config, key, value):
    """Store a count in pytest's cache (glassnet/reliability) and, if set, $GLASSNET_RELIABILITY_COUNTS."""
    cache = getattr(config, "cache", None)        # None under -p no:cacheprovider
    counts = cache.get("glassnet/reliability", {}) if cache is not None else {}
    counts[key] = value
    if cache is not None:
        cache.set("glassnet/reliability", counts)
    out = os.environ.get("GLASSNET_RELIABILITY_COUNTS")
    if out:
        old = json.loads(open(out).read()) if os.path.exists(out) else {}
        with open(out, "w") as f:
            json.dump({**old, key: value}, f, indent=1, sort_keys=True)
