"""Convolutions: a small filter slid over an image (Conv2D) or a signal (Conv1D).

Data layout: channels last, NHWC for images (batch, height, width, channels) and NLC for signals
(batch, length, channels); filters are HWIO (kernel height, kernel width, in channels, out channels).
Why: with channels last, the patches of a batch (``im2col``) are one strided *view* whose copy is
read in memory order, the whole convolution is ONE matrix product patches (N*Ho*Wo, kh*kw*C) @
W (kh*kw*C, O) whose result already *is* the NHWC output (no transpose before or after), and
every per-channel operation (bias, BatchNorm, pooling) works on the last, contiguous axis, like Dense.
Measured (``python benchmarks/cnn.py --layout``, 2 shared cores): forward + backward of the 32 -> 64 3x3
convolution on 128 x 13 x 13 by im2col + GEMM takes 1.4-1.6x longer in NCHW, with the transposes that
layout needs, than in NHWC.

The direct definition (``conv2d_direct``, used by the tests) and the readable fast form (im2col + one
GEMM, in :class:`Conv2D`) sit side by side here; the training fast path with workspaces reused per
batch size is ``glassnet/train/fastconv.py``.
"""

import numpy as np

from glassnet.backend.arrays import array_module, resolve_dtype
from glassnet.backend.checks import check_rng, check_scalar
from glassnet.backend.errors import GlassnetTypeError, ShapeError, ValidationError
from glassnet.nn.init import get_init, zeros
from glassnet.nn.layers.base import Layer
from glassnet.nn.parameter import Parameter

__all__ = ["Conv1D", "Conv2D", "col2im", "conv2d_direct", "conv_geometry", "im2col", "pair"]


