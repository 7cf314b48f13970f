"""Each script of examples/ runs (with small settings) and prints sensible numbers."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_FASHION = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-mnist"
DEBIAN_FASHION = Path("/usr/share/datasets/fashion-mnist")


def run_example(name, *args, cwd):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def number(pattern, text):
    match = re.search(pattern, text)
    assert match, f"{pattern!r} not in output:\n{text}"
    return float(match.group(1))


def test_xor(tmp_path):
    out = run_example("xor.py", cwd=tmp_path)
    assert number(r"accuracy ([\d.]+)", out) == 1.0
    assert "stuck near 0.5" in out


def test_digits(tmp_path):
    pytest.importorskip("sklearn")
    out = run_example("digits.py", "--epochs", "15", cwd=tmp_path)
    assert number(r"test accuracy ([\d.]+)", out) > 0.9
    assert "verdict: " in out and (tmp_path / "digits.safetensors").is_file()


def test_regression(tmp_path):
    pytest.importorskip("sklearn")
    out = run_example("regression.py", "--epochs", "60", cwd=tmp_path)
    assert number(r"test RMSE [\d.]+ \(target std [\d.]+\), R\^2 ([-\d.]+)", out) > 0.3
    assert number(r"Pipeline: test R\^2 ([-\d.]+)", out) > 0.3


def test_fashion_mnist(tmp_path):
    if (DEBIAN_FASHION / "t10k-labels-idx1-ubyte.gz").exists():
        path = []                                    # the example finds Debian's copy by itself
    elif (SHARED_FASHION / "t10k-labels-idx1-ubyte.gz").exists():
        path = [str(SHARED_FASHION)]
    else:
        pytest.skip("Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)")
    out = run_example("fashion_mnist.py", *path, "--train-samples", "3000", "--epochs", "2", cwd=tmp_path)
    assert "3000 training images, 10000 test images" in out
    assert number(r"test accuracy ([\d.]+)", out) > 0.7
