"""Where the compiled step's time goes: the scikit-learn L-BFGS fit on digits, one small-net step, the parts of one
784-512-256-10 step at batch 512.

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/profile_compiled.py lbfgs   # GLASSNET_BLAS=... picks
    OPENBLAS_NUM_THREADS=1 python benchmarks/profile_compiled.py small
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/profile_compiled.py parts   # MLP, batch 512
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/profile_compiled.py digits  # one L-BFGS evaluation
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/profile_compiled.py scipy   # scipy's share of a fit
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/profile_compiled.py chunks  # L-BFGS chunk sizes

``lbfgs``: 7 interleaved fits of scikit-learn's and glassnet's MLPClassifier(solver='lbfgs', (100,), max_iter=100)
on digits, timed with the process's CPU time; inside glassnet's, the L-BFGS objective (``Objective.__call__``) and
the compiled call it makes (``Objective.kernel``, or the step per chunk without it) are timed too, so the fit
splits into step / objective around it / the rest (scipy's L-BFGS-B, input checks, setup). ``small``: the
64-128-64-10 net at batch 32, us per step of a 1-epoch ``fit``, of the ``batches`` gather, of
``CompiledStep.__call__`` on a fixed batch, of the kernel call alone (no update) and of the SGD pass. ``parts``:
each part of one 784-512-256-10 step at batch 512 timed alone, against the step's GEMMs alone. ``digits``: the same
parts for one digits L-BFGS evaluation (all 1,347 rows through 64-100-10), in float64 and in float32. ``scipy``:
scipy's L-BFGS-B alone, one digits fit's values and gradients replayed through the same ``minimize`` call.
``chunks``: the compiled L-BFGS objective per evaluation for chunks of 256-4,096 rows (digits, covertype-like).
"""
import os
import statistics
import sys
import time
import warnings

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import glassnet as g  # noqa: E402
from glassnet.adapters import compiled  # noqa: E402
from glassnet.train import fastpath  # noqa: E402
from glassnet.train.data import batches  # noqa: E402


def lbfgs(clock=time.process_time):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier as SK

    from glassnet.adapters.sklearn import MLPClassifier, training

    X, y = load_digits(return_X_y=True)
    Xtr, _, ytr, _ = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    warnings.simplefilter("ignore")
    p = dict(solver="lbfgs", hidden_layer_sizes=(100,), max_iter=100, random_state=0, n_iter_no_change=100)
    MLPClassifier(**p).fit(Xtr, ytr)                    # compile / load the cache
    acc = {}
    call = training.Objective.__call__

    class Timed:
        def __init__(self, step):
            self.step = step

        def __getattr__(self, name):
            return getattr(self.step, name)

        def __call__(self, *args):
            t = clock()
            out = self.step(*args)
            acc["step"] += clock() - t
            return out

    def timed_call(self, theta):
        if self.kernel is not None:                     # the compiled objective: one call per evaluation
            if not isinstance(self.kernel, Timed):
                self.kernel = Timed(self.kernel)
        elif self.fast is not None and not isinstance(self.fast, Timed):
            self.fast = Timed(self.fast)
        t = clock()
        out = call(self, theta)
        acc["objective"] += clock() - t
        acc["calls"] += 1
        return out

    training.Objective.__call__ = timed_call
    res = {k: [] for k in ("sklearn", "glassnet", "objective", "step", "calls")}
    for _ in range(7):
        t = clock()
        SK(**p).fit(Xtr, ytr)
        res["sklearn"].append(clock() - t)
        acc.update(objective=0.0, step=0.0, calls=0)
        t = clock()
        MLPClassifier(**p).fit(Xtr, ytr)
        res["glassnet"].append(clock() - t)
        for k in ("objective", "step", "calls"):
            res[k].append(acc[k])
    training.Objective.__call__ = call
    m = {k: statistics.median(v) for k, v in res.items()}
    print(f"digits L-BFGS, compiled step on {compiled.blas()}, CPU s (median of 7): scikit-learn {m['sklearn']:.3f}, "
          f"glassnet {m['glassnet']:.3f} ({m['glassnet'] / m['sklearn']:.2f}x)")
    print(f"of glassnet's fit: step (the compiled objective) {m['step'] / m['glassnet']:.2f}, objective around it "
          f"{(m['objective'] - m['step']) / m['glassnet']:.2f}, rest (scipy's L-BFGS-B, checks, setup) "
          f"{(m['glassnet'] - m['objective']) / m['glassnet']:.2f}; {m['calls']:.0f} evaluations, "
          f"{m['step'] / m['calls'] * 1e3:.3f} ms of step each")


