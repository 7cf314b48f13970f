"""Prototype: fastest pure-NumPy float32 MLP training step.

Dense+ReLU hidden layers, Dense output, softmax + cross-entropy, SGD with
momentum (PyTorch/sklearn-equivalent for a constant lr) or Adam.

Everything runs on preallocated per-batch-size workspaces; every array op
writes into an existing buffer (``out=``), so the steady-state step does no
allocation except a few tiny (B,)-sized reductions.

The ``opts`` dict exists so that ``python -m benchmarks.proto_numpy`` can
ablate each trick; the defaults are the fastest settings measured on the
2-core AMD EPYC (AVX-512) box with numpy 2.4 / scipy-openblas 0.3.31.

Layout: W[i] is stored (out, in) -- PyTorch's layout -- by default
(opts['layout']='oi'); 'io' stores (in, out). See the report for numbers.

Momentum formulation (opts['lr_fold']=True, default):
    g_L    = lr * (softmax(z) - onehot(y)) / N       # lr folded into dlogits
    dW     = g^T a            (already multiplied by lr)
    v      = m * v - dW       # == sklearn's velocity; torch: v_t = -lr * buf_t
    W     += v
This is exactly torch.optim.SGD(momentum=m, dampening=0, nesterov=False) and
sklearn's SGDOptimizer(nesterov=False) for a constant learning rate.
"""
from __future__ import annotations

import numpy as np

F32 = np.float32

DEFAULT_OPTS = dict(
    layout="oi",          # 'oi': W (out,in), forward a @ W.T ; 'io': W (in,out)
    relu_bwd="bool_buf",  # 'bool_buf' | 'sign' | 'bool_mul' | 'copyto' | 'index'
    bias_grad="gemv",     # 'gemv' (ones @ g) | 'sum' (g.sum(0))
    lr_fold=True,         # fold lr into the softmax gradient
    skip_first_dx=True,   # no input-gradient GEMM for layer 0
    take_out=True,        # np.take(..., out=buf) for the shuffled batch
)


class Workspace:
    """All per-batch-size buffers."""

    def __init__(self, sizes, B):
        L = len(sizes) - 1
        self.B = B
        self.x = np.empty((B, sizes[0]), F32)          # gathered input batch
        self.y = np.empty(B, np.intp)                  # gathered labels
        # a[i] : activation entering layer i (a[0] is self.x); a[L] = logits
        self.a = [self.x] + [np.empty((B, sizes[i]), F32) for i in range(1, L + 1)]
        # g[i] : gradient w.r.t. a[i] (i >= 1); g[L] aliases the logits buffer
        self.g = [None] + [np.empty((B, sizes[i]), F32) for i in range(1, L)] + [self.a[L]]
        self.mask = [None] + [np.empty((B, sizes[i]), F32) for i in range(1, L)]
        self.bmask = [None] + [np.empty((B, sizes[i]), bool) for i in range(1, L)]
        self.ones = np.ones(B, F32)
        self.rows = np.arange(B)
        self.rowmax = np.empty((B, 1), F32)
        self.rowsum = np.empty((B, 1), F32)
        self.zy = np.empty(B, F32)


