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
