"""CNN training and inference speed: glassnet against PyTorch (and JAX) in the same run.

    python benchmarks/cnn.py                       # train + infer, all peers found
    python benchmarks/cnn.py --steps 100 --reps 5  # more steps per timed block
    python benchmarks/cnn.py --tricks              # also: each fast-path trick on/off, and the data layout
    OPENBLAS_NUM_THREADS=1 python benchmarks/cnn.py --profile   # CPU ms of each fast-path kernel in one step,
                                                   # NumPy kernels and compiled_conv's side by side
    python benchmarks/cnn.py --torch-path DIR --jax-path DIR   # peers installed outside the venv
    python benchmarks/cnn.py --peers glassnet,torch --base DIR # and the glassnet in DIR: before/after in one run

The net (issue 14): conv 3x3 1->32, ReLU, max-pool 2, conv 3x3 32->64, ReLU, max-pool 2, flatten,
dense 1600->128, ReLU, dense 128->10, softmax cross-entropy, SGD momentum 0.9 (lr 0.01), batch 128,
float32, 28x28x1 inputs (Fashion-MNIST's training images when ../shared/data/fashion-mnist is there,
else uniform noise: the speed does not depend on the pixel values).

Method: each peer runs in its own spawned worker process (no thread pool spins against another's),
is built and warmed up (JIT compile, workspaces) first, then timed blocks of ``--steps`` training
steps run interleaved A B C A B C ... ``--reps`` times. Reported: the median seconds per step,
the epoch (60,000 images = 469 steps) extrapolated from it, and the ratio to PyTorch. The
glassnet block is one ``model.fit`` over steps*128 images (the library as users call it: batching,
shuffling, the fast path); ``glassnet-readable`` is the same fit inside ``fastpath.readable()``;
``glassnet-compiled`` the same fit with glassnet/adapters/compiled_conv.py's kernels (numba) on. With
``--threads k`` every worker is pinned to k cores (``os.sched_setaffinity``, as benchmarks/run.py does:
XLA's flag alone does not keep JAX's matrix products on one core).
Inference: images per second of ``predict`` / eval forward in batches of 1000.
"""

import argparse
import multiprocessing as mp
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "fashion-mnist"
BATCH, EPOCH_IMAGES = 128, 60000
GFLOP_PER_EPOCH = 950.0                 # issue 14's figure for this net (forward + backward)


_DATA = {}


def images(n):
    """The first n float32 NHWC images and labels: Fashion-MNIST's when available, else noise."""
    if "X" not in _DATA:
        sys.path.insert(0, str(ROOT))
        try:
            from glassnet.adapters.datasets import load_fashion_mnist
            d = load_fashion_mnist(DATA, kind="train")
            _DATA["X"], _DATA["y"], _DATA["source"] = d.X.reshape(-1, 28, 28, 1), d.y, "Fashion-MNIST"
        except Exception:
            rng = np.random.default_rng(0)
            _DATA["X"], _DATA["y"] = rng.random((EPOCH_IMAGES, 28, 28, 1), dtype=np.float32), rng.integers(0, 10, 60000)
            _DATA["source"] = "noise"
    return _DATA["X"][:n], _DATA["y"][:n]


# -- peers: each returns (train(steps) -> seconds, infer(X) -> seconds) --------------------------
def make_glassnet(readable=False, tricks=None, root=ROOT, compiled=False):
    sys.path.insert(0, str(root))
    import glassnet as g
    from glassnet.train import fastconv, fastpath
    if compiled:
        from glassnet.adapters import compiled_conv
        compiled_conv.enable()

    rng = np.random.default_rng(0)
    model = g.Sequential([
        g.Conv2D(1, 32, 3, seed=rng), g.ReLU(), g.MaxPool2D(2),
        g.Conv2D(32, 64, 3, seed=rng), g.ReLU(), g.MaxPool2D(2),
        g.Flatten(), g.Dense(1600, 128, init="he_normal", seed=rng), g.ReLU(), g.Dense(128, 10, seed=rng),
        g.Softmax()])
    opt = g.SGD(lr=0.01, momentum=0.9)
    if tricks:
        for name in tricks.split(","):
            fastconv.TRICKS[name] = False

    def train(steps):
        X, y = images(steps * BATCH)
        t = time.perf_counter()
        if readable:
            with fastpath.readable():
                model.fit(X, y, optimizer=opt, epochs=1, batch_size=BATCH, seed=0, verbose=0)
        else:
            model.fit(X, y, optimizer=opt, epochs=1, batch_size=BATCH, seed=0, verbose=0)
        return time.perf_counter() - t

    def infer(X):
        t = time.perf_counter()
        model.predict(X, batch_size=1000)
        return time.perf_counter() - t

    return train, infer


