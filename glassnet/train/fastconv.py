"""The convolutional fast path: one allocation-free training step for CNNs (Conv/pool/Dense stacks).

The one place where glassnet trades readability for speed in the convolutional layer family
(the Dense family's is glassnet/train/fastpath.py, which hands convolutional models to
:func:`build_fast_step` here). It computes what the layers (glassnet/nn/layers/conv.py,
pooling.py), the fused softmax + cross-entropy and the optimizer compute (tests/test_fastconv.py
checks agreement in float64 and float32), with these tricks, each measured in BENCHMARKS.md
(``python benchmarks/cnn.py --tricks``):

- workspaces per batch size: the padded input, the patch matrix (im2col), every layer output and
  every gradient is allocated once, and each step writes into them (no per-batch allocation);
- im2col copies the strided patch view into the workspace patch matrix (``np.copyto``); the
  convolution, dL/dW and dL/dpatches are GEMMs with ``out=``; col2im adds into a workspace;
- the patch matrix has a last column of ones, set once, and the GEMM's right operand is [W; b]: the bias
  is added inside the convolution's GEMM (no pass of its own over the output, the largest array of the
  first convolution) and dL/db comes out of the dL/dW GEMM as its last row ([X_col, 1]^T g);
- the patch matrix is stored transposed (K+1, rows) when a patch's contiguous run (kw*C values) is
  shorter than an output row (the first convolution on 1-channel images: 3 values against 13): the
  im2col copy then runs along output rows, 3.5x faster there, and dL/dW is a plain GEMM;
- the padded input buffer keeps its zero border from one step to the next: only the inside is copied;
- ReLU right after a convolution or a Dense layer works in place on that layer's output;
- max pooling with the window equal to the stride (the usual 2x2) is element-wise maxima of the k*k
  window offsets, and its backward routes the gradient to the first maximum of each window, as
  the readable layer's argmax does;
- ReLU then max pooling is computed as pooling then ReLU (max(0, max x) = max(max(0, x))): the
  ReLU and its mask run on the pooled map, k*k times smaller. The gradients are the same: where
  the window's maximum is > 0 the first maximum of x is the first maximum of ReLU(x), and where it
  is <= 0 both give 0;
- BatchNorm in training mode: x - mu, its output and dL/dx in workspaces; the column sums (means)
  over the (N*H*W, C) view as GEMVs 1^T X with ``out=`` (3-5x faster than ``np.sum(axis=0)``, which
  walks the rows one by one), the sums of products (the variance, dL/dgamma) as one ``einsum`` read
  each (no product array written); x_hat = (x - mu) / sigma is never stored: y = (x - mu) s + beta with
  s = gamma / sigma, and dL/dx = s g - (s / sigma mean(g x_hat)) (x - mu) - s mean(g): four passes
  over the activations each way instead of five;
- the first parameterized layer's dL/dx is never computed, nor the layers' before it (nothing consumes it);
- the output Softmax and the cross-entropy are fused: g = (softmax(z) - y) / N;
- inference (:func:`forward`, which ``evaluate`` and ``predict`` call): the same kernels in chunks of
  ``INFER_CHUNK`` images through workspaces kept per model, without the caches backward needs
  (no ReLU masks, no pooling routing, no input-gradient buffers) and BatchNorm as one
  x * scale + shift with its running statistics.

Any other layer (BatchNorm in evaluation mode, Dropout, Flatten, AvgPool2D, GlobalAveragePool2D, overlapping pools,
custom layers) runs its own readable forward/backward inside the fast step, so every
convolutional model qualifies once its output is Softmax + CrossEntropy and it has no L1/L2 penalty.
"""

import weakref

import numpy as np

from glassnet.nn.layers import BatchNorm, Conv1D, Conv2D, Dense, MaxPool1D, MaxPool2D, ReLU, Softmax
from glassnet.nn.layers.conv import im2col
from glassnet.nn.losses import CrossEntropy, softmax_cross_entropy

