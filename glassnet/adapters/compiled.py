"""A compiled training step for Dense stacks (numba): the fast path with no Python between the BLAS calls.

On a small network the NumPy fast path (glassnet/train/fastpath.py) spends most of a step in
dispatch: about 30 NumPy calls of 1-2 us each, most of them on arrays of a few hundred numbers
(BENCHMARKS.md, per-operation profile). This module runs the same step, forward, fused loss and
backward, as one numba-compiled function:

- every matrix product is a CBLAS ``?gemm`` (``?gemv`` when it has one column) called directly from
  compiled code (no argument conversion, no dispatch) on the same buffers: Intel MKL's when the ``mkl``
  extra is installed (faster on these shapes on AVX-512 processors, BENCHMARKS.md), else the OpenBLAS
  that NumPy bundles;
- the bias add and the activation are one pass over each layer's output; the activation's
  derivative is applied in the same loop that reads it; the softmax / sigmoid / squared-error loss
  and its gradient are one pass over the output rows;
- every buffer is the fast path's own (flat parameters and gradients) or a workspace kept per
  batch size: nothing is allocated per batch.

SGD (plain, momentum, Nesterov) is compiled too (the rule of glassnet.optim written once more as a
loop; NumPy needs 3 passes for momentum): inside the backward, each layer's weights are updated as
soon as its input gradient is computed, while they and their gradients are still in cache; with an
L1/L2 penalty (added to the gradient after the kernel by the NumPy fast path's own code) as one pass
over the flat buffers after it. Adam, RMSprop and any ``clip_norm`` run the optimizer's own
``step_flat`` (a compiled Adam pass was measured slower), so schedules and clipping work unchanged.
tests/test_compiled.py checks this step against the readable layers (float64 to 1e-10, float32 to
1e-5) for every activation, loss and optimizer.

:meth:`CompiledStep.objective` is scikit-learn's L-BFGS objective (glassnet/adapters/sklearn/training.py) as
one compiled call per evaluation: scipy's parameter vector written into the flat parameters, the step
over every chunk of rows, the L2 term and the gradient written into one float64 buffer.

The BLAS is bound by symbol name (``llvmlite.binding.add_symbol``), not by a baked address, so the
compiled code is cached on disk (numba's ``cache=True``: ``__pycache__`` next to this file, or
numba's per-user cache directory when the installation is read-only) and later processes load it
instead of compiling. :func:`gemm_kernel` gives that binding as a numba function, for other compiled
kernels (``glassnet/adapters/compiled_recurrent.py``); it is stable: ``gemm(ta, tb, m, n, k, alpha, a,
lda, b, ldb, beta, c, ldc)``. numba itself is imported only when a compiled step is built.

Which BLAS: ``GLASSNET_BLAS=mkl`` or ``=openblas`` chooses, unset takes MKL when found (the ``mkl``
wheel's ``libmkl_rt``, or the file ``GLASSNET_MKL`` names), except on AMD processors without AVX-512, where
OpenBLAS runs these products faster (BENCHMARKS.md, issue 13 session 6) and comes first; :func:`blas` says which
one runs. MKL runs sequentially unless ``MKL_THREADING_LAYER`` says otherwise.

Use (numba is an optional extra, ``pip install 'glassnet[compiled]'``, MKL another, ``[mkl]``)::

    from glassnet.adapters import compiled
    compiled.enable()        # every later fit whose model qualifies for the fast path uses it
    compiled.disable()       # back to the NumPy fast path
    with compiled.by_default():   # what the scikit-learn estimators and the CLI do around a fit
        ...

The scikit-learn estimators (``compiled=True``, their default) and the CLI use it whenever numba
imports; ``GLASSNET_COMPILED=0`` turns that off everywhere. Without numba, or without a BLAS
exposing the 64-bit-integer CBLAS ``?gemm``, :func:`enable` raises a clear error and the NumPy fast
path stays in place. ``fastpath.readable()`` and ``GLASSNET_FASTPATH=0`` still force the readable
layers.
"""

import contextlib
import ctypes
import glob
import importlib.metadata
import os
import sys
import threading

