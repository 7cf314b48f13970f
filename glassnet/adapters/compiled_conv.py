"""Compiled kernels for the convolutional fast path (numba): the passes between the GEMMs, fused.

The NumPy fast path (glassnet/train/fastconv.py) spends about half of a CNN training step outside
its GEMMs, in NumPy's one pass per operation over arrays that do not stay in cache (BENCHMARKS.md,
issue 16's CNN section, per-operation profile). This module replaces three of its kernels with
compiled subclasses that keep their workspaces, layouts and formulas (``KERNELS`` switches each part off):

- max pooling with window = stride (:class:`MaxPool`): the forward is one pass over the input that
  takes each window's maximum (NaN propagates, as ``np.maximum``), the index of its first maximum
  (the readable layer's argmax; one byte per pooled value) and the ReLU folded after the pool (an
  index past the window marks a value the ReLU zeroed); the backward is one pass that writes each
  window's gradient to that offset and 0 to the others. NumPy needs 3 passes per window offset
  (equal, multiply, subtract) plus the maxima, the ReLU and its mask;
- col2im (:class:`Conv`): dL/dpatches as one GEMM ``g W^T`` (BLAS, N = kh*kw*C) on g's rows as the
  forward left them (window-major before a pool), then one compiled pass that adds every patch
  gradient into dL/dx, one image at a time (its slab of dL/dx stays in cache). NumPy needs g put
  back in image order (a transposing copy), one GEMM per kernel offset and one strided add each;
  the convolution's three GEMMs go to the BLAS of :func:`glassnet.adapters.compiled.gemm_kernel`
  (``blas``: MKL where the ``mkl`` extra is installed, faster on these shapes; dL/dW as (g^T X)^T,
  MKL's faster form of it);
- BatchNorm in training mode (:class:`BatchNorm`): three compiled passes each way (column sums in
  float64) instead of five or six NumPy ones.

The GEMMs stay BLAS. Every other kernel is fastconv's. tests/test_compiled_conv.py
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

import threading

import numpy as np

from glassnet.adapters import compiled
from glassnet.train import fastconv

__all__ = ["KERNELS", "BatchNorm", "Conv", "MaxPool", "available", "by_default", "compiled_kernel", "disable", "enable"]

# Each compiled kernel can be switched off (benchmarks/cnn_ab.py --compiled measures each alone); off, fastconv's
# NumPy kernel runs. Read when a fast step is built.
KERNELS = {"pool": True, "col2im": True, "blas": True, "batchnorm": True}
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


def by_default(use=True):
    """Within the block the compiled kernels are on if numba is there; yields whether they are.

    Off when ``use`` is false or the environment sets ``GLASSNET_COMPILED=0`` (as
    :func:`glassnet.adapters.compiled.by_default`).
    """
    on = compiled.wanted(use, available)
    if on:
        _compile()
    return compiled.hooked(fastconv.COMPILED, compiled_kernel, on, after=fastconv._INFERENCE.clear)


def compiled_kernel(kernel):
    """The compiled counterpart of a fastconv kernel (the same state, a subclass), or the kernel itself."""
    t = type(kernel)
    if t is fastconv._MaxPool and KERNELS["pool"] and np.prod(kernel.pool.kernel_hw) < 255:   # a 1-byte index
        new = MaxPool.__new__(MaxPool)
    elif t is fastconv._Conv and (KERNELS["col2im"] or KERNELS["blas"]):
        new = Conv.__new__(Conv)
        new.col2im, new.blas = KERNELS["col2im"], KERNELS["blas"] and "gemm" in _STATE
    elif t is fastconv._BatchNorm and KERNELS["batchnorm"]:
        new = BatchNorm.__new__(BatchNorm)
    else:
        return kernel
    new.__dict__.update(kernel.__dict__)
    return new


class MaxPool(fastconv._MaxPool):
    """fastconv's max pooling (window = stride), forward and backward each one compiled pass."""

    def _view(self, x, ws):
        """x as a C-contiguous 4-D array and the kernels' geometry (kh, kw, s, cw, wn): offset (a, b) of pooled value
        (n, i, j) is x4[n + (a kw + b) wn, s i + cw a, s' j + cw b] (window-major: wn = N, s = 1, cw = 0)."""
        (kh, kw), n = self.pool.kernel_hw, len(ws["y"])
        if ws["wm"]:
            return x.reshape(-1, *x.shape[2:]), (kh, kw, 1, 1, 0, n)
        x4 = x[:, None] if x.ndim == 3 else x
        return x4, (kh, kw, kh, kw, 1, 0)

    def forward(self, x, ws):
        if "index" not in ws:
            ws["index"] = np.empty(ws["y"].shape, np.uint8)
        if not x.flags.c_contiguous:                       # (as g in backward)
            if "x" not in ws:
                ws["x"] = np.empty(x.shape, x.dtype)
            np.copyto(ws["x"], x)
            x = ws["x"]
        x4, geom = self._view(x, ws)
        _pool_forward(x4, ws["y"], ws["index"], self.relu, not self.infer, *geom)
        return ws["y"].reshape(ws["out_shape"])

    def backward(self, g, ws, need_dx):
        g = g.reshape(ws["y"].shape)
        if not g.flags.c_contiguous:                       # a strided g: 7x slower kernel (no SIMD), a copy is not
            if "g" not in ws:
                ws["g"] = np.empty_like(ws["y"])
            np.copyto(ws["g"], g)
            g = ws["g"]
        dx4, geom = self._view(ws["dx"], ws)
        _pool_backward(g, ws["index"], dx4, ws["y"].dtype.type(0), *geom)
        return ws["dx"][:, 0] if self.one_d and not ws["wm"] else ws["dx"]