__all__ = ["COMPILED", "INFER_CHUNK", "TRICKS", "FastConvStep", "build_fast_step", "forward", "is_convolutional"]

# Each trick can be switched off (benchmarks/cnn.py --tricks measures what each one buys); a
# switched-off kernel runs the layer's readable forward/backward inside the fast step.
TRICKS = {"conv_workspace": True, "dense_workspace": True, "pool_offsets": True, "relu_after_pool": True,
          "inplace_relu": True, "skip_input_grad": True, "batchnorm_workspace": True, "window_major": True}

# Filled by glassnet.adapters.compiled_conv.enable() (numba, an optional extra): a function that takes each kernel
# below as built and returns it or a compiled subclass of it (the same workspaces and state), used from then on.
COMPILED = []
INFER_CHUNK = 256          # images per inference chunk: the workspaces stay small and in cache
_INFERENCE = weakref.WeakKeyDictionary()  # model -> (its layers, the forward-only FastConvStep)
_CONV_FAMILY = ("Conv2D", "Conv1D", "MaxPool2D", "MaxPool1D", "AvgPool2D", "GlobalAveragePool2D", "Flatten",
                "BatchNorm", "Reshape")


def is_convolutional(model):
    """True when the model has a layer of the convolutional family (these layers' fast path is here)."""
    return any(type(layer).__name__ in _CONV_FAMILY for layer in model.layers)


def build_fast_step(model, loss, optimizer, X):
    """A :class:`FastConvStep` for a convolutional NumPy model ending in Softmax + CrossEntropy, else None."""
    layers = list(model.layers)
    if not _qualifies(model, layers, X) or type(layers[-1]) is not Softmax or type(loss) is not CrossEntropy or any(
            getattr(layer, "l1", 0) or getattr(layer, "l2", 0) for layer in layers):
        return None
    return FastConvStep(model, layers[:-1], optimizer)


def forward(model, x, stop=None):
    """``model.forward(x, stop=stop)`` in evaluation mode through the fast kernels, or None where they do not
    apply; in chunks of ``INFER_CHUNK`` images through workspaces kept per model."""
    layers = list(model.layers[:stop])
    if not _qualifies(model, layers, x):
        return None
    plan = _INFERENCE.get(model)
    if plan is None or plan[0] != layers:
        plan = _INFERENCE[model] = (layers, FastConvStep(model, layers, None, infer=True))
    out = None
    for i in range(0, len(x), INFER_CHUNK):
        y = plan[1].forward(x[i:i + INFER_CHUNK])
        out = np.empty((len(x), *y.shape[1:]), y.dtype) if out is None else out
        out[i:i + len(y)] = y
    return out


def _qualifies(model, layers, x):
    """A convolutional model on NumPy data of its parameters' dtype, every output shape known (for the buffers)."""
    if not isinstance(x, np.ndarray) or not is_convolutional(model) or len(layers) < 2 or any(
            not isinstance(p.value, np.ndarray) or p.value.dtype != x.dtype for p in model.parameters()):
        return False
    shape = tuple(x.shape[1:])
    model.output_shape(shape)             # a mismatch names its layer, before any buffer
    for layer in layers:
        shape = layer.output_shape(shape)
        if shape is None or None in shape:
            return False
    return True


