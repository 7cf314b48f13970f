"""Micro-benchmarks of the individual tricks used in proto_numpy.py.

    python -m benchmarks.micro [B ...]      # default B = 32 128 512

Each line: microseconds per call (median of 7 runs of a timing loop), for the
784-512-256-10 MLP shapes at batch size B.
"""
from __future__ import annotations

import sys
import time

import numpy as np

F32 = np.float32


def bench(fn, min_time=0.05):
    fn()
    k = 1
    while True:
        t = time.perf_counter()
        for _ in range(k):
            fn()
        dt = time.perf_counter() - t
        if dt > min_time:
            break
        k *= 2
    res = []
    for _ in range(7):
        t = time.perf_counter()
        for _ in range(k):
            fn()
        res.append((time.perf_counter() - t) / k)
    return np.median(res) * 1e6


def run(B):
    rng = np.random.default_rng(0)
    r = lambda *s: rng.standard_normal(s, dtype=F32)
    print(f"\n### B={B}\n\n| op | variant | us |\n|---|---|---|")

    def row(op, var, fn):
        print(f"| {op} | {var} | {bench(fn):.1f} |")

    # ---- GEMM layouts, layer 784->512 and 512->256
    for fi, fo in ((784, 512), (512, 256), (256, 10)):
        x, g = r(B, fi), r(B, fo)
        W_oi, W_io = r(fo, fi), r(fi, fo)
        out, dW_oi = np.empty((B, fo), F32), np.empty((fo, fi), F32)
        dW_io, dx = np.empty((fi, fo), F32), np.empty((B, fi), F32)
        op = f"{fi}->{fo}"
        row(f"fwd {op}", "x @ W_io", lambda: np.matmul(x, W_io, out=out))
        row(f"fwd {op}", "x @ W_oi.T", lambda: np.matmul(x, W_oi.T, out=out))
        row(f"fwd {op}", "x @ W_oi.T (no out=)", lambda: x @ W_oi.T)
        row(f"dW {op}", "x.T @ g -> (in,out)", lambda: np.matmul(x.T, g, out=dW_io))
        row(f"dW {op}", "g.T @ x -> (out,in)", lambda: np.matmul(g.T, x, out=dW_oi))
        row(f"dx {op}", "g @ W_oi", lambda: np.matmul(g, W_oi, out=dx))
        row(f"dx {op}", "g @ W_io.T", lambda: np.matmul(g, W_io.T, out=dx))

    # ---- elementwise on a (B,512) hidden activation
    h = np.maximum(r(B, 512), 0)
    gg = r(B, 512)
    b = r(512)
    mask = np.empty_like(h)
    bmask = np.empty(h.shape, bool)
    ones = np.ones(B, F32)
    db = np.empty(512, F32)
    row("bias add", "np.add(h, b, out=h)", lambda: np.add(h, b, out=h))
    row("bias add", "h += b", lambda: h.__iadd__(b))
    row("relu fwd", "np.maximum(h, 0, out=h)", lambda: np.maximum(h, 0, out=h))
    row("relu fwd", "h[h<0]=0", lambda: h.__setitem__(h < 0, 0))
    g2 = gg.copy()
    row("relu bwd", "sign(a,out=m); g*=m", lambda: (np.sign(h, out=mask), np.multiply(g2, mask, out=g2)))
    row("relu bwd", "g *= (a>0) [bool temp]", lambda: np.multiply(g2, h > 0, out=g2))
    row("relu bwd", "greater(out=bm); g*=bm", lambda: (np.greater(h, 0, out=bmask), np.multiply(g2, bmask, out=g2)))
    row("relu bwd", "copyto(g,0,where=a<=0)", lambda: np.copyto(g2, 0, where=h <= 0))
    row("relu bwd", "g[a<=0]=0", lambda: g2.__setitem__(h <= 0, 0))
    row("relu bwd", "heaviside(a,0,out=m); g*=m", lambda: (np.heaviside(h, 0, out=mask), np.multiply(g2, mask, out=g2)))
    row("bias grad", "ones @ g (gemv, out=)", lambda: np.matmul(ones, gg, out=db))
    row("bias grad", "g.sum(0, out=)", lambda: np.sum(gg, axis=0, out=db))
    row("bias grad", "np.add.reduce(g,0)", lambda: np.add.reduce(gg, axis=0))

    # ---- softmax + CE on (B,10)
    z0 = r(B, 10)
    y = rng.integers(0, 10, B)
    rows = np.arange(B)
    z = z0.copy()
    mx, sm, zy = np.empty((B, 1), F32), np.empty((B, 1), F32), np.empty(B, F32)
    flat = rows * 10 + y

    def fused():
        np.copyto(z, z0)
        np.max(z, axis=1, keepdims=True, out=mx)
        np.subtract(z, mx, out=z)
        np.take(z.reshape(-1), flat, out=zy)
        np.exp(z, out=z)
        np.sum(z, axis=1, keepdims=True, out=sm)
        loss = float(np.log(sm).sum() - zy.sum()) / B
        np.multiply(sm, B, out=sm)
        np.divide(z, sm, out=z)
        z[rows, y] -= F32(1.0 / B)
        return loss

    def naive():
        zz = z0 - z0.max(1, keepdims=True)
        p = np.exp(zz)
        p /= p.sum(1, keepdims=True)
        loss = -np.log(p[rows, y]).mean()
        oh = np.zeros_like(p)
        oh[rows, y] = 1
        return (p - oh) / B, float(loss)

    row("softmax+CE", "fused in place", fused)
    row("softmax+CE", "naive (alloc, one-hot)", naive)

    # ---- SGD momentum on 784x512
    W, v, gW = r(512, 784), np.zeros((512, 784), F32), r(512, 784)
    lr, m = F32(0.01), F32(0.9)

    def sgd_fold():  # lr already in g
        np.multiply(v, m, out=v)
        np.subtract(v, gW, out=v)
        np.add(W, v, out=W)

    def sgd_plain():
        np.multiply(v, m, out=v)
        np.multiply(gW, lr, out=gW)
        np.subtract(v, gW, out=v)
        np.add(W, v, out=W)

    def sgd_alloc():
        v[...] = m * v - lr * gW
        W[...] = W + v

    row("SGD-mom 784x512", "3 in-place passes (lr folded)", sgd_fold)
    row("SGD-mom 784x512", "4 in-place passes", sgd_plain)
    row("SGD-mom 784x512", "expression with temps", sgd_alloc)

    m1, m2, tmp = np.zeros_like(W), np.zeros_like(W), np.empty_like(W)

    def adam():
        np.subtract(gW, m1, out=tmp); np.multiply(tmp, F32(0.1), out=tmp); np.add(m1, tmp, out=m1)
        np.multiply(gW, gW, out=tmp); np.multiply(m2, F32(0.999), out=m2)
        np.multiply(tmp, F32(0.001), out=tmp); np.add(m2, tmp, out=m2)
        np.sqrt(m2, out=tmp); np.add(tmp, F32(1e-8), out=tmp); np.divide(m1, tmp, out=tmp)
        np.multiply(tmp, F32(1e-3), out=tmp); np.subtract(W, tmp, out=W)

    def adam_alloc():
        m1[...] = 0.9 * m1 + 0.1 * gW
        m2[...] = 0.999 * m2 + 0.001 * gW * gW
        W[...] -= 1e-3 * m1 / (np.sqrt(m2) + 1e-8)

    row("Adam 784x512", "in place, 1 scratch (12 passes)", adam)
    row("Adam 784x512", "expression with temps", adam_alloc)

    # ---- gather of a shuffled batch
    X = r(60000, 784)
    idx = rng.permutation(60000)[:B]
    xb = np.empty((B, 784), F32)
    row("gather batch", "np.take(X, idx, 0, out=xb)", lambda: np.take(X, idx, axis=0, out=xb))
    row("gather batch", "X[idx]", lambda: X[idx])
    sidx = np.sort(idx)
    row("gather batch", "np.take sorted idx", lambda: np.take(X, sidx, axis=0, out=xb))


if __name__ == "__main__":
    for B in [int(a) for a in sys.argv[1:]] or (32, 128, 512):
        run(B)
