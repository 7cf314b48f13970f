"""Compiled kernels for the convolutional fast path (numba): the passes between the GEMMs, fused.

The NumPy fast path (glassnet/train/fastconv.py) spends about half of a CNN training step outside
its GEMMs, in NumPy's one pass per operation over arrays that do not stay in cache (BENCHMARKS.md,
issue 16's CNN section, per-operation profile). This module replaces two of its kernels with
compiled subclasses that keep their workspaces, layouts and formulas:

- max pooling with window = stride (:class:`MaxPool`): the forward is one pass over the input that
  takes each window's maximum (NaN propagates, as ``np.maximum``), the index of its first maximum
  (the readable layer's argmax; one byte per pooled value) and the ReLU folded after the pool (an
  index past the window marks a value the ReLU zeroed); the backward is one pass that writes each
  window's gradient to that offset and 0 to the others. NumPy needs 3 passes per window offset
  (equal, multiply, subtract) plus the maxima, the ReLU and its mask;
- col2im (:class:`Conv`): dL/dpatches as one GEMM ``g W^T`` (BLAS, N = kh*kw*C) on g's rows as the
  forward left them (window-major before a pool), then one compiled pass that adds every patch
  gradient into dL/dx, one image at a time (its slab of dL/dx stays in cache). NumPy needs g put
  back in image order (a transposing copy), one GEMM per kernel offset and one strided add each.

The GEMMs stay BLAS (NumPy's ``matmul``). Every other kernel is fastconv's. tests/test_compiled_conv.py
runs every test of tests/test_fastconv.py with these kernels on (the readable layers to float64
1e-10 / 1e-12, float32 2e-5 / 1e-5, no allocation per batch) and checks them against the NumPy fast
path. The kernels are cached on disk (numba's ``cache=True``: later processes load them instead of
compiling for a few seconds). The measurements behind each kernel: BENCHMARKS.md
(``benchmarks/cnn_ab.py --compiled``).

Opt in (numba is an optional extra, ``pip install 'glassnet[compiled]'``)::

    from glassnet.adapters import compiled_conv
    compiled_conv.enable()     # convolutional fast steps built from now on use the compiled kernels
    compiled_conv.disable()    # back to the NumPy kernels
    with compiled_conv.by_default(): ...   # on where numba is, unless GLASSNET_COMPILED=0
"""

import contextlib
import os
import threading

import numpy as np

from glassnet.train import fastconv

__all__ = ["KERNELS", "Conv", "MaxPool", "available", "by_default", "compiled_kernel", "disable", "enable"]

# Each compiled kernel can be switched off (benchmarks/cnn_ab.py --compiled measures each alone); off, fastconv's
# NumPy kernel runs. Read when a fast step is built.
KERNELS = {"pool": True, "col2im": True}
_LOCK = threading.Lock()
_STATE = {}


def available():
    """True when numba imports."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


def enable():
    """Convolutional fast steps built from now on (every later fit, predict and evaluate) use the compiled kernels."""
    if not available():
        raise ModuleNotFoundError(
            "The compiled convolution kernels need numba: pip install 'glassnet[compiled]'. "
            "The NumPy fast path is used meanwhile.")
    _compile()
    fastconv.COMPILED[:] = [compiled_kernel]
    fastconv._INFERENCE.clear()          # inference plans built before hold NumPy kernels


def disable():
    """Back to the NumPy kernels of fastconv."""
    fastconv.COMPILED.clear()
    fastconv._INFERENCE.clear()


@contextlib.contextmanager
def by_default(use=True):
    """Within the block the compiled kernels are on if numba is there; yields whether they are.

    Off when ``use`` is false or the environment sets ``GLASSNET_COMPILED=0`` (as
    :func:`glassnet.adapters.compiled.by_default`).
    """
    on = bool(use) and os.environ.get("GLASSNET_COMPILED", "1") != "0" and available()
    if on:
        _compile()
        fastconv.COMPILED.append(compiled_kernel)
    try:
        yield on
    finally:
        if on:
            fastconv.COMPILED.remove(compiled_kernel)
            fastconv._INFERENCE.clear()


def compiled_kernel(kernel):
    """The compiled counterpart of a fastconv kernel (the same state, a subclass), or the kernel itself."""
    name, cls = {fastconv._MaxPool: ("pool", MaxPool), fastconv._Conv: ("col2im", Conv)}.get(type(kernel), (0, 0))
    if not cls or not KERNELS[name] or (cls is MaxPool and np.prod(kernel.pool.kernel_hw) >= 255):   # a 1-byte index
        return kernel
    new = cls.__new__(cls)
    new.__dict__.update(kernel.__dict__)
    return new


class MaxPool(fastconv._MaxPool):
    """fastconv's max pooling (window = stride), forward and backward each one compiled pass."""

    def _view(self, x, ws):
        """The windows of x (window-major, or NHWC) as one (kh, kw, N, Hp, Wp, C) array, a view of x."""
        (kh, kw), (ho, wo) = self.pool.kernel_hw, ws["hw"]
        if ws["wm"]:
            return x.reshape(kh, kw, *x.shape[1:])
        x4 = x[:, None] if x.ndim == 3 else x
        s0, s1, s2, s3 = x4.strides
        return np.lib.stride_tricks.as_strided(x4, (kh, kw, len(x4), ho, wo, x4.shape[3]),
                                               (s1, s2, s0, s1 * kh, s2 * kw, s3))

    def forward(self, x, ws):
        if "index" not in ws:
            ws["index"] = np.empty(ws["y"].shape, np.uint8)
        _pool_forward(self._view(x, ws), ws["y"], ws["index"], self.relu, not self.infer)
        return ws["y"].reshape(ws["out_shape"])

    def backward(self, g, ws, need_dx):
        _pool_backward(g.reshape(ws["y"].shape), ws["index"], self._view(ws["dx"], ws), ws["y"].dtype.type(0))
        return ws["dx"][:, 0] if self.one_d and not ws["wm"] else ws["dx"]


