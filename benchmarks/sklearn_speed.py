"""glassnet's scikit-learn estimators against scikit-learn's own MLP: same solver, same settings, same run.

For each data set and solver, scikit-learn's ``MLPClassifier``/``MLPRegressor`` and glassnet's drop-in
(``glassnet.adapters.sklearn``) are fitted with identical parameters (same ``random_state``: the same initial
weights and mini-batches), interleaved A B A B ..., and the table reports the median fit time of each, their
ratio (glassnet / scikit-learn: below 1 means glassnet is faster; the median of the per-repetition ratios, with
their range) and the held-out score of each (accuracy, or R^2), with the number of iterations each ran.
``n_iter_no_change=max_iter`` makes both run every epoch.

``floor`` is the time of the network's matrix products alone, at the same dtype: per mini-batch the forward
product of every layer, its weight gradient and the input gradient of every layer but the first (what both
libraries compute), over every batch of every epoch run; for L-BFGS one pass over X per iteration (a lower
bound: scipy evaluates the objective at least once per iteration). ``floor / sklearn`` is the best ratio that
any implementation doing those products at that dtype could reach: when it is above 0.5 the 0.5x target is out
of reach at that dtype.

glassnet runs as installed: with numba, its estimators' default compiled step (on MKL with the ``mkl`` extra, or
``GLASSNET_BLAS=openblas``); the "gn NumPy" group is the same fit with ``compiled=False`` (the NumPy fast path),
interleaved too, and ``gn / gn NumPy`` the ratio of the two.

A last group fits glassnet with its own ``dtype='float32'`` on the same (float64) data: not the same setting as
scikit-learn's (which computes in the dtype of X), shown for what the option buys, with its own floor.

Data: digits (1,797 x 64, scaled to [0, 1]); a covertype-like synthetic set (50,000 x 54: 10 standardized
continuous columns and 44 binary ones, 7 classes; ``make_classification`` + one-hot blocks, seed 0); a
regression set (Friedman #1, 20,000 x 20, noise 1, standardized target, seed 0).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m benchmarks.sklearn_speed [--reps 3] [--threads 1]
        [--clock wall|cpu] [--quick] [--only digits] [--solvers adam,sgd,lbfgs,adam-es] [--dtype float64]

``--threads`` caps BLAS threads for both libraries (threadpoolctl; the environment variables above do the same
from the start); by default nothing is changed (uncapped, scipy's L-BFGS-B alone took 10x the CPU time here).
``--clock cpu`` times with the process's CPU time instead of the wall clock: with one BLAS thread the two agree on
an idle machine, and on a shared, loaded one CPU time still measures the work done (the wall clock then mostly
measures the other processes).
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
    # not in the default set: adam with early_stopping (a validation score every epoch), --solvers adam-es
    "adam-es": ({"solver": "adam", "learning_rate_init": 1e-3, "early_stopping": True}, 50, 10),
}


def one_fit(cls, params, Xtr, ytr, Xte, yte, clock):
    est = cls(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                # ConvergenceWarning: max_iter is reached on purpose
        t = clock()
        est.fit(Xtr, ytr)
        seconds = clock() - t
    return seconds, est.score(Xte, yte), est.n_iter_


def gemm_floor(units, n, batch, iterations, dtype, clock):
    """Seconds of the network's matrix products alone: forward, weight gradient and (but for the first layer)
    input gradient of every layer, for every batch of one pass over n rows, times ``iterations``."""
    rng = np.random.default_rng(0)
    # Finite, moderate values (no overflow, no subnormals), rewritten by every pass.
    Ws = [(rng.standard_normal((a, b)) / np.sqrt(a)).astype(dtype) for a, b in zip(units[:-1], units[1:])]
    sizes = [batch] * (n // batch) + ([n % batch] if n % batch else [])
    spaces = {}
    for m in set(sizes):
        acts = [rng.standard_normal((m, u)).astype(dtype) for u in units]
        grads = [rng.standard_normal((m, u)).astype(dtype) for u in units]
        spaces[m] = (acts, grads, [np.empty_like(W) for W in Ws])

    def one_pass():
        for m in sizes:
            acts, grads, dWs = spaces[m]
            for i, W in enumerate(Ws):
                np.matmul(acts[i], W, out=acts[i + 1])
            for i in range(len(Ws) - 1, -1, -1):
                np.matmul(acts[i].T, grads[i + 1], out=dWs[i])
                if i:
                    np.matmul(grads[i + 1], Ws[i].T, out=grads[i])

    one_pass()                                         # warm-up
    reps = max(1, min(5, int(2e8 // max(1, n * sum(a * b for a, b in zip(units[:-1], units[1:]))))))
    times = []
    for _ in range(reps):
        t = clock()
        one_pass()
        times.append(clock() - t)
    return statistics.median(times) * iterations


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default=None, help="run only the data sets whose name starts with this")
    ap.add_argument("--solvers", default="adam,sgd,lbfgs")
    ap.add_argument("--clock", default="wall", choices=["wall", "cpu"])
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--sklearn-float32", action="store_true",
                    help="also fit scikit-learn on float32 X (it then computes in float32) and compare glassnet's "
                         "float32 fit with that")
    args = ap.parse_args(argv)
    limiter = None
    if args.threads:
        from threadpoolctl import threadpool_limits

        limiter = threadpool_limits(args.threads)
    import sklearn
    from sklearn import neural_network as sk

    from glassnet.adapters import compiled
    from glassnet.adapters import sklearn as gn
    from glassnet.adapters.sklearn.training import CHUNK

    clock = time.perf_counter if args.clock == "wall" else time.process_time
    with warnings.catch_warnings():                    # compile (or load from numba's cache) before any timing
        warnings.simplefilter("ignore")
        for dt in (args.dtype, "float32"):             # the step, and the L-BFGS objective (a kernel of its own)
            for solver in ("adam", "lbfgs"):
                gn.MLPClassifier((4,), max_iter=2, dtype=dt, solver=solver).fit(np.eye(8), np.arange(8) % 3)
    step = (f"compiled step on {compiled.blas()}" if compiled.available() and os.environ.get("GLASSNET_COMPILED")
            != "0" else "NumPy fast path (numba missing or GLASSNET_COMPILED=0)")
    env = {k: os.environ.get(k) for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    print(f"# scikit-learn {sklearn.__version__}, NumPy {np.__version__}, Python {sys.version.split()[0]}, "
          f"threads cap {args.threads}, env {env}, dtype {args.dtype}, reps {args.reps}, clock {args.clock}, "
          f"load average {os.getloadavg()[0]:.1f}; glassnet: {step}; 'gn NumPy' = compiled=False")
    print("| data | solver | max_iter | sklearn s | glassnet s | ratio [range] | floor / sklearn | score sk / gn |"
          " n_iter_ sk / gn | gn float32 s | ratio [range] | floor / sklearn | score | n_iter_ |"
          " gn NumPy s | ratio [range] | gn / gn NumPy |"
          + (" sklearn float32 s | gn32 / sk32 | score sk32 |" if args.sklearn_float32 else ""))
    print("|---" * (17 + 3 * args.sklearn_float32) + "|")
    for name, task, (Xtr, Xte, ytr, yte) in datasets(args.quick):
        if args.only and not name.startswith(args.only):
            continue
        Xtr, Xte = Xtr.astype(args.dtype), Xte.astype(args.dtype)
        big = len(Xtr) > 10_000
        outputs = 1 if task == "reg" or len(np.unique(ytr)) == 2 else len(np.unique(ytr))
        units = [Xtr.shape[1], 100, outputs]
        for solver in args.solvers.split(","):
            params, small_iter, big_iter = SOLVERS[solver]
            max_iter = big_iter if big else small_iter
            params = {**params, "hidden_layer_sizes": (100,), "max_iter": max_iter, "random_state": 0,
                      "n_iter_no_change": max_iter}
            pair = (sk.MLPClassifier, gn.MLPClassifier) if task == "clf" else (sk.MLPRegressor, gn.MLPRegressor)
            fits = [(pair[0], {}, Xtr, Xte), (pair[1], {}, Xtr, Xte), (pair[1], {"dtype": "float32"}, Xtr, Xte),
                    (pair[1], {"compiled": False}, Xtr, Xte)]
            if args.sklearn_float32:
                fits.append((pair[0], {}, Xtr.astype(np.float32), Xte.astype(np.float32)))
            runs = {k: [] for k in range(len(fits))}
            for _ in range(args.reps):
                for k, (cls, extra, A, B) in enumerate(fits):
                    runs[k].append(one_fit(cls, {**params, **extra}, A, ytr, B, yte, clock))
            t_sk, t_gn, t_32 = (statistics.median(r[0] for r in runs[k]) for k in range(3))
            ratios = {k: [b[0] / a[0] for a, b in zip(runs[0], runs[k])] for k in (1, 2, 3)}
            ratios[5] = [a[0] / b[0] for a, b in zip(runs[1], runs[3])]            # compiled / NumPy fast path
            if args.sklearn_float32:
                ratios[4] = [b[0] / a[0] for a, b in zip(runs[4], runs[2])]        # glassnet float32 / sklearn float32
            n_fit = len(Xtr) - (int(np.ceil(0.1 * len(Xtr))) if params.get("early_stopping") else 0)
            batch = min(CHUNK, n_fit) if solver == "lbfgs" else min(200, n_fit)    # L-BFGS: chunks of X
            floors = {k: gemm_floor(units, n_fit, batch, runs[k][-1][2], dt, clock)
                      for k, dt in ((1, args.dtype), (2, "float32"))}

            def cell(k):
                r = ratios[k]
                return f"{statistics.median(r):.2f} [{min(r):.2f}-{max(r):.2f}]"

            print(f"| {name} | {solver} | {max_iter} | {t_sk:.3f} | {t_gn:.3f} | {cell(1)} | "
                  f"{floors[1] / t_sk:.2f} | {runs[0][-1][1]:.4f} / {runs[1][-1][1]:.4f} | "
                  f"{runs[0][-1][2]} / {runs[1][-1][2]} | {t_32:.3f} | {cell(2)} | {floors[2] / t_sk:.2f} | "
                  f"{runs[2][-1][1]:.4f} | {runs[2][-1][2]} | {statistics.median(r[0] for r in runs[3]):.3f} | "
                  f"{cell(3)} | {cell(5)} |"
                  + (f" {statistics.median(r[0] for r in runs[4]):.3f} | {cell(4)} | {runs[4][-1][1]:.4f} |"
                     if args.sklearn_float32 else ""), flush=True)
    del limiter


if __name__ == "__main__":
    main()