class MLP:
    def __init__(self, sizes, seed=0, opts=None, optimizer="sgd", lr=0.01,
                 momentum=0.9, betas=(0.9, 0.999), eps=1e-8):
        self.opts = dict(DEFAULT_OPTS, **(opts or {}))
        self.sizes = list(sizes)
        self.L = len(sizes) - 1
        rng = np.random.default_rng(seed)
        oi = self.opts["layout"] == "oi"
        self.W, self.b = [], []
        for i in range(self.L):
            fan_in, fan_out = sizes[i], sizes[i + 1]
            lim = np.sqrt(6.0 / (fan_in + fan_out))          # glorot uniform
            shape = (fan_out, fan_in) if oi else (fan_in, fan_out)
            self.W.append(rng.uniform(-lim, lim, shape).astype(F32))
            self.b.append(np.zeros(fan_out, F32))
        self.params = [p for pair in zip(self.W, self.b) for p in pair]
        self.grads = [np.empty_like(p) for p in self.params]
        self.optimizer = optimizer
        self.lr, self.momentum = F32(lr), F32(momentum)
        self.vel = [np.zeros_like(p) for p in self.params]
        if optimizer == "adam":
            self.m2 = [np.zeros_like(p) for p in self.params]
            self.tmp = [np.empty_like(p) for p in self.params]
            self.betas, self.eps, self.t = betas, eps, 0
        self._ws = {}

    # ------------------------------------------------------------------
    def workspace(self, B):
        ws = self._ws.get(B)
        if ws is None:
            ws = self._ws[B] = Workspace(self.sizes, B)
        return ws

    def gather(self, X, Y, idx):
        ws = self.workspace(len(idx))
        if self.opts["take_out"]:
            np.take(X, idx, axis=0, out=ws.x)
            np.take(Y, idx, out=ws.y)
        else:
            ws.x[...] = X[idx]
            ws.y[...] = Y[idx]
        return ws

    # ------------------------------------------------------------------
    def step(self, ws):
        """One forward/backward/update on ws.x, ws.y. Returns mean loss (float)."""
        o = self.opts
        oi = o["layout"] == "oi"
        L, W, b, a, g = self.L, self.W, self.b, ws.a, ws.g
        B = ws.B
        # ---- forward
        for i in range(L):
            np.matmul(a[i], W[i].T if oi else W[i], out=a[i + 1])
            np.add(a[i + 1], b[i], out=a[i + 1])
            if i < L - 1:
                np.maximum(a[i + 1], 0, out=a[i + 1])
        # ---- softmax + CE, gradient written in place into the logits buffer
        z = a[L]
        np.max(z, axis=1, keepdims=True, out=ws.rowmax)
        np.subtract(z, ws.rowmax, out=z)
        np.take(z.reshape(-1), ws.rows * z.shape[1] + ws.y, out=ws.zy)  # z_y - max
        np.exp(z, out=z)
        np.sum(z, axis=1, keepdims=True, out=ws.rowsum)
        loss = float(np.log(ws.rowsum).sum() - ws.zy.sum()) / B
        scale = (self.lr if (o["lr_fold"] and self.optimizer == "sgd") else F32(1)) / F32(B)
        np.multiply(ws.rowsum, 1 / scale, out=ws.rowsum)   # rowsum / scale
        np.divide(z, ws.rowsum, out=z)                      # scale * p
        z[ws.rows, ws.y] -= scale                           # scale * (p - y)
        # ---- backward
        grads = self.grads
        for i in range(L - 1, -1, -1):
            gi = g[i + 1]
            dW, db = grads[2 * i], grads[2 * i + 1]
            if oi:
                np.matmul(gi.T, a[i], out=dW)
            else:
                np.matmul(a[i].T, gi, out=dW)
            if o["bias_grad"] == "gemv":
                np.matmul(ws.ones, gi, out=db)
            else:
                np.sum(gi, axis=0, out=db)
            if i == 0 and o["skip_first_dx"]:
                break
            if i == 0:
                np.matmul(gi, W[0] if oi else W[0].T)   # measured cost only
                break
            go = g[i]
            np.matmul(gi, W[i] if oi else W[i].T, out=go)
            # ReLU backward: a[i] = relu(z) so (a > 0) is the mask
            rb = o["relu_bwd"]
            if rb == "bool_buf":
                np.greater(a[i], 0, out=ws.bmask[i])
                np.multiply(go, ws.bmask[i], out=go)
            elif rb == "sign":
                np.sign(a[i], out=ws.mask[i])             # 0/1 float (a >= 0)
                np.multiply(go, ws.mask[i], out=go)
            elif rb == "bool_mul":
                np.multiply(go, a[i] > 0, out=go)
            elif rb == "copyto":
                np.copyto(go, 0, where=a[i] <= 0)
            else:  # index
                go[a[i] <= 0] = 0
        # ---- update
        if self.optimizer == "sgd":
            self._sgd()
        else:
            self._adam()
        return loss

    def _sgd(self):
        m = self.momentum
        lr_fold = self.opts["lr_fold"]
        for p, gr, v in zip(self.params, self.grads, self.vel):
            np.multiply(v, m, out=v)
            if lr_fold:
                np.subtract(v, gr, out=v)
            else:
                np.multiply(gr, self.lr, out=gr)
                np.subtract(v, gr, out=v)
            np.add(p, v, out=p)

    def _adam(self):
        b1, b2 = self.betas
        self.t += 1
        t = self.t
        step = F32(self.lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t))
        eps = F32(self.eps * np.sqrt(1 - b2 ** t))   # eps folded (torch-equivalent up to eps placement)
        b1, b2 = F32(b1), F32(b2)
        for p, gr, m1, m2, tmp in zip(self.params, self.grads, self.vel, self.m2, self.tmp):
            # m1 += (1-b1)(g - m1) ; m2 = b2 m2 + (1-b2) g^2
            np.subtract(gr, m1, out=tmp)
            np.multiply(tmp, 1 - b1, out=tmp)
            np.add(m1, tmp, out=m1)
            np.multiply(gr, gr, out=tmp)
            np.multiply(m2, b2, out=m2)
            np.multiply(tmp, 1 - b2, out=tmp)
            np.add(m2, tmp, out=m2)
            np.sqrt(m2, out=tmp)
            np.add(tmp, eps, out=tmp)
            np.divide(m1, tmp, out=tmp)
            np.multiply(tmp, step, out=tmp)
            np.subtract(p, tmp, out=p)

    # ------------------------------------------------------------------
    def epoch(self, X, Y, batch_size, rng):
        n = X.shape[0]
        perm = rng.permutation(n)
        total = 0.0
        for s in range(0, n, batch_size):
            ws = self.gather(X, Y, perm[s:s + batch_size])
            total += self.step(ws) * ws.B
        return total / n

    def predict_logits(self, X):
        oi = self.opts["layout"] == "oi"
        a = X
        for i in range(self.L):
            a = a @ (self.W[i].T if oi else self.W[i]) + self.b[i]
            if i < self.L - 1:
                np.maximum(a, 0, out=a)
        return a


