"""Per-operation profile of one fast-path training step (glassnet/train/fastpath.py).

    python benchmarks/profile_step.py                  # small net B=32, MLP B=32 and B=128
    python benchmarks/profile_step.py --threads 1      # pin BLAS to one thread (threadpoolctl)

Every NumPy call that ``FastStep.__call__`` makes for a Dense/ReLU stack with softmax + cross-entropy
and SGD momentum is replayed here, alone, on the real buffers of a real ``FastStep`` (same shapes,
same memory), and timed in a loop (median of 7 timing loops, microseconds per call). Next to each:

- floor: GEMMs at the BLAS's own best rate on this machine (2 M N K / peak, the peak measured on a
  1024^3 SGEMM in this run); elementwise passes at memory bandwidth (bytes read + written / the copy
  bandwidth measured at the same working-set size); never less than the dispatch cost of one NumPy
  call on a 1-element array (also measured).
- the whole step (``FastStep.__call__``) and one iteration of the real loop (gather + step) timed
  the same way, so the sum of the parts can be checked against the whole; and, when numba is
  installed, the compiled step (glassnet.adapters.compiled: the kernel plus the SGD pass).

The op list mirrors FastStep.__call__ by hand; tests/test_fastpath.py checks FastStep, not this.
"""
from __future__ import annotations

import argparse
import os
import sys

import numpy as np

if __package__ in (None, ""):  # allow `python benchmarks/profile_step.py`
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.micro import bench  # noqa: E402


def best(fn, reps=7):
    """The fastest of ``reps`` timing loops (us per call): the machine's rate, not its noise."""
    return min(bench(fn, 0.02) for _ in range(reps))


def calibrate():
    """Peak SGEMM GFLOP/s, copy bandwidth per working-set size (GB/s), NumPy per-call overhead (us)."""
    rng = np.random.default_rng(0)
    n = 1024
    a, b, c = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(3))
    peak = 2 * n ** 3 / (best(lambda: np.matmul(a, b, out=c)) * 1e-6) / 1e9
    bw = {}
    for kib in (16, 256, 4096, 32768):
        x = np.ones(kib * 256, np.float32)       # kib KiB
        y = np.empty_like(x)
        bw[kib] = 2 * x.nbytes / (best(lambda: np.copyto(y, x)) * 1e-6) / 1e9
    one = np.ones(1, np.float32)
    call = best(lambda: np.multiply(one, one, out=one))
    return peak, bw, call


def mem_floor(nbytes, bw, call, working_set=None):
    """``nbytes`` moved at the copy bandwidth of the cache level that holds ``working_set`` bytes."""
    ws = nbytes if working_set is None else working_set
    level = min((k for k in bw if 2 * k * 1024 >= ws), default=max(bw))     # a copy of k KiB touches 2k KiB
    return max(nbytes / (bw[level] * 1e9) * 1e6, call)


