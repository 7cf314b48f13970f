"""MNIST (28x28 handwritten digits) from 10,000 training images with a convolutional network.

Run: python examples/cnn_mnist.py [PATH] [--epochs N] [--train-samples N] [--seed S]

PATH is the folder with the MNIST IDX files (default ../shared/data/mnist next to the repository,
which holds the first 10,000 training images and the official test set). Only 10,000 images: a
convolution shares each filter over the image, so it needs far fewer examples than an MLP.

Measured (seed 0, the defaults: 10,000 images, 20 epochs, Adam 1e-3 with a step decay): test accuracy
0.9850 on the official test set (9,850 of 10,000).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

import glassnet as g
from glassnet.adapters.datasets import load_mnist

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


def build(seed=0):
    """conv3x3 1->32 BN ReLU pool, conv3x3 32->64 BN ReLU pool, dense 1600->128 ReLU dropout, dense 128->10."""
    rng = np.random.default_rng(seed)
    return g.Sequential([
        g.Conv2D(1, 32, 3, seed=rng), g.BatchNorm(32), g.ReLU(), g.MaxPool2D(2),
        g.Conv2D(32, 64, 3, seed=rng), g.BatchNorm(64), g.ReLU(), g.MaxPool2D(2),
        g.Flatten(), g.Dense(1600, 128, init="he_normal", seed=rng), g.ReLU(), g.Dropout(0.3, seed=rng),
        g.Dense(128, 10, seed=rng), g.Softmax(),
    ])


def run(loader, name, default, epochs, train_samples, note, argv=None, build=build, schedule=None,
        callbacks=lambda args: ()):
    """Train ``build(seed)`` on 28x28 IDX images read by ``loader`` and print the test accuracy (also returned).

    ``schedule(lr0, epoch, epochs)``: the learning rate per epoch (default: a step decay by 0.2 after two
    thirds of the epochs); ``callbacks(args)``: extra callbacks from the parsed arguments, e.g. augmentation.
    """
    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?", default=str(default))
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--train-samples", type=int, default=train_samples)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-shift", type=int, default=0,
                        help="augmentation: largest random shift in pixels (examples with augmentation)")
    parser.add_argument("--validation-split", type=float, default=0.0,
                        help="hold out this share of the training images and print the validation accuracy per epoch")
    args = parser.parse_args(argv)
    try:
        train, test = loader(args.path, kind="train"), loader(args.path, kind="test")
    except g.ValidationError as e:
        sys.exit(f"{name}: {e}")
    n = args.train_samples
    X, y = train.X[:n].reshape(-1, 28, 28, 1), train.y[:n]          # NHWC, pixels in [0, 1]
    print(f"{len(X)} training images, {len(test.X)} test images")
    model = build(args.seed)
    print(model.summary(input_shape=(28, 28, 1)))
    if schedule is None:
        sched = g.LearningRateScheduler(g.StepDecay(max(1, (2 * args.epochs) // 3), gamma=0.2))
    else:
        sched = g.LearningRateScheduler(lambda lr0, epoch: schedule(lr0, epoch, args.epochs))
    t = time.perf_counter()
    model.fit(X, y, optimizer=g.Adam(lr=1e-3), epochs=args.epochs, batch_size=128, seed=args.seed,
              validation_split=args.validation_split, callbacks=[sched, *callbacks(args)], verbose=1)
    print(f"trained in {time.perf_counter() - t:.0f} s")
    result = model.evaluate(test.X.reshape(-1, 28, 28, 1), test.y, batch_size=1000)   # caps the activations
    print(f"test accuracy {result['accuracy']:.4f}  ({note})")
    return result["accuracy"]


def main(argv=None):
    return run(load_mnist, "cnn_mnist.py", DEFAULT, epochs=20, train_samples=10000,
               note="target 0.985 on the official 10,000 test images", argv=argv)


if __name__ == "__main__":
    main()