class FastConvStep:
    """Callable ``step(xb, yb, wb=None) -> (batch_loss, n_correct)``; updates the weights like ``plain_step``.

    ``wb``: per-sample loss weights (``fit(sample_weight=...)``), as in the readable step.
    """

    def __init__(self, model, layers, optimizer, infer=False):
        self.model, self.opt, self.infer = model, optimizer, infer
        self.kernels = []
        self.lead = next((i for i, layer in enumerate(layers) if layer.parameters()), 0)  # none before needs dL/dx
        for i, layer in enumerate(layers):
            prev = self.kernels[-1] if self.kernels else None
            kernel = _kernel(layer, prev, first=i == self.lead or infer)   # infer: no input-gradient buffers
            kernel = COMPILED[-1](kernel) if COMPILED else kernel
            kernel.infer = infer
            if isinstance(kernel, _MaxPool) and isinstance(prev, _ReLU) and TRICKS["relu_after_pool"]:
                prev.deferred, kernel.relu = True, True        # ReLU after the pool, on the pooled map
            if isinstance(kernel, _MaxPool) and TRICKS["window_major"]:
                _window_major(self.kernels, kernel)
            self.kernels.append(kernel)
        self.spaces = {}

    def release(self):
        """Drop the workspaces; every p.grad becomes an ordinary array of its own."""
        for k in self.kernels:
            for p in k.layer.parameters():
                p.grad = None if p.grad is None else p.grad.copy()
        self.spaces.clear()

    def forward(self, x):
        """The kernels' forward on x (workspaces per batch shape and dtype); the last layer's output."""
        spaces = self.spaces.get((x.shape, x.dtype))
        if spaces is None:
            if self.infer and len(self.spaces) > 1:          # inference keeps two: full chunks and one remainder
                self.spaces.pop(next(iter(self.spaces)))
            self.model.output_shape(x.shape[1:])             # a mismatch names its layer, before any buffer
            shape, spaces = x.shape, []
            for k in self.kernels:
                ws = k.workspace(shape, x.dtype)
                spaces.append(ws)
                shape = ws["out_shape"]
            self.spaces[(x.shape, x.dtype)] = spaces
        for k, ws in zip(self.kernels, spaces):
            x = k.forward(x, ws)
        return x

    def __call__(self, x, y, w=None):
        h = self.forward(x)
        spaces = self.spaces[(x.shape, x.dtype)]
        value, correct, g = _softmax_cross_entropy(h, y, w, spaces[-1], isinstance(self.kernels[-1], _Dense))
        skip = TRICKS["skip_input_grad"]
        for i in range(len(self.kernels) - 1, self.lead - 1 if skip else -1, -1):
            g = self.kernels[i].backward(g, spaces[i], need_dx=i > self.lead or not skip)
        self.opt.step()
        return value, correct


def _softmax_cross_entropy(z, Y, w, ws, owned):
    """Fused output layer and loss on the logits z (glassnet.nn.losses' one fused form): (loss, correct, dL/dz)."""
    if "g_loss" not in ws:
        ws["g_loss"], ws["row"], ws["z"] = (np.empty(z.shape, z.dtype), np.empty((z.shape[0], 1), z.dtype),
                                            np.empty(z.shape, z.dtype))
    if not owned:                          # the fused form overwrites z: keep a layer's own output intact
        np.copyto(ws["z"], z)
        z = ws["z"]
    value, correct = softmax_cross_entropy(z, Y, w, ws["g_loss"], ws["row"])
    return value, correct, ws["g_loss"]


def _window_major(kernels, pool):
    """Let the convolution before ``pool`` (ReLU / BatchNorm between them allowed) write its output window-major.

    Its patch rows are ordered (window offset a, b; image; pooled row, column) instead of (image; row,
    column), so the k*k inputs of every pooling window sit in k*k contiguous blocks (T, N*Hp*Wp, C): the
    pool's maxima and its gradient routing are then whole-array operations instead of strided ones, and
    the conv outputs the pool would crop (an odd last row or column) are never computed (their gradient
    is 0). With BatchNorm between them only when nothing is cropped (its statistics are over all outputs);
    the pool sees which layout it gets from the shape (5 axes: window-major).
    """
    bn = False
    for k in reversed(kernels):
        if isinstance(k, _Conv):
            k.pool, k.pool_bn = pool.pool.kernel_hw, bn
            return
        if not isinstance(k, (_ReLU, _BatchNorm)):
            return
        bn = bn or isinstance(k, _BatchNorm)


