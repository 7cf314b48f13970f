"""Start cost of the compiled step: a fresh process's import + first fit, with an empty and with a warm numba cache.

    python benchmarks/compiled_start.py [--reps 3]

Each row is a new ``python -c`` process (wall clock, seconds): importing glassnet and the compiled module, then one
small fit (float32 and float64, SGD and Adam: every kernel the step uses) through ``compiled.enable()``. "cold": the
numba cache of glassnet/adapters was emptied first (what the first process after an install or an upgrade pays);
"warm": the cache the previous process wrote. The BLAS is whatever ``GLASSNET_BLAS`` selects.
"""
import argparse
import glob
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CODE = """
import numpy as np, glassnet as g
from glassnet.adapters import compiled
compiled.enable()
for dt in ("float32", "float64"):
    X = np.random.default_rng(0).standard_normal((64, 8)).astype(dt); y = np.arange(64) % 3
    for opt in (g.SGD(0.1, momentum=0.9), g.Adam(0.01)):
        g.mlp(8, [16], 3, seed=0, dtype=dt).fit(X, y, optimizer=opt, epochs=1, batch_size=32, verbose=0)
print(compiled.blas())
"""


def run():
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", CODE], cwd=ROOT, capture_output=True, text=True, check=True,
                         env=dict(os.environ, PYTHONPATH=ROOT))
    return time.perf_counter() - t, out.stdout.strip()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args(argv)
    rows = {"import glassnet + numba only": [], "cold cache": [], "warm cache": []}
    for _ in range(args.reps):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", "import glassnet, numba"], cwd=ROOT, check=True)
        rows["import glassnet + numba only"].append(time.perf_counter() - t)
        for f in glob.glob(os.path.join(ROOT, "glassnet", "adapters", "__pycache__", "compiled.*.nb[ic]")):
            os.remove(f)
        cold, blas = run()
        rows["cold cache"].append(cold)
        rows["warm cache"].append(run()[0])
    print(f"BLAS: {blas}; {args.reps} reps, wall clock s (median [range])\n")
    print("| process | s |\n|---|---|")
    for k, v in rows.items():
        print(f"| {k} | {statistics.median(v):.2f} [{min(v):.2f}-{max(v):.2f}] |")


if __name__ == "__main__":
    main()