# ----------------------------------------------------------------------
def synthetic(n=60000, d=784, k=10, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=F32)
    Y = rng.integers(0, k, n).astype(np.intp)
    return X, Y


def time_epoch(model, X, Y, B, rng):
    import time
    t = time.perf_counter()
    model.epoch(X, Y, B, rng)
    return time.perf_counter() - t


def ablate(n=60000, reps=3, batches=(32, 128, 512)):
    """Interleaved ablation: each variant differs from DEFAULT_OPTS by one key."""
    X, Y = synthetic(n)
    variants = {
        "default": {},
        "layout=io": {"layout": "io"},
        "relu=bool_mul": {"relu_bwd": "bool_mul"},
        "relu=sign": {"relu_bwd": "sign"},
        "relu=copyto": {"relu_bwd": "copyto"},
        "relu=index": {"relu_bwd": "index"},
        "bias=sum": {"bias_grad": "sum"},
        "no lr_fold": {"lr_fold": False},
        "first dx gemm": {"skip_first_dx": False},
        "fancy-index gather": {"take_out": False},
    }
    sizes = [784, 512, 256, 10]
    for B in batches:
        models = {k: MLP(sizes, opts=v) for k, v in variants.items()}
        for m in models.values():  # warm-up
            m.epoch(X[:4096], Y[:4096], B, np.random.default_rng(1))
        res = {k: [] for k in models}
        for r in range(reps):
            for k, m in models.items():
                res[k].append(time_epoch(m, X, Y, B, np.random.default_rng(r)))
        base = np.median(res["default"])
        print(f"\n### batch {B}  (n={n})")
        print("| variant | epoch s | vs default |\n|---|---|---|")
        for k, v in res.items():
            med = np.median(v)
            print(f"| {k} | {med:.3f} | {med / base:.3f} |")


if __name__ == "__main__":
    import sys
    ablate(n=int(sys.argv[1]) if len(sys.argv) > 1 else 60000)
