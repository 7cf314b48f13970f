"""Compiled LSTM step loops (numba): each time step one BLAS call and fused passes over the gates.

The NumPy fast path (glassnet/nn/layers/recurrent_fast.py) runs an LSTM forward step as the GEMM
h_(t-1) U plus 13 elementwise ufunc passes (add the input part, the sigmoid, the cell update,
tanh(c), h), each of them a call of about 1 us and a pass over memory; the backward step as the
GEMM da U^T plus 5 passes and the gate derivatives. This module replaces only those two loops over
the steps, with the same buffers and caches:

- forward, per step: h_(t-1) U by the SGEMM/DGEMM of :func:`glassnet.adapters.compiled.gemm_kernel`
  (MKL with the ``mkl`` extra, else the OpenBLAS that NumPy bundles), then one pass that
  adds the input part and the bias and computes the four gates, and one that computes the cell
  c_t, tanh(c_t) and h_t (and the mask's carry over padding);
- backward, per step: one pass that takes dL/dh_t and dL/dc_t to the four gates' pre-activation
  gradients, dL/dc_(t-1) and the running dL/db, then da U^T by GEMM (added to the carried dL/dh
  over padding).

float32 computes tanh as a rational function (error below 3.5e-7, NaN propagates) that LLVM
vectorizes; float64 calls libm's tanh. The measurements behind each choice are in BENCHMARKS.md
(recurrent section, fourth pass); ``benchmarks/rnn.py`` times epochs with and without this module.

The GEMMs over all steps (x W, dL/dU, dL/dW, dL/dx) stay recurrent_fast's. The BLAS comes from
:mod:`glassnet.adapters.compiled` (its loader, so a change of provider there applies here too). The caches are
the same arrays (the gates i, f, g, o; c; tanh c; h), so the glass box reads the same values and
either backward loop can follow either forward loop. tests/test_compiled_recurrent.py proves the
layers equal to the readable loops with it on (float64 1e-10, float32 2e-5).

Opt in (numba is an optional extra, ``pip install 'glassnet[compiled]'``)::

    from glassnet.adapters import compiled_recurrent
    compiled_recurrent.enable()     # every LSTM with fast = True on NumPy arrays uses the compiled loops
    compiled_recurrent.disable()    # back to the NumPy loops
"""

import numpy as np

from glassnet.adapters import compiled
from glassnet.nn.layers import recurrent_fast

__all__ = ["CompiledLoops", "available", "disable", "enable"]

_KERNELS = {}


def available():
    """True when numba and the BLAS of :mod:`glassnet.adapters.compiled` can be used."""
    return compiled.available()


def enable():
    """Use the compiled step loops for every later LSTM forward and backward on the fast path."""
    if not available():
        raise ModuleNotFoundError(
            "The compiled recurrent loops need numba and a BLAS (MKL, or the OpenBLAS bundled with NumPy): "
            "pip install 'glassnet[compiled]' (numba). The NumPy fast path is used meanwhile.")
    recurrent_fast.COMPILED[:] = [CompiledLoops()]


def disable():
    """Back to the NumPy loops of recurrent_fast."""
    recurrent_fast.COMPILED.clear()


def _kernels(char):
    """(forward, backward) for float32 ("f") or float64 ("d"), compiled on first use (a few seconds)."""
    if char not in _KERNELS:
        _KERNELS[char] = _build(compiled.gemm_kernel(), np.float32 if char == "f" else np.float64)
    return _KERNELS[char]


# Fast-math flags of the step kernels: contract (a * b + c as one FMA), no signed zeros, division as a multiplication
# by the reciprocal. With them (and NumPy's error model: no zero-divisor check) LLVM turns the loops over a row into
# SIMD code. No flag that assumes finite values: NaN still propagates (tested).
FASTMATH = {"contract", "nsz", "arcp"}