import numpy as np

from glassnet.nn.layers import LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from glassnet.nn.losses import MSE, BinaryCrossEntropy, CrossEntropy
from glassnet.optim.optimizers import SGD
from glassnet.train import fastpath

__all__ = ["CompiledStep", "available", "blas", "by_default", "disable", "enable", "gemm_kernel", "hooked", "wanted"]

_ACT_CODES = {Linear: 0, ReLU: 1, LeakyReLU: 2, Tanh: 3, Sigmoid: 4}
_LOSS_CODES = {CrossEntropy: 0, BinaryCrossEntropy: 1, MSE: 2}
_STATE = {}
_LOCK = threading.Lock()           # binding the BLAS and wrapping the kernels happen once per process
# CBLAS constants: row-major storage; op(A) = A or A^T.
ROW, N, T = 101, 111, 112
# The names the compiled code calls; each process binds them to its BLAS's functions (64-bit integers).
_SYMBOLS = ("glassnet_cblas_sgemm64", "glassnet_cblas_dgemm64", "glassnet_cblas_sgemv64", "glassnet_cblas_dgemv64")
_PROVIDERS = {"mkl": ("cblas_sgemm_64", "cblas_dgemm_64", "cblas_sgemv_64", "cblas_dgemv_64"),
              "openblas": ("scipy_cblas_sgemm64_", "scipy_cblas_dgemm64_", "scipy_cblas_sgemv64_",
                           "scipy_cblas_dgemv64_")}


def available():
    """True when numba imports and a BLAS with the 64-bit-integer CBLAS sgemm/dgemm is found."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return blas() is not None


def enable():
    """Use :class:`CompiledStep` for every later fit that qualifies for the fast path."""
    if not available():
        raise ModuleNotFoundError(
            "The compiled step needs numba and a BLAS: pip install 'glassnet[compiled]' (numba; NumPy's own "
            f"OpenBLAS, or MKL with 'glassnet[mkl]'); GLASSNET_BLAS={os.environ.get('GLASSNET_BLAS', '<unset>')}. "
            "The NumPy fast path is used meanwhile.")
    fastpath.COMPILED[:] = [CompiledStep]


def disable():
    """Back to the NumPy fast path."""
    fastpath.COMPILED.clear()


def by_default(use=True):
    """Within the block, qualifying fits use :class:`CompiledStep` if numba is there; yields whether it is.

    The adapters' switch (scikit-learn estimators, CLI): off when ``use`` is false, when the environment
    sets ``GLASSNET_COMPILED=0`` or when :func:`available` is false (the NumPy fast path then runs).
    """
    return hooked(fastpath.COMPILED, CompiledStep, wanted(use, available))


def wanted(use, available):
    """The compiled adapters' rule: on unless ``use`` is false, ``GLASSNET_COMPILED=0`` or ``available()`` is false."""
    return bool(use) and os.environ.get("GLASSNET_COMPILED", "1") != "0" and available()


@contextlib.contextmanager
def hooked(hooks, item, on, after=None):
    """Within the block ``item`` is in the lower layer's hook list ``hooks`` when ``on`` (yielded); on leaving it
    is taken out again and ``after()`` runs (e.g. to drop plans built with it)."""
    if on:
        hooks.append(item)
    try:
        yield on
    finally:
        if on:
            hooks.remove(item)
            if after is not None:
                after()


def blas():
    """'mkl' or 'openblas': the BLAS the compiled code calls in this process (bound on first use), or None."""
    with _LOCK:
        return _STATE["blas"] if "blas" in _STATE else _bind()


