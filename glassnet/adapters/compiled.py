"""A compiled training step for Dense stacks (numba): the fast path with no Python between the BLAS calls.

On a small network the NumPy fast path (glassnet/train/fastpath.py) spends most of a step in
dispatch: about 30 NumPy calls of 1-2 us each, most of them on arrays of a few hundred numbers
(BENCHMARKS.md, per-operation profile). This module runs the same step, forward, fused loss and
backward, as one numba-compiled function:

- every matrix product is the SGEMM/DGEMM of the OpenBLAS that NumPy bundles, called directly
  (through ctypes, from compiled code: no argument conversion, no dispatch) on the same buffers;
- the bias add and the activation are one pass over each layer's output; the activation's
  derivative is applied in the same loop that reads it; the softmax / sigmoid / squared-error loss
  and its gradient are one pass over the output rows;
- every buffer is the fast path's own (flat parameters and gradients) or a workspace kept per
  batch size: nothing is allocated per batch.

SGD (plain, momentum, Nesterov) is applied as one compiled pass over the flat parameter, gradient
and velocity buffers (the rule of glassnet.optim written once more as a loop; NumPy needs 3 passes
for momentum); Adam, RMSprop and any ``clip_norm`` run the optimizer's own ``step_flat`` (a
compiled Adam pass was measured slower), so schedules and clipping work unchanged. L1/L2 penalties
are added by the NumPy fast path's own code. tests/test_compiled.py checks this step against the
readable layers (float64 to 1e-10, float32 to 1e-5) for every activation, loss and optimizer.

Opt in (numba is an optional extra, ``pip install 'glassnet[compiled]'``)::

    from glassnet.adapters import compiled
    compiled.enable()        # every later fit whose model qualifies for the fast path uses it
    compiled.disable()       # back to the NumPy fast path

Without numba, or on a NumPy whose OpenBLAS cannot be found, :func:`enable` raises a clear error
and the NumPy fast path stays in place. ``fastpath.readable()`` and ``GLASSNET_FASTPATH=0`` still
force the readable layers.
"""

import ctypes
import glob
import os

import numpy as np

from glassnet.nn.layers import LeakyReLU, Linear, ReLU, Sigmoid, Tanh
from glassnet.nn.losses import MSE, BinaryCrossEntropy, CrossEntropy
from glassnet.optim.optimizers import SGD
from glassnet.train import fastpath

__all__ = ["CompiledStep", "available", "disable", "enable"]

_ACT_CODES = {Linear: 0, ReLU: 1, LeakyReLU: 2, Tanh: 3, Sigmoid: 4}
_LOSS_CODES = {CrossEntropy: 0, BinaryCrossEntropy: 1, MSE: 2}
_KERNELS = {}


def available():
    """True when numba imports and NumPy's bundled OpenBLAS exposes cblas_sgemm/dgemm."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return _gemms() is not None


def enable():
    """Use :class:`CompiledStep` for every later fit that qualifies for the fast path."""
    if not available():
        raise ModuleNotFoundError(
            "The compiled step needs numba and the OpenBLAS bundled with NumPy's wheels: "
            "pip install 'glassnet[compiled]' (numba). The NumPy fast path is used meanwhile.")
    fastpath.COMPILED[:] = [CompiledStep]


def disable():
    """Back to the NumPy fast path."""
    fastpath.COMPILED.clear()


def _gemms():
    """{'f': cblas_sgemm, 'd': cblas_dgemm} of the OpenBLAS in numpy.libs (64-bit integers), or None."""
    if "gemm" not in _KERNELS:
        _KERNELS["gemm"] = None
        libs = glob.glob(os.path.join(os.path.dirname(np.__file__), os.pardir, "numpy.libs", "libscipy_openblas64_*"))
        try:
            lib = ctypes.CDLL(libs[0]) if len(libs) == 1 else None
            fns = {}
            for char, real, name in (("f", ctypes.c_float, "scipy_cblas_sgemm64_"),
                                     ("d", ctypes.c_double, "scipy_cblas_dgemm64_")):
                fn = getattr(lib, name)
                fn.restype = None
                i, p = ctypes.c_int64, ctypes.c_void_p
                fn.argtypes = [i, i, i, i, i, i, real, p, i, p, i, real, p, i]
                fns[char] = fn
            _KERNELS["gemm"] = fns
        except (OSError, AttributeError):       # another BLAS build: not available
            pass
    return _KERNELS["gemm"]


def _kernel(char):
    """The compiled step for float32 ("f") or float64 ("d"), compiled on the first batch (2-5 s here)."""
    if char not in _KERNELS:
        _KERNELS[char] = _build(_gemms()[char])
    return _KERNELS[char]


def _build(gemm):
    import numba

    # CBLAS constants: row-major storage; op(A) = A or A^T.
    ROW, N, T = 101, 111, 112

    @numba.njit(nogil=True, cache=False)
    def act_forward(a, b, n, m, code, alpha):
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

    @numba.njit(nogil=True, cache=False)
    def act_backward(g, a, size, code, alpha):
        """g <- g * f'(z), from the layer output a = f(z)."""
        for i in range(size):
            if code == 1:
                if not a[i] > 0:
                    g[i] = 0
            elif code == 2:
                if not a[i] > 0:
                    g[i] *= alpha
            elif code == 3:
                g[i] *= 1 - a[i] * a[i]
            elif code == 4:
                g[i] *= (1 - a[i]) * a[i]

    @numba.njit(nogil=True, cache=False)
    def loss_grad(z, Y, w, g, n, k, code):
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

    @numba.njit(nogil=True, cache=False)
    def step(x, Y, w, W, G, wo, bo, dims, acts, alphas, loss_code, A, D, ao):
        """Forward, loss and backward of one batch; dL/dW and dL/db written into G (flat, like W)."""
        n, L = x.shape[0], dims.shape[0] - 1
        xs = x.ravel()
        for i in range(L):                         # forward: a_i = f(h a_{i-1} W_i + b_i)
            k, m = dims[i], dims[i + 1]
            h = xs if i == 0 else A[ao[i - 1]:ao[i]]
            a = A[ao[i]:ao[i + 1]]
            gemm(ROW, N, N, n, m, k, 1.0, h.ctypes.data, k, W[wo[i]:].ctypes.data, m, 0.0, a.ctypes.data, m)
            act_forward(a, W[bo[i]:bo[i] + m], n, m, acts[i], alphas[i])
        K = dims[L]
        value, correct = loss_grad(A[ao[L - 1]:ao[L]], Y, w, D[ao[L - 1]:ao[L]], n, K, loss_code)
        act_backward(D[ao[L - 1]:ao[L]], A[ao[L - 1]:ao[L]], n * K, acts[L - 1], alphas[L - 1])
        for i in range(L - 1, -1, -1):             # backward
            k, m = dims[i], dims[i + 1]
            h = xs if i == 0 else A[ao[i - 1]:ao[i]]
            g = D[ao[i]:ao[i + 1]]
            gemm(ROW, T, N, k, m, n, 1.0, h.ctypes.data, k, g.ctypes.data, m, 0.0, G[wo[i]:].ctypes.data, m)
            db = G[bo[i]:bo[i] + m]
            db[:] = 0
            for r in range(n):
                for j in range(m):
                    db[j] += g[r * m + j]
            if i:                                  # dL/dX of the first layer is never needed
                gp = D[ao[i - 1]:ao[i]]
                gemm(ROW, N, T, n, k, m, 1.0, g.ctypes.data, m, W[wo[i]:].ctypes.data, m, 0.0, gp.ctypes.data, k)
                act_backward(gp, A[ao[i - 1]:ao[i]], n * k, acts[i - 1], alphas[i - 1])
        return value, correct

    return step