def _build(gemm, F):
    import numba

    half, one, zero = F(0.5), F(1), F(0)
    jit = numba.njit(nogil=True, cache=False, fastmath=FASTMATH, error_model="numpy")

    if F is np.float32:
        clamp = F(7.90531110763549805)

        @numba.njit(nogil=True, cache=False, fastmath=FASTMATH, error_model="numpy", inline="always")
        def tanh(x):
            """tanh in float32 as a rational function (Eigen's and XLA's): |error| < 3.5e-7, NaN in, NaN out.

            Branch-free, so a loop of it vectorizes (libm's tanhf per value: 110 us per 16K values here, against
            NumPy's 6 us and this form's 5 us); beyond |x| = 7.905 tanh rounds to +-1 in float32 anyway.
            """
            x = min(max(x, -clamp), clamp)
            x2 = x * x
            p = x2 * F(-2.76076847742355e-16) + F(2.00018790482477e-13)
            p = x2 * p + F(-8.60467152213735e-11)
            p = x2 * p + F(5.12229709037114e-08)
            p = x2 * p + F(1.48572235717979e-05)
            p = x2 * p + F(6.37261928875436e-04)
            p = x2 * p + F(4.89352455891786e-03)
            q = x2 * F(1.19825839466702e-06) + F(1.18534705686654e-04)
            q = x2 * q + F(2.26843463243900e-03)
            q = x2 * q + F(4.89352518554385e-03)
            return x * p / q
    else:                                          # float64: libm's tanh (exact to the last bits)
        @numba.njit(nogil=True, cache=False, inline="always")
        def tanh(x):
            return np.tanh(x)

    @jit
    def forward(A, b, U, m, S, C, G, TC, reverse):
        """Steps k = 0..T-1 (time t = k, or T-1-k when reverse): gates into G[k], states into S, C, tanh(c) into TC.

        The pre-activations are G[k] = h_(t-1) U (GEMM) + A[t] (= x_t W) + b.
        """
        T, B, H4 = A.shape
        H = H4 // 4
        masked = m.shape[0] > 0
        for k in range(T):
            t = T - 1 - k if reverse else k
            gemm(False, False, B, H4, H, one, S[k], H, U, H4, zero, G[k], H4)
            a, x = G[k], A[t]
            # The gates, all rows first (one loop over 4H, measured faster than a loop per gate block or a row at a
            # time with the cell): sigma(z) = tanh(z / 2) / 2 + 1/2 for i, f, o (glassnet's sigmoid); tanh(z) for g.
            for r in range(B):
                for j in range(H4):
                    s = one if 2 * H <= j < 3 * H else half
                    v = tanh(s * (a[r, j] + x[r, j] + b[j]))
                    a[r, j] = v if s == one else v * half + half
            for r in range(B):                     # c = f c_prev + i g; h = o tanh(c)
                mt = m[t, r, 0] if masked else one
                for j in range(H):
                    cp, hp = C[k, r, j], S[k, r, j]
                    c = a[r, H + j] * cp + a[r, j] * a[r, 2 * H + j]
                    tc = tanh(c)
                    TC[k, r, j] = tc
                    h = a[r, 3 * H + j] * tc
                    if masked:                     # carry the state over padding: s = s_prev + m (s_new - s_prev)
                        h = hp + mt * (h - hp)
                        c = cp + mt * (c - cp)
                    S[k + 1, r, j] = h
                    C[k + 1, r, j] = c

    @jit
    def backward(U, C, G, TC, g_tm, m, keep, dh, dc, dA, db, reverse):
        """Steps k = T-1..0: dL/da into dA[k]; dh, dc carry dL/dh, dL/dc back; dL/dh_t into keep[:, t].

        db (float64) gets the sum of dL/da over steps and rows, read while each row is in cache.
        """
        T, B, H4 = dA.shape
        H = H4 // 4
        masked, has_g, has_keep = m.shape[0] > 0, g_tm.shape[0] > 0, keep.shape[0] > 0
        for k in range(T - 1, -1, -1):
            t = T - 1 - k if reverse else k
            for r in range(B):
                d, e = dh[r], dc[r]
                mt = m[t, r, 0] if masked else one
                if has_g:                          # step t's own output gradient (none where padded)
                    gt = g_tm[t, r]
                    for j in range(H):
                        d[j] += mt * gt[j]
                if has_keep:
                    keep[r, t] = d
                a, da, cp, tc = G[k, r], dA[k, r], C[k, r], TC[k, r]
                for j in range(H):
                    i, f, g, o = a[j], a[H + j], a[2 * H + j], a[3 * H + j]
                    dhn = mt * d[j]
                    dcn = mt * e[j] + dhn * o * (one - tc[j] * tc[j])        # through h = o tanh(c)
                    da[j] = dcn * g * i * (one - i)                         # di sigma'
                    da[H + j] = dcn * cp[j] * f * (one - f)                 # df sigma'
                    da[2 * H + j] = dcn * i * (one - g * g)                 # dg tanh'
                    da[3 * H + j] = dhn * tc[j] * o * (one - o)             # do sigma'
                    e[j] = dcn * f + (one - mt) * e[j]                      # dL/dc_(t-1); padding passes it on
                    d[j] = (one - mt) * d[j]                                # the carried part of dL/dh_(t-1)
                for j in range(H4):
                    db[j] += da[j]
            # dL/dh_(t-1) = da U^T + the carried part (0 without padding)
            gemm(False, True, B, H, H4, one, dA[k], H4, U, H4, one if masked else zero, dh, H)

    return forward, backward


class CompiledLoops:
    """The two step loops of an LSTM, compiled; the signatures of ``recurrent_fast._lstm_*_loop``."""

    def __init__(self):
        self._none = {}

    def _empty(self, dtype):
        """A (0, 0, 0) array standing for 'none' (the kernels branch on its length)."""
        if dtype not in self._none:
            self._none[dtype] = np.empty((0, 0, 0), dtype)
        return self._none[dtype]

    def lstm_forward_loop(self, A, b, U, m_tm, S, C, G, TC, reverse):
        fwd, _ = _kernels(A.dtype.char)
        fwd(A, np.ascontiguousarray(b, A.dtype), np.ascontiguousarray(U, A.dtype),
            self._empty(A.dtype) if m_tm is None else m_tm, S, C, G, TC, bool(reverse))

    def lstm_backward_loop(self, U, cache, g_tm, m_tm, keep, dh, dA, reverse):
        _, bwd = _kernels(dA.dtype.char)
        _, C, G, TC = cache
        none = self._empty(dA.dtype)
        db = np.zeros(dA.shape[2])
        bwd(np.ascontiguousarray(U, dA.dtype), C, G, TC, none if g_tm is None else g_tm,
            none if m_tm is None else m_tm, none if keep is None else keep, dh, np.zeros_like(dh), dA, db,
            bool(reverse))
        return db.astype(dA.dtype)
