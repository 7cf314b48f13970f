import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
TEST_DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args, cwd, check=True):
    """Run ``python -m glassnet ARGS`` on this checkout in ``cwd``; with ``check``, it must exit 0."""
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, "-m", "glassnet", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def load_digits():
    """scikit-learn's digits (UCI optdigits test part), from tests/data with NumPy alone: (X (1797, 64), y)."""
    data = np.loadtxt(TEST_DATA / "digits.csv.gz", delimiter=",")
    return data[:, :-1], data[:, -1].astype(np.int64)


def load_diabetes():
    """The diabetes regression set (Efron et al. 2004), unscaled, from tests/data: (X (442, 10), y)."""
    return np.loadtxt(TEST_DATA / "diabetes_data_raw.csv.gz"), np.loadtxt(TEST_DATA / "diabetes_target.csv.gz")


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


# Under CI=true nothing may skip for want of something .ci/run installs (an extra, chromium, a data
# package): such a skip becomes a failure. Only what no CI machine has stays a skip: a GPU.
CI_MAY_SKIP = ("cupy", "CUDA", "+SKIP", "SCIPY_ARRAY_API", "does not have a decision_function", "run the whole module")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") == "true" and report.skipped and not hasattr(report, "wasxfail"):
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if not any(word in reason for word in CI_MAY_SKIP):
            report.outcome = "failed"
            report.longrepr = (f"skipped under CI=true: {reason}. .ci/run must install what this test needs "
                               "(extras, apt packages), so that nothing skips in CI.")
