"""Fashion-MNIST (28x28 clothing images, 10 classes) with a convolutional network.

Run: python examples/cnn_fashion_mnist.py [PATH] [--epochs N] [--train-samples N] [--seed S]

PATH is the folder with the four IDX files (default ../shared/data/fashion-mnist next to the
repository). The best MLP in examples/fashion_mnist.py reaches about 0.89; two convolutions reach
about 0.92, because a filter learns an edge or a texture once and finds it anywhere in the image.

Measured (seed 0, the defaults: 60,000 images, 15 epochs, Adam 1e-3 with a step decay): test
accuracy 0.9142 (train 0.956): short of the 0.92 target; 4 epochs give 0.8966. Heavier dropout
(0.2 after each pool, 0.5 before the output layer) gave 0.9064 in 15 epochs.
"""

import argparse
import sys
from pathlib import Path

import numpy as np

import glassnet as g
from glassnet.adapters.datasets import load_fashion_mnist

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-mnist"


def build(seed=0):
    """conv3x3 1->32 BN ReLU pool, conv3x3 32->64 BN ReLU pool, dense 1600->128 ReLU dropout, dense 128->10."""
    rng = np.random.default_rng(seed)
    return g.Sequential([
        g.Conv2D(1, 32, 3, seed=rng), g.BatchNorm(32), g.ReLU(), g.MaxPool2D(2),
        g.Conv2D(32, 64, 3, seed=rng), g.BatchNorm(64), g.ReLU(), g.MaxPool2D(2),
        g.Flatten(), g.Dense(1600, 128, init="he_normal", seed=rng), g.ReLU(), g.Dropout(0.3, seed=rng),
        g.Dense(128, 10, seed=rng), g.Softmax(),
    ])


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?", default=str(DEFAULT))
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--train-samples", type=int, default=60000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        train, test = load_fashion_mnist(args.path, kind="train"), load_fashion_mnist(args.path, kind="test")
    except g.ValidationError as e:
        sys.exit(f"cnn_fashion_mnist.py: {e}")
    n = args.train_samples
    X, y = train.X[:n].reshape(-1, 28, 28, 1), train.y[:n]          # NHWC, pixels in [0, 1]
    print(f"{len(X)} training images, {len(test.X)} test images")
    model = build(args.seed)
    print(model.summary(input_shape=(28, 28, 1)))
    sched = g.LearningRateScheduler(g.StepDecay(max(1, (2 * args.epochs) // 3), gamma=0.2))
    model.fit(X, y, optimizer=g.Adam(lr=1e-3), epochs=args.epochs, batch_size=128, seed=args.seed,
              callbacks=[sched], verbose=1)
    result = model.evaluate(test.X.reshape(-1, 28, 28, 1), test.y, batch_size=1000)   # caps the activations
    print(f"test accuracy {result['accuracy']:.4f}  (an MLP: about 0.89; target 0.92)")
    return result["accuracy"]


if __name__ == "__main__":
    main()