def _bind():
    """Open the first BLAS found (``GLASSNET_BLAS``'s, else :func:`_preference`'s order) and bind the compiled
    code's symbols."""
    _STATE["blas"] = None
    wanted = os.environ.get("GLASSNET_BLAS", "").lower()
    try:
        import llvmlite.binding
    except ImportError:                             # no numba: no compiled code to bind a BLAS for
        return None
    for name in ([wanted] if wanted else _preference(llvmlite.binding.get_host_cpu_name(),
                                                      llvmlite.binding.get_host_cpu_features())):
        lib = _open(name) if name in _PROVIDERS else None
        if lib is None:
            continue
        try:
            addresses = [ctypes.cast(getattr(lib, s), ctypes.c_void_p).value for s in _PROVIDERS[name]]
        except AttributeError:                      # another build of that library: no 64-bit CBLAS
            continue
        for symbol, address in zip(_SYMBOLS, addresses):
            llvmlite.binding.add_symbol(symbol, address)
        _STATE["blas"], _STATE["lib"] = name, lib
        break
    return _STATE["blas"]


def _preference(cpu, features):
    """The BLAS to try first, then second, on this processor (LLVM's name for it and its feature flags).

    MKL first, but on AMD processors without AVX-512 (Zen 1-3: LLVM's ``znver1``-``znver3``; older ``bdver``,
    ``btver``): there MKL's GEMMs ran 1.0-1.9x OpenBLAS's time on every shape set of benchmarks/blas_ab.py (Zen 3;
    float32 products with 10 columns 3x), against 0.55-0.9x on the AVX-512 Zen of the earlier sessions.
    """
    amd = cpu.startswith(("znver", "bdver", "btver"))
    return ["openblas", "mkl"] if amd and not features.get("avx512f", False) else ["mkl", "openblas"]