class Conv(fastconv._Conv):
    """fastconv's convolution; its dL/dx as one GEMM and one compiled col2im pass (``col2im``), its GEMMs through
    :func:`glassnet.adapters.compiled.gemm_kernel`'s BLAS (``blas``: MKL where the ``mkl`` extra is installed)."""

    def forward(self, x, ws):
        if not self.blas:
            return super().forward(x, ws)
        L, (_, _, t, le, h, w) = self.layer, ws["geom"]      # fastconv's forward, the GEMM called directly
        x4 = x[:, None] if self.one_d else x
        if ws["padded"]:
            ws["xpad"][:, t:t + h, le:le + w, :] = x4
            x4 = ws["xpad"]
        cols, view, wb, y = ws["cols"], self.patches(x4, ws), ws["wb"], ws["y"]
        np.copyto(cols[:, :-1].reshape(view.shape, copy=False), view)
        wb[:-1], wb[-1] = L.weight.value.reshape(len(wb) - 1, -1), L.bias.value
        one, zero = y.dtype.type(1), y.dtype.type(0)
        if cols.flags.c_contiguous:                        # (rows, K+1) @ [W; b]
            _gemm(False, False, len(y), y.shape[1], len(wb), one, cols, len(wb), wb, y.shape[1], zero, y, y.shape[1])
        else:                                              # stored transposed: (K+1, rows)^T @ [W; b]
            _gemm(True, False, len(y), y.shape[1], len(wb), one, cols.T, len(y), wb, y.shape[1], zero, y, y.shape[1])
        return y.reshape(ws["out_shape"])

    def _weight_grad(self, g2, ws):
        """[dL/dW; dL/db] = [X_col, 1]^T g into ws["dWb"]; the patch matrix (K+1, rows) stored: one NN GEMM, else
        (g^T [X_col, 1])^T (M = O: 0.75x the time of M = K+1 in MKL, BENCHMARKS.md) and a small transposing copy."""
        cols, dwb, (rows, o) = ws["cols"], ws["dWb"], g2.shape
        one, zero, k1 = dwb.dtype.type(1), dwb.dtype.type(0), len(dwb)
        if cols.flags.c_contiguous:
            if "dWbT" not in ws:
                ws["dWbT"] = np.empty((o, k1), dwb.dtype)
            _gemm(True, False, o, k1, rows, one, g2, o, cols, k1, zero, ws["dWbT"], k1)
            np.copyto(dwb, ws["dWbT"].T)
        else:
            _gemm(False, False, k1, o, rows, one, cols.T, rows, g2, o, zero, dwb, o)

    def backward(self, g, ws, need_dx):
        L = self.layer
        if not self.col2im:
            return super().backward(g, ws, need_dx)        # fastconv's backward, its GEMMs NumPy's
        g2 = np.ascontiguousarray(g).reshape(-1, L.out_channels)      # no copy: g is a workspace
        if self.blas:
            self._weight_grad(g2, ws)
            L.weight.grad, L.bias.grad = ws["dWb"][:-1].reshape(L.weight.value.shape), ws["dWb"][-1]
        else:
            super().backward(g, ws, False)                 # [dL/dW; dL/db]: fastconv's GEMM
        if not need_dx:
            return None
        (ho, wo, t, le, h, w), (a, b), dx, dcols = ws["geom"], ws["pool"], ws["dx"], ws["dcols"]
        W = np.ascontiguousarray(L.weight.value).reshape(-1, L.out_channels)
        if self.blas:                                      # dL/dpatches = g W^T, in g's row order
            _gemm(False, True, len(g2), len(W), W.shape[1], dcols.dtype.type(1), g2, W.shape[1], W, W.shape[1],
                  dcols.dtype.type(0), dcols, len(W))
        else:
            np.matmul(g2, W.T, out=dcols)
        _col2im(dcols, dx, a, b, ho // a, wo // b, *L.stride_hw, *L.kernel_hw)
        dx = dx[:, t:t + h, le:le + w, :]
        return dx[:, 0] if self.one_d else dx


class BatchNorm(fastconv._BatchNorm):
    """fastconv's BatchNorm in training mode, each direction three compiled passes over (M, C) instead of five or six
    NumPy ones: forward the column means, the variance about them (float64 sums) and y = (x - mu) s + beta; backward
    the sums of g and g (x - mu), then dL/dx = s g - (s / sigma mean(g x_hat)) (x - mu) - s mean(g). x - mu is never
    stored: the input is still the layer before's output at backward."""

    def workspace(self, shape, dtype):
        ws = super().workspace(shape, dtype)
        m, c = ws.pop("xc").shape
        del ws["tmp"]                                      # x - mu and its product: not stored here
        ws.update(m=m, sum=np.empty(c), sum2=np.empty(c))  # float64 sums
        return ws

    def forward(self, x, ws):
        L = self.layer
        if not L.training:
            return super().forward(x, ws)
        ws["readable"] = False
        x2, m = x.reshape(ws["y"].shape), ws["m"]
        _bn_sums(x2, ws["sum"], ws["sum2"])
        ws["x"], ws["mu"][:], ws["var"][:] = x2, ws["sum"], ws["sum2"]
        L.update_running(ws["mu"], ws["var"], m)
        ws["inv"] = inv = 1.0 / np.sqrt(ws["var"] + L.eps)
        ws["s"] = L.weight.value * inv
        _bn_apply(x2, ws["mu"], ws["s"], L.bias.value, ws["y"])
        return ws["y"].reshape(ws["out_shape"])

    def backward(self, g, ws, need_dx):
        L = self.layer
        if ws["readable"]:
            return L.backward(g)
        g2, x2, m = g.reshape(ws["y"].shape), ws["x"], ws["m"]
        _bn_grad_sums(g2, x2, ws["mu"], ws["sum"], ws["sum2"])
        ws["dbeta"][:], ws["dgamma"][:] = ws["sum"], ws["sum2"]
        ws["dgamma"] *= ws["inv"]                                          # dL/dgamma = sum g x_hat
        L.weight.grad, L.bias.grad = ws["dgamma"], ws["dbeta"]
        if not need_dx:
            return None
        s = ws["s"]
        _bn_dx(g2, x2, ws["mu"], s, s * ws["inv"] * ws["dgamma"] / m, s * ws["dbeta"] / m, ws["dx"])
        return ws["dx"].reshape(ws["out_shape"])


def _compile():
    """Make the kernels numba functions, once (numba is imported here, not at import of this module)."""
    with _LOCK:
        if "jit" in _STATE:
            return
        import numba

        space = globals()
        if compiled.available():                       # numba and a BLAS for compiled.gemm_kernel()
            space["_GEMM"] = compiled.gemm_kernel()
            _STATE["gemm"] = compiled.blas()
        for name in ("_pool_rows", "_pool_forward", "_pool_backward", "_col2im", "_gemm", "_bn_sums",
                     "_bn_apply", "_bn_grad_sums", "_bn_dx"):
            # _pool_rows runs once per pooled pixel: inlined into its caller, as the loop it replaced was
            opts = {"nogil": True, "error_model": "numpy", "inline": "always" if name == "_pool_rows" else "never"}
            try:
                space[name] = numba.njit(cache=True, **opts)(space[name])
            except RuntimeError:                        # no writable cache location: compile per process
                space[name] = numba.njit(**opts)(space[name])
        _STATE["jit"] = True


_GEMM = None          # compiled.gemm_kernel(), set by _compile()


def _gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
    """C <- alpha op(A) op(B) + beta C by the BLAS of compiled.gemm_kernel() (CBLAS row-major arguments)."""
    _GEMM(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)


def _pool_forward(x, y, index, relu, train, kh, kw, si, sj, cw, wn):
    """y[n, i, j, c] = max over offsets (a, b) of x[n + (a kw + b) wn, si i + cw a, sj j + cw b, c] (then max(0, .) if
    relu); with train, index = a * kw + b of the first maximum (the last offset when none equals it: NaN), kh * kw
    where the ReLU zeroed it."""
    N, H, W, C = y.shape
    last = kh * kw - 1
    if cw == 0:                                       # window-major: per image, one long contiguous run per offset
        for n in range(N):
            _pool_rows(x, y[n].reshape(-1), index[n].reshape(-1), relu, train, last, n, wn, 0, 0, 0, 1, True)
        return
    for n in range(N):
        for i in range(H):
            for j in range(W):
                _pool_rows(x, y[n, i, j], index[n, i, j], relu, train, last, n, wn, si * i, sj * j, cw, kw, False)


def _pool_rows(x, yr, ir, relu, train, last, n, wn, i0, j0, cw, kw, flat):
    """The pooled row yr (and its index row ir) of image n from offsets 0..last: offset t = a kw + b reads
    x[n + t wn, i0 + cw a, j0 + cw b] (NHWC: a row of C channels), or, with ``flat``, all of x[n + t wn]
    (window-major: the image's run)."""
    for t in range(last + 1):
        xr = x[n + t * wn].reshape(-1) if flat else x[n + t * wn, i0 + cw * (t // kw), j0 + cw * (t % kw)]
        if t == 0:
            for k in range(len(yr)):
                yr[k] = xr[k]
        else:
            for k in range(len(yr)):
                v, m = xr[k], yr[k]
                yr[k] = v if v > m or v != v else m          # np.maximum: NaN propagates
    if train:
        for k in range(len(yr)):
            ir[k] = last
        for t in range(last - 1, -1, -1):                   # down to 0: the first maximum wins
            xr = x[n + t * wn].reshape(-1) if flat else x[n + t * wn, i0 + cw * (t // kw), j0 + cw * (t % kw)]
            for k in range(len(yr)):
                if xr[k] == yr[k]:
                    ir[k] = t
    if relu:
        for k in range(len(yr)):
            m = yr[k]
            if not m > 0:                                   # the ReLU's derivative is 0 here
                if train:
                    ir[k] = last + 1
                if m == m:                                   # NaN stays NaN, as np.maximum(y, 0)
                    yr[k] = 0


def _pool_backward(g, index, dx, zero, kh, kw, si, sj, cw, wn):
    """dx at offset (a, b) of pooled value (n, i, j) (as in :func:`_pool_forward`) = g[n, i, j] where a * kw + b is
    its index, else 0 (``zero``, of g's dtype); dx outside every window is left as it is (0)."""
    N, H, W, C = g.shape
    if cw == 0:                                       # window-major: per image and offset, one contiguous run
        for n in range(N):
            gr, ir = g[n].reshape(-1), index[n].reshape(-1)
            for t in range(kh * kw):
                dr = dx[n + t * wn].reshape(-1)
                for k in range(len(gr)):
                    dr[k] = gr[k] if ir[k] == t else zero
        return
    for n in range(N):
        for t in range(kh * kw):
            a, b = t // kw, t % kw
            for i in range(H):
                for j in range(W):
                    gr, ir, dr = g[n, i, j], index[n, i, j], dx[n + t * wn, si * i + cw * a, sj * j + cw * b]
                    for c in range(C):
                        dr[c] = gr[c] if ir[c] == t else zero


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


def _bn_sums(x, mean, var):
    """mean[c] and var[c] (float64) of the columns of x (M, C): the mean, then the mean of squares about it."""
    M, C = x.shape
    mean[:] = 0
    var[:] = 0
    for m in range(M):
        for c in range(C):
            mean[c] += x[m, c]
    for c in range(C):
        mean[c] /= M
    for m in range(M):
        for c in range(C):
            d = x[m, c] - mean[c]
            var[c] += d * d
    for c in range(C):
        var[c] /= M


def _bn_apply(x, mu, s, beta, y):
    """y = (x - mu) s + beta, rounded as NumPy's x - mu, then * s, then + beta."""
    M, C = x.shape
    for m in range(M):
        for c in range(C):
            y[m, c] = (x[m, c] - mu[c]) * s[c] + beta[c]


def _bn_grad_sums(g, x, mu, sum_g, sum_gx):
    """sum_g[c] = sum_m g[m, c] and sum_gx[c] = sum_m g[m, c] (x[m, c] - mu[c]), in float64."""
    M, C = x.shape
    sum_g[:] = 0
    sum_gx[:] = 0
    for m in range(M):
        for c in range(C):
            v = g[m, c]
            sum_g[c] += v
            sum_gx[c] += v * (x[m, c] - mu[c])


def _bn_dx(g, x, mu, s, k1, k2, dx):
    """dx = s g - k1 (x - mu) - k2 (per column c: s, k1, k2)."""
    M, C = x.shape
    for m in range(M):
        for c in range(C):
            dx[m, c] = s[c] * g[m, c] - k1[c] * (x[m, c] - mu[c]) - k2[c]
