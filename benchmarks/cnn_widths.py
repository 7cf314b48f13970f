"""Training cost of wider Fashion-MNIST CNNs (the candidates for examples/cnn_fashion_mnist.py's recipe).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/cnn_widths.py [--reps 3]

Each candidate (the example's layers: 'same' 3x3 convolutions, BatchNorm, ReLU, 2x2 max pools, Dense, dropout
0.4; ``double``: VGG-style, two convolutions per block) is trained for one epoch of 2,560 random 28x28 images
with Adam, batch 128, through ``fit`` (the fast path); the candidates run interleaved, ``--reps`` times, and the
median is printed as seconds per 60,000-image epoch (the pixel values do not change the time).
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import glassnet as g  # noqa: E402
from glassnet.nn.layers import BatchNorm, Conv2D, Dense, Dropout, Flatten, MaxPool2D, ReLU, Softmax  # noqa: E402

CANDIDATES = {"32-64, dense 128 (the example)": (32, 64, 128, False), "32-64, dense 256": (32, 64, 256, False),
              "48-96, dense 128": (48, 96, 128, False), "64-64, dense 128": (64, 64, 128, False),
              "32-32 / 64-64 double, dense 128": (32, 64, 128, True)}


def net(c1, c2, hidden, double, seed=0):
    rng = np.random.default_rng(seed)
    layers = [Conv2D(1, c1, 3, padding="same", seed=rng), BatchNorm(c1), ReLU()]
    if double:
        layers += [Conv2D(c1, c1, 3, padding="same", seed=rng), BatchNorm(c1), ReLU()]
    layers += [MaxPool2D(2), Conv2D(c1, c2, 3, padding="same", seed=rng), BatchNorm(c2), ReLU()]
    if double:
        layers += [Conv2D(c2, c2, 3, padding="same", seed=rng), BatchNorm(c2), ReLU()]
    layers += [MaxPool2D(2), Flatten(), Dense(49 * c2, hidden, init="he_normal", seed=rng), ReLU(),
               Dropout(0.4, seed=rng), Dense(hidden, 10, seed=rng), Softmax()]
    return g.Sequential(layers)


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    rng = np.random.default_rng(0)
    X, y = rng.random((2560, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 2560)
    times = {k: [] for k in CANDIDATES}
    for _ in range(args.reps):
        for name, spec in CANDIDATES.items():
            model = net(*spec)
            t = time.perf_counter()
            model.fit(X, y, optimizer=g.Adam(lr=1e-3), epochs=1, batch_size=128, seed=0, verbose=0)
            times[name].append(time.perf_counter() - t)
    base = statistics.median(next(iter(times.values())))
    print(f"{'candidate':34s} {'s per 60k epoch':>16s} {'x example':>10s}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:34s} {med * 60000 / len(X):16.1f} {med / base:10.2f}")


if __name__ == "__main__":
    main()
