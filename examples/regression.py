"""Regression on scikit-learn's diabetes data: linear output, MSE, L2, and the estimator API.

Run: python examples/regression.py [--epochs N]
"""

import argparse

import numpy as np

import glassnet as g
from glassnet.adapters.datasets import load

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=200)
args = parser.parse_args()

data = load("diabetes")                             # 442 patients, 10 features, target ~ 25..346
rng = np.random.default_rng(0)
order = rng.permutation(len(data.X))
test, train = order[:88], order[88:]
mean, std = data.X[train].mean(axis=0), data.X[train].std(axis=0)
X = (data.X - mean) / std                           # standardize with training statistics only
y_mean, y_std = data.y[train].mean(), data.y[train].std()
y = (data.y - y_mean) / y_std                       # and the target, so MSE starts near 1

rng = np.random.default_rng(0)
model = g.Sequential([
    g.Dense(10, 32, l2=1e-3, init="he_normal", seed=rng), g.ReLU(),   # He initialization before a ReLU
    g.Dense(32, 1, l2=1e-3, seed=rng), g.Linear(),                    # regression: a linear output neuron
])
history = model.fit(X[train], y[train], loss=g.MSE(), optimizer=g.Adam(lr=3e-3), epochs=args.epochs,
                    batch_size=32, validation_split=0.2, seed=0, verbose=0,
                    callbacks=[g.EarlyStopping("val_loss", patience=20, restore_best=True)])
pred = model.predict(X[test]).ravel() * y_std + y_mean
rmse = float(np.sqrt(np.mean((pred - data.y[test]) ** 2)))
r2 = 1 - np.mean((pred - data.y[test]) ** 2) / np.var(data.y[test])
print(f"{history.epochs} epochs; test RMSE {rmse:.1f} (target std {data.y[test].std():.1f}), R^2 {r2:.3f}")

# The same network as a scikit-learn estimator (pip install 'glassnet[sklearn]').
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from glassnet.adapters.sklearn import MLPRegressor  # noqa: E402

reg = make_pipeline(StandardScaler(), MLPRegressor(hidden_layer_sizes=(32,), alpha=10.0, learning_rate_init=0.01,
                                                   max_iter=args.epochs, random_state=0))
reg.fit(data.X[train], (data.y[train] - y_mean) / y_std)
print(f"MLPRegressor in a Pipeline: test R^2 {reg.score(data.X[test], (data.y[test] - y_mean) / y_std):.3f}")