def scipy_alone(reps=15, clock=time.process_time):
    """scipy's L-BFGS-B alone on a digits fit: one glassnet fit's (value, gradient) pairs recorded, then replayed
    through the same ``scipy.optimize.minimize`` call (no objective computed), CPU ms per fit."""
    import scipy.optimize
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    from glassnet.adapters.sklearn import MLPClassifier, training

    X, y = load_digits(return_X_y=True)
    Xtr, _, ytr, _ = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    warnings.simplefilter("ignore")
    recorded, start = [], []
    call = training.Objective.__call__

    def record(self, theta):
        start.append(theta.copy())
        value, grad = call(self, theta)
        recorded.append((value, grad.copy()))
        return value, grad

    training.Objective.__call__ = record
    MLPClassifier(solver="lbfgs", hidden_layer_sizes=(100,), max_iter=100, random_state=0).fit(Xtr, ytr)
    training.Objective.__call__ = call

    def replay():
        pairs = iter(recorded)
        t = clock()
        scipy.optimize.minimize(lambda x: next(pairs), start[0].copy(), method="L-BFGS-B", jac=True,
                                callback=lambda intermediate_result: None,
                                options={"maxfun": 15000, "maxiter": 100, "gtol": 1e-4})
        return (clock() - t) * 1e3

    replay()
    times = [replay() for _ in range(reps)]
    print(f"scipy's L-BFGS-B alone, {len(recorded)} evaluations replayed: {statistics.median(times):.1f} ms "
          f"[{min(times):.1f}-{max(times):.1f}] CPU per fit (median of {reps})")


def chunks(sizes=(256, 512, 1024, 2048, 4096), rounds=7, clock=time.process_time):
    """The compiled L-BFGS objective per evaluation, CPU ms, for each chunk of rows (``training.CHUNK`` is the
    estimators'), interleaved, on digits and on the covertype-like set of benchmarks/sklearn_speed.py."""
    from benchmarks.sklearn_speed import datasets
    from glassnet.adapters.sklearn import MLPClassifier, training

    warnings.simplefilter("ignore")
    for name, _, (Xtr, _, ytr, _) in datasets(False):
        if name.startswith("friedman"):
            continue
        est = MLPClassifier(hidden_layer_sizes=(100,), solver="lbfgs", max_iter=1, random_state=0).fit(Xtr, ytr)
        Y = est._validate_input(Xtr, ytr, False, reset=False)[1].astype(np.float64)
        with compiled.by_default():
            objs = {c: training.Objective(est.model_, Xtr, Y, None, 1e-4, 1.0, est._loss(), chunk=c) for c in sizes}
            theta = objs[sizes[0]].theta()
            res = {c: [] for c in objs}
            for f in objs.values():
                f(theta)
            for _ in range(rounds):
                for c, f in objs.items():
                    t = clock()
                    for _ in range(5):
                        f(theta)
                    res[c].append((clock() - t) / 5 * 1e3)
            for f in objs.values():
                f.release()
        print(f"{name}: " + ", ".join(f"chunk {c} {statistics.median(v):.2f} ms [{min(v):.2f}-{max(v):.2f}]"
                                      for c, v in res.items()))


