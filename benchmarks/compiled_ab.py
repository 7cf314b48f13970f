"""Interleaved A/B of the Dense training steps in one process: NumPy fast path, compiled step, compiled + fused SGD
(one pass after the kernel, or layer by layer inside its backward).

    python benchmarks/compiled_ab.py 64-128-64-10 32 16000 9          # sizes, batch, samples, reps
    python benchmarks/compiled_ab.py 784-512-256-10 128 6400 7 adam   # optimizer: sgd (momentum 0.9) or adam

Each variant is a real step (``fastpath.engaged`` on its own model), fed the same shuffled batches; epochs
alternate variant by variant, and the table gives the median us/step, the range, and the median of the per-rep
ratios to the NumPy fast path. Needs numba (the 'compiled' extra). Pin threads for a steady machine:
``OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1``.
"""
import os
import statistics
import sys
import time

import numpy as np

if __package__ in (None, ""):  # allow `python benchmarks/compiled_ab.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import glassnet as g  # noqa: E402
from glassnet.adapters import compiled  # noqa: E402
from glassnet.train import fastpath  # noqa: E402
from glassnet.train.data import batches  # noqa: E402


def main(argv):
    sizes = [int(s) for s in argv[0].split("-")]
    B, n, reps = int(argv[1]), int(argv[2]), int(argv[3])
    optimizer = argv[4] if len(argv) > 4 else "sgd"
    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, sizes[0]), dtype=np.float32)
    Y = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], n)]
    steps, held = {}, []
    for name in ("numpy", "compiled, optimizer step_flat", "compiled + fused SGD after the kernel",
                 "compiled + SGD inside backward"):
        (compiled.enable if name != "numpy" else compiled.disable)()
        model = g.mlp(sizes[0], sizes[1:-1], sizes[-1], seed=0)
        opt = (g.SGD(lr=0.01, momentum=0.9) if optimizer == "sgd" else g.Adam(1e-3)).setup(model.parameters())
        ctx = fastpath.engaged(model, g.CrossEntropy(), opt, X)
        step = ctx.__enter__()
        held.append(ctx)                       # keep the context alive: its exit releases the flat buffers
        if name == "compiled, optimizer step_flat":
            step.fuse_update = False
        if name == "compiled + fused SGD after the kernel":
            step.update_in_backward = False
        steps[name] = step
    compiled.disable()

    def epoch(step, seed):
        for xb, yb in batches(X, Y, B, np.random.default_rng(seed)):
            step(xb, yb)

    for step in steps.values():
        epoch(step, 1)                         # warm-up: compiles, builds the workspaces
    res = {k: [] for k in steps}
    for i in range(reps):
        for k, step in steps.items():
            t = time.perf_counter()
            epoch(step, i)
            res[k].append((time.perf_counter() - t) / -(-n // B) * 1e6)
    print(f"{'-'.join(map(str, sizes))}, B={B}, {optimizer}, {reps} reps\n")
    print("| variant | us/step (median) | range | x numpy (median of per-rep ratios) |\n|---|---|---|---|")
    for k, v in res.items():
        r = statistics.median(a / b for a, b in zip(v, res["numpy"]))
        print(f"| {k} | {statistics.median(v):.1f} | {min(v):.1f}-{max(v):.1f} | {r:.3f} |")
    for ctx in held:
        ctx.__exit__(None, None, None)


if __name__ == "__main__":
    main(sys.argv[1:] or ["64-128-64-10", "32", "16000", "9"])