def ops_of(step, ws, x, y):
    """[(part, description, fn, kind, size)] replaying FastStep.__call__ for Dense/ReLU + softmax CE + SGD."""
    from glassnet.nn.losses import softmax_cross_entropy
    ops = []
    pairs = step.pairs
    L = len(pairs)
    h = x
    for i, ((dense, act), a) in enumerate(zip(pairs, ws.a)):
        W, b = dense.weight.value, dense.bias.value
        M, K, N = h.shape[0], W.shape[0], W.shape[1]
        ops.append((f"L{i} fwd", f"matmul({M}x{K} @ {K}x{N})", lambda h=h, W=W, a=a: np.matmul(h, W, out=a),
                    "gemm", 2 * M * N * K))
        ops.append((f"L{i} fwd", "a += b", lambda a=a, b=b: a.__iadd__(b), "mem", 2 * a.nbytes))
        if i < L - 1:
            ops.append((f"L{i} fwd", "relu: maximum(a, 0, out=a)", lambda a=a: np.maximum(a, 0, out=a),
                        "mem", 2 * a.nbytes))
        h = a
    z = ws.a[-1]
    z0 = z.copy()
    ops.append(("loss", "softmax_cross_entropy (whole)",
                lambda: (np.copyto(z, z0), softmax_cross_entropy(z, y, None, ws.g[-1], ws.row)), "mem",
                4 * z.nbytes))
    gl, row = ws.g[-1], ws.row
    ops += [("loss", "argmax z, argmax Y, ==, sum", lambda: int((z.argmax(axis=1) == y.argmax(axis=1)).sum()),
             "mem", 2 * z.nbytes),
            ("loss", "max(z, axis=1, out=row)", lambda: np.max(z, axis=1, keepdims=True, out=row), "mem", z.nbytes),
            ("loss", "subtract(z, row, out=gl)", lambda: np.subtract(z, row, out=gl), "mem", 2 * z.nbytes),
            ("loss", "exp(g, out=z)", lambda: np.exp(gl, out=z), "mem", 2 * z.nbytes),
            ("loss", "sum(z, axis=1, out=row)", lambda: np.sum(z, axis=1, keepdims=True, out=row), "mem", z.nbytes),
            ("loss", "float((Y * (log(row) - gl)).sum())", lambda: float((y * (np.log(row) - gl)).sum()), "mem",
             3 * z.nbytes),
            ("loss", "divide(z, row, out=gl)", lambda: np.divide(z, row, out=gl), "mem", 2 * z.nbytes),
            ("loss", "g -= Y", lambda: gl.__isub__(y), "mem", 3 * z.nbytes),
            ("loss", "g *= 1/n", lambda: gl.__imul__(1.0 / z.shape[0]), "mem", 2 * z.nbytes)]
    for i in range(L - 1, -1, -1):
        g = ws.g[i]
        h = ws.a[i - 1] if i else x
        dW, db = step.grads[i]
        W = pairs[i][0].weight.value
        ops.append((f"L{i} bwd", f"matmul({h.shape[1]}x{h.shape[0]} @ {g.shape[0]}x{g.shape[1]}) dW",
                    lambda h=h, g=g, dW=dW: np.matmul(h.T, g, out=dW), "gemm", 2 * h.size * g.shape[1]))
        ops.append((f"L{i} bwd", "matmul(ones @ g) db", lambda g=g, db=db: np.matmul(ws.ones, g, out=db), "mem",
                    g.nbytes))
        if i:
            gp, ap, m = ws.g[i - 1], ws.a[i - 1], ws.mask[i - 1]
            ops.append((f"L{i} bwd", f"matmul({g.shape[0]}x{g.shape[1]} @ {W.shape[1]}x{W.shape[0]}) dX",
                        lambda g=g, W=W, gp=gp: np.matmul(g, W.T, out=gp), "gemm", 2 * g.size * W.shape[0]))
            ops.append((f"L{i - 1} act bwd", "greater(a, 0, out=mask)", lambda ap=ap, m=m: np.greater(ap, 0, out=m),
                        "mem", ap.nbytes + m.nbytes))
            ops.append((f"L{i - 1} act bwd", "g *= mask", lambda gp=gp, m=m: gp.__imul__(m), "mem",
                        2 * gp.nbytes + m.nbytes))
    opt = step.opt
    w, gr, v, tmp = step.flat_w, step.flat_g, step.flat_state[0], step.scratch
    from glassnet.backend.arrays import axpy
    nb = w.nbytes
    v0 = v.copy() + 1.0
    ops += [("update", "optimizer step_flat (whole)",
             lambda: opt.step_flat(w, gr, tmp, step.flat_state), "mem", 8 * nb),
            # v *= m repeated would run v into denormals (slow): multiply a copy, same traffic.
            ("update", "v *= momentum", lambda: np.multiply(v0, opt.momentum, out=v), "mem", 2 * nb),
            ("update", "axpy(-lr, g, v)", lambda: axpy(-opt.lr, gr, v, tmp), "mem", 3 * nb),
            ("update", "w += v", lambda: w.__iadd__(v), "mem", 3 * nb)]
    return ops


