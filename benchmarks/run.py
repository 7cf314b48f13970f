"""glassnet benchmark harness.

    python -m benchmarks.run               # full run (60,000 x 784 synthetic)
    python -m benchmarks.run --quick       # smoke test (fewer samples, 1 rep)
    python -m benchmarks.run --sections train --batches 128 --peers torch,proto

Sections
  train  MLP 784-512-256-10, epoch seconds at each batch size
  small  MLP 64-128-64-10, batch 32, microseconds per step
  infer  MLP 784-512-256-10 forward only, batch 1024, samples/s

Method: every peer runs in its own worker process (spawned, so thread pools
of torch/OpenMP, XLA and OpenBLAS never spin against each other). Workers are
set up and warmed up (one full epoch: JIT compile, workspaces) one after the
other, then the harness runs timed epochs interleaved A B C A B C ... and
reports the median (and min) of the reps. Peers whose import fails are
skipped with a note.

The "glassnet" column is the library itself (``make_glassnet_epoch``: epochs of one
long ``model.fit``), on its NumPy fast path; "glassnet_compiled" is the same fit with
the numba-compiled step (``glassnet.adapters.compiled.enable()``, the 'compiled' extra)
on its default BLAS (MKL with the 'mkl' extra), "glassnet_compiled_openblas" the same on
NumPy's OpenBLAS; "gemm_floor" is NumPy's 8 matmuls per batch, "gemm_floor_mkl" /
"gemm_floor_openblas" the compiled step's own GEMMs alone on that BLAS (peers.py);
``proto`` is the hand-written NumPy loop in proto_numpy.py that the library's fast path
was ported from, kept as a reference point.

After each section, a ratio table: each glassnet variant's time per sample divided by
each peer's (< 1: glassnet faster), the median over the interleaved reps and, in
brackets, the range of the per-rep ratios (rep i of one against rep i of the other).

    python -m benchmarks.run --threads 1 --reps 5 --sections train,small   # the BENCHMARKS.md table
    python -m benchmarks.run --threads 1 --sections cnn                    # the CNN (benchmarks/cnn.py)

``--peers glassnet_compiled,glassnet_compiled_sgd_after,gemm_floor_mkl`` (not in the default set) compares the
compiled step's SGD update inside its backward (the default) with the one pass after the kernel.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # allow `python benchmarks/run.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks import peers  # noqa: E402

GLASSNET_LABEL = "glassnet"

LR, MOMENTUM = 0.01, 0.9
BIG = [784, 512, 256, 10]
SMALL = [64, 128, 64, 10]


# ------------------------------------------------------------------ hook
def make_glassnet_epoch(sizes, B, X, Y, lr=LR, momentum=MOMENTUM):
    """Factory for the glassnet column: returns a callable running one epoch.

    The library's own training loop (glassnet.mlp: Dense/ReLU layers per ``sizes``,
    softmax output fused with cross-entropy, SGD(lr, momentum), shuffle each epoch).
    """
    return peers.make_glassnet(sizes, B, X, Y, lr=lr, momentum=momentum)


_default_state = {}


def glassnet_epoch(batch_size, sizes=BIG, n=60000):
    """Convenience hook: one glassnet epoch at ``batch_size`` on the default
    synthetic data (model/data cached per (sizes, batch_size, n)). Returns s."""
    key = (tuple(sizes), batch_size, n)
    if key not in _default_state:
        X, Y = synthetic(n, sizes[0], sizes[-1])
        _default_state[key] = make_glassnet_epoch(list(sizes), batch_size, X, Y)
    t = time.perf_counter()
    _default_state[key]()
    return time.perf_counter() - t


def make_glassnet_compiled_sgd_after(sizes, B, X, Y, lr=LR, momentum=MOMENTUM):
    """glassnet_compiled with its SGD update as one pass after the kernel (``CompiledStep.update_in_backward =
    False``), the form before the update moved inside the backward: not in the default peers, for the A/B."""
    from glassnet.adapters import compiled
    compiled.CompiledStep.update_in_backward = False
    return peers.make_glassnet_compiled(sizes, B, X, Y, lr=lr, momentum=momentum)


FACTORIES = dict(peers.FACTORIES)
FACTORIES[GLASSNET_LABEL] = make_glassnet_epoch
FACTORIES[f"{GLASSNET_LABEL}_compiled_sgd_after"] = make_glassnet_compiled_sgd_after


def synthetic(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=np.float32)
    Y = rng.integers(0, k, n).astype(np.intp)
    return X, Y


# ------------------------------------------------------------------ worker
def _worker(name, sizes, B, n, conn):
    cores = os.environ.get("GLASSNET_BENCH_CORES")
    if cores:   # --threads k: k cores for every peer. XLA's flag alone does not stop its matmuls using both cores
        os.sched_setaffinity(0, range(int(cores)))      # (measured: 1.7 CPU-seconds per second on a 512x784x512)
    try:
        X, Y = synthetic(n, sizes[0], sizes[-1])
        fn = FACTORIES[name](sizes, B, X, Y, lr=LR, momentum=MOMENTUM)
        samples = getattr(fn, "samples", n)
        fn()  # warm-up epoch (JIT compile, workspaces, caches)
        conn.send(("ready", samples))
    except peers.PeerUnavailable as e:
        conn.send(("skip", str(e)))
        return
    except Exception as e:  # report, don't crash the harness
        conn.send(("skip", f"{type(e).__name__}: {e}"))
        return
    while True:
        cmd = conn.recv()
        if cmd != "run":
            break
        t = time.perf_counter()
        fn()
        conn.send(time.perf_counter() - t)


def run_group(names, sizes, B, n, reps, notes):
    """Start workers one at a time (warm-up alone), then interleave reps."""
    ctx = mp.get_context("spawn")
    live = {}
    for name in names:
        a, b = ctx.Pipe()
        p = ctx.Process(target=_worker, args=(name, sizes, B, n, b), daemon=True)
        p.start()
        msg = a.recv()
        if msg[0] == "skip":
            notes.append(f"{name} (B={B}, sizes={sizes}) skipped: {msg[1]}")
            p.join()
            continue
        live[name] = (p, a, msg[1])
    times = {name: [] for name in live}
    for _ in range(reps):
        for name, (p, conn, _) in live.items():
            conn.send("run")
            times[name].append(conn.recv())
    for name, (p, conn, _) in live.items():
        conn.send("stop")
        p.join()
    return {name: (times[name], live[name][2]) for name in live}


# ------------------------------------------------------------------ report
def env_report():
    lines = []
    for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS",
              "OMP_NUM_THREADS", "MKL_NUM_THREADS", "MKL_THREADING_LAYER", "GLASSNET_BLAS", "GLASSNET_MKL",
              "JAX_PLATFORMS", "XLA_FLAGS", "GLASSNET_BENCH_CORES"):
        lines.append(f"{k}={os.environ.get(k, '<unset>')}")
    lines.append(f"numpy {np.__version__}, cpu_count {os.cpu_count()}")
    try:
        from threadpoolctl import threadpool_info
        for info in threadpool_info():
            if info.get("user_api") == "blas":
                lines.append(f"BLAS: {info.get('internal_api')} {info.get('version')} "
                             f"kernel={info.get('architecture')} threads={info.get('num_threads')} "
                             f"({os.path.basename(info.get('filepath', ''))})")
    except Exception:
        lines.append("threadpoolctl not available: BLAS kernel unknown")
    return lines


def ratio_cell(mine, peer):
    """'median [min-max]' of time-per-sample ratios mine/peer over paired reps."""
    (ta, na), (tb, nb) = mine, peer
    rs = [(a / na) / (b / nb) for a, b in zip(ta, tb)]
    return f"{statistics.median(ta) / na / (statistics.median(tb) / nb):.2f} [{min(rs):.2f}-{max(rs):.2f}]"


def ratio_table(results, labels, names):
    """Rows: each glassnet variant vs each peer; columns: the groups (``results``: label -> run_group result)."""
    mine = [m for m in (GLASSNET_LABEL, GLASSNET_LABEL + "_compiled", GLASSNET_LABEL + "_compiled_openblas")
            if m in names]
    print("| glassnet / peer (time per sample) | " + " | ".join(labels) + " |")
    print("|---|" + "---|" * len(labels))
    for m in mine:
        for peer in names:
            mkl_vs_openblas = m.endswith("_compiled") and peer.endswith("_compiled_openblas")
            if peer == m or peer in mine and peer != GLASSNET_LABEL and not mkl_vs_openblas:
                continue
            cells = [ratio_cell(results[lab][m], results[lab][peer]) if m in results[lab] and peer in results[lab]
                     else "skip" for lab in labels]
            print(f"| {m} / {peer} | " + " | ".join(cells) + " |")
    print()


def fmt(x, unit=""):
    return f"{x:.3f}{unit}" if x < 100 else f"{x:.0f}{unit}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke test: 6,000 samples, 1 rep")
    ap.add_argument("--n", type=int, default=None, help="samples per epoch (train/infer)")
    ap.add_argument("--reps", type=int, default=None, help="timed epochs per peer (>=3)")
    ap.add_argument("--batches", default="32,128,512")
    ap.add_argument("--sections", default="train,small,infer", help="any of train,small,infer,cnn")
    ap.add_argument("--peers", default="torch,jax_step,jax_scan,sklearn,gemm_floor,gemm_floor_mkl,"
                    "gemm_floor_openblas,proto," + GLASSNET_LABEL + f",{GLASSNET_LABEL}_compiled,"
                    f"{GLASSNET_LABEL}_compiled_openblas")
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS/OpenMP/XLA threads per peer (default: as the environment says); 1 is steadier on a "
                         "shared machine")
    args = ap.parse_args(argv)
    if args.threads:                          # inherited by the spawned workers before they import numpy
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
        os.environ["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen={'true' if args.threads > 1 else 'false'}"
        os.environ["GLASSNET_BENCH_CORES"] = str(min(args.threads, os.cpu_count()))
    n = args.n or (6000 if args.quick else 60000)
    n_small = 6400 if args.quick else 64000
    reps = args.reps or (1 if args.quick else 3)
    batches = [int(b) for b in args.batches.split(",")]
    names = [p for p in args.peers.split(",") if p]
    sections = args.sections.split(",")
    notes = []
    ref = GLASSNET_LABEL

    print("## Environment\n")
    for line in env_report():
        print(f"- {line}")
    print(f"- n={n}, reps={reps} (median reported), warm-up 1 epoch, interleaved workers\n")

    if "train" in sections:
        print(f"## Train {'-'.join(map(str, BIG))}, SGD momentum, epoch of {n} samples\n")
        res = {}
        for B in batches:
            res[B] = run_group(names, BIG, B, n, reps, notes)
        print("| peer | " + " | ".join(f"B={B} s | B={B} samples/s | B={B} x{ref}" for B in batches) + " |")
        print("|---|" + "---|---|---|" * len(batches))
        for name in names:
            cells = []
            for B in batches:
                if name not in res[B]:
                    cells += ["skip"] * 3
                    continue
                ts, samples = res[B][name]
                med = statistics.median(ts)
                r = res[B].get(ref)
                ratio = f"{med / statistics.median(r[0]):.2f}" if r else "-"
                cells += [fmt(med), f"{samples / med:,.0f}", ratio]
            print(f"| {name} | " + " | ".join(cells) + " |")
        print(f"\n(x{ref} = peer epoch time / {ref} epoch time; >1 means {ref} is faster."
              " jax_scan drops the n % B remainder; samples/s uses samples processed.)\n")
        ratio_table({f"B={B}": res[B] for B in batches}, [f"B={B}" for B in batches], names)

    if "small" in sections:
        B = 32
        small_names = list(names)
        print(f"## Small net {'-'.join(map(str, SMALL))}, batch {B}, {n_small} samples\n")
        res = run_group(small_names, SMALL, B, n_small, reps, notes)
        r = res.get(ref)
        print(f"| peer | us/step | x{ref} |\n|---|---|---|")
        for name in small_names:
            if name not in res:
                print(f"| {name} | skip | |")
                continue
            ts, samples = res[name]
            us = statistics.median(ts) / (samples // B) * 1e6
            ratio = f"{statistics.median(ts) / statistics.median(r[0]):.2f}" if r else "-"
            print(f"| {name} | {us:.1f} | {ratio} |")
        print()
        ratio_table({"small net B=32": res}, ["small net B=32"], small_names)

    if "infer" in sections:
        B = 1024
        print(f"## Inference {'-'.join(map(str, BIG))}, batch {B}, {n} samples\n")
        res = run_group(["torch_infer", "glassnet_infer", "proto_infer"], BIG, B, n, reps, notes)
        print("| peer | samples/s |\n|---|---|")
        for name, (ts, samples) in res.items():
            print(f"| {name} | {samples / statistics.median(ts):,.0f} |")
        print()

    if "cnn" in sections:
        # the CNN of the convolutions issue has its own benchmark (its peers, layouts and memory options live there);
        # run here as a section so one command gives the whole speed table
        print("## CNN (issue 14's net, batch 128): benchmarks/cnn.py\n", flush=True)
        cmd = [sys.executable, str(Path(__file__).with_name("cnn.py")), "--steps", "5" if args.quick else "20",
               "--reps", str(reps), "--infer", "500" if args.quick else "3000"]
        subprocess.run(cmd + (["--threads", str(args.threads)] if args.threads else []), check=True)
        print()

    if notes:
        print("## Notes\n")
        for note in notes:
            print(f"- {note}")


if __name__ == "__main__":
    main()