def small(n=16000, B=32):
    compiled.enable()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, 64), dtype=np.float32)
    y = rng.integers(0, 10, n)
    Y = np.eye(10, dtype=np.float32)[y]
    model = g.mlp(64, [128, 64], 10, seed=0)
    opt = g.SGD(0.01, momentum=0.9).setup(model.parameters())
    with fastpath.engaged(model, g.CrossEntropy(), opt, X) as step:
        xb, yb = X[:B].copy(), Y[:B].copy()
        step(xb, yb)
        args = (xb.reshape(-1), B, yb, step.no_weights, step.flat_w, step.flat_g, step.wo, step.bo, step.dims,
                step.acts, step.alphas, step.loss_code, *step.cspaces[B], 0.0, 0.0, False, step.no_update)
        steps = n // B

        def per_step(f, reps=steps):
            t = time.perf_counter()
            for _ in range(reps):
                f()
            return (time.perf_counter() - t) / reps * 1e6

        def fit():
            m = g.mlp(64, [128, 64], 10, seed=0)
            t = time.perf_counter()
            m.fit(X, y, optimizer=g.SGD(0.01, momentum=0.9), epochs=1, batch_size=B, verbose=0)
            return (time.perf_counter() - t) / steps * 1e6

        def gather():
            t = time.perf_counter()
            for _ in batches(X, Y, B, np.random.default_rng(0)):
                pass
            return (time.perf_counter() - t) / steps * 1e6

        rows = {"1-epoch fit, per step": fit, "batches() gather": gather,
                "CompiledStep.__call__ on a fixed batch": lambda: per_step(lambda: step(xb, yb)),
                "kernel call alone": lambda: per_step(lambda: step.kernel(*args)),
                "SGD pass alone": lambda: per_step(lambda: compiled._sgd(step.flat_w, step.flat_g,
                                                                          step.flat_state[0], 0.01, 0.9, False))}
        res = {k: [] for k in rows}
        for _ in range(7):
            for k, f in rows.items():
                res[k].append(f())
    compiled.disable()
    print(f"64-128-64-10, batch {B}, compiled step on {compiled.blas()}, us per step (median of 7)\n")
    print("| part | us |\n|---|---|")
    for k, v in res.items():
        print(f"| {k} | {statistics.median(v):.1f} |")