def pair(value, name, caller, min_val=1):
    """An int or a pair of ints as a tuple (rows, cols), checked."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValidationError(f"The '{name}' parameter of {caller} must be an int or a pair of ints; "
                                  f"got {value!r} ({len(value)} values).")
        return tuple(check_scalar(v, name, int, min_val=min_val, caller=caller) for v in value)
    v = check_scalar(value, name, int, min_val=min_val, caller=caller)
    return (v, v)


def conv_geometry(size, k, s, padding):
    """(output size, pad before, pad after) along one axis of length ``size``.

    'valid': no padding, out = floor((size - k) / s) + 1.  'same': out = ceil(size / s), padded as
    TensorFlow does (the odd pixel after).  int p: p on both sides, out = floor((size + 2p - k) / s) + 1.
    """
    if padding == "same":
        out = -(-size // s)
        total = max((out - 1) * s + k - size, 0)
        return out, total // 2, total - total // 2
    p = 0 if padding == "valid" else padding
    return (size + 2 * p - k) // s + 1, p, p


def im2col(xp_, kh, kw, sh, sw, ho, wo):
    """The patches of a padded NHWC batch as a strided view of shape (N, Ho, Wo, kh, kw, C).

    patch[n, i, j, p, q, c] = x[n, sh*i + p, sw*j + q, c]. No copy: stride tricks.
    """
    n, _, _, c = xp_.shape
    s0, s1, s2, s3 = xp_.strides
    xp = array_module(xp_)
    return xp.lib.stride_tricks.as_strided(xp_, (n, ho, wo, kh, kw, c), (s0, s1 * sh, s2 * sw, s1, s2, s3))


def col2im(dcols, padded_shape, sh, sw):
    """Adjoint of :func:`im2col`: add each patch gradient back where the patch came from.

    dx[n, sh*i + p, sw*j + q, c] += dcols[n, i, j, p, q, c]; one strided add per kernel offset (p, q).
    """
    n, ho, wo, kh, kw, c = dcols.shape
    dx = array_module(dcols).zeros(padded_shape, dcols.dtype)
    for p in range(kh):
        for q in range(kw):
            dx[:, p:p + sh * (ho - 1) + 1:sh, q:q + sw * (wo - 1) + 1:sw, :] += dcols[:, :, :, p, q, :]
    return dx


def conv2d_direct(x, W, b, stride=(1, 1), padding=((0, 0), (0, 0))):
    """The definition, term by term (slow; the reference the tests hold the layers to).

    y[n, i, j, o] = b[o] + sum_{p, q, c} x_pad[n, sh*i + p, sw*j + q, c] * W[p, q, c, o]
    """
    (sh, sw), ((t, bo), (le, r)) = stride, padding
    x = np.pad(x, ((0, 0), (t, bo), (le, r), (0, 0)))
    kh, kw, _, o = W.shape
    ho, wo = (x.shape[1] - kh) // sh + 1, (x.shape[2] - kw) // sw + 1
    y = np.zeros((x.shape[0], ho, wo, o), np.result_type(x, W))
    for i in range(ho):
        for j in range(wo):
            patch = x[:, sh * i:sh * i + kh, sw * j:sw * j + kw, :]          # (N, kh, kw, C)
            y[:, i, j, :] = np.tensordot(patch, W, axes=([1, 2, 3], [0, 1, 2])) + b
    return y


class Conv2D(Layer):
    """2-D convolution (cross-correlation, as in every DL library) of NHWC images.

    y[n, i, j, o] = b[o] + sum_{p, q, c} x_pad[n, s_h i + p, s_w j + q, c] W[p, q, c, o]

    Computed as patches @ W: the patches (:func:`im2col`, a strided view copied once) form a matrix
    X_col of shape (N*Ho*Wo, kh*kw*C), so y = X_col @ W_col + b with W_col = W.reshape(kh*kw*C, O).
    Backward is Dense's backward on that matrix: dW_col = X_col^T g, db = sum g,
    dX_col = g W_col^T, and dx = col2im(dX_col) adds each patch's gradient back where it came from.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size : int or (int, int)
    stride : int or (int, int), default 1
    padding : 'valid', 'same' or int, default 'valid'
        'same' keeps H and W at stride 1 (TensorFlow's rule for larger strides); an int pads zeros on
        every side.
    init : str, default 'he_normal'
        Drawn as for a Dense layer of fan-in kh*kw*C and fan-out O.
    seed : int or numpy.random.Generator, optional
    dtype : {'float32', 'float64'}, default float32

    Shapes: x (N, H, W, C) -> y (N, Ho, Wo, O); weight (kh, kw, C, O), bias (O,).
    """

    config_keys = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "init")
    _name = "Conv2D"

    def __init__(self, in_channels, out_channels, kernel_size=3, *, stride=1, padding="valid",
                 init="he_normal", seed=None, dtype=None):
        caller = self._name
        self.in_channels = check_scalar(in_channels, "in_channels", int, min_val=1, caller=caller)
        self.out_channels = check_scalar(out_channels, "out_channels", int, min_val=1, caller=caller)
        self.kernel_size, self.stride = self._keep(kernel_size), self._keep(stride)
        self.kernel_hw, self.stride_hw = self._pairs(kernel_size, "kernel_size"), self._pairs(stride, "stride")
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValidationError(f"The 'padding' parameter of {caller} must be 'valid', 'same' or an int "
                                      f">= 0; got {padding!r}.")
        elif isinstance(padding, bool) or not isinstance(padding, (int, np.integer)):
            raise GlassnetTypeError(f"The 'padding' parameter of {caller} must be 'valid', 'same' or an int "
                                    f">= 0; got {padding!r} of type {type(padding).__name__}.")
        else:
            padding = check_scalar(padding, "padding", int, min_val=0, caller=caller)
        self.padding = padding
        self._init_fn = get_init(init)
        self.init = init if isinstance(init, str) else getattr(init, "__name__", "custom")
        self.dtype = resolve_dtype(dtype)
        self.rng = check_rng(seed)
        self.weight = Parameter(None, "weight")
        self.bias = Parameter(None, "bias")
        self.reset_parameters()
        self._cache = None

    # Conv1D overrides these three: it is this layer with a kernel of height 1.
    def _keep(self, v):
        return tuple(v) if isinstance(v, (tuple, list)) else v

    def _pairs(self, v, name):
        return pair(v, name, self._name)

    def _weight_shape(self):
        return (*self.kernel_hw, self.in_channels, self.out_channels)

    def reset_parameters(self, init=None):
        """Draw new weights from ``self.rng`` with ``init`` or the layer's own; zero the bias."""
        fn = get_init(init) if init is not None else self._init_fn
        fan = (self.kernel_hw[0] * self.kernel_hw[1] * self.in_channels, self.out_channels)   # (fan-in, fan-out)
        self.weight.value = fn(fan, self.rng, self.dtype).reshape(self._weight_shape())
        self.bias.value = zeros(self.out_channels, dtype=self.dtype)

    def geometry(self, h, w):
        """((Ho, top, bottom), (Wo, left, right)) for an H x W input."""
        return (conv_geometry(h, self.kernel_hw[0], self.stride_hw[0], self.padding),
                conv_geometry(w, self.kernel_hw[1], self.stride_hw[1], self.padding))

    def forward(self, x):
        x4 = self._as_images(x)
        (ho, t, bo), (wo, le, r) = self._out_hw(x4.shape, x.shape)
        xp = array_module(x4)
        xpad = xp.pad(x4, ((0, 0), (t, bo), (le, r), (0, 0))) if t or bo or le or r else x4
        kh, kw = self.kernel_hw
        cols = im2col(xpad, kh, kw, *self.stride_hw, ho, wo).reshape(-1, kh * kw * self.in_channels)   # copies once
        W2 = self.weight.value.reshape(-1, self.out_channels)
        self._cache = (cols, x4.shape, xpad.shape, (t, le, ho, wo), x.shape)
        y = cols @ W2 + self.bias.value                                     # (N*Ho*Wo, O): already NHWC
        return self._as_output(y.reshape(x4.shape[0], ho, wo, self.out_channels))

    def backward(self, grad_output):
        cols, shape, pshape, (t, le, ho, wo), xshape = self._cached(self._cache)
        g2 = grad_output.reshape(-1, self.out_channels)
        W2 = self.weight.value.reshape(-1, self.out_channels)
        self.weight.grad = (cols.T @ g2).reshape(self.weight.value.shape)    # dL/dW = X_col^T g
        self.bias.grad = g2.sum(axis=0)                                       # dL/db = sum over N, Ho, Wo
        n, h, w, c = shape
        dcols = (g2 @ W2.T).reshape(n, ho, wo, *self.kernel_hw, c)                   # dL/dX_col = g W_col^T
        dx = col2im(dcols, pshape, *self.stride_hw)[:, t:t + h, le:le + w, :]
        return dx.reshape(xshape)

    # -- shapes ---------------------------------------------------------------------
    def _as_images(self, x):
        if x.ndim != 4 or x.shape[-1] != self.in_channels:
            raise ShapeError(f"{self!r} expects NHWC images of shape (batch, height, width, {self.in_channels}); "
                             f"got shape {tuple(x.shape)}. Reshape grey images with x.reshape(-1, H, W, 1).")
        return x

    def _as_output(self, y):
        return y

    def _out_hw(self, shape4, shape):
        (ho, t, bo), (wo, le, r) = self.geometry(shape4[1], shape4[2])
        if ho < 1 or wo < 1:
            raise ShapeError(f"{self!r}: input of spatial size {tuple(shape[1:-1])} is smaller than the kernel "
                             f"{self.kernel_size} (padding {self.padding!r}); use padding='same' or a smaller kernel.")
        return (ho, t, bo), (wo, le, r)

    def output_shape(self, input_shape):
        """(H, W, C) -> (Ho, Wo, O); None entries stay unknown."""
        if input_shape is None:
            return (None, None, self.out_channels)
        if len(input_shape) != 3 or input_shape[-1] not in (None, self.in_channels):
            raise ShapeError(f"{self!r} expects (height, width, {self.in_channels}) per sample; got "
                             f"{_fmt(input_shape)}.")
        out = []
        for size, k, s in zip(input_shape[:2], self.kernel_hw, self.stride_hw):
            o = None if size is None else conv_geometry(size, k, s, self.padding)[0]
            if o is not None and o < 1:
                raise ShapeError(f"{self!r}: spatial size {_fmt(input_shape[:2])} is smaller than the kernel; "
                                 "use padding='same' or a smaller kernel.")
            out.append(o)
        return (*out, self.out_channels)

    def parameters(self):
        return [self.weight, self.bias]

    def __repr__(self):
        k = self.kernel_size if isinstance(self.kernel_size, int) else "x".join(map(str, self.kernel_size))
        k = f"{k}x{k}" if isinstance(self.kernel_size, int) and self._name == "Conv2D" else k
        extra = (f", stride={self.stride}" if self.stride_hw != (1, 1) else "") + (
            f", padding={self.padding!r}" if self.padding != "valid" else "")
        return f"{self._name}({self.in_channels} -> {self.out_channels}, {k}{extra})"


class Conv1D(Conv2D):
    """1-D convolution of NLC signals: Conv2D with a kernel of height 1 on (N, 1, L, C).

    y[n, i, o] = b[o] + sum_{p, c} x_pad[n, s i + p, c] W[p, c, o]

    Parameters as :class:`Conv2D`, with int ``kernel_size`` and ``stride``. Shapes: x (N, L, C) ->
    y (N, Lo, O); weight (k, C, O), bias (O,).
    """

    _name = "Conv1D"

    def _keep(self, v):
        return v

    def _pairs(self, v, name):
        return (1, check_scalar(v, name, int, min_val=1, caller="Conv1D"))

    def _weight_shape(self):
        return (self.kernel_hw[1], self.in_channels, self.out_channels)

    def geometry(self, h, w):
        return (1, 0, 0), conv_geometry(w, self.kernel_hw[1], self.stride_hw[1], self.padding)

    def _as_images(self, x):
        if x.ndim != 3 or x.shape[-1] != self.in_channels:
            raise ShapeError(f"{self!r} expects NLC signals of shape (batch, length, {self.in_channels}); got "
                             f"shape {tuple(x.shape)}. Reshape one-channel signals with x.reshape(-1, L, 1).")
        return x[:, None]

    def _as_output(self, y):
        return y[:, 0]

    def output_shape(self, input_shape):
        """(L, C) -> (Lo, O)."""
        if input_shape is None:
            return (None, self.out_channels)
        if len(input_shape) != 2 or input_shape[-1] not in (None, self.in_channels):
            raise ShapeError(f"{self!r} expects (length, {self.in_channels}) per sample; got "
                             f"{_fmt(input_shape)}.")
        return super().output_shape((1, *input_shape))[1:]

    def __repr__(self):
        extra = (f", stride={self.stride}" if self.stride != 1 else "") + (
            f", padding={self.padding!r}" if self.padding != "valid" else "")
        return f"Conv1D({self.in_channels} -> {self.out_channels}, {self.kernel_size}{extra})"


def _fmt(shape):
    return "(" + ", ".join("?" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "") + ")"
