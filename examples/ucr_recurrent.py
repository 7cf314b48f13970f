"""Recurrent networks on six UCR/UEA time-series sets, against 1-NN Euclidean (the archive's baseline).

Recipe (fixed seeds): standardize each channel with the training set's statistics; cut each series
into windows of k consecutive steps (a window is one time step of k * channels features, so the
recurrent net sees ~8-32 steps instead of hundreds); a bidirectional GRU or LSTM (hidden 32) whose
last states feed a softmax layer; Adam (lr 3e-3, gradient clipping at global norm 1), batch 16,
100 epochs. JapaneseVowels has series of 7..29 steps: padded with 0 and masked (mask_value=0).

The cell (GRU or LSTM) and the number of windows (8, 16 or 32) of each set are chosen by 4-fold
stratified cross-validation on the *training* split only (``--select``); the test split is used
once, for the figures. ``RECIPES`` below holds the choice that ``--select`` made.

    PYTHONPATH=. python examples/ucr_recurrent.py                 # the six figures
    PYTHONPATH=. python examples/ucr_recurrent.py --select        # redo the selection (24 fits per set)
    PYTHONPATH=. python examples/ucr_recurrent.py GunPoint        # one set
"""

import argparse
import itertools
import time

import numpy as np

import glassnet as g
from glassnet.adapters.timeseries import UCR_NAMES, load_ucr, nn1_euclidean, standardize

# The baselines on the shipped splits: 1-NN Euclidean and an untuned PyTorch LSTM.
BASELINES = {"GunPoint": (0.913, 0.493), "ItalyPowerDemand": (0.955, 0.960), "ArrowHead": (0.800, 0.303),
             "OSULeaf": (0.521, 0.430), "JapaneseVowels": (0.916, 0.946), "BasicMotions": (0.600, 0.950)}
CANDIDATES = list(itertools.product(("gru", "lstm"), (8, 16, 32)))
# What --select chose (4-fold CV accuracy on the training split, best of the six candidates; ties go to the
# first candidate): {name: (cell, windows)}.
RECIPES = {"GunPoint": ("gru", 8), "ItalyPowerDemand": ("gru", 16), "ArrowHead": ("gru", 8), "OSULeaf": ("gru", 16),
           "JapaneseVowels": ("gru", 8), "BasicMotions": ("gru", 32)}


def windows(X, n_windows, T=None):
    """(n, T, C) -> (n, ceil(T / k), k * C) with k = ceil(T / n_windows), zero-padded at the end."""
    n, t, C = X.shape
    T = T or t
    k = -(-T // n_windows)
    Tp = -(-T // k) * k
    X = np.pad(X, ((0, 0), (0, Tp - t), (0, 0)))
    return X.reshape(n, Tp // k, k * C)


def build(cell, n_in, n_classes, masked, seed):
    rng = np.random.default_rng(seed)
    Cell = {"gru": g.GRU, "lstm": g.LSTM}[cell]
    return g.Sequential([Cell(n_in, 32, bidirectional=True, mask_value=0.0 if masked else None, seed=rng),
                         g.Dense(64, n_classes, seed=rng), g.Softmax()])


def train_and_score(cell, n_windows, Xtr, ytr, Xte, yte, n_classes, masked, seed=0, epochs=100):
    T = max(Xtr.shape[1], Xte.shape[1])
    A, B = windows(Xtr, n_windows, T), windows(Xte, n_windows, T)
    model = build(cell, A.shape[2], n_classes, masked, seed)
    model.fit(A, ytr, optimizer=g.Adam(3e-3, clip_norm=1.0), epochs=epochs, batch_size=16, seed=seed, verbose=0)
    return model.evaluate(B, yte)["accuracy"]


def prepared(name):
    tr, te = load_ucr(name), load_ucr(name, kind="test")
    Xtr, Xte = standardize(tr, te)
    return tr, te, Xtr, Xte, name == "JapaneseVowels"


def select(name, folds=4, seed=0):
    """Cross-validated accuracy of every candidate on the training split; returns the best and the table."""
    tr, _, Xtr, _, masked = prepared(name)
    rng = np.random.default_rng(seed)
    fold = np.empty(len(tr.y), int)
    for c in np.unique(tr.y):                       # stratified folds
        idx = rng.permutation(np.flatnonzero(tr.y == c))
        fold[idx] = np.arange(len(idx)) % folds
    scores = {}
    for cell, nw in CANDIDATES:
        accs = [train_and_score(cell, nw, Xtr[fold != f], tr.y[fold != f], Xtr[fold == f], tr.y[fold == f],
                                tr.n_classes, masked) for f in range(folds)]
        scores[(cell, nw)] = float(np.mean(accs))
    best = max(scores, key=lambda k: (scores[k], -CANDIDATES.index(k)))
    return best, scores


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("names", nargs="*", default=list(UCR_NAMES))
    ap.add_argument("--select", action="store_true", help="choose cell and windows by CV on the training split")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0, help="seed of the weights and shuffles (the figures: 0)")
    args = ap.parse_args()
    print(f"{'set':<18} {'recipe':<10} {'glassnet':>8} {'1-NN':>6} {'1-NN here':>9} {'torch LSTM':>10}  time")
    for name in args.names:
        t0 = time.time()
        if args.select or name not in RECIPES:
            (cell, nw), scores = select(name)
            print(f"  {name} CV on train: " + ", ".join(f"{c}/{w}: {s:.3f}" for (c, w), s in scores.items()))
        else:
            cell, nw = RECIPES[name]
        tr, te, Xtr, Xte, masked = prepared(name)
        acc = train_and_score(cell, nw, Xtr, tr.y, Xte, te.y, tr.n_classes, masked, seed=args.seed,
                              epochs=args.epochs)
        nn1, lstm = BASELINES[name]
        print(f"{name:<18} {cell + '/' + str(nw):<10} {acc:>8.3f} {nn1:>6.3f} {nn1_euclidean(tr, te):>9.3f} "
              f"{lstm:>10.3f}  {time.time() - t0:.0f}s", flush=True)


if __name__ == "__main__":
    main()
