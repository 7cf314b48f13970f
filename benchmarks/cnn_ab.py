"""In-process A/B of the convolutional fast path: this tree's glassnet/train/fastconv.py against another's.

    git archive COMMIT glassnet | tar -x -C /tmp/base          # the "before" tree
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/cnn_ab.py /tmp/base --net issue --reps 80
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/cnn_ab.py /tmp/base --net fashion --reps 30

``--compiled`` instead times this tree's NumPy kernels ("base", no BASE_TREE) against the same with
glassnet/adapters/compiled_conv.py's compiled kernels ("new"); ``--kernels pool`` keeps only the named ones
(``none``: none), ``--base-kernels`` gives the base some too (what one kernel adds to the others)::

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/cnn_ab.py --compiled --kernels pool --reps 80
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python benchmarks/cnn_ab.py --compiled --base-kernels col2im,blas

Both fast steps (the base tree's fastconv module, loaded from its file, and this tree's) are built on
the same layers, the same batch (128 images 28x28x1) and SGD momentum, and run interleaved ABBA in one
process; each step's CPU time is ``time.thread_time`` (one BLAS thread: the step's whole cost, barely
moved by other processes on a shared machine). Printed: the medians and new/base (below 1: faster).
Nets: ``issue`` (issue 14's benchmark net: two 'valid' convolutions, ReLU, 2x2 max pools, no BatchNorm)
and ``fashion`` (examples/cnn_fashion_mnist.py's: 'same' padding and BatchNorm).
"""

import argparse
import importlib.util
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import glassnet as g  # noqa: E402
from glassnet.adapters.images import image_cnn  # noqa: E402
from glassnet.nn.losses import CrossEntropy  # noqa: E402
from glassnet.train import fastconv  # noqa: E402


def model(net, seed=0):
    rng = np.random.default_rng(seed)
    if net == "fashion":
        return image_cnn("fashion_mnist", 10, rows=False, seed=seed)
    return g.Sequential([
        g.Conv2D(1, 32, 3, seed=rng), g.ReLU(), g.MaxPool2D(2), g.Conv2D(32, 64, 3, seed=rng), g.ReLU(),
        g.MaxPool2D(2), g.Flatten(), g.Dense(1600, 128, init="he_normal", seed=rng), g.ReLU(),
        g.Dense(128, 10, seed=rng), g.Softmax()])


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("base", nargs="?", help="a source tree holding glassnet/train/fastconv.py (the 'before')")
    ap.add_argument("--compiled", action="store_true", help="new = this tree with compiled_conv's kernels on")
    ap.add_argument("--kernels", default=None, help="with --compiled: only these (comma-separated) compiled kernels")
    ap.add_argument("--base-kernels", default="none", help="with --compiled: the base's compiled kernels")
    ap.add_argument("--net", choices=("issue", "fashion"), default="issue")
    ap.add_argument("--reps", type=int, default=60)
    args = ap.parse_args(argv)
    if args.compiled:
        from glassnet.adapters import compiled_conv
        names = {"new": list(compiled_conv.KERNELS) if args.kernels is None else args.kernels.split(","),
                 "base": args.base_kernels.split(",")}
        base = fastconv
    else:
        spec = importlib.util.spec_from_file_location("fastconv_base", Path(args.base) / "glassnet/train/fastconv.py")
        base = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(base)
    rng = np.random.default_rng(1)
    X = rng.random((128, 28, 28, 1), dtype=np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 128)]
    steps = {}
    for name, mod in (("base", base), ("new", fastconv)):
        if args.compiled:
            compiled_conv.KERNELS.update({k: k in names[name] for k in compiled_conv.KERNELS})
            compiled_conv.enable()
        m = model(args.net)
        m.train()
        steps[name] = mod.build_fast_step(m, CrossEntropy(), g.SGD(0.01, momentum=0.9).setup(m.parameters()), X)
        steps[name](X, Y)                                        # workspaces
    times = {k: [] for k in steps}
    for r in range(args.reps):
        for k in (("base", "new") if r % 2 == 0 else ("new", "base")):
            t = time.thread_time()
            steps[k](X, Y)
            times[k].append(time.thread_time() - t)
    mb, mn = (statistics.median(times[k]) * 1e3 for k in ("base", "new"))
    what = f"compiled kernels {','.join(names['new'])} vs {args.base_kernels}: " if args.compiled else ""
    print(f"{what}{args.net} net, {args.reps} steps each, ABBA: base {mb:.2f} ms  new {mn:.2f} ms  "
          f"new/base {mn / mb:.3f}")


if __name__ == "__main__":
    main()