def make_torch():
    import torch
    from torch import nn

    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                          nn.MaxPool2d(2), nn.Flatten(), nn.Linear(1600, 128), nn.ReLU(), nn.Linear(128, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    lossf = nn.CrossEntropyLoss()

    def train(steps):
        X, y = images(steps * BATCH)
        X = torch.from_numpy(X.transpose(0, 3, 1, 2).copy())          # torch's layout: NCHW
        y = torch.from_numpy(y.astype(np.int64))
        t = time.perf_counter()
        perm = torch.randperm(len(X))
        model.train()
        for i in range(0, len(X), BATCH):
            idx = perm[i:i + BATCH]
            xb, yb = X.index_select(0, idx), y.index_select(0, idx)
            opt.zero_grad(set_to_none=True)
            loss = lossf(model(xb), yb)
            loss.backward()
            opt.step()
        return time.perf_counter() - t

    def infer(X):
        Xt = torch.from_numpy(X.transpose(0, 3, 1, 2).copy())
        t = time.perf_counter()
        model.eval()
        with torch.no_grad():
            for i in range(0, len(Xt), 1000):
                torch.softmax(model(Xt[i:i + 1000]), dim=1)
        return time.perf_counter() - t

    return train, infer


def make_jax():
    import jax
    import jax.numpy as jnp

    key = jax.random.PRNGKey(0)
    ks = jax.random.split(key, 4)

    def he(k, shape, fan_in):
        return jax.random.normal(k, shape, jnp.float32) * np.sqrt(2.0 / fan_in)

    params = [(he(ks[0], (3, 3, 1, 32), 9), jnp.zeros(32)), (he(ks[1], (3, 3, 32, 64), 288), jnp.zeros(64)),
              (he(ks[2], (1600, 128), 1600), jnp.zeros(128)), (he(ks[3], (128, 10), 128), jnp.zeros(10))]
    vel = jax.tree_util.tree_map(jnp.zeros_like, params)

    def net(p, x):
        dn = ("NHWC", "HWIO", "NHWC")
        for w, b in p[:2]:
            x = jax.lax.conv_general_dilated(x, w, (1, 1), "VALID", dimension_numbers=dn) + b
            x = jax.nn.relu(x)
            x = jax.lax.reduce_window(x, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")
        x = x.reshape(x.shape[0], -1)
        x = jax.nn.relu(x @ p[2][0] + p[2][1])
        return x @ p[3][0] + p[3][1]

    def loss(p, x, y):
        return -jnp.mean(jnp.sum(jax.nn.log_softmax(net(p, x)) * jax.nn.one_hot(y, 10), axis=1))

    @jax.jit
    def step(p, v, x, y):
        gr = jax.grad(loss)(p, x, y)
        v = jax.tree_util.tree_map(lambda v, g: 0.9 * v - 0.01 * g, v, gr)
        return jax.tree_util.tree_map(lambda p, v: p + v, p, v), v

    predict = jax.jit(lambda p, x: jax.nn.softmax(net(p, x)))
    state = {"p": params, "v": vel}

    def train(steps):
        X, y = images(steps * BATCH)
        X, y = jnp.asarray(X), jnp.asarray(y)
        t = time.perf_counter()
        perm = np.random.default_rng(0).permutation(len(X))
        p, v = state["p"], state["v"]
        for i in range(0, len(X), BATCH):
            idx = perm[i:i + BATCH]
            p, v = step(p, v, X[idx], y[idx])
        jax.block_until_ready(p)
        state["p"], state["v"] = p, v
        return time.perf_counter() - t

    def infer(X):
        Xj = jnp.asarray(X)
        t = time.perf_counter()
        for i in range(0, len(Xj), 1000):
            predict(state["p"], Xj[i:i + 1000]).block_until_ready()
        return time.perf_counter() - t

    return train, infer


PEERS = {"glassnet": make_glassnet, "glassnet-readable": lambda: make_glassnet(readable=True),
         "glassnet-compiled": lambda: make_glassnet(compiled=True),
         "torch": make_torch, "jax": make_jax, "glassnet-base": None}   # glassnet-base: --base DIR's glassnet


def worker(conn, name, extra_path, tricks):
    cores = os.environ.get("GLASSNET_BENCH_CORES")
    if cores:                                          # --threads k: k cores for every peer
        os.sched_setaffinity(0, range(int(cores)))
    if extra_path:
        sys.path.insert(0, extra_path)
    try:
        if name == "glassnet-base":
            train, infer = make_glassnet(root=extra_path)
        else:
            train, infer = make_glassnet(tricks=tricks) if tricks is not None else PEERS[name]()
        train(3)                                       # warm-up: JIT, workspaces, thread pools
        conn.send(("ready", None))
        while True:
            cmd, arg = conn.recv()
            if cmd == "stop":
                return
            cpu = time.process_time()        # this worker's CPU seconds: steadier than wall time on a shared machine
            wall = train(arg) if cmd == "train" else infer(images(arg)[0])
            conn.send(("ok", (wall, time.process_time() - cpu)))
    except Exception as e:                             # a peer that cannot run is reported, not fatal
        conn.send(("error", f"{type(e).__name__}: {e}"))


def run(peers, steps, reps, infer_n, paths):
    ctx = mp.get_context("spawn")
    workers, notes = {}, []
    for label, (name, tricks) in peers.items():
        a, b = ctx.Pipe()
        p = ctx.Process(target=worker, args=(b, name, paths.get(name), tricks), daemon=True)
        p.start()
        status, msg = a.recv()
        if status == "error":
            notes.append(f"{label}: skipped ({msg})")
            p.join()
            continue
        workers[label] = (p, a)
    times = {k: [] for k in workers}
    cpu = {k: [] for k in workers}
    infer = {k: [] for k in workers}
    for r in range(reps):
        for label, (_, conn) in (list(workers.items()) if r % 2 == 0 else list(workers.items())[::-1]):   # ABBA
            conn.send(("train", steps))
            wall, used = conn.recv()[1]
            times[label].append(wall / steps)
            cpu[label].append(used / steps)
    for r in range(max(1, reps // 2)):
        for label, (_, conn) in (list(workers.items()) if r % 2 == 0 else list(workers.items())[::-1]):
            conn.send(("infer", infer_n))
            infer[label].append(infer_n / conn.recv()[1][0])
    for p, conn in workers.values():
        conn.send(("stop", None))
        p.join()
    return times, cpu, infer, notes


def layout(reps=20):
    """Forward + backward of the issue's second convolution (32 -> 64, 3x3, on 13x13) by im2col + GEMM,
    channels last (glassnet's layout) against channels first with the transposes that layout needs."""
    sys.path.insert(0, str(ROOT))
    from glassnet.nn.layers.conv import col2im, im2col
    rng = np.random.default_rng(0)
    n, h, c, o, k = BATCH, 13, 32, 64, 3
    ho = h - k + 1
    W = rng.standard_normal((k, k, c, o)).astype(np.float32)
    x_last = rng.standard_normal((n, h, h, c)).astype(np.float32)
    x_first = np.ascontiguousarray(x_last.transpose(0, 3, 1, 2))
    g_last = rng.standard_normal((n, ho, ho, o)).astype(np.float32)
    g_first = np.ascontiguousarray(g_last.transpose(0, 3, 1, 2))

    def nhwc():
        cols = im2col(x_last, k, k, 1, 1, ho, ho).reshape(-1, k * k * c)
        y = (cols @ W.reshape(-1, o)).reshape(n, ho, ho, o)
        g2 = g_last.reshape(-1, o)
        dW = cols.T @ g2
        dx = col2im((g2 @ W.reshape(-1, o).T).reshape(n, ho, ho, k, k, c), x_last.shape, 1, 1)
        return y, dW, dx

    def nchw():
        s0, s1, s2, s3 = x_first.strides            # patches (N, Ho, Wo, C, kh, kw) of an NCHW batch
        cols = np.lib.stride_tricks.as_strided(x_first, (n, ho, ho, c, k, k), (s0, s2, s3, s1, s2, s3))
        cols = cols.reshape(-1, c * k * k)
        Wf = W.transpose(2, 0, 1, 3).reshape(-1, o)
        y = np.ascontiguousarray((cols @ Wf).reshape(n, ho, ho, o).transpose(0, 3, 1, 2))
        g2 = np.ascontiguousarray(g_first.transpose(0, 2, 3, 1)).reshape(-1, o)
        dW = cols.T @ g2
        dcols = (g2 @ Wf.T).reshape(n, ho, ho, c, k, k).transpose(0, 1, 2, 4, 5, 3)
        dx = np.ascontiguousarray(col2im(dcols, x_last.shape, 1, 1).transpose(0, 3, 1, 2))
        return y, dW, dx

    a, b = nhwc(), nchw()
    assert np.allclose(a[0], b[0].transpose(0, 2, 3, 1), atol=1e-3) and np.allclose(a[2], b[2].transpose(0, 2, 3, 1),
                                                                                    atol=1e-3)
    times = {"NHWC": [], "NCHW": []}
    for _ in range(reps):
        for name, f in (("NHWC", nhwc), ("NCHW", nchw)):
            t = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t)
    med = {k: statistics.median(v) * 1e3 for k, v in times.items()}
    print(f"layout, conv 32->64 3x3 on {n}x13x13 forward+backward (im2col + GEMM), median of {reps}: "
          f"NHWC {med['NHWC']:.1f} ms, NCHW {med['NCHW']:.1f} ms (x{med['NCHW'] / med['NHWC']:.2f})")


def profile(reps=12):
    """CPU milliseconds of each fast-path kernel's forward and backward in one training step
    (``time.thread_time``, medians): where the step's time goes; the NumPy kernels and, where numba is
    installed, compiled_conv's, interleaved. Run with OPENBLAS_NUM_THREADS=1 (the main thread's CPU
    time is all of it then)."""
    X, y = images(BATCH)
    import glassnet as g
    from glassnet.adapters import compiled_conv
    from glassnet.nn.losses import CrossEntropy
    from glassnet.train import fastconv
    Y = np.eye(10, dtype=np.float32)[y]
    kinds = ["NumPy", "compiled"] if compiled_conv.available() else ["NumPy"]
    steps, times = {}, {}
    for kind in kinds:
        (compiled_conv.enable if kind == "compiled" else compiled_conv.disable)()
        rng = np.random.default_rng(0)
        model = g.Sequential([
            g.Conv2D(1, 32, 3, seed=rng), g.ReLU(), g.MaxPool2D(2), g.Conv2D(32, 64, 3, seed=rng), g.ReLU(),
            g.MaxPool2D(2), g.Flatten(), g.Dense(1600, 128, seed=rng), g.ReLU(), g.Dense(128, 10, seed=rng),
            g.Softmax()])
        opt = g.SGD(0.01, momentum=0.9).setup(model.parameters())
        steps[kind] = (fastconv.build_fast_step(model, CrossEntropy(), opt, X), opt)
        steps[kind][0](X, Y)

    def timed(kind, name, f, *a, **k):
        t = time.thread_time()
        out = f(*a, **k)
        times.setdefault(name, {}).setdefault(kind, []).append(time.thread_time() - t)
        return out

    for r in range(reps):
        for kind in (kinds if r % 2 == 0 else kinds[::-1]):
            step, opt = steps[kind]
            spaces, kernels, h = next(iter(step.spaces.values())), step.kernels, X
            for i, (k, ws) in enumerate(zip(kernels, spaces)):
                h = timed(kind, f"forward  {i:2d} {k.layer!r}", k.forward, h, ws)
            _, _, gr = timed(kind, "loss (softmax + cross-entropy)", fastconv._softmax_cross_entropy, h, Y, None,
                             spaces[-1], True)
            for i in range(len(kernels) - 1, step.lead - 1, -1):
                gr = timed(kind, f"backward {i:2d} {kernels[i].layer!r}", kernels[i].backward, gr, spaces[i],
                           need_dx=i > step.lead)
            timed(kind, "optimizer step", opt.step)
    med = {name: {k: statistics.median(v) * 1e3 for k, v in d.items()} for name, d in times.items()}
    totals = [sum(m[k] for m in med.values()) for k in kinds]
    print(f"fast-path step of the issue net, CPU ms per kernel (median of {reps}, interleaved):")
    print(f"  {'kernel':45s}" + "".join(f" {k:>9s}" for k in kinds))
    for name, m in sorted(med.items(), key=lambda kv: -kv[1]["NumPy"]):
        print(f"  {name:45s}" + "".join(f" {m[k]:9.2f}" for k in kinds))
    print(f"  {'total':45s}" + "".join(f" {t:9.2f}" for t in totals))


def memory(steps=20):
    """Peak RSS of training on 60,000 images against what training needs: the process with its data
    loaded, plus the fast path's workspaces, the parameters, their gradients and the momentum."""
    import resource

    X, y = images(EPOCH_IMAGES)                 # puts the repository on sys.path
    from glassnet.nn.losses import CrossEntropy
    from glassnet.train import fastconv
    X, y = np.ascontiguousarray(X), np.asarray(y)
    rss_data = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    import glassnet as g
    rng = np.random.default_rng(0)
    model = g.Sequential([
        g.Conv2D(1, 32, 3, seed=rng), g.ReLU(), g.MaxPool2D(2), g.Conv2D(32, 64, 3, seed=rng), g.ReLU(),
        g.MaxPool2D(2), g.Flatten(), g.Dense(1600, 128, seed=rng), g.ReLU(), g.Dense(128, 10, seed=rng), g.Softmax()])
    opt = g.SGD(0.01, momentum=0.9).setup(model.parameters())
    step = fastconv.build_fast_step(model, CrossEntropy(), opt, X[:BATCH])
    step(X[:BATCH], np.eye(10, dtype=np.float32)[y[:BATCH]])
    work = sum(a.nbytes for ws in next(iter(step.spaces.values())) for a in ws.values() if isinstance(a, np.ndarray))
    params = sum(p.value.nbytes for p in model.parameters()) * 3
    onehot = EPOCH_IMAGES * 10 * 4
    model.fit(X[:steps * BATCH], y[:steps * BATCH], optimizer=g.SGD(0.01, momentum=0.9), epochs=1, batch_size=BATCH,
              verbose=0)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    need = rss_data + work + params + onehot
    print(f"memory: RSS with the 60,000 images loaded {rss_data / 2**20:.0f} MiB; training needs that + workspaces "
          f"{work / 2**20:.1f} MiB + parameters/gradients/momentum {params / 2**20:.1f} MiB + one-hot targets "
          f"{onehot / 2**20:.1f} MiB = {need / 2**20:.0f} MiB; peak RSS after {steps} fit steps {peak / 2**20:.0f} MiB "
          f"(x{peak / need:.2f})")


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=60, help="training steps per timed block")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--infer", type=int, default=10000, help="images per inference block")
    ap.add_argument("--peers", default="glassnet,glassnet-compiled,glassnet-readable,torch,jax")
    ap.add_argument("--tricks", action="store_true", help="time the fast path with each trick switched off")
    ap.add_argument("--layout", action="store_true", help="only compare the NHWC and NCHW im2col convolution")
    ap.add_argument("--memory", action="store_true", help="only measure peak RSS against what training needs")
    ap.add_argument("--profile", action="store_true", help="only the CPU time of each fast-path kernel in one step")
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS/OpenMP threads per peer (default: every core); 1 is steadier on a shared machine")
    ap.add_argument("--torch-path", default=None)
    ap.add_argument("--jax-path", default=None)
    ap.add_argument("--base", default=None, help="also time the glassnet in this source tree (peer glassnet-base): "
                    "a before/after in one run, e.g. from `git archive COMMIT | tar -x -C DIR`")
    args = ap.parse_args(argv)
    if args.layout:
        return layout()
    if args.memory:
        return memory()
    if args.profile:
        return profile()
    if args.threads:                          # inherited by the spawned workers before they import numpy
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)
        os.environ["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen={'true' if args.threads > 1 else 'false'}"
        os.environ["GLASSNET_BENCH_CORES"] = str(min(args.threads, os.cpu_count()))
    peers = {name: (name, None) for name in args.peers.split(",")}
    if args.base:
        peers["glassnet-base"] = ("glassnet-base", None)
    if args.tricks:
        sys.path.insert(0, str(ROOT))
        from glassnet.train.fastconv import TRICKS
        for trick in TRICKS:
            peers[f"glassnet without {trick}"] = ("glassnet", trick)
    paths = {"torch": args.torch_path, "jax": args.jax_path, "glassnet-base": args.base}
    times, cpu, infer, notes = run(peers, args.steps, args.reps, args.infer, paths)
    print(f"CNN benchmark: {os.cpu_count()} cores, {args.threads or os.cpu_count()} thread(s) per peer, "
          f"batch {BATCH}, {args.steps} steps x {args.reps} reps per peer, "
          f"interleaved; epoch = {EPOCH_IMAGES} images = {-(-EPOCH_IMAGES // BATCH)} steps")
    ref = statistics.median(times["torch"]) if "torch" in times else None
    ref_cpu = statistics.median(cpu["torch"]) if "torch" in cpu else None
    ref_inf = statistics.median(infer["torch"]) if "torch" in infer else None
    print(f"{'peer':34s} {'ms/step med':>11s} {'min':>7s} {'epoch s':>8s} {'x torch':>8s} {'GFLOP/s':>8s} "
          f"{'CPU ms/step':>11s} {'x torch':>8s} {'infer img/s':>12s} {'x torch':>8s}")
    for label, ts in times.items():
        med, mc, inf = statistics.median(ts), statistics.median(cpu[label]), statistics.median(infer[label])
        epoch = med * -(-EPOCH_IMAGES // BATCH)
        ratio = f"{med / ref:8.2f}" if ref else f"{'-':>8s}"
        ratio_cpu = f"{mc / ref_cpu:8.2f}" if ref_cpu else f"{'-':>8s}"
        ratio_inf = f"{inf / ref_inf:8.2f}" if ref_inf else f"{'-':>8s}"
        print(f"{label:34s} {med * 1e3:11.1f} {min(ts) * 1e3:7.1f} {epoch:8.1f} {ratio} "
              f"{GFLOP_PER_EPOCH / epoch:8.1f} {mc * 1e3:11.1f} {ratio_cpu} {inf:12.0f} {ratio_inf}")
    print("x torch: time ratio for training (lower is faster), throughput ratio for inference (higher is faster); "
          "CPU ms/step: the worker's CPU time, steadier than wall time when the machine is shared")
    for n in notes:
        print("note:", n)
    print(f"floor: ~{GFLOP_PER_EPOCH:.0f} GFLOP per epoch at ~200 GFLOP/s = ~{GFLOP_PER_EPOCH / 200:.1f} s")


if __name__ == "__main__":
    main()