def _open(name):
    """The shared library of ``name`` (ctypes), or None when it is not installed."""
    if name == "openblas":
        paths = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs",
                                       "libscipy_openblas64_*"))
    else:
        paths = [os.environ["GLASSNET_MKL"]] if os.environ.get("GLASSNET_MKL") else []
        try:
            paths += [str(f.locate()) for f in importlib.metadata.distribution("mkl").files or ()
                      if os.path.basename(str(f)).startswith("libmkl_rt.so")]
        except importlib.metadata.PackageNotFoundError:
            pass
        paths += sorted(glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*")))
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        if name == "mkl" and "MKL_THREADING_LAYER" not in os.environ:
            lib.MKL_Set_Threading_Layer(ctypes.c_int(1))          # MKL_THREADING_SEQUENTIAL, before any call
        return lib
    return None


def gemm_kernel():
    """:func:`gemm` as a numba function bound to this process's BLAS (:func:`blas`), for other compiled kernels.

    The stable entry point for compiled code outside this module (``glassnet/adapters/compiled_recurrent.py``):
    ``gemm = compiled.gemm_kernel()`` at import, then ``gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c,
    ldc)`` inside ``numba.njit`` functions (their ``cache=True`` works: the BLAS is bound by symbol name).
    """
    if blas() is None:
        raise ModuleNotFoundError("No BLAS for the compiled kernels: see glassnet.adapters.compiled.enable().")
    _compile()
    return gemm


_KERNELS = ("gemm", "_act_forward", "_act_backward", "_loss_grad", "_step", "_sgd", "_objective")


def _compile():
    """Make this module's kernels numba functions, once (numba is imported here: the CLI's other commands and
    ``import glassnet.adapters.sklearn`` never pay for it). Each is compiled on its first call, or loaded from
    numba's cache on disk; the BLAS symbols must be bound first (:func:`blas`)."""
    with _LOCK:
        if "jit" not in _STATE:
            _wrap_kernels()


def _wrap_kernels():
    import numba

    space = globals()
    i, e, p = numba.types.int64, numba.types.int32, numba.types.voidptr
    for name, symbol, real in zip(("_sgemm", "_dgemm"), _SYMBOLS, (numba.types.float32, numba.types.float64)):
        space[name] = numba.types.ExternalFunction(symbol, numba.types.void(e, e, e, i, i, i, real, p, i, p, i, real,
                                                                             p, i))
    for name, symbol, real in zip(("_sgemv", "_dgemv"), _SYMBOLS[2:], (numba.types.float32, numba.types.float64)):
        space[name] = numba.types.ExternalFunction(symbol, numba.types.void(e, e, i, i, real, p, i, p, i, real, p, i))
    for name in _KERNELS:
        try:
            space[name] = numba.njit(nogil=True, cache=True)(space[name])
        except RuntimeError:                            # no writable cache location at all: compile per process
            space[name] = numba.njit(nogil=True)(space[name])
    _STATE["jit"] = True


_sgemm = _dgemm = _sgemv = _dgemv = None    # the BLAS's ?gemm / ?gemv as numba external functions, set by _compile()


def gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """C <- alpha op(A) op(B) + beta C (CBLAS row-major ``?gemm``), from compiled code.

    a, b, c: C-contiguous arrays (flat or 2-D, any slice) of one dtype, float32 or float64, whose first
    element is the matrix's first; op(A) is A^T when ``ta`` (A stored k x m), op(B) is B^T when ``tb``
    (B stored n x k); C is m x n with leading dimension ``ldc``. A numba function once :func:`_compile` ran:
    take it from :func:`gemm_kernel`.

    One column (n = 1: a one-output layer's forward and weight gradient) is a matrix-vector product, handed to
    ``?gemv``: OpenBLAS's ``dgemm`` took 208 us for 2048x1x100 where its ``dgemv`` takes 50 (MKL: 60 either way).
    """
    if n == 1:                                   # c = alpha op(A) b + beta c; b's stride: 1 stored as a row
        rows, cols = (k, m) if ta else (m, k)
        if c.itemsize == 4:
            _sgemv(ROW, T if ta else N, rows, cols, alpha, a.ctypes.data, lda, b.ctypes.data, 1 if tb else ldb,
                   beta, c.ctypes.data, ldc)
        else:
            _dgemv(ROW, T if ta else N, rows, cols, alpha, a.ctypes.data, lda, b.ctypes.data, 1 if tb else ldb,
                   beta, c.ctypes.data, ldc)
    elif c.itemsize == 4:
        _sgemm(ROW, T if ta else N, T if tb else N, m, n, k, alpha, a.ctypes.data, lda, b.ctypes.data, ldb, beta,
               c.ctypes.data, ldc)
    else:
        _dgemm(ROW, T if ta else N, T if tb else N, m, n, k, alpha, a.ctypes.data, lda, b.ctypes.data, ldb, beta,
               c.ctypes.data, ldc)


def _act_forward(a, b, n, m, code, alpha):
    """a <- f(a + b) row by row (a: n x m flat block, b: the bias)."""
    for r in range(n):
        for j in range(m):
            v = a[r * m + j] + b[j]
            if code == 1:                      # ReLU (written so that NaN stays NaN, like np.maximum)
                if v < 0:
                    v = 0
            elif code == 2:                    # LeakyReLU: max(z, alpha z), alpha <= 1
                t = alpha * v
                if t > v:
                    v = t
            elif code == 3:
                v = np.tanh(v)
            elif code == 4:                    # sigmoid as (1 + tanh(z / 2)) / 2, as the layers compute it
                v = (1 + np.tanh(v * 0.5)) * 0.5
            a[r * m + j] = v


def _act_backward(g, a, size, code, alpha):
    """g <- g * f'(z), from the layer output a = f(z)."""
    # One loop per activation, each storing every element (a select, not a conditional store): LLVM vectorizes
    # these; the ReLU backward on digits' 1,347 x 100 hidden layer took 116 us with the branch inside, 38 after.
    if code == 1:
        for i in range(size):
            g[i] = g[i] if a[i] > 0 else 0
    elif code == 2:
        for i in range(size):
            g[i] = g[i] if a[i] > 0 else g[i] * alpha
    elif code == 3:
        for i in range(size):
            g[i] *= 1 - a[i] * a[i]
    elif code == 4:
        for i in range(size):
            g[i] *= (1 - a[i]) * a[i]


def _loss_grad(z, Y, w, g, n, k, code):
    """(loss, correct rows or -1); writes dL/dz into g. z: n x k logits / predictions (flat)."""
    total, correct = 0.0, 0
    weighted = w.shape[0] > 0
    if code == 0:                              # softmax + cross-entropy
        for r in range(n):
            o = r * k
            mx, iz, iy = z[o], 0, 0
            for j in range(1, k):
                if z[o + j] > mx:
                    mx, iz = z[o + j], j
                if Y[r, j] > Y[r, iy]:
                    iy = j
            correct += iz == iy
            s = 0.0
            for j in range(k):
                e = np.exp(z[o + j] - mx)
                g[o + j] = e
                s += e
            ls = np.log(s)
            term = 0.0
            wr = w[r] if weighted else 1.0
            for j in range(k):
                term += Y[r, j] * (ls - (z[o + j] - mx))
                g[o + j] = (g[o + j] / s - Y[r, j]) * (1.0 / n) * wr
            total += term * wr
        return total / n, correct
    size = n * k
    for r in range(n):
        wr = w[r] if weighted else 1.0
        for j in range(k):
            v, y = z[r * k + j], Y[r, j]
            if code == 1:                      # sigmoid + binary cross-entropy
                correct += (v > 0) == (y > 0.5)
                total += (max(v, 0) - y * v + np.log1p(np.exp(-abs(v)))) * wr
                g[r * k + j] = ((1 + np.tanh(v * 0.5)) * 0.5 - y) * (1.0 / size) * wr
            else:                              # squared error
                d = v - y
                total += d * d * wr
                g[r * k + j] = d * (2.0 / size) * wr
    return total / size, (correct if code == 1 and k == 1 else -1)


def _step(xs, n, Y, w, W, G, wo, bo, dims, acts, alphas, loss_code, A, D, ao, lr, mom, nesterov, V):
    """Forward, loss and backward of one batch of n rows (xs: the n x dims[0] inputs, flat); dL/dW and dL/db
    written into G (flat, like W). V not empty: the SGD rule (:func:`_sgd`, velocity V, or G itself without
    momentum) applied to each layer as soon as its backward is done (its input gradient computed), while its
    weights and gradients are still in cache, instead of a pass over all of them after the step (BENCHMARKS.md).
    At most 19 arguments: Python keeps argument tuples up to that size on a free list (no allocation per call)."""
    L = dims.shape[0] - 1
    for i in range(L):                         # forward: a_i = f(h a_{i-1} W_i + b_i)
        k, m = dims[i], dims[i + 1]
        h = xs if i == 0 else A[ao[i - 1]:ao[i]]
        a = A[ao[i]:ao[i + 1]]
        gemm(False, False, n, m, k, 1.0, h, k, W[wo[i]:], m, 0.0, a, m)
        _act_forward(a, W[bo[i]:bo[i] + m], n, m, acts[i], alphas[i])
    K = dims[L]
    value, correct = _loss_grad(A[ao[L - 1]:ao[L]], Y, w, D[ao[L - 1]:ao[L]], n, K, loss_code)
    _act_backward(D[ao[L - 1]:ao[L]], A[ao[L - 1]:ao[L]], n * K, acts[L - 1], alphas[L - 1])
    for i in range(L - 1, -1, -1):             # backward
        k, m = dims[i], dims[i + 1]
        h = xs if i == 0 else A[ao[i - 1]:ao[i]]
        g = D[ao[i]:ao[i + 1]]
        gemm(True, False, k, m, n, 1.0, h, k, g, m, 0.0, G[wo[i]:], m)
        db = G[bo[i]:bo[i] + m]
        db[:] = 0
        for r in range(n):
            for j in range(m):
                db[j] += g[r * m + j]
        if i:                                  # dL/dX of the first layer is never needed
            gp = D[ao[i - 1]:ao[i]]
            gemm(False, True, n, k, m, 1.0, g, m, W[wo[i]:], m, 0.0, gp, k)
            _act_backward(gp, A[ao[i - 1]:ao[i]], n * k, acts[i - 1], alphas[i - 1])
        if V.shape[0]:                         # W_i is no longer needed by this step
            for o, size in ((wo[i], k * m), (bo[i], m)):
                _sgd(W[o:o + size], G[o:o + size], V[o:o + size], lr, mom, nesterov)
    return value, correct


def _objective(theta, X, Y, w, total, chunk, W, G, wo, bo, dims, acts, alphas, loss_code, A, D, ao, wbuf, fbuf, to,
               fo, sizes, penalized, scale, value_scale, l2, half_l2, grad):
    """scikit-learn's L-BFGS objective (glassnet.adapters.sklearn.training.Objective) in one call; returns J.

    theta (float64, the parameters packed back to back) is written into W (the fast path's flat, aligned buffer:
    parameter p at fo[p], at to[p] in theta), the step runs over X (flat) in chunks of ``chunk`` rows, and
    dJ/dtheta = s sum_c f_c dL_c/dtheta + l2 W (weights only) is written into grad: the same operations in the
    same order as Objective's NumPy loop, with no Python between the chunks.
    """
    P, n, d, L = sizes.shape[0], Y.shape[0], dims[0], dims.shape[0] - 1
    for p in range(P):
        for i in range(sizes[p]):
            W[fo[p] + i] = theta[to[p] + i]
    grad[:] = 0.0
    weighted = w.shape[0] > 0
    data = 0.0
    for s in range(0, n, chunk):
        m = min(chunk, n - s)
        for i in range(L):
            ao[i + 1] = ao[i] + m * dims[i + 1]
        factor = 1.0                               # weighted: rows weigh m w_i / W (the chunk's share)
        if weighted:
            c = m / total
            for r in range(m):
                wbuf[r] = c * w[s + r]
        else:
            factor = m / n
        value, _ = _step(X[s * d:(s + m) * d], m, Y[s:s + m], wbuf[:m] if weighted else w, W, G, wo, bo, dims,
                         acts, alphas, loss_code, A, D, ao, 0.0, 0.0, False, G[:0])
        data += factor * value
        fbuf[0] = factor                           # factor * G in G's dtype, as NumPy computes it
        f = fbuf[0]
        for p in range(P):
            for i in range(sizes[p]):
                grad[to[p] + i] += f * G[fo[p] + i]
    value = value_scale * data
    for i in range(grad.shape[0]):
        grad[i] *= scale
    for p in range(P):
        if penalized[p]:
            ss = 0.0
            for i in range(sizes[p]):
                v = np.float64(W[fo[p] + i])
                ss += v * v
                grad[to[p] + i] += l2 * v
            value += half_l2 * ss
    return value


def _sgd(w, g, v, lr, m, nesterov):
    """One-pass SGD update (plain, momentum, Nesterov) over the flat buffers."""
    for i in range(w.shape[0]):
        if m == 0:
            w[i] -= lr * g[i]                          # w = w - lr g
        else:
            vi = m * v[i] - lr * g[i]                  # v = m v - lr g
            v[i] = vi
            w[i] += m * vi - lr * g[i] if nesterov else vi


def _fused(opt):
    """True when the optimizer's rule is the one :func:`_sgd` compiles (SGD, plain/momentum/Nesterov, no clipping)."""
    # Adam as one compiled pass was measured slower than its NumPy rule (BENCHMARKS.md): not fused.
    return type(opt) is SGD and opt.clip_norm is None         # not, e.g., the L-BFGS objective's NoStep


def _fused_update(opt, w, g, state):
    """The optimizer's rule (glassnet.optim) as one pass over w, g and the state; False when not covered."""
    if not _fused(opt):
        return False
    opt.t += 1
    _sgd(w, g, state[0] if state else g, opt.lr, opt.momentum, opt.nesterov)
    return True


class CompiledStep(fastpath.FastStep):
    """:class:`glassnet.train.fastpath.FastStep` with forward, loss and backward compiled (numba).

    Same flat buffers, same seal (``release``), same optimizer update; only ``__call__`` differs.
    Batches it cannot take without a copy (targets of another dtype, non-contiguous inputs) go to
    the NumPy fast step. ``fuse_update = False`` runs the optimizer's own ``step_flat`` instead of the
    one-pass update (benchmarks/run.py measures both); ``update_in_backward = False`` runs that one-pass SGD
    update after the kernel instead of layer by layer inside its backward (benchmarks/compiled_ab.py).
    """

    fuse_update = True
    update_in_backward = True

    def __init__(self, pairs, loss, optimizer):
        super().__init__(pairs, loss, optimizer)
        offset = lambda view: (view.ctypes.data - self.flat_w.ctypes.data) // view.itemsize  # noqa: E731
        self.wo = np.array([offset(d.weight.value) for d, _ in pairs], np.int64)
        self.bo = np.array([offset(d.bias.value) for d, _ in pairs], np.int64)
        self.dims = np.array([pairs[0][0].n_in] + [d.n_out for d, _ in pairs], np.int64)
        self.acts = np.array([_ACT_CODES[type(a)] for _, a in pairs], np.int64)
        self.alphas = np.array([getattr(a, "alpha", 0.0) for _, a in pairs], np.float64)
        self.loss_code = _LOSS_CODES[type(loss)]
        gemm_kernel()                                  # binds the BLAS, makes the kernels numba functions
        self.kernel = _step
        self.no_weights = np.empty(0, np.float64)
        self.no_update = self.flat_g[:0]
        self.cspaces = {}

    def __call__(self, x, y, w=None):
        if (y.dtype != x.dtype or not (x.flags.c_contiguous and y.flags.c_contiguous)
                or (w is not None and (w.dtype != np.float64 or not w.flags.c_contiguous))):
            return super().__call__(x, y, w)
        self._adopt()
        n = x.shape[0]
        ws = self.cspaces.get(n)
        if ws is None:
            ao = np.concatenate([[0], np.cumsum(n * self.dims[1:])]).astype(np.int64)
            ws = self.cspaces[n] = (np.empty(ao[-1], x.dtype), np.empty(ao[-1], x.dtype), ao)
        opt = self.opt
        inside = self.fuse_update and self.update_in_backward and not self.reg and _fused(opt)  # no penalty to add
        value, correct = self.kernel(x.reshape(-1), n, y, self.no_weights if w is None else w, self.flat_w,
                                     self.flat_g, self.wo, self.bo, self.dims, self.acts, self.alphas, self.loss_code,
                                     *ws, float(opt.lr) if inside else 0.0, float(opt.momentum) if inside else 0.0,
                                     inside and opt.nesterov, self.no_update if not inside else
                                     self.flat_state[0] if self.flat_state else self.flat_g)
        if self.reg:
            value += self._penalty()
        if inside:
            opt.t += 1
        elif not (self.fuse_update and _fused_update(opt, self.flat_w, self.flat_g, self.flat_state)):
            opt.step_flat(self.flat_w, self.flat_g, self.scratch, self.flat_state)
        return value, (None if correct < 0 else int(correct))

    def objective(self, X, Y, w, total, chunk):
        """``f(theta, scale, value_scale, l2, half_l2, grad) -> J``: :func:`_objective` bound to dense X (C-contiguous,
        of the step's dtype), its targets Y, row weights w (float64, total weight ``total``) or None; the workspaces
        are made here, once."""
        m = min(chunk, X.shape[0])
        size = int(m * self.dims[1:].sum())
        A, D = np.empty(size, X.dtype), np.empty(size, X.dtype)
        ao, wbuf, fbuf = np.zeros(len(self.dims), np.int64), np.empty(m, np.float64), np.empty(1, X.dtype)
        sizes = np.array([p.value.size for p in self.params], np.int64)
        to = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)
        fo = np.array([(v.ctypes.data - self.flat_w.ctypes.data) // v.itemsize for v in self.views], np.int64)
        penalized = np.array([p.name == "weight" for p in self.params])
        w = self.no_weights if w is None else w
        flat_x = X.reshape(-1)
        args = (self.flat_w, self.flat_g, self.wo, self.bo, self.dims, self.acts, self.alphas, self.loss_code, A, D,
                ao, wbuf, fbuf, to, fo, sizes, penalized)

        def f(theta, scale, value_scale, l2, half_l2, grad):
            return _objective(theta, flat_x, Y, w, total, chunk, *args, scale, value_scale, l2, half_l2, grad)
        return f
