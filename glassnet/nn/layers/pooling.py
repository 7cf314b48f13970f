"""Pooling, and the step from feature maps to vectors (GlobalAveragePool2D, Flatten).

Channels last, like the convolutions (glassnet/nn/layers/conv.py): images (N, H, W, C), signals
(N, L, C). A pool window is a strided view of the input (:func:`~glassnet.nn.layers.conv.im2col`);
its gradient goes back through :func:`~glassnet.nn.layers.conv.col2im`, so overlapping windows
(stride < pool size) are handled the same way as the usual non-overlapping ones. Windows that do
not fit at the bottom/right edge are dropped (floor), as in every DL library's 'valid' pooling.
"""

import math

from glassnet.backend.arrays import array_module
from glassnet.backend.checks import check_scalar
from glassnet.backend.errors import ShapeError
from glassnet.nn.layers.base import Layer
from glassnet.nn.layers.conv import col2im, im2col, pair

__all__ = ["AvgPool2D", "Flatten", "GlobalAveragePool2D", "MaxPool1D", "MaxPool2D", "Reshape"]


class _Pool2D(Layer):
    """Shared window bookkeeping of MaxPool2D and AvgPool2D (shapes, checks, repr)."""

    config_keys = ("pool_size", "stride")

    def __init__(self, pool_size=2, stride=None):
        name = type(self).__name__
        self.pool_size = tuple(pool_size) if isinstance(pool_size, (tuple, list)) else pool_size
        self.stride = tuple(stride) if isinstance(stride, (tuple, list)) else stride
        self.kernel_hw = pair(pool_size, "pool_size", name)
        self.stride_hw = self.kernel_hw if stride is None else pair(stride, "stride", name)
        self._cache = None

    def _windows(self, x):
        """(N, Ho, Wo, ph, pw, C) strided view of the windows of NHWC ``x``."""
        if x.ndim != 4:
            raise ShapeError(f"{self!r} expects NHWC feature maps (batch, height, width, channels); got shape "
                             f"{tuple(x.shape)}.")
        ho, wo = self.output_shape(x.shape[1:])[:2]
        return im2col(x, *self.kernel_hw, *self.stride_hw, ho, wo)

    def output_shape(self, input_shape):
        """(H, W, C) -> (floor((H - ph) / sh) + 1, floor((W - pw) / sw) + 1, C)."""
        if input_shape is None:
            return (None, None, None)
        if len(input_shape) != 3:
            raise ShapeError(f"{self!r} expects (height, width, channels) per sample; got "
                             f"{tuple(input_shape)}.")
        out = [None if n is None else (n - k) // s + 1
               for n, k, s in zip(input_shape[:2], self.kernel_hw, self.stride_hw)]
        if any(o is not None and o < 1 for o in out):
            raise ShapeError(f"{self!r}: feature maps of size {tuple(input_shape[:2])} are smaller than the "
                             f"pool window {self.kernel_hw}. Pool less, or pad the convolutions ('same').")
        return (*out, input_shape[2])

    def __repr__(self):
        k = f"{self.kernel_hw[0]}x{self.kernel_hw[1]}"
        stride = f", stride={self.stride}" if self.stride_hw != self.kernel_hw else ""
        return f"{type(self).__name__}({k}{stride})"


class MaxPool2D(_Pool2D):
    """Max over each window: y[n, i, j, c] = max_{p, q} x[n, s_h i + p, s_w j + q, c].

    dL/dx: each output's gradient goes to the input that was the maximum of its window (the first
    one on ties), added where windows overlap.

    Parameters
    ----------
    pool_size : int or (int, int), default 2
    stride : int or (int, int), optional
        Defaults to the pool size (windows side by side).
    """

    def forward(self, x):
        win = self._windows(x)
        n, ho, wo, ph, pw, c = win.shape
        flat = win.reshape(n, ho, wo, ph * pw, c)                  # copies the windows once
        arg = flat.argmax(axis=3)[:, :, :, None]                   # which input won, per window
        self._cache = (arg, x.shape, win.shape)
        return flat.max(axis=3)                                    # contiguous (N, Ho, Wo, C)

    def backward(self, grad_output):
        arg, shape, wshape = self._cached(self._cache)
        xp = array_module(grad_output)
        n, ho, wo, ph, pw, c = wshape
        won = xp.arange(ph * pw).reshape(1, 1, 1, -1, 1) == arg            # dy/dx = 1 at the argmax only
        dwin = won * grad_output[:, :, :, None, :]
        return col2im(dwin.reshape(wshape), shape, *self.stride_hw)


class AvgPool2D(_Pool2D):
    """Mean over each window: y[n, i, j, c] = mean_{p, q} x[n, s_h i + p, s_w j + q, c].

    dL/dx[n, s_h i + p, s_w j + q, c] += g[n, i, j, c] / (ph pw).

    Parameters as :class:`MaxPool2D`.
    """

    def forward(self, x):
        win = self._windows(x)
        self._cache = (x.shape, win.shape)
        return win.mean(axis=(3, 4))

    def backward(self, grad_output):
        shape, wshape = self._cached(self._cache)
        xp = array_module(grad_output)
        scale = grad_output * (1.0 / (wshape[3] * wshape[4]))
        dwin = xp.broadcast_to(scale[:, :, :, None, None, :], wshape)
        return col2im(dwin, shape, *self.stride_hw)