def _kernel(layer, prev, first):
    t = type(layer)
    first = first and TRICKS["skip_input_grad"]
    if t in (Conv2D, Conv1D) and TRICKS["conv_workspace"]:
        return _Conv(layer, first)
    if t is Dense and TRICKS["dense_workspace"]:
        return _Dense(layer, first)
    if t is BatchNorm and TRICKS["batchnorm_workspace"]:
        return _BatchNorm(layer)
    if t is ReLU:
        return _ReLU(layer, inplace=isinstance(prev, (_Conv, _Dense, _BatchNorm)) and TRICKS["inplace_relu"])
    if t in (MaxPool2D, MaxPool1D) and TRICKS["pool_offsets"]:
        pool = layer.pool2d if t is MaxPool1D else layer
        if pool.kernel_hw == pool.stride_hw:
            return _MaxPool(layer, pool)
    return _Readable(layer)


class _Readable:
    """Any other layer: its own forward and backward."""

    def __init__(self, layer):
        self.layer = layer

    def workspace(self, shape, dtype):
        return {"out_shape": (shape[0], *self.layer.output_shape(tuple(shape[1:])))}

    def forward(self, h, ws):
        return self.layer.forward(h)

    def backward(self, g, ws, need_dx):
        return self.layer.backward(g)


