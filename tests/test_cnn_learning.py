"""Learning quality of the convolutional examples on the shared data (fixed seeds).

MNIST-1D runs in full (the example's default, seconds). Fashion-MNIST and MNIST run reduced versions
that fit CI's budget (2 cores, ~20 minutes for the whole suite), each with a threshold measured for
that reduced run and stated next to it; the example scripts reproduce the full figures (see the
report in BENCHMARKS.md / the docstrings).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"


def run_example(name, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / name), *args], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    match = re.search(r"test accuracy ([\d.]+)", proc.stdout)
    assert match, proc.stdout
    return float(match.group(1))


def need(folder, file):
    if not (DATA / folder / file).exists():
        pytest.skip(f"{DATA / folder} not available")


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_mnist1d_cnn_reaches_the_papers_figure(seed):
    # Full run (4000 signals, 15 epochs): measured 0.970 (seed 0) and 0.966 (seed 1); paper CNN 0.94.
    need("mnist1d", "mnist1d_data.npz")
    assert run_example("cnn_mnist1d.py", str(DATA / "mnist1d"), "--seed", str(seed)) >= 0.94


@pytest.mark.slow
def test_fashion_mnist_cnn_reduced():
    # Reduced: the first 6000 training images, 3 epochs (141 steps; the cosine schedule over those 3), the
    # 10,000 test images, the example's default network (48-96 channels, 256 units): 145 s wall at load ~8,
    # where the full run (60,000 images, 15 epochs, figure in the example's docstring) takes over an hour on
    # the shared 2-core machine, too long for CI. Measured 0.8281 (seed 0; the 32-64 network gave 0.8262, 0.8280
    # after the fast-path changes); the threshold leaves ~0.02 for rounding differences between BLAS builds and
    # thread counts.
    need("fashion-mnist", "t10k-labels-idx1-ubyte.gz")
    acc = run_example("cnn_fashion_mnist.py", str(DATA / "fashion-mnist"), "--train-samples", "6000", "--epochs", "3")
    assert acc >= 0.80


@pytest.mark.slow
def test_mnist_cnn_reduced():
    # Reduced: the first 3000 of the 10,000 training images, 3 epochs (72 steps), the official test set.
    # Measured 0.9408 (seed 0); threshold 0.02 below. The full figure (10,000 images, 20 epochs) is the
    # example's default run.
    need("mnist", "t10k-labels-idx1-ubyte.gz")
    acc = run_example("cnn_mnist.py", str(DATA / "mnist"), "--train-samples", "3000", "--epochs", "3")
    assert acc >= 0.92