class MaxPool1D(Layer):
    """Max over windows of NLC signals: y[n, i, c] = max_p x[n, s i + p, c] (MaxPool2D on (N, 1, L, C)).

    Parameters
    ----------
    pool_size : int, default 2
    stride : int, optional
        Defaults to the pool size.
    """

    config_keys = ("pool_size", "stride")

    def __init__(self, pool_size=2, stride=None):
        k = pair(pool_size, "pool_size", "MaxPool1D")[0]
        s = k if stride is None else pair(stride, "stride", "MaxPool1D")[0]
        self.pool_size, self.stride = k, stride
        self.pool2d = MaxPool2D((1, k), (1, s))

    def forward(self, x):
        if x.ndim != 3:
            raise ShapeError(f"{self!r} expects NLC signals (batch, length, channels); got shape {tuple(x.shape)}.")
        return self.pool2d.forward(x[:, None])[:, 0]

    def backward(self, grad_output):
        return self.pool2d.backward(grad_output[:, None])[:, 0]

    def output_shape(self, input_shape):
        """(L, C) -> (floor((L - k) / s) + 1, C)."""
        if input_shape is None:
            return (None, None)
        if len(input_shape) != 2:
            raise ShapeError(f"{self!r} expects (length, channels) per sample; got "
                             f"{tuple(input_shape)}.")
        return self.pool2d.output_shape((1, *input_shape))[1:]

    def __repr__(self):
        return f"MaxPool1D({self.pool_size}" + (f", stride={self.stride}" if self.stride not in (None, self.pool_size)
                                                 else "") + ")"


class GlobalAveragePool2D(Layer):
    """Mean of each channel over the whole map: y[n, c] = mean_{i, j} x[n, i, j, c].

    dL/dx[n, i, j, c] = g[n, c] / (H W). Works on signals (N, L, C) too: the mean over L.
    """

    def __init__(self):
        self._shape = None

    def forward(self, x):
        if x.ndim < 3:
            raise ShapeError(f"GlobalAveragePool2D expects feature maps (batch, ..., channels); got shape "
                             f"{tuple(x.shape)}.")
        self._shape = x.shape
        return x.mean(axis=tuple(range(1, x.ndim - 1)))

    def backward(self, grad_output):
        shape = self._cached(self._shape)
        n = math.prod(shape[1:-1])
        g = (grad_output * (1.0 / n)).reshape(shape[0], *([1] * (len(shape) - 2)), shape[-1])
        return array_module(g).broadcast_to(g, shape).copy()

    def output_shape(self, input_shape):
        """(..., C) -> (C,)."""
        if input_shape is None:
            return (None,)
        if len(input_shape) < 2:
            raise ShapeError(f"GlobalAveragePool2D expects feature maps (height, width, channels) per sample; "
                             f"got {tuple(input_shape)}.")
        return (input_shape[-1],)


class Flatten(Layer):
    """Every feature of a sample in one row: (N, d1, d2, ...) -> (N, d1 d2 ...), channels last.

    The gradient is reshaped back. The row order (H, then W, then C) is NumPy's C order of NHWC.
    """

    def __init__(self):
        self._shape = None

    def forward(self, x):
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, grad_output):
        return grad_output.reshape(self._cached(self._shape))

    def output_shape(self, input_shape):
        """(d1, d2, ...) -> (d1 d2 ...,); unknown when any d is."""
        if input_shape is None or any(d is None for d in input_shape):
            return (None,)
        return (math.prod(input_shape),)


class Reshape(Flatten):
    """Each sample to ``shape``: (N, d1 d2 ...) -> (N, *shape), e.g. rows of 784 pixels to (28, 28, 1) images.

    Flatten's inverse, for data that comes as rows (tables, the CLI); the gradient is reshaped back.
    """

    config_keys = ("shape",)

    def __init__(self, shape):
        super().__init__()
        self.shape = tuple(check_scalar(d, "shape", int, min_val=1, caller="Reshape") for d in shape)

    def forward(self, x):
        self.output_shape(x.shape[1:])
        self._shape = x.shape
        return x.reshape(x.shape[0], *self.shape)

    def output_shape(self, input_shape):
        """(d1, d2, ...) -> shape, when d1 d2 ... is its size."""
        if input_shape is not None and None not in input_shape and math.prod(input_shape) != math.prod(self.shape):
            raise ShapeError(f"{self!r} needs {math.prod(self.shape)} values per sample; got shape "
                             f"{tuple(input_shape)}. Give the shape of one sample, e.g. Reshape((28, 28, 1)).")
        return self.shape

    @property
    def n_in(self):
        """The row size it takes: a model that starts with it takes rows of this many features."""
        return math.prod(self.shape)

    def __repr__(self):
        return f"Reshape({self.shape})"

