"""The hot path: one fused, allocation-free training step for Dense + activation stacks.

This is the one place where glassnet trades readability for speed. It computes exactly
what the layers, the fused loss and the optimizer compute (tests/test_fastpath.py checks
agreement to 1e-10 in float64), but:

- every intermediate lives in a workspace preallocated per batch size (no allocation
  per batch), and every product is ``np.matmul(..., out=buffer)``;
- activations are applied in place; their backward is fused into the incoming gradient
  (ReLU: one bool mask and one multiply);
- the output layer and the loss are fused: g = (softmax(z) - y) / N written over z;
- the first layer's input gradient (dL/dX) is never computed: nothing consumes it;
- bias gradients are GEMVs with a ones vector (faster than ``sum(axis=0)`` here);
- the parameters, gradients and optimizer state each live in one flat buffer while ``fit``
  runs, so the optimizer's own update rule (glassnet.optim) runs once over whole buffers.

Sealed: nothing of this leaks into the objects users hold. :func:`engaged` binds the
parameters, gradients and optimizer state to views of the flat buffers for the duration of
one ``fit`` and, on the way out, gives every one of them back as an ordinary array of its own.
``p.grad`` is always dL/dW. Force the readable path with :func:`readable` (a context
manager) or the environment variable ``GLASSNET_FASTPATH=0``.

Each trick's measured effect is in BENCHMARKS.md. The fast path applies when the model is
a NumPy Sequential of Dense layers and Linear/ReLU/LeakyReLU/Tanh/Sigmoid activations
ending in Softmax+CrossEntropy, Sigmoid+BinaryCrossEntropy or (Linear)+MSE, with inputs
of shape (n, features), and the optimizer is SGD, Adam or RMSprop; anything else (Dropout,
GPU arrays, custom layers or optimizers) takes the plain layer-by-layer path.
"""

import contextlib
import os

import numpy as np

from glassnet.nn.layers import Dense, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from glassnet.nn.layers.activations import sigmoid
from glassnet.nn.losses import (
    MSE,
    BinaryCrossEntropy,
    CrossEntropy,
    sigmoid_cross_entropy,
    softmax_cross_entropy,
    squared_error,
)
from glassnet.optim.optimizers import SGD, Adam, RMSprop
from glassnet.train import fastconv

__all__ = ["COMPILED", "FastStep", "build_fast_step", "engaged", "readable"]

_ACTS = (Linear, ReLU, LeakyReLU, Tanh, Sigmoid)
_readable_depth = 0
# A FastStep subclass put here by glassnet.adapters.compiled.enable() (numba, an optional extra) is built instead.
COMPILED = []


@contextlib.contextmanager
def readable():
    """Within this block every ``fit`` takes the readable layer-by-layer step.

    >>> with readable():
    ...     pass      # model.fit(...) here runs plain_step
    """
    global _readable_depth
    _readable_depth += 1
    try:
        yield
    finally:
        _readable_depth -= 1


def enabled():
    """False inside :func:`readable` or when the environment sets ``GLASSNET_FASTPATH=0``."""
    return _readable_depth == 0 and os.environ.get("GLASSNET_FASTPATH", "1") != "0"


@contextlib.contextmanager
def engaged(model, loss, optimizer, X):
    """Yield a bound :class:`FastStep` for one ``fit`` when the run qualifies, else None.

    On exit (normal or not) every parameter, gradient and optimizer state array is an
    ordinary array again, holding the final values.
    """
    step = build_fast_step(model, loss, optimizer, X) if enabled() else None
    if step is None:
        yield None
        return
    try:
        yield step
    finally:
        step.release()