def profile(sizes, B, peak, bw, call, n=4096):
    import glassnet as g
    from glassnet.train import fastpath
    from glassnet.train.data import batches

    rng = np.random.default_rng(0)
    X = rng.standard_normal((n, sizes[0]), dtype=np.float32)
    labels = rng.integers(0, sizes[-1], n)
    Y = np.eye(sizes[-1], dtype=np.float32)[labels]
    model = g.mlp(sizes[0], sizes[1:-1], sizes[-1], seed=0)
    opt = g.SGD(lr=0.01, momentum=0.9).setup(model.parameters())
    with fastpath.engaged(model, g.CrossEntropy(), opt, X) as step:
        assert step is not None, "the fast path did not engage"
        xb, yb = X[:B].copy(), Y[:B].copy()
        step(xb, yb)
        ws = step.spaces[B]
        whole = bench(lambda: step(xb, yb))
        it = iter(())

        def iteration():
            nonlocal it
            try:
                b = next(it)
            except StopIteration:
                it = batches(X, Y, B, rng)
                b = next(it)
            step(*b)
        loop = bench(iteration)
        rows = []
        for part, desc, fn, kind, size in ops_of(step, ws, xb, yb):
            us = bench(fn)
            held = 3 * step.flat_w.nbytes if part == "update" else None      # the update holds w, g and v
            floor = max(size / (peak * 1e9) * 1e6, call) if kind == "gemm" else mem_floor(size, bw, call, held)
            if "(whole)" in desc:          # its floor: the sum of its parts' floors, filled in below
                floor = None
            rows.append((part, desc, us, floor, kind))
    compiled_us = None
    from glassnet.adapters import compiled
    if compiled.available():
        compiled.enable()
        try:
            model2 = g.mlp(sizes[0], sizes[1:-1], sizes[-1], seed=0)
            opt2 = g.SGD(lr=0.01, momentum=0.9).setup(model2.parameters())
            with fastpath.engaged(model2, g.CrossEntropy(), opt2, X) as cstep:
                compiled_us = bench(lambda: cstep(xb, yb))
        finally:
            compiled.disable()
    title = f"{'-'.join(map(str, sizes))}, batch {B}"
    print(f"\n### {title}\n\n| part | NumPy call | us | floor us | x floor |\n|---|---|---|---|---|")
    parts = {}
    for j, (part, desc, us, floor, kind) in enumerate(rows):
        if floor is None:
            floor = sum(r[3] for r in rows[j + 1:] if r[0] == part and r[3] is not None)
        print(f"| {part} | {desc} | {us:.1f} | {floor:.1f} | {us / floor:.1f} |")
        if "(whole)" in desc:
            continue
        key = "GEMMs" if kind == "gemm" else part.split()[-1] if part in ("loss", "update") else "elementwise"
        s = parts.setdefault(key, [0.0, 0.0, 0])
        s[0] += us
        s[1] += floor
        s[2] += 1
    total = sum(p[0] for p in parts.values())
    print("\n| group | calls | us | floor us |\n|---|---|---|---|")
    for key, (us, floor, k) in parts.items():
        print(f"| {key} | {k} | {us:.1f} | {floor:.1f} |")
    print(f"| sum of the parts | {sum(p[2] for p in parts.values())} | {total:.1f} | "
          f"{sum(p[1] for p in parts.values()):.1f} |")
    print(f"| FastStep.__call__ | | {whole:.1f} | |")
    print(f"| loop iteration (gather + step) | | {loop:.1f} | |")
    if compiled_us is not None:
        print(f"| CompiledStep.__call__ (numba, `glassnet.adapters.compiled`) | 2 | {compiled_us:.1f} | |")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=None, help="BLAS threads (threadpoolctl); default: as set")
    args = ap.parse_args(argv)
    ctx = None
    if args.threads:
        from threadpoolctl import threadpool_limits
        ctx = threadpool_limits(args.threads)
    peak, bw, call = calibrate()
    print(f"SGEMM 1024^3 peak {peak:.1f} GFLOP/s; copy bandwidth GB/s by working set: "
          + ", ".join(f"{k} KiB {v:.0f}" for k, v in bw.items()) + f"; one NumPy ufunc call {call:.2f} us")
    for sizes, B in (([64, 128, 64, 10], 32), ([784, 512, 256, 10], 32), ([784, 512, 256, 10], 128)):
        profile(sizes, B, peak, bw, call)
    del ctx


if __name__ == "__main__":
    main()
