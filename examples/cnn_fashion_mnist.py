"""Fashion-MNIST (28x28 clothing images, 10 classes) with a convolutional network.

Run: python examples/cnn_fashion_mnist.py [PATH] [--epochs N] [--train-samples N] [--seed S]

PATH is the folder with the four IDX files (default ../shared/data/fashion-mnist next to the
repository). The best MLP in examples/fashion_mnist.py reaches about 0.89; two convolutions reach
about 0.92, because a filter learns an edge or a texture once and finds it anywhere in the image.

Measured (seed 0, the defaults: 60,000 images, 15 epochs, Adam 1e-3 with a step decay): test
accuracy 0.9142 (train 0.956): short of the 0.92 target; 4 epochs give 0.8966. Heavier dropout
(0.2 after each pool, 0.5 before the output layer) gave 0.9064 in 15 epochs.
"""

from pathlib import Path

from cnn_mnist import run  # the same network and training recipe as the MNIST example

from glassnet.adapters.datasets import load_fashion_mnist

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "fashion-mnist"


def main(argv=None):
    return run(load_fashion_mnist, "cnn_fashion_mnist.py", DEFAULT, epochs=15, train_samples=60000,
               note="an MLP: about 0.89; target 0.92", argv=argv)


if __name__ == "__main__":
    main()
