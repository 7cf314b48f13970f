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
- the parameters, gradients and optimizer state each live in one flat buffer, so the
  optimizer update is a few whole-buffer in-place operations;
- for SGD the learning rate is folded into the output gradient (SGD is linear in g), so the
  gradient buffers hold lr * g and the update skips a pass; ``Parameter.grad`` divides it
  back out when read, so ``p.grad`` is always dL/dW.

Each trick's measured effect is in BENCHMARKS.md. The fast path applies when the model is
a NumPy Sequential of Dense layers and Linear/ReLU/LeakyReLU/Tanh/Sigmoid activations
ending in Softmax+CrossEntropy, Sigmoid+BinaryCrossEntropy or (Linear)+MSE, with inputs
of shape (n, features), and the optimizer is SGD, Adam or RMSprop; anything else (Dropout,
GPU arrays, custom layers or optimizers) takes the plain layer-by-layer path.
"""

import numpy as np

from .layers import Dense, LeakyReLU, Linear, ReLU, Sigmoid, Softmax, Tanh
from .losses import MSE, BinaryCrossEntropy, CrossEntropy
from .optimizers import SGD, Adam, RMSprop

_ACTS = (Linear, ReLU, LeakyReLU, Tanh, Sigmoid)


def build_fast_step(model, loss, optimizer, X):
    """A :class:`FastStep` when the model/loss/optimizer/data qualify, else None."""
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
    return FastStep(pairs, loss, optimizer)


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
        # SGD is linear in the gradient, so the step scales the output gradient (a small
        # B x K array) by lr and every gradient buffer then holds lr * g: the update needs no
        # separate pass to multiply the 2 MB of gradients by lr. p.grad still reads dL/dW.
        self.fold = lr_fold = type(optimizer) is SGD
        self.scale = optimizer.lr if lr_fold else 1.0
        # Optimizer state arrays become views too (the lists are the optimizer's own, so
        # checkpoints and the readable step still see them).
        self.flat_state = {}
        for key, arrays in optimizer.state().items():
            if arrays:
                self.flat_state[key], views = _flatten(arrays)
                arrays[:] = views
        self.scratch = np.empty_like(self.flat_w)
        self.reg = any(d.l1 or d.l2 for d, _ in pairs)
        self.spaces = {}
        self.update = {SGD: self._sgd, Adam: self._adam, RMSprop: self._rmsprop}[type(optimizer)]

    def _adopt(self):
        # A callback may have replaced a parameter array (rather than writing into it):
        # take its values into the flat buffer so the step keeps updating the real weights.
        for p, view in zip(self.params, self.views):
            if p.value is not view:
                view[...] = p.value
                p.value = view

    def __call__(self, x, y):
        self._adopt()
        if self.fold:
            self.scale = self.opt.lr                       # a schedule may have changed it
        n = x.shape[0]
        ws = self.spaces.get(n) or self.spaces.setdefault(n, _Workspace(self.pairs, n, x.dtype))
        h = x
        for (dense, act), a, m in zip(self.pairs, ws.a, ws.mask):          # forward
            np.matmul(h, dense.weight.value, out=a)
            a += dense.bias.value
            _act_forward(act, a, m, ws.tmp[:a.size].reshape(a.shape))
            h = a
        value, correct = self._loss_grad(ws.a[-1], y, ws)                   # g_L written in ws.g[-1]
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
        self.update()
        if self.fold:
            for p, buffer in zip(self.params, (b for pair in self.grads for b in pair)):
                p.set_scaled_grad(buffer, self.scale)
        return value, correct

    # -- fused output layer + loss ---------------------------------------------------
    def _loss_grad(self, z, Y, ws):
        n, g = z.shape[0], ws.g[-1]
        loss = self.loss
        if isinstance(loss, CrossEntropy):                 # z: logits of the final Softmax
            correct = int((z.argmax(axis=1) == Y.argmax(axis=1)).sum())
            np.max(z, axis=1, keepdims=True, out=ws.row)
            np.subtract(z, ws.row, out=g)                  # shift: exp never overflows
            np.exp(g, out=z)
            np.sum(z, axis=1, keepdims=True, out=ws.row)
            value = float((Y * (np.log(ws.row) - g)).sum()) / n          # -mean(y . log p)
            np.divide(z, ws.row, out=g)                    # p = softmax(z)
            g -= Y
            g *= self.scale / n                            # (p - y) / N  (times lr when folded)
            return value, correct
        if isinstance(loss, BinaryCrossEntropy):           # z: logits of the final Sigmoid
            correct = int(((z > 0) == (Y > 0.5)).sum()) if z.shape[1] == 1 else None
            value = float((np.maximum(z, 0) - Y * z + np.log1p(np.exp(-np.abs(z)))).mean())
            _sigmoid(z, g)
            g -= Y
            g *= self.scale / z.size
            return value, correct
        np.subtract(z, Y, out=g)                           # MSE on the linear output
        value = float(np.vdot(g, g)) / z.size
        g *= 2.0 * self.scale / z.size
        return value, None

    def _penalty(self):
        total = 0.0
        for (dense, _), (grad, _) in zip(self.pairs, self.grads):
            W = dense.weight.value
            s = self.scratch[:W.size].reshape(W.shape)
            if dense.l2:
                np.multiply(W, dense.l2 * self.scale, out=s)
                grad += s
                total += 0.5 * dense.l2 * float(np.vdot(W, W))
            if dense.l1:
                np.sign(W, out=s)
                s *= dense.l1 * self.scale
                grad += s
                total += dense.l1 * float(np.abs(W).sum())
        return total

    # -- in-place optimizer updates on the flat buffers (same rules as glassnet.optimizers)
    def _sgd(self):
        opt, w, s = self.opt, self.flat_w, self.flat_g          # flat_g holds s = lr g (folded)
        opt.t += 1
        if not opt.momentum:
            w -= s
            return
        v = self.flat_state["velocity"]
        v *= opt.momentum
        v -= s                                             # v = m v - lr g
        if opt.nesterov:
            w -= s
            np.multiply(v, opt.momentum, out=self.scratch)
            w += self.scratch                              # w += m v - lr g
        else:
            w += v                                         # w += v

    def _adam(self):
        opt, w, g, s = self.opt, self.flat_w, self.flat_g, self.scratch
        m, v = self.flat_state["m"], self.flat_state["s"]
        opt.t += 1
        c1, c2 = 1.0 - opt.beta1**opt.t, 1.0 - opt.beta2**opt.t
        m *= opt.beta1
        np.multiply(g, 1.0 - opt.beta1, out=s)
        m += s                                             # m = b1 m + (1 - b1) g
        v *= opt.beta2
        np.multiply(g, g, out=s)
        s *= 1.0 - opt.beta2
        v += s                                             # s = b2 s + (1 - b2) g^2
        np.multiply(v, 1.0 / c2, out=s)
        np.sqrt(s, out=s)
        s += opt.eps
        np.divide(m, s, out=s)
        s *= opt.lr / c1
        w -= s                                             # w -= lr m_hat / (sqrt(s_hat) + eps)

    def _rmsprop(self):
        opt, w, g, s = self.opt, self.flat_w, self.flat_g, self.scratch
        v = self.flat_state["s"]
        opt.t += 1
        v *= opt.rho
        np.multiply(g, g, out=s)
        s *= 1.0 - opt.rho
        v += s                                             # s = rho s + (1 - rho) g^2
        np.sqrt(v, out=s)
        s += opt.eps
        np.divide(g, s, out=s)
        s *= opt.lr
        w -= s


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


def _sigmoid(z, out):
    # 1/(1+e^-z) = (1 + tanh(z/2)) / 2: stable for any z, computed in place.
    np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5


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
        _sigmoid(a, a)


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
