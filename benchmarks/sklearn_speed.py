"""glassnet's scikit-learn estimators against scikit-learn's own MLP: same solver, same settings, same run.

For each data set and solver, scikit-learn's ``MLPClassifier``/``MLPRegressor`` and glassnet's drop-in
(``glassnet.adapters.sklearn``) are fitted with identical parameters (same ``random_state``: the same initial
weights and mini-batches), interleaved A B A B ..., and the table reports the median fit time of each, their
ratio (glassnet / scikit-learn: below 1 means glassnet is faster) and the held-out score of each (accuracy,
or R^2), with the number of iterations each ran. ``n_iter_no_change=max_iter`` makes both run every epoch.
A third column fits glassnet with its own ``dtype='float32'`` on the same (float64) data: not the same
setting as scikit-learn's (which computes in the dtype of X), shown for what the option buys.

Data: digits (1,797 x 64, scaled to [0, 1]); a covertype-like synthetic set (50,000 x 54: 10 standardized
continuous columns and 44 binary ones, 7 classes; ``make_classification`` + one-hot blocks, seed 0); a
regression set (Friedman #1, 20,000 x 20, noise 1, standardized target, seed 0).

    python -m benchmarks.sklearn_speed [--reps 3] [--threads N] [--quick] [--dtype float64]

``--threads`` caps BLAS threads for both libraries (threadpoolctl); by default nothing is changed.
"""

import argparse
import os
import statistics
import sys
import time
import warnings

import numpy as np


def datasets(quick):
    from sklearn.datasets import load_digits, make_classification, make_friedman1
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    yield "digits", "clf", train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    n = 10_000 if quick else 50_000
    Xc, yc = make_classification(n_samples=n, n_features=10, n_informative=8, n_redundant=2, n_classes=7,
                                 n_clusters_per_class=2, class_sep=1.0, random_state=0)
    rng = np.random.default_rng(0)
    blocks = [np.eye(k)[rng.integers(0, k, n)] for k in (4, 40)]      # like covertype's wilderness / soil
    blocks[1][np.arange(n), (yc * 5 + rng.integers(0, 5, n)) % 40] = 1  # soil type tells a little about y
    Xc = np.column_stack([(Xc - Xc.mean(0)) / Xc.std(0)] + blocks)
    yield f"covertype-like {n // 1000}k x 54", "clf", train_test_split(Xc, yc, test_size=0.2, random_state=0)
    n = 5_000 if quick else 20_000
    Xr, yr = make_friedman1(n_samples=n, n_features=20, noise=1.0, random_state=0)
    yield f"friedman1 {n // 1000}k x 20", "reg", train_test_split(Xr, (yr - yr.mean()) / yr.std(), test_size=0.2,
                                                                  random_state=0)


SOLVERS = {  # solver -> (parameters, max_iter for small / large data)
    "adam": ({"solver": "adam", "learning_rate_init": 1e-3}, 50, 10),
    "sgd": ({"solver": "sgd", "learning_rate_init": 0.05, "momentum": 0.9}, 50, 10),
    "lbfgs": ({"solver": "lbfgs"}, 100, 50),
}


def one_fit(cls, params, Xtr, ytr, Xte, yte):
    est = cls(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                # ConvergenceWarning: max_iter is reached on purpose
        t = time.perf_counter()
        est.fit(Xtr, ytr)
        seconds = time.perf_counter() - t
    return seconds, est.score(Xte, yte), est.n_iter_


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    args = ap.parse_args(argv)
    limiter = None
    if args.threads:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(args.threads)
    import sklearn
    from sklearn import neural_network as sk

    from glassnet.adapters import sklearn as gn

    env = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    print(f"# scikit-learn {sklearn.__version__}, NumPy {np.__version__}, Python {sys.version.split()[0]}, "
          f"threads cap {args.threads}, env {env}, dtype {args.dtype}, reps {args.reps}")
    print("| data | solver | max_iter | scikit-learn s | glassnet s | ratio | sklearn score | glassnet score |"
          " n_iter_ (sk / gn) | glassnet float32 s | ratio | score |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, task, (Xtr, Xte, ytr, yte) in datasets(args.quick):
        Xtr, Xte = Xtr.astype(args.dtype), Xte.astype(args.dtype)
        big = len(Xtr) > 10_000
        for solver, (params, small_iter, big_iter) in SOLVERS.items():
            max_iter = big_iter if big else small_iter
            params = {**params, "hidden_layer_sizes": (100,), "max_iter": max_iter, "random_state": 0,
                      "n_iter_no_change": max_iter}
            pair = (sk.MLPClassifier, gn.MLPClassifier) if task == "clf" else (sk.MLPRegressor, gn.MLPRegressor)
            runs = {0: [], 1: [], 2: []}
            for _ in range(args.reps):
                for k, (cls, extra) in enumerate(((pair[0], {}), (pair[1], {}), (pair[1], {"dtype": "float32"}))):
                    runs[k].append(one_fit(cls, {**params, **extra}, Xtr, ytr, Xte, yte))
            t_sk, t_gn, t_32 = (statistics.median(r[0] for r in runs[k]) for k in range(3))
            print(f"| {name} | {solver} | {max_iter} | {t_sk:.3f} | {t_gn:.3f} | {t_gn / t_sk:.2f} | "
                  f"{runs[0][-1][1]:.4f} | {runs[1][-1][1]:.4f} | {runs[0][-1][2]} / {runs[1][-1][2]} | "
                  f"{t_32:.3f} | {t_32 / t_sk:.2f} | {runs[2][-1][1]:.4f} |", flush=True)
    del limiter


if __name__ == "__main__":
    main()
