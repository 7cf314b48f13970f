"""(e) Memory: peak RSS while training vs what training needs, and per-batch allocations.

    python -m benchmarks.memory [--batch 128] [--n 60000]

Needed = data (X float32 + y) + parameters + optimizer state + one batch's activations
(the layer outputs and their gradients). The process peak (VmHWM) is measured above a
baseline taken after importing glassnet and warming up BLAS, so the interpreter and
library code are not counted against glassnet.

Steady state: tracemalloc (NumPy reports its buffers to it) watches the second epoch;
the largest transient growth must stay below one batch of inputs (no batch-sized array
per iteration; what remains is NumPy's fixed 32 KiB ufunc casting buffer) and nothing may
be retained from batch to batch.
"""

import argparse
import time
import tracemalloc

import numpy as np


def rss_kib(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--n", type=int, default=60000)
    args = ap.parse_args(argv)
    import glassnet as g

    sizes = [784, 512, 256, 10]
    warm = np.ones((args.batch, 784), np.float32) @ np.ones((784, 512), np.float32)   # BLAS buffers
    del warm
    base = rss_kib("VmRSS")
    rng = np.random.default_rng(0)
    X = rng.standard_normal((args.n, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], args.n)
    model = g.mlp(sizes[0], sizes[1:-1], sizes[-1], seed=0)
    n_params = sum(p.value.size for p in model.parameters())
    growth = {}

    steps = -(-args.n // args.batch)

    class Watch(g.Callback):
        # Trace the second epoch; measure between its 10th batch and its second-to-last batch,
        # so per-epoch work (the shuffle, the NaN guard's snapshot) is left out.
        def on_epoch_begin(self, state):
            if state.epoch == 1:
                tracemalloc.start()

        def on_batch_end(self, state):
            k = state.iteration - steps * state.epoch
            if state.epoch == 1 and k == 10:
                self.mark = tracemalloc.get_traced_memory()[0]
                tracemalloc.reset_peak()
            elif state.epoch == 1 and k == steps - 1:
                current, peak = tracemalloc.get_traced_memory()
                growth.update(peak=peak - self.mark, retained=current - self.mark, batches=k - 10)
                tracemalloc.stop()

    t = time.perf_counter()
    model.fit(X, y, optimizer=g.SGD(lr=0.01, momentum=0.9), epochs=2, batch_size=args.batch, seed=0,
              verbose=0, callbacks=[Watch()])
    seconds = time.perf_counter() - t
    peak = rss_kib("VmHWM") - base
    data = X.nbytes + y.nbytes
    params = n_params * 4
    opt_state = n_params * 4                                   # SGD momentum: one velocity per weight
    acts = 2 * args.batch * sum(sizes[1:]) * 4                 # outputs + their gradients
    needed = data + params + opt_state + acts
    batch_in = args.batch * sizes[0] * 4
    mib = 1 / 2**20
    print(f"## Memory, MLP {'-'.join(map(str, sizes))}, {args.n} samples, batch {args.batch}\n")
    print("| quantity | MiB |\n|---|---|")
    print(f"| data (X float32 + y int64) | {data * mib:.1f} |")
    print(f"| parameters | {params * mib:.2f} |")
    print(f"| optimizer state (momentum) | {opt_state * mib:.2f} |")
    print(f"| one batch's activations + gradients | {acts * mib:.2f} |")
    print(f"| **needed (sum)** | **{needed * mib:.1f}** |")
    print(f"| peak RSS above baseline (VmHWM - {base / 1024:.0f} MiB) | {peak / 1024:.1f} |")
    print(f"| **peak / needed** | **{peak * 1024 / needed:.3f}** (target <= 1.2) |")
    print(f"\nSteady state (tracemalloc over {growth['batches']} batches of epoch 2): peak growth "
          f"{growth['peak'] / 1024:.1f} KiB, retained {growth['retained'] / 1024:.1f} KiB; one batch of inputs "
          f"is {batch_in / 1024:.0f} KiB (2 epochs took {seconds:.1f} s, tracing on in the second).")
    # A few tens of KiB are NumPy's fixed ufunc casting buffer (8192 elements, used when the ReLU
    # mask, a bool array, multiplies the float gradient): not a batch-sized array, and freed at once.
    ok = peak * 1024 <= 1.2 * needed and growth["peak"] < batch_in and growth["retained"] < 4096
    print(f"\nresult: {'OK' if ok else 'NOT MET'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