class Conv(fastconv._Conv):
    """fastconv's convolution; its dL/dx as one GEMM and one compiled col2im pass."""

    def backward(self, g, ws, need_dx):
        super().backward(g, ws, False)                     # [dL/dW; dL/db]: fastconv's GEMM
        if not need_dx:
            return None
        L, (ho, wo, t, le, h, w), (a, b), dx = self.layer, ws["geom"], ws["pool"], ws["dx"]
        g2 = g.reshape(-1, L.out_channels)
        np.matmul(g2, L.weight.value.reshape(-1, L.out_channels).T, out=ws["dcols"])   # dL/dpatches, g's row order
        _col2im(ws["dcols"], dx, a, b, ho // a, wo // b, *L.stride_hw, *L.kernel_hw)
        dx = dx[:, t:t + h, le:le + w, :]
        return dx[:, 0] if self.one_d else dx


def _compile():
    """Make the kernels numba functions, once (numba is imported here, not at import of this module)."""
    with _LOCK:
        if "jit" in _STATE:
            return
        import numba

        space = globals()
        for name in ("_pool_forward", "_pool_backward", "_col2im"):
            try:
                space[name] = numba.njit(nogil=True, cache=True, error_model="numpy")(space[name])
            except RuntimeError:                        # no writable cache location: compile per process
                space[name] = numba.njit(nogil=True, error_model="numpy")(space[name])
        _STATE["jit"] = True


def _pool_forward(x, y, index, relu, train):
    """y[n, i, j, c] = max over offsets (a, b) of x[a, b, n, i, j, c] (then max(0, .) if relu); with train, index =
    a * kw + b of the first maximum (the last offset when none equals it: NaN), kh * kw where the ReLU zeroed it."""
    kh, kw, N, H, W, C = x.shape
    last = kh * kw - 1
    for n in range(N):
        for i in range(H):
            for j in range(W):
                yr, ir = y[n, i, j], index[n, i, j]
                for c in range(C):
                    yr[c] = x[0, 0, n, i, j, c]
                for a in range(kh):
                    for b in range(kw):
                        if a or b:
                            for c in range(C):
                                v, m = x[a, b, n, i, j, c], yr[c]
                                yr[c] = v if v > m or v != v else m      # np.maximum: NaN propagates
                if train:
                    for c in range(C):
                        ir[c] = last
                    for t in range(last - 1, -1, -1):                   # down to 0: the first maximum wins
                        for c in range(C):
                            if x[t // kw, t % kw, n, i, j, c] == yr[c]:
                                ir[c] = t
                if relu:
                    for c in range(C):
                        m = yr[c]
                        if not m > 0:                                   # the ReLU's derivative is 0 here
                            if train:
                                ir[c] = last + 1
                            if m == m:                                   # NaN stays NaN, as np.maximum(y, 0)
                                yr[c] = 0


def _pool_backward(g, index, dx, zero):
    """dx[a, b, n, i, j, c] = g[n, i, j, c] where a * kw + b is index[n, i, j, c], else 0 (``zero``, of g's dtype)."""
    kh, kw, N, H, W, C = dx.shape
    for n in range(N):
        for a in range(kh):
            for b in range(kw):
                t = a * kw + b
                for i in range(H):
                    for j in range(W):
                        gr, ir = g[n, i, j], index[n, i, j]
                        for c in range(C):
                            dx[a, b, n, i, j, c] = gr[c] if ir[c] == t else zero


def _col2im(dcols, dx, A, B, Hq, Wq, sh, sw, kh, kw):
    """dx = 0, then dx[n, sh*i + p, sw*j + q, c] += dcols[r, (p kw + q) C + c] for the patch row r of conv output
    (i, j) = (A iq + a, B jq + b) of image n: r = (((a B + b) N + n) Hq + iq) Wq + jq (A = B = 1: image order)."""
    N, C = dx.shape[0], dx.shape[3]
    for n in range(N):
        d = dx[n]
        d[:] = 0
        for iq in range(Hq):
            for a in range(A):
                for jq in range(Wq):
                    for b in range(B):
                        r = (((a * B + b) * N + n) * Hq + iq) * Wq + jq
                        row, y0, x0 = dcols[r], (A * iq + a) * sh, (B * jq + b) * sw
                        for p in range(kh):
                            for q in range(kw):
                                o, dr = (p * kw + q) * C, d[y0 + p, x0 + q]
                                for c in range(C):
                                    dr[c] += row[o + c]
