"""LSTM and GRU training epochs: glassnet against PyTorch (CPU, eager, oneDNN) on the same net and data.

Task: sequences (N, T, C) float32, one recurrent layer (hidden H, last state) -> Dense -> softmax
cross-entropy, Adam lr 1e-3, batch B, data reshuffled every epoch, last partial batch kept. Both
sides run in this process, interleaved, one epoch per repetition; the table gives the median
seconds per epoch and the ratio glassnet / torch (below 1 means glassnet is faster).

    PYTHONPATH=. python benchmarks/rnn.py                    # defaults: N 2048, T 50, C 8, H 64, B 64
    PYTHONPATH=. python benchmarks/rnn.py --T 100 --H 128 --reps 5 --threads 1
    PYTHONPATH=. python benchmarks/rnn.py --step-timing --threads 1   # us per step of the LSTM fast functions

``--against OLD.py`` adds an LSTM column whose fast functions come from another copy of
``recurrent_fast.py`` (interleaved with the rest, the A/B of a change to the fast path)::

    git show 860cba8:glassnet/nn/layers/recurrent_fast.py > /tmp/old_rf.py
    PYTHONPATH=. python benchmarks/rnn.py --threads 1 --reps 7 --against /tmp/old_rf.py

``--step-timing`` times the LSTM forward and backward functions of ``recurrent_fast`` on T 10 (a call of a
few ms fits between scheduler interruptions on a loaded machine): the minimum over ``--reps * 60`` calls.

torch is never a glassnet dependency: ``pip install torch==2.13.0`` to run this.
"""

import argparse
import os
import statistics
import time

import numpy as np

import glassnet as g

# Cells with compiled step loops (glassnet.adapters.compiled_recurrent; numba): a column when numba is installed.
COMPILED_CELLS = ("LSTM",)


def glassnet_epoch(cell, X, y, H, B, n_classes, fast=True):
    r = np.random.default_rng(0)
    Cell = {"LSTM": g.LSTM, "GRU": g.GRU}[cell]
    model = g.Sequential([Cell(X.shape[2], H, seed=r), g.Dense(H, n_classes, seed=r), g.Softmax()])
    model.layers[0].fast = fast        # True: glassnet.nn.layers.recurrent_fast; False: the readable per-step loop
    opt = g.Adam(1e-3)
    seed = iter(range(10**6))

    def epoch():
        model.fit(X, y, optimizer=opt, epochs=1, batch_size=B, seed=next(seed), verbose=0)
    return epoch


def torch_epoch(cell, X, y, H, B, n_classes, threads):
    import torch
    torch.set_num_threads(threads)
    torch.manual_seed(0)

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = getattr(torch.nn, cell)(X.shape[2], H, batch_first=True)
            self.out = torch.nn.Linear(H, n_classes)

        def forward(self, x):
            _, state = self.rnn(x)
            h = state[0] if cell == "LSTM" else state
            return self.out(h[-1])

    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

    def epoch():
        perm = torch.randperm(len(Xt))
        for s in range(0, len(Xt), B):
            idx = perm[s:s + B]
            opt.zero_grad(set_to_none=True)
            loss = torch.nn.functional.cross_entropy(net(Xt.index_select(0, idx)), yt.index_select(0, idx))
            loss.backward()
            opt.step()
    return epoch


def compiled_epoch(epoch):
    """``epoch`` with glassnet.adapters.compiled_recurrent's step loops (numba) on for its duration."""
    from glassnet.adapters import compiled_recurrent

    def run():
        compiled_recurrent.enable()
        try:
            epoch()
        finally:
            compiled_recurrent.disable()
    return run


def against_epoch(path, epoch):
    """``epoch`` with recurrent_fast's LSTM functions taken from the file ``path`` for its duration."""
    import importlib.util

    from glassnet.nn.layers import recurrent_fast as rf
    spec = importlib.util.spec_from_file_location("recurrent_fast_against", path)
    other = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(other)

    def run():
        mine = rf.lstm_forward, rf.lstm_backward
        rf.lstm_forward, rf.lstm_backward = other.lstm_forward, other.lstm_backward
        try:
            epoch()
        finally:
            rf.lstm_forward, rf.lstm_backward = mine
    return run


