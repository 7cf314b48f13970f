"""MKL against NumPy's OpenBLAS on the GEMMs of the compiled step, both called from numba, interleaved in one process.

    OPENBLAS_NUM_THREADS=1 python benchmarks/blas_ab.py [--mkl PATH/libmkl_rt.so.N] [--reps 9]

Both libraries' 64-bit-integer CBLAS ``?gemm`` are bound under names of their own (``llvmlite.binding.add_symbol``,
as glassnet/adapters/compiled.py binds one of them), and a numba loop calls each ``k`` times per timing; the
timings alternate library by library, ``--reps`` times; the table gives the median us per call and the median of
the per-rep ratios MKL / OpenBLAS (< 1: MKL faster). MKL runs sequentially (``MKL_Set_Threading_Layer``) unless
``MKL_THREADING_LAYER`` is set. Shapes: the layouts the step uses (NN forward x W, TN weight gradient x^T g, NT
input gradient g W^T) for the benchmark networks (float32, B = 32 / 128 / 512) and for the scikit-learn
benchmark's (float64: batch 200 and L-BFGS chunks of 2,048 / 1,347 rows, hidden 100; digits' 1,347 rows in float32
too).
"""
import argparse
import ctypes
import os
import statistics
import sys
import time

import numpy as np

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# (dtype, M, N, K, A transposed, B transposed): C (M x N) = op(A) op(B), K the inner dimension.
NETS = [(B, shapes) for B in (32, 128, 512) for shapes in [[784, 512, 256, 10]]] + [(32, [64, 128, 64, 10])]
SKLEARN = [(200, [64, 100, 10]), (200, [54, 100, 7]), (200, [20, 100, 1]), (2048, [54, 100, 7]),
           (1347, [64, 100, 10])]


def step_shapes(n, sizes):
    """The GEMMs of one compiled step: forward NN, weight gradient TN, input gradient NT (not the first layer)."""
    out = []
    for i, (k, m) in enumerate(zip(sizes[:-1], sizes[1:])):
        out += [(n, m, k, 0, 0), (k, m, n, 1, 0)] + ([(n, k, m, 0, 1)] if i else [])
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mkl", default=os.environ.get("GLASSNET_MKL"), help="libmkl_rt (default: the mkl wheel's)")
    ap.add_argument("--reps", type=int, default=9)
    ap.add_argument("--ms", type=float, default=20.0, help="target ms per timing")
    args = ap.parse_args(argv)
    import llvmlite.binding
    import numba
    from numba import types

    if args.mkl:
        os.environ["GLASSNET_MKL"] = args.mkl
    from glassnet.adapters import compiled
    mkl = compiled._open("mkl")
    openblas = compiled._open("openblas")
    if mkl is None or openblas is None:
        raise SystemExit("needs both MKL (pip install mkl, or --mkl PATH) and NumPy's bundled OpenBLAS")
    fns = {}
    for lib, tag, names in ((mkl, "mkl", ("cblas_sgemm_64", "cblas_dgemm_64")),
                            (openblas, "openblas", ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_"))):
        for name, real, ch in zip(names, (types.float32, types.float64), "sd"):
            symbol = f"ab_{tag}_{ch}gemm64"
            llvmlite.binding.add_symbol(symbol, ctypes.cast(getattr(lib, name), ctypes.c_void_p).value)
            i, e, p = types.int64, types.int32, types.voidptr
            fns[tag, ch] = types.ExternalFunction(symbol, types.void(e, e, e, i, i, i, real, p, i, p, i, real, p, i))

    def looper(f):
        @numba.njit
        def loop(k, ta, tb, m, n, kk, a, lda, b, ldb, c, ldc):
            for _ in range(k):
                f(101, 112 if ta else 111, 112 if tb else 111, m, n, kk, 1.0, a.ctypes.data, lda, b.ctypes.data,
                  ldb, 0.0, c.ctypes.data, ldc)
        return loop

    loops = {key: looper(f) for key, f in fns.items()}
    rng = np.random.default_rng(0)
    print(f"MKL {args.mkl or 'from the mkl wheel'} vs NumPy's OpenBLAS, {args.reps} interleaved reps, us per call\n")
    print("| set | dtype | C = op(A) op(B), M x N x K | layout | OpenBLAS us | MKL us | MKL / OpenBLAS [range] |")
    print("|---|---|---|---|---|---|---|")
    totals = {}
    # the last group: digits L-BFGS with the estimators' dtype='float32' (why it did not speed the fit up)
    for label, dtype, groups in (("net", np.float32, NETS), ("sklearn", np.float64, SKLEARN),
                                 ("sklearn float32", np.float32, SKLEARN[-1:])):
        ch = "s" if dtype == np.float32 else "d"
        for n, sizes in groups:
            key = f"{label} {'-'.join(map(str, sizes))} n={n}"
            for m, nn, kk, ta, tb in step_shapes(n, sizes):
                a = rng.standard_normal((kk, m) if ta else (m, kk)).astype(dtype)
                b = rng.standard_normal((nn, kk) if tb else (kk, nn)).astype(dtype)
                c = np.empty((m, nn), dtype)
                ref = (a.T if ta else a) @ (b.T if tb else b)
                call = (ta, tb, m, nn, kk, a, m if ta else kk, b, kk if tb else nn, c, nn)
                for tag in ("openblas", "mkl"):
                    loops[tag, ch](1, *call)
                    np.testing.assert_allclose(c, ref, rtol=1e-3, atol=1e-3)
                k = max(3, int(args.ms * 1e-3 * 60e9 / (2 * m * nn * kk)))
                res = {"openblas": [], "mkl": []}
                for _ in range(args.reps):
                    for tag in res:
                        t = time.perf_counter()
                        loops[tag, ch](k, *call)
                        res[tag].append((time.perf_counter() - t) / k * 1e6)
                ratios = [x / y for x, y in zip(res["mkl"], res["openblas"])]
                o, mk = statistics.median(res["openblas"]), statistics.median(res["mkl"])
                tot = totals.setdefault(key, [0.0, 0.0])
                tot[0] += o
                tot[1] += mk
                print(f"| {key} | {np.dtype(dtype).name} | {m}x{nn}x{kk} | {'T' if ta else 'N'}{'T' if tb else 'N'} "
                      f"| {o:.1f} | {mk:.1f} | {statistics.median(ratios):.2f} [{min(ratios):.2f}-{max(ratios):.2f}] |")
    print("\n| set | one step's GEMMs, OpenBLAS us | MKL us | MKL / OpenBLAS |\n|---|---|---|---|")
    for key, (o, mk) in totals.items():
        print(f"| {key} | {o:.1f} | {mk:.1f} | {mk / o:.2f} |")


if __name__ == "__main__":
    main()
