"""Cost of the glass-box monitors on the benchmark MLP (784-512-256-10, 60,000 float32 rows, batch 128).

The monitors: CleanTrainLoss, ActivationMonitor, GradientMonitor and GradientNoise (the NaN guard is on in
both arms: fit's default). The budget (issue 11 item 8) is 1.1x a step with all of them on.

Runs single epochs with the monitors off and on, interleaved (off, on, off, on, ...), and reports the
median of each and the overhead. The data are random (the cost does not depend on the values).

    python benchmarks/monitor_cost.py [--repeats 3] [--samples 60000]
"""

import argparse
import statistics
import time

import numpy as np

import glassnet as gn
from glassnet.glassbox.achievable import Achievable
from glassnet.glassbox.diagnostics import CleanTrainLoss
from glassnet.glassbox.monitors import ActivationMonitor, GradientMonitor, GradientNoise
from glassnet.nn.losses import get_loss


class Timed(gn.Callback):
    """Wraps a callback and adds the seconds spent in its hooks to ``spent[0]``: the monitors' own cost,
    which, unlike whole-epoch times, a busy shared machine does not blur. ``parts[(name, when)]`` splits it
    by monitor, into what runs once per training ('once': on_train_begin/end, e.g. the epoch-0 record) and
    what runs every epoch ('per epoch')."""

    def __init__(self, cb, spent, parts):
        self.cb, self.spent, self.parts = cb, spent, parts
        for hook in ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end", "on_train_end"):
            setattr(self, hook, self._timed(getattr(cb, hook), "once" if "train" in hook else "per epoch"))

    def _timed(self, fn, when):
        def run(state):
            t = time.perf_counter()
            fn(state)
            dt = time.perf_counter() - t
            self.spent[0] += dt
            key = (type(self.cb).__name__, when)
            self.parts.setdefault(key, []).append(dt)
        return run


def epoch_seconds(model, X, y, callbacks):
    t = time.perf_counter()
    model.fit(X, y, epochs=1, batch_size=128, optimizer=gn.SGD(lr=0.01, momentum=0.9), verbose=0, seed=0,
              callbacks=callbacks)
    return time.perf_counter() - t


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--samples", type=int, default=60000)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    X = rng.random((args.samples, 784), dtype=np.float32)
    y = rng.integers(0, 10, args.samples)
    model = gn.mlp(784, [512, 256], 10, seed=0)
    epoch_seconds(model, X[:2000], y[:2000], [])                 # warm-up
    off, on, hooks, parts = [], [], [], {}
    for _ in range(args.repeats):
        off.append(epoch_seconds(model, X, y, []))
        spent, these = [0.0], {}
        cbs = [CleanTrainLoss(), ActivationMonitor(), GradientMonitor(warn=False), GradientNoise()]
        on.append(epoch_seconds(model, X, y, [Timed(cb, spent, these) for cb in cbs]))
        hooks.append(spent[0])
        for k, v in these.items():
            parts.setdefault(k, []).append(sum(v))
    m_off, m_on = statistics.median(off), statistics.median(on)
    print(f"epochs off: {', '.join(f'{t:.2f}' for t in off)} s; on: {', '.join(f'{t:.2f}' for t in on)} s")
    print(f"median epoch: off {m_off:.3f} s, on {m_on:.3f} s, overhead {100 * (m_on / m_off - 1):+.1f}%")
    m_hooks = statistics.median(hooks)
    print(f"time inside the monitors' hooks: median {m_hooks:.3f} s per epoch = {100 * m_hooks / m_off:.2f}% "
          "of an epoch with them off")
    print("| monitor | once per training (ms) | per epoch (ms) |\n| --- | --- | --- |")
    for name in dict.fromkeys(k[0] for k in parts):
        once, per = (1e3 * statistics.median(parts.get((name, w), [0.0])) for w in ("once", "per epoch"))
        print(f"| {name} | {once:.1f} | {per:.1f} |")
    per_epoch = sum(statistics.median(v) for k, v in parts.items() if k[1] == "per epoch")
    print(f"every-epoch part alone: {1e3 * per_epoch:.1f} ms = {100 * per_epoch / m_off:.2f}% of an epoch (what a "
          "long run pays; the one-off part is paid once per fit)")
    steps = -(-args.samples // 128)
    print(f"per step ({steps} steps per epoch): off {1e3 * m_off / steps:.2f} ms, monitors' hooks "
          f"{1e3 * m_hooks / steps:.3f} ms: a step with every monitor on costs {1 + m_hooks / m_off:.3f}x "
          "(budget 1.1x)")
    noise = GradientNoise()
    state = type("State", (), {"X": X, "Y": np.eye(10, dtype=np.float32)[y], "model": model, "epoch": 0,
                               "loss": get_loss("cross_entropy"), "history": gn.History(128)})()
    noise.on_train_begin(state)
    t = time.perf_counter()
    for _ in range(5):
        noise.on_epoch_end(state)
    each = (time.perf_counter() - t) / 5
    print(f"GradientNoise alone (128 rows, one forward + backward per epoch): {1e3 * each:.1f} ms per epoch = "
          f"{100 * each / m_off:.2f}% of an epoch")
    # Achievable runs once per training (on_train_begin), not per step: timed on its own
    t = time.perf_counter()
    Achievable().measure(X, np.eye(10, dtype=np.float32)[y], "ce")
    once = time.perf_counter() - t
    print(f"Achievable (once per training, k-NN on a 3000-row sample): {once:.2f} s = {once / m_off:.2f} epochs "
          "with the monitors off")


if __name__ == "__main__":
    main()