def build_fast_step(model, loss, optimizer, X):
    """A :class:`FastStep` when the model/loss/optimizer/data qualify, else None."""
    if fastconv.is_convolutional(model):                 # the convolutional family's own fast path
        return fastconv.build_fast_step(model, loss, optimizer, X)
    if not isinstance(X, np.ndarray) or X.ndim != 2 or type(optimizer) not in (SGD, Adam, RMSprop):
        return None
    layers = list(model.layers)
    out = layers.pop() if isinstance(layers[-1], (Softmax, Sigmoid)) else None
    pairs = []
    while layers:
        dense = layers.pop(0)
        if type(dense) is not Dense:
            return None
        act = layers.pop(0) if layers and type(layers[0]) in _ACTS else Linear()
        pairs.append((dense, act))
    if out is not None and type(pairs[-1][1]) is not Linear:
        return None                                # an activation right before the output layer
    ok_loss = (type(out) is Softmax and type(loss) is CrossEntropy) or (
        type(out) is Sigmoid and type(loss) is BinaryCrossEntropy) or (out is None and type(loss) is MSE)
    if not ok_loss or any(p.value.dtype != X.dtype for p in model.parameters()):
        return None
    return (COMPILED[-1] if COMPILED else FastStep)(pairs, loss, optimizer)


class _Workspace:
    """Buffers for one batch size: pre-activations/activations, gradients, masks."""

    def __init__(self, pairs, n, dtype):
        self.a = [np.empty((n, d.n_out), dtype) for d, _ in pairs]          # layer outputs
        self.g = [np.empty((n, d.n_out), dtype) for d, _ in pairs]          # dL/d(output)
        self.mask = [np.empty((n, d.n_out), bool) for d, _ in pairs]
        self.tmp = np.empty(n * max(d.n_out for d, _ in pairs), dtype)     # scratch for activations
        self.ones = np.ones(n, dtype)
        self.row = np.empty((n, 1), dtype)


class FastStep:
    """Callable ``step(xb, yb) -> (batch_loss, n_correct or None)``; updates the weights.

    The parameters, their gradients, the optimizer state and a scratch buffer each live in
    one flat array (``p.value`` etc. become views into it), so an optimizer update is a
    handful of whole-buffer operations whatever the number of layers.
    """

    def __init__(self, pairs, loss, optimizer):
        self.pairs, self.loss, self.opt = pairs, loss, optimizer
        self.params = [p for d, _ in pairs for p in (d.weight, d.bias)]
        self.flat_w, self.views = _flatten([p.value for p in self.params])
        self.flat_g, grads = _flatten([np.zeros_like(p.value) for p in self.params])
        for p, w, g in zip(self.params, self.views, grads):
            p.value, p.grad = w, g
        self.grads = [grads[2 * i:2 * i + 2] for i in range(len(pairs))]     # (dW, db) buffers
        # Optimizer state arrays become views too (the lists are the optimizer's own, so
        # checkpoints and callbacks see them) until release().
        self.flat_state, self.state_lists = [], []
        for arrays in optimizer.state().values():
            if arrays:
                flat, views = _flatten(arrays)
                arrays[:] = views
                self.flat_state.append(flat)
                self.state_lists.append(arrays)
        self.scratch = np.empty_like(self.flat_w)
        self.reg = any(d.l1 or d.l2 for d, _ in pairs)
        self.spaces = {}

    def release(self):
        """Give every parameter, gradient and state array back as an ordinary array of its own."""
        for p, view in zip(self.params, self.views):
            if p.value is view:                  # else a callback already gave it an array of its own
                p.value = view.copy()
            p.grad = None if p.grad is None else p.grad.copy()
        for arrays in self.state_lists:
            arrays[:] = [a.copy() for a in arrays]
        self.flat_w = self.flat_g = self.flat_state = self.scratch = None
        self.spaces.clear()

    def _adopt(self):
        # A callback may have replaced a parameter array (rather than writing into it):
        # take its values into the flat buffer so the step keeps updating the real weights.
        for p, view in zip(self.params, self.views):
            if p.value is not view:
                view[...] = p.value
                p.value = view

    def __call__(self, x, y, w=None):
        self._adopt()
        n = x.shape[0]
        ws = self.spaces.get(n) or self.spaces.setdefault(n, _Workspace(self.pairs, n, x.dtype))
        h = x
        for (dense, act), a, m in zip(self.pairs, ws.a, ws.mask):          # forward
            np.matmul(h, dense.weight.value, out=a)
            a += dense.bias.value
            _act_forward(act, a, m, ws.tmp[:a.size].reshape(a.shape))
            h = a
        value, correct = self._loss_grad(ws.a[-1], y, w, ws)                # g_L written in ws.g[-1]
        _act_backward(self.pairs[-1][1], ws.g[-1], ws.a[-1], ws.mask[-1], ws.tmp)   # e.g. Tanh output + MSE
        for i in range(len(self.pairs) - 1, -1, -1):                        # backward
            dense, act = self.pairs[i]
            g = ws.g[i]
            h = ws.a[i - 1] if i else x
            np.matmul(h.T, g, out=self.grads[i][0])
            np.matmul(ws.ones, g, out=self.grads[i][1])
            if i:
                np.matmul(g, dense.weight.value.T, out=ws.g[i - 1])
                _act_backward(self.pairs[i - 1][1], ws.g[i - 1], ws.a[i - 1], ws.mask[i - 1], ws.tmp)
        if self.reg:
            value += self._penalty()
        self.opt.step_flat(self.flat_w, self.flat_g, self.scratch, self.flat_state)   # glassnet.optim's rule
        return value, correct

    # -- fused output layer + loss ---------------------------------------------------
    def _loss_grad(self, z, Y, w, ws):
        # The losses' own fused forms (glassnet/nn/losses.py), writing dL/dz into the workspace.
        g = ws.g[-1]
        if isinstance(self.loss, CrossEntropy):            # z: logits of the final Softmax
            return softmax_cross_entropy(z, Y, w, g, ws.row)
        if isinstance(self.loss, BinaryCrossEntropy):      # z: logits of the final Sigmoid
            return sigmoid_cross_entropy(z, Y, w, g)
        return squared_error(z, Y, w, g), None             # MSE on the linear output

    def _penalty(self):
        total = 0.0
        for (dense, _), (grad, _) in zip(self.pairs, self.grads):
            W = dense.weight.value
            s = self.scratch[:W.size].reshape(W.shape)
            if dense.l2:
                np.multiply(W, dense.l2, out=s)
                grad += s
                total += 0.5 * dense.l2 * float(np.vdot(W, W))
            if dense.l1:
                np.sign(W, out=s)
                s *= dense.l1
                grad += s
                total += dense.l1 * float(np.abs(W).sum())
        return total