def parts(sizes=(784, 512, 256, 10), B=512, reps=20, rounds=9, clock=time.process_time, dtype=np.float32):
    """Each part of one compiled step on the MLP (SGD momentum), timed alone on the step's own buffers, in
    ms per step (median of ``rounds``, interleaved part by part): the GEMMs, each elementwise pass, the update."""
    import numba
    compiled.enable()
    rng = np.random.default_rng(0)
    X = rng.standard_normal((B, sizes[0])).astype(dtype)
    Y = np.eye(sizes[-1], dtype=dtype)[rng.integers(0, sizes[-1], B)]
    model = g.mlp(sizes[0], list(sizes[1:-1]), sizes[-1], seed=0, dtype=dtype)
    opt = g.SGD(0.01, momentum=0.9).setup(model.parameters())
    C, gemm = compiled, compiled.gemm_kernel()
    L = len(sizes) - 1

    @numba.njit
    def gemms(xs, n, W, G, wo, dims, A, D, ao, R):          # the step's GEMMs alone: NN forward, TN dW, NT dX
        for _ in range(R):
            for i in range(L):
                k, m = dims[i], dims[i + 1]
                gemm(False, False, n, m, k, 1.0, xs if i == 0 else A[ao[i - 1]:ao[i]], k, W[wo[i]:], m, 0.0,
                     A[ao[i]:ao[i + 1]], m)
            for i in range(L - 1, -1, -1):
                k, m = dims[i], dims[i + 1]
                gemm(True, False, k, m, n, 1.0, xs if i == 0 else A[ao[i - 1]:ao[i]], k, D[ao[i]:ao[i + 1]], m, 0.0,
                     G[wo[i]:], m)
                if i:
                    gemm(False, True, n, k, m, 1.0, D[ao[i]:ao[i + 1]], m, W[wo[i]:], m, 0.0, D[ao[i - 1]:ao[i]], k)

    @numba.njit
    def passes(part, n, W, G, V, bo, dims, acts, Y, A, D, ao, R):   # one kind of elementwise pass, every layer
        for _ in range(R):
            if part == 4:
                C._sgd(W, G, V, 0.0, 0.9, False)
                continue
            if part == 1:
                C._loss_grad(A[ao[L - 1]:ao[L]], Y, W[:0], D[ao[L - 1]:ao[L]], n, dims[L], 0)
                continue
            for i in range(L):
                m = dims[i + 1]
                a, d = A[ao[i]:ao[i + 1]], D[ao[i]:ao[i + 1]]
                if part == 0:
                    C._act_forward(a, W[bo[i]:bo[i] + m], n, m, acts[i], 0.0)
                elif part == 2:
                    C._act_backward(d, a, n * m, acts[i], 0.0)
                else:
                    db = G[bo[i]:bo[i] + m]
                    db[:] = 0
                    for r in range(n):
                        for j in range(m):
                            db[j] += d[r * m + j]

    with fastpath.engaged(model, g.CrossEntropy(), opt, X) as step:
        step(X, Y)
        A, D, ao = step.cspaces[B]
        V = step.flat_state[0]
        args = (X.reshape(-1), B, Y, step.no_weights, step.flat_w, step.flat_g, step.wo, step.bo, step.dims,
                step.acts, step.alphas, step.loss_code, A, D, ao)
        rows = {"step (CompiledStep.__call__, SGD inside the backward)": lambda R: [step(X, Y) for _ in range(R)],
                "kernel without the update": lambda R: [step.kernel(*args, 0.0, 0.0, False, step.no_update)
                                                        for _ in range(R)],
                "GEMMs alone (the floor)": lambda R: gemms(X.reshape(-1), B, step.flat_w, step.flat_g, step.wo,
                                                           step.dims, A, D, ao, R)}
        names = ("bias + activation forward", "softmax + cross-entropy gradient", "activation backward",
                 "bias gradient sums", "SGD momentum pass over all parameters (lr 0)")
        for part, name in enumerate(names):
            rows[name] = (lambda part: lambda R: passes(part, B, step.flat_w, step.flat_g, V, step.bo, step.dims,
                                                        step.acts, Y, A, D, ao, R))(part)
        for f in rows.values():
            f(1)
        res = {k: [] for k in rows}
        for _ in range(rounds):
            for k, f in rows.items():
                t = clock()
                f(reps)
                res[k].append((clock() - t) / reps * 1e3)
    compiled.disable()
    floor = statistics.median(res["GEMMs alone (the floor)"])
    print(f"{'-'.join(map(str, sizes))}, batch {B}, {np.dtype(dtype).name}, compiled step on {compiled.blas()}, "
          f"ms per step (median of {rounds}, range)\n")
    print("| part | ms | range | / GEMM floor |\n|---|---|---|---|")
    for k, v in res.items():
        print(f"| {k} | {statistics.median(v):.3f} | {min(v):.3f}-{max(v):.3f} | {statistics.median(v) / floor:.3f} |")


if __name__ == "__main__":
    {"lbfgs": lbfgs, "small": small, "parts": parts,
     # one digits L-BFGS evaluation (1,347 rows, 64-100-10) part by part, in the estimators' float64 and in float32
     "digits": lambda: [parts((64, 100, 10), 1347, 50, dtype=dt) for dt in (np.float64, np.float32)],
     "scipy": scipy_alone, "chunks": chunks,
     }[(sys.argv[1:] or ["small"])[0]]()
