"""Handwritten digits (8x8 pixels, 10 classes): an MLP with dropout, early stopping and a verdict.

Run: python examples/digits.py [--epochs N]
"""

import argparse

import numpy as np

import glassnet as g
from glassnet.adapters.datasets import load

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=60)
args = parser.parse_args()

data = load("digits")                               # 1797 images, pixels 0..16
rng = np.random.default_rng(0)
order = rng.permutation(len(data.X))
test, train = order[:360], order[360:]
X, y = data.X / 16.0, data.y                        # scale the pixels to [0, 1]

model = g.mlp(64, [128, 64], 10, activation="relu", dropout=0.2, seed=0)
print(model.summary())
history = model.fit(X[train], y[train], optimizer=g.Adam(lr=1e-3), epochs=args.epochs, batch_size=32,
                    validation_split=0.2, seed=0, verbose=0,
                    callbacks=[g.EarlyStopping("val_loss", patience=8, restore_best=True)])
print(f"trained {history.epochs} epochs ({history.iterations} iterations of batch size 32); "
      f"best epoch {history.best_epoch + 1}")
result = model.evaluate(X[test], y[test])
print(f"test accuracy {result['accuracy']:.4f}  test loss {result['loss']:.4f}")
print(g.diagnose(history))                           # underfitting / overfitting / good fit, with numbers
g.save(model, "digits.safetensors")
print("saved digits.safetensors")