def _flatten(arrays, align=16):
    """Copy ``arrays`` into one zero-padded flat buffer; return (buffer, views shaped like them).

    Each view starts on a 64-byte boundary (align=16 float32 elements), which BLAS prefers.
    """
    offsets, total = [], 0
    for a in arrays:
        offsets.append(total)
        total += -(-a.size // align) * align
    flat = np.zeros(total, dtype=arrays[0].dtype)
    views = []
    for a, off in zip(arrays, offsets):
        view = flat[off:off + a.size].reshape(a.shape)
        view[...] = a
        views.append(view)
    return flat, views


def _act_forward(act, a, mask, tmp):
    """a <- f(a) in place (tmp: a scratch array shaped like a)."""
    t = type(act)
    if t is ReLU:
        np.maximum(a, 0, out=a)
    elif t is LeakyReLU:
        np.greater(a, 0, out=mask)
        np.multiply(a, act.alpha, out=tmp)
        np.maximum(a, tmp, out=a)                          # max(z, alpha z): alpha <= 1, checked by LeakyReLU
    elif t is Tanh:
        np.tanh(a, out=a)
    elif t is Sigmoid:
        sigmoid(a, out=a)


def _act_backward(act, g, a, mask, scratch):
    """g <- g * f'(z), using the layer output a = f(z) (or the cached mask); no allocation."""
    t = type(act)
    tmp = scratch[:g.size].reshape(g.shape)
    if t is ReLU:
        np.greater(a, 0, out=mask)
        g *= mask
    elif t is LeakyReLU:
        np.multiply(g, act.alpha, out=tmp)
        np.logical_not(mask, out=mask)                     # mask is rebuilt by the next forward
        np.copyto(g, tmp, where=mask)                      # f' = alpha where z <= 0
    elif t is Tanh:
        np.multiply(a, a, out=tmp)
        np.subtract(1.0, tmp, out=tmp)
        g *= tmp                                           # f' = 1 - y^2
    elif t is Sigmoid:
        np.subtract(1.0, a, out=tmp)
        tmp *= a
        g *= tmp                                           # f' = y (1 - y)
