"""SGEMM on the shapes of one 784-512-256-10 / 64-128-64-10 training step, across BLAS builds, interleaved.

    OPENBLAS_NUM_THREADS=1 python benchmarks/blas_shapes.py
    OPENBLAS_NUM_THREADS=1 python benchmarks/blas_shapes.py --openblas DIR/libscipy_openblas64_.so --blis DIR

Columns: NumPy's ``np.matmul(out=)``; the same bundled OpenBLAS's ``cblas_sgemm`` called through ctypes from
Python (what skipping NumPy's dispatch buys, or costs); optionally another OpenBLAS build (e.g. the
``scipy-openblas64`` wheel: ``pip install --target DIR scipy-openblas64``) and BLIS (``pip install --target DIR
blis``; operands pre-transposed, BLIS's ``gemm``). us per call, median of 9 interleaved loops.
"""
import argparse
import ctypes
import glob
import os
import statistics
import sys
import time

import numpy as np

# (M, K, N, A transposed, B transposed): forward x W, weight gradient x^T g, input gradient g W^T.
SHAPES = [(32, 784, 512, 0, 0), (32, 512, 256, 0, 0), (512, 32, 256, 1, 0), (784, 32, 512, 1, 0), (32, 256, 512, 0, 1),
          (128, 784, 512, 0, 0), (784, 128, 512, 1, 0), (128, 256, 512, 0, 1), (32, 64, 128, 0, 0), (64, 32, 128, 1, 0),
          (32, 64, 10, 0, 0)]


def sgemm(path):
    fn = ctypes.CDLL(path).scipy_cblas_sgemm64_
    i, p = ctypes.c_int64, ctypes.c_void_p
    fn.restype, fn.argtypes = None, [i, i, i, i, i, i, ctypes.c_float, p, i, p, i, ctypes.c_float, p, i]
    return fn


def timed(fn, k):
    fn()
    t = time.perf_counter()
    for _ in range(k):
        fn()
    return (time.perf_counter() - t) / k * 1e6


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--openblas", help="another libscipy_openblas64_*.so to compare")
    ap.add_argument("--blis", help="a folder holding the blis package")
    args = ap.parse_args(argv)
    libs = {"numpy's OpenBLAS via ctypes": sgemm(glob.glob(os.path.join(
        os.path.dirname(np.__file__), os.pardir, "numpy.libs", "libscipy_openblas64_*"))[0])}
    if args.openblas:
        libs["other OpenBLAS via ctypes"] = sgemm(args.openblas)
    bp = None
    if args.blis:
        sys.path.insert(0, args.blis)
        import blis.py as bp
    rng = np.random.default_rng(0)
    for M, K, N, ta, tb in SHAPES:
        A = rng.standard_normal((K, M) if ta else (M, K), dtype=np.float32)
        B = rng.standard_normal((N, K) if tb else (K, N), dtype=np.float32)
        C = np.empty((M, N), np.float32)
        Aop, Bop = (A.T if ta else A), (B.T if tb else B)
        Ac, Bc = np.ascontiguousarray(Aop), np.ascontiguousarray(Bop)
        fns = {"np.matmul": lambda: np.matmul(Aop, Bop, out=C)}
        for name, f in libs.items():
            fns[name] = (lambda f=f: f(101, 112 if ta else 111, 112 if tb else 111, M, N, K, 1.0, A.ctypes.data,
                                       M if ta else K, B.ctypes.data, K if tb else N, 0.0, C.ctypes.data, N))
        if bp is not None:
            fns["BLIS"] = lambda: bp.gemm(Ac, Bc, out=C, beta=0.0)
        ref = Aop @ Bop
        for name, f in fns.items():
            f()
            if not np.allclose(C, ref, rtol=1e-3, atol=1e-2):
                raise SystemExit(f"{name} gave a wrong product for {M}x{K}x{N}")
        k = max(5, int(3e7 / (M * N * K)))
        res = {name: [] for name in fns}
        for _ in range(9):
            for name, f in fns.items():
                res[name].append(timed(f, k))
        print(f"{M}x{K} @ {K}x{N} (A{'T' if ta else ''} B{'T' if tb else ''}): "
              + ", ".join(f"{name} {statistics.median(v):.1f}" for name, v in res.items()))


if __name__ == "__main__":
    main()