class _Conv:
    """Conv2D / Conv1D: patches copied into a workspace, GEMMs with out=, col2im into a workspace."""

    def __init__(self, layer, first):
        self.layer, self.first = layer, first
        self.one_d = isinstance(layer, Conv1D)
        self.pool, self.pool_bn = None, False          # set by _window_major: the max pool it feeds

    def workspace(self, shape, dtype):
        L, n, o, (kh, kw) = self.layer, shape[0], self.layer.out_channels, self.layer.kernel_hw
        h, w, c = (1, *shape[1:]) if self.one_d else shape[1:]
        (ho, t, b), (wo, le, r) = L.geometry(h, w)
        a, bb = self.pool or (1, 1)
        if self.pool_bn and (ho % a or wo % bb):
            a, bb = 1, 1                               # BatchNorm's statistics need the cropped outputs too
        rows, padded, k = n * (ho // a) * (wo // bb) * a * bb, (n, h + t + b, w + le + r, c), kh * kw * c
        # (rows, K+1), stored transposed when a patch row's contiguous run (kw*C) is shorter than an output row's
        cols = np.ones((k + 1, rows), dtype).T if kw * c < wo // bb else np.ones((rows, k + 1), dtype)
        ws = {"geom": (ho, wo, t, le, h, w), "padded": bool(t or b or le or r), "pool": (a, bb),
              "cols": cols, "y": np.empty((rows, o), dtype),                           # the last column stays 1
              "wb": np.empty((k + 1, o), dtype), "dWb": np.empty((k + 1, o), dtype),       # [W; b] and [dW; db]
              # window-major (a*b offsets, N, Hp, Wp, O), or the layer's own shape
              "out_shape": (a * bb, n, ho // a, wo // bb, o) if a * bb > 1 else (n, wo, o) if self.one_d
              else (n, ho, wo, o)}
        ws["xpad"] = np.zeros(padded, dtype) if ws["padded"] else None
        if not self.first:
            ws.update(dcols=np.empty((rows, k), dtype), dx=np.empty(padded, dtype), g_img=np.empty_like(ws["y"]))
        return ws

    def patches(self, x4, ws):
        """The patch view (A, B, N, Hp, Wp, kh, kw, C) of a padded NHWC batch for an A x B pool after it:
        patch[a, b, n, i, j] is the one of conv output (A i + a, B j + b); A = B = 1: the usual im2col view."""
        L, (ho, wo), (a, b) = self.layer, ws["geom"][:2], ws["pool"]
        (kh, kw), (sh, sw) = L.kernel_hw, L.stride_hw
        n, _, _, c = x4.shape
        s0, s1, s2, s3 = x4.strides
        return np.lib.stride_tricks.as_strided(x4, (a, b, n, ho // a, wo // b, kh, kw, c),
                                               (s1 * sh, s2 * sw, s0, s1 * sh * a, s2 * sw * b, s1, s2, s3))

    def forward(self, x, ws):
        L, (_, _, t, le, h, w) = self.layer, ws["geom"]
        x4 = x[:, None] if self.one_d else x
        if ws["padded"]:
            ws["xpad"][:, t:t + h, le:le + w, :] = x4       # the zero border was set once
            x4 = ws["xpad"]
        cols, view, wb = ws["cols"], self.patches(x4, ws), ws["wb"]
        np.copyto(cols[:, :-1].reshape(view.shape, copy=False), view)   # copy=False: a view, or it raises
        wb[:-1], wb[-1] = L.weight.value.reshape(len(wb) - 1, -1), L.bias.value   # the ones column adds b in the GEMM
        np.matmul(cols, wb, out=ws["y"])
        return ws["y"].reshape(ws["out_shape"])

    def backward(self, g, ws, need_dx):
        L, cols, g2, dwb = self.layer, ws["cols"], g.reshape(-1, self.layer.out_channels), ws["dWb"]
        np.matmul(cols.T, g2, out=dwb)                             # [dL/dW; dL/db] = [X_col, 1]^T g
        L.weight.grad, L.bias.grad = dwb[:-1].reshape(L.weight.value.shape), dwb[-1]
        if not need_dx:
            return None
        (ho, wo, t, le, h, w), (a, b), (sh, sw), dx = ws["geom"], ws["pool"], L.stride_hw, ws["dx"]
        ho, wo = ho // a * a, wo // b * b                  # the outputs computed (a window-major crop)
        if a * b > 1:                                      # g's rows back in image order (N, Ho, Wo)
            np.copyto(ws["g_img"].reshape(-1, ho // a, a, wo // b, b, g2.shape[1]),
                      g2.reshape(a, b, -1, ho // a, wo // b, g2.shape[1]).transpose(2, 3, 0, 4, 1, 5))
            g2 = ws["g_img"]
        Wk = L.weight.value.reshape(-1, dx.shape[3], L.out_channels)       # W[p, q]: (kh*kw, C, O)
        dcols = ws["dcols"].reshape(len(Wk), -1, Wk.shape[1])              # one (rows, C) block per offset
        dx.fill(0)
        for k, (p, q) in enumerate(np.ndindex(*L.kernel_hw)):    # col2im: dL/dX_col of offset (p, q) = g W[p, q]^T,
            np.matmul(g2, Wk[k].T, out=dcols[k])                 # added where those patch entries came from
            v = dx[:, p:p + sh * (ho - 1) + 1:sh, q:q + sw * (wo - 1) + 1:sw, :]
            np.add(v, dcols[k].reshape(v.shape), out=v)        # both in image order: long contiguous runs
        dx = dx[:, t:t + h, le:le + w, :]
        return dx[:, 0] if self.one_d else dx


class _Dense:
    """Dense on (N, features): GEMMs with out=, bias gradient as a GEMV with a ones vector."""

    def __init__(self, layer, first):
        self.layer, self.first = layer, first

    def workspace(self, shape, dtype):
        n, L = shape[0], self.layer
        return {"y": np.empty((n, L.n_out), dtype), "ones": np.ones(n, dtype), "out_shape": (n, L.n_out),
                "dW": np.empty((L.n_in, L.n_out), dtype), "db": np.empty(L.n_out, dtype),
                "dx": None if self.first else np.empty((n, L.n_in), dtype)}

    def forward(self, x, ws):
        L = self.layer
        if x.ndim != 2:
            ws["x"] = None
            return L.forward(x)
        x = x if x.flags.c_contiguous else np.ascontiguousarray(x)            # BLAS needs plain strides
        ws["x"] = x
        np.matmul(x, L.weight.value, out=ws["y"])
        ws["y"] += L.bias.value
        return ws["y"]

    def backward(self, g, ws, need_dx):
        L = self.layer
        if ws["x"] is None:
            return L.backward(g)
        np.matmul(ws["x"].T, g, out=ws["dW"])
        np.matmul(ws["ones"], g, out=ws["db"])
        L.weight.grad, L.bias.grad = ws["dW"], ws["db"]
        return np.matmul(g, L.weight.value.T, out=ws["dx"]) if need_dx else None


class _BatchNorm:
    """BatchNorm in training mode (the readable layer's formulas) on the (M, C) view, into workspaces."""

    def __init__(self, layer):
        self.layer = layer

    def workspace(self, shape, dtype):
        m, c = int(np.prod(shape[:-1])), shape[-1]
        return {"out_shape": shape, "xc": np.empty((m, c), dtype), "tmp": np.empty((m, c), dtype),
                "y": np.empty((m, c), dtype), "dx": np.empty((m, c), dtype), "mu": np.empty(c, dtype),
                "var": np.empty(c, dtype), "dgamma": np.empty(c, dtype), "dbeta": np.empty(c, dtype),
                "ones": np.ones(m, dtype), "1/m": np.full(m, 1 / m, dtype)}

    def forward(self, x, ws):
        L = self.layer
        if not L.training and self.infer:          # y = x * gamma / sigma_run + (beta - mu_run gamma / sigma_run)
            scale = L.weight.value / np.sqrt(L.running_var.value + L.eps)
            np.multiply(x.reshape(ws["y"].shape), scale, out=ws["y"])
            ws["y"] += L.bias.value - L.running_mean.value * scale
            return ws["y"].reshape(ws["out_shape"])
        if not L.training:
            ws["readable"] = True
            return L.forward(x)
        ws["readable"] = False
        x2, xc, m = x.reshape(ws["xc"].shape), ws["xc"], len(ws["xc"])
        np.matmul(ws["1/m"], x2, out=ws["mu"])        # column means as GEMVs (1/M)^T X: 3-5x np.mean(axis=0)
        np.subtract(x2, ws["mu"], out=xc)                                  # x - mu; x_hat = xc / sigma is not stored
        np.einsum("ij,ij->j", xc, xc, out=ws["var"])   # sum of squares in one read, no squared array written
        ws["var"] /= m                                                     # biased variance
        L.update_running(ws["mu"], ws["var"], m)
        ws["inv"] = inv = 1.0 / np.sqrt(ws["var"] + L.eps)
        ws["s"] = L.weight.value * inv
        np.multiply(xc, ws["s"], out=ws["y"])
        ws["y"] += L.bias.value                                            # gamma x_hat + beta
        return ws["y"].reshape(ws["out_shape"])

    def backward(self, g, ws, need_dx):
        L = self.layer
        if ws["readable"]:
            return L.backward(g)
        g2 = g.reshape(ws["xc"].shape)
        xc, tmp, dx, m, inv, s = ws["xc"], ws["tmp"], ws["dx"], len(g2), ws["inv"], ws["s"]
        np.einsum("ij,ij->j", g2, xc, out=ws["dgamma"])
        ws["dgamma"] *= inv                                                # dL/dgamma = sum g x_hat
        np.matmul(ws["ones"], g2, out=ws["dbeta"])                         # dL/dbeta = sum g
        L.weight.grad, L.bias.grad = ws["dgamma"], ws["dbeta"]
        if not need_dx:
            return None
        # gamma / sigma (g - mean g - x_hat mean(g x_hat)) = s g - (s / sigma mean(g x_hat)) xc - s mean g
        np.multiply(g2, s, out=dx)
        np.multiply(xc, s * inv * ws["dgamma"] / m, out=tmp)
        dx -= tmp
        dx -= s * ws["dbeta"] / m
        return dx.reshape(ws["out_shape"])


class _ReLU:
    """max(0, x), in place on the output of the convolution or Dense layer before it; g *= (x > 0)."""

    def __init__(self, layer, inplace):
        self.layer, self.inplace = layer, inplace
        self.deferred = False                  # True: the max pool after it applies it (see the module doc)

    def workspace(self, shape, dtype):
        return {"out_shape": shape, "mask": None if self.deferred else np.empty(shape, bool),
                "y": None if self.inplace or self.deferred else np.empty(shape, dtype)}

    def forward(self, x, ws):
        if self.deferred:
            return x
        out = x if self.inplace else ws["y"]
        np.maximum(x, 0, out=out)
        if not self.infer:
            np.greater(out, 0, out=ws["mask"])
        return out

    def backward(self, g, ws, need_dx):
        if self.deferred:
            return g
        g = g if g.flags.writeable else g.copy()
        g *= ws["mask"]
        return g


class _MaxPool:
    """Max pooling with window = stride: maxima of the k*k window offsets; gradient to the first maximum.

    Its input is NHWC, or window-major (T, N, Hp, Wp, C) from the convolution before it (see
    :func:`_window_major`), where offset t of every window is the contiguous block x[t].
    """

    def __init__(self, layer, pool):
        self.layer, self.pool = layer, pool
        self.one_d = isinstance(layer, MaxPool1D)
        self.relu = False                      # True: apply the ReLU before it here, after pooling

    def workspace(self, shape, dtype):
        wm, n = len(shape) == 5, shape[0]
        h, w, c = (1, *shape[1:]) if self.one_d and not wm else shape[-3:]
        _, n, ho, wo, c = shape if wm else (None, n, *self.pool.output_shape((h, w, c)))
        pooled = (n, ho, wo, c)
        return {"y": np.empty(pooled, dtype), "eq": np.empty(pooled, bool), "rest": np.empty(pooled, dtype),
                "pre": np.empty(pooled, dtype),            # the window maxima before the ReLU, for the routing
                "dx": np.zeros(shape if wm else (n, h, w, c), dtype), "hw": (ho, wo), "wm": wm,
                "mask": np.empty(pooled, bool), "out_shape": (n, wo, c) if self.one_d else pooled}

    def _windows(self, x, ws):
        """The k*k offsets of the windows, each an (N, Hp, Wp, C) array (a view of x)."""
        if ws["wm"]:
            return list(x)
        kh, kw = self.pool.kernel_hw
        win = im2col(x[:, None] if x.ndim == 3 else x, kh, kw, kh, kw, *ws["hw"])
        return [win[:, :, :, p, q, :] for p in range(kh) for q in range(kw)]

    def forward(self, x, ws):
        win = self._windows(x, ws)
        ws["win"] = win
        y = ws["y"]
        np.maximum(win[0], win[1], out=y) if len(win) > 1 else np.copyto(y, win[0])
        for v in win[2:]:
            np.maximum(y, v, out=y)
        if self.relu and self.infer:
            np.maximum(y, 0, out=y)
        elif self.relu:
            np.copyto(ws["pre"], y)
            np.maximum(y, 0, out=y)
            np.greater(y, 0, out=ws["mask"])
        return y.reshape(ws["out_shape"])

    def backward(self, g, ws, need_dx):
        win, y, eq, rest = ws["win"], ws["y"], ws["eq"], ws["rest"]
        g4 = g.reshape(y.shape)
        if self.relu:
            y = ws["pre"]
            np.multiply(g4, ws["mask"], out=rest)  # the ReLU's derivative, on the pooled map
        else:
            np.copyto(rest, g4)
        dxwin = self._windows(ws["dx"], ws)          # the windows tile dx; cropped edges stay zero
        for t in range(len(win) - 1):              # rest: the gradient of the windows not yet routed
            np.equal(win[t], y, out=eq)
            np.multiply(rest, eq, out=dxwin[t])    # to offset t where it is the first maximum
            np.subtract(rest, dxwin[t], out=rest)  # exact: rest is either g or 0
        np.copyto(dxwin[-1], rest)
        return ws["dx"][:, 0] if self.one_d and not ws["wm"] else ws["dx"]