def step_timing(B, H, C, reps):
    """Minimum time per step of recurrent_fast.lstm_forward / lstm_backward on T 10 (seconds)."""
    from glassnet.nn.layers import recurrent_fast as rf
    T, rng = 10, np.random.default_rng(0)
    x = rng.standard_normal((B, T, C)).astype(np.float32)
    W, U = (0.3 * rng.standard_normal((C, 4 * H))).astype(np.float32), (0.1 * rng.standard_normal((H, 4 * H))).astype(
        np.float32)
    b, g_last = np.zeros(4 * H, np.float32), rng.standard_normal((B, H)).astype(np.float32)
    fwd = bwd = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        _, _, cache, x_tm = rf.lstm_forward(x, None, W, U, b, H, False)
        t1 = time.perf_counter()
        rf.lstm_backward(x_tm, None, W, U, cache, None, g_last, H, False, None, x.shape)
        fwd, bwd = min(fwd, t1 - t0), min(bwd, time.perf_counter() - t1)
    return fwd / T, bwd / T


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--N", type=int, default=2048)
    ap.add_argument("--T", type=int, default=50)
    ap.add_argument("--C", type=int, default=8)
    ap.add_argument("--H", type=int, default=64)
    ap.add_argument("--B", type=int, default=64)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="threads for torch and (through threadpoolctl, when installed) NumPy's BLAS")
    ap.add_argument("--step-timing", action="store_true", help="only the LSTM fast functions' time per step")
    ap.add_argument("--against", metavar="OLD.py", help="another recurrent_fast.py: an LSTM A/B column")
    args = ap.parse_args()
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(args.threads)
    except ImportError:
        print("threadpoolctl not installed: NumPy's BLAS uses its default thread count")
    if args.step_timing:
        fwd, bwd = step_timing(args.B, args.H, args.C, args.reps * 60)
        print(f"LSTM fast path, B {args.B}, H {args.H}, C {args.C}: forward {fwd * 1e6:.1f} us/step, "
              f"backward {bwd * 1e6:.1f} us/step (min over {args.reps * 60} calls of T 10)")
        return
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.N, args.T, args.C)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(np.int64) + 2 * (X[:, -5:, 1].sum(1) > 0)
    import torch
    torch.set_num_threads(args.threads)
    print(f"N {args.N}, T {args.T}, C {args.C}, H {args.H}, batch {args.B}; torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads, numpy {np.__version__}; median of {args.reps} epochs")
    try:
        from glassnet.adapters import compiled_recurrent
        has_compiled = compiled_recurrent.available()
    except ImportError:
        has_compiled = False
    print(f"{'cell':<5} {'glassnet s/epoch':>17} {'readable loop':>14} {'torch s/epoch':>14} {'glassnet/torch':>15} "
          f"{'readable/fast':>14} {'compiled s/epoch':>17} {'compiled/torch':>15}")
    for cell in ("LSTM", "GRU"):
        runs = {"glassnet": glassnet_epoch(cell, X, y, args.H, args.B, 4),     # the fast functions
                "readable": glassnet_epoch(cell, X, y, args.H, args.B, 4, fast=False),
                "torch": torch_epoch(cell, X, y, args.H, args.B, 4, args.threads)}
        if has_compiled and cell in COMPILED_CELLS:    # the fast functions with the numba step loops
            runs["compiled"] = compiled_epoch(glassnet_epoch(cell, X, y, args.H, args.B, 4))
        if args.against and cell == "LSTM":
            runs["against"] = against_epoch(args.against, glassnet_epoch(cell, X, y, args.H, args.B, 4))
        times = {k: [] for k in runs}
        for k, f in runs.items():           # warm-up
            f()
        for _ in range(args.reps):
            for k, f in runs.items():
                t = time.perf_counter()
                f()
                times[k].append(time.perf_counter() - t)
        med = {k: statistics.median(v) for k, v in times.items()}
        comp = (f"{med['compiled']:>17.3f} {med['compiled'] / med['torch']:>14.2f}x" if "compiled" in med
                else f"{'-':>17} {'-':>15}")
        print(f"{cell:<5} {med['glassnet']:>17.3f} {med['readable']:>14.3f} {med['torch']:>14.3f} "
              f"{med['glassnet'] / med['torch']:>14.2f}x {med['readable'] / med['glassnet']:>13.2f}x {comp}",
              flush=True)
        if "against" in med:
            print(f"      {args.against}: {med['against']:.3f} s/epoch, {med['against'] / med['torch']:.2f}x torch; "
                  f"this tree / it {med['glassnet'] / med['against']:.3f}", flush=True)


if __name__ == "__main__":
    main()