def _updates():
    """One-pass SGD update (plain, momentum, Nesterov) over the flat buffers, compiled on first use."""
    if "updates" not in _KERNELS:
        import numba

        @numba.njit(nogil=True, cache=False)
        def sgd(w, g, v, lr, m, nesterov):
            for i in range(w.shape[0]):
                if m == 0:
                    w[i] -= lr * g[i]                          # w = w - lr g
                else:
                    vi = m * v[i] - lr * g[i]                  # v = m v - lr g
                    v[i] = vi
                    w[i] += m * vi - lr * g[i] if nesterov else vi

        _KERNELS["updates"] = sgd
    return _KERNELS["updates"]


def _fused_update(opt, w, g, state):
    """The optimizer's rule (glassnet.optim) as one pass over w, g and the state; False when not covered."""
    # Adam as one compiled pass was measured slower than its NumPy rule (BENCHMARKS.md): not fused.
    if type(opt) is not SGD or opt.clip_norm is not None:      # e.g. the L-BFGS objective's NoStep
        return False
    opt.t += 1
    _updates()(w, g, state[0] if state else g, opt.lr, opt.momentum, opt.nesterov)
    return True


class CompiledStep(fastpath.FastStep):
    """:class:`glassnet.train.fastpath.FastStep` with forward, loss and backward compiled (numba).

    Same flat buffers, same seal (``release``), same optimizer update; only ``__call__`` differs.
    Batches it cannot take without a copy (targets of another dtype, non-contiguous inputs) go to
    the NumPy fast step. ``fuse_update = False`` runs the optimizer's own ``step_flat`` instead of the
    one-pass update (benchmarks/run.py measures both).
    """

    fuse_update = True

    def __init__(self, pairs, loss, optimizer):
        super().__init__(pairs, loss, optimizer)
        offset = lambda view: (view.ctypes.data - self.flat_w.ctypes.data) // view.itemsize  # noqa: E731
        self.wo = np.array([offset(d.weight.value) for d, _ in pairs], np.int64)
        self.bo = np.array([offset(d.bias.value) for d, _ in pairs], np.int64)
        self.dims = np.array([pairs[0][0].n_in] + [d.n_out for d, _ in pairs], np.int64)
        self.acts = np.array([_ACT_CODES[type(a)] for _, a in pairs], np.int64)
        self.alphas = np.array([getattr(a, "alpha", 0.0) for _, a in pairs], np.float64)
        self.loss_code = _LOSS_CODES[type(loss)]
        self.kernel = _kernel(self.flat_w.dtype.char)
        self.no_weights = np.empty(0, np.float64)
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
        value, correct = self.kernel(x, y, self.no_weights if w is None else w, self.flat_w, self.flat_g, self.wo,
                                     self.bo, self.dims, self.acts, self.alphas, self.loss_code, *ws)
        if self.reg:
            value += self._penalty()
        if not (self.fuse_update and _fused_update(self.opt, self.flat_w, self.flat_g, self.flat_state)):
            self.opt.step_flat(self.flat_w, self.flat_g, self.scratch, self.flat_state)
        return value, (None if correct < 0 else int(correct))
