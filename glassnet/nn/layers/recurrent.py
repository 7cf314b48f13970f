"""Recurrent layers: a state carried through time, and backpropagation through time (BPTT).

Data layout, everywhere in glassnet: ``x`` has shape (batch, time, features), ``x[:, t]`` is time
step t of every sequence in the batch. A layer returns the last state, shape (batch, hidden), or
with ``return_sequences=True`` the state after every step, shape (batch, time, hidden) (the last
axis doubles with ``bidirectional=True``: [forward, backward]). The initial state is zero.

Each layer writes its forward loop over t and, next to it, the backward loop over t in reverse:

    forward   for t = 0 .. T-1:      h_t = cell(x_t, h_(t-1))         (cache what backward needs)
    backward  for t = T-1 .. 0:      dL/dh_(t-1) += dL/dh_t . dh_t/dh_(t-1)  (and the weight terms)

The gradient reaching step t from the loss at step T is a product of T - t Jacobians dh_s/dh_(s-1);
when their norms are below one it shrinks geometrically (vanishing), above one it grows (exploding).
:mod:`glassnet.glassbox.through_time` measures exactly that product step by step.

The input part of every step, x_t W + b, does not depend on the state, so it is computed for all
steps at once (one GEMM over (batch * time) rows) before the loop, and its gradients dL/dW,
dL/db and dL/dx after the backward loop; only the recurrent product h_(t-1) U runs per step.

Variable-length sequences: pad them to a common length and give a mask, (batch, time), 1 on real
steps, 0 on padding, either with ``mask_value`` (a step whose features all equal it is padding,
as Keras' ``Masking``) or ``layer.forward(x, mask=...)``. On a padded step the state is carried
unchanged, h_t = m_t h_new + (1 - m_t) h_(t-1), so the last state of a sequence is its state at
its own last step, and the gradient passes such a step untouched, to the real steps before it.
The sequence output is 0 on padded steps (what PyTorch's packed sequences give), so a stacked
layer takes ``mask_value=0.0``.

Gate order and weight layout follow PyTorch (LSTM: i, f, g, o; GRU: r, z, n) with the matrices
transposed: ``weight`` is (n_in, gates * hidden), ``recurrent_weight`` (hidden, gates * hidden).
"""

import numpy as np

from glassnet.backend.arrays import array_module, resolve_dtype
from glassnet.backend.checks import check_choice, check_rng, check_scalar
from glassnet.backend.errors import GlassnetTypeError, ShapeError, ValidationError
from glassnet.nn.init import INITS, get_init, zeros
from glassnet.nn.layers import recurrent_fast
from glassnet.nn.layers.activations import sigmoid
from glassnet.nn.layers.base import Layer
from glassnet.nn.parameter import Parameter

__all__ = ["GRU", "LSTM", "Recurrent", "SimpleRNN", "mask_from_lengths", "orthogonal"]


def orthogonal(shape, rng, dtype=np.float32):
    """A (rows, k * rows) matrix made of k square orthogonal blocks (one per gate).

    An orthogonal recurrent matrix has every singular value 1, so at initialization the linear
    part of h_(t-1) -> h_t neither shrinks nor grows the gradient through time (Saxe et al. 2014).
    """
    n = shape[0]
    blocks = []
    for _ in range(shape[-1] // n):
        q, r = np.linalg.qr(rng.standard_normal((n, n)))
        blocks.append(q * np.sign(np.diag(r)))          # sign fix: uniform over orthogonal matrices
    return np.concatenate(blocks, axis=1).astype(dtype)


def mask_from_lengths(lengths, steps):
    """A (batch, steps) float mask, 1 on the first ``lengths[i]`` steps of row i, 0 after.

    >>> mask_from_lengths([2, 3], 4)
    array([[1., 1., 0., 0.],
           [1., 1., 1., 0.]], dtype=float32)
    """
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or not np.issubdtype(lengths.dtype, np.integer) or (lengths < 0).any():
        raise ValidationError(f"mask_from_lengths needs a 1-D array of non-negative integer lengths; got "
                              f"{lengths!r}.")
    return (np.arange(steps)[None, :] < lengths[:, None]).astype(np.float32)


class Recurrent(Layer):
    """What the recurrent layers share: weights per direction, masks, directions, output assembly.

    Subclasses define ``gates`` (blocks of ``hidden`` columns in the weights) and the two loops
    ``_forward_direction`` / ``_backward_direction``.

    Parameters
    ----------
    n_in : int
        Features per time step.
    hidden : int
        State size H.
    return_sequences : bool, default False
        Return the state after every step, (batch, time, H), instead of the last one, (batch, H).
    bidirectional : bool, default False
        Run a second layer over the reversed sequence and concatenate: the last axis is 2H.
    mask_value : float, optional
        A time step whose features all equal this value is padding (see the module notes).
    init : str, default 'glorot_uniform'
        Initializer of the input weights ``weight``.
    recurrent_init : str, default 'orthogonal'
        Initializer of ``recurrent_weight``: 'orthogonal' (one orthogonal block per gate) or a name
        from :data:`glassnet.nn.init.INITS`.
    seed : int or numpy.random.Generator, optional
    dtype : {'float32', 'float64'}, default float32
    """

    gates = 1
    config_keys = ("n_in", "hidden", "return_sequences", "bidirectional", "mask_value", "init", "recurrent_init")

    def __init__(self, n_in, hidden, *, return_sequences=False, bidirectional=False, mask_value=None,
                 init="glorot_uniform", recurrent_init="orthogonal", seed=None, dtype=None):
        name = type(self).__name__
        self.n_in = check_scalar(n_in, "n_in", int, min_val=1, caller=name)
        self.hidden = check_scalar(hidden, "hidden", int, min_val=1, caller=name)
        for flag, value in (("return_sequences", return_sequences), ("bidirectional", bidirectional)):
            if not isinstance(value, (bool, np.bool_)):
                raise GlassnetTypeError(f"The '{flag}' parameter of {name} must be True or False; got {value!r}.")
        self.return_sequences, self.bidirectional = bool(return_sequences), bool(bidirectional)
        self.mask_value = None if mask_value is None else check_scalar(mask_value, "mask_value", float, caller=name)
        self.init = check_choice(init, "init", tuple(INITS), caller=name)
        self.recurrent_init = check_choice(recurrent_init, "recurrent_init", ("orthogonal", *INITS), caller=name)
        self.dtype = resolve_dtype(dtype)
        self.rng = check_rng(seed)
        self.directions = [self._make_parameters("")] + ([self._make_parameters("_reverse")] if bidirectional else [])
        self.reset_parameters()
        self.fixed_mask = None          # set by gradient checks to hold the mask fixed while x moves
        self.record_state_grads = False  # glass box: keep dL/dh_t of every step in ``state_grads``
        self.state_grads = None
        self._cache = None

    # -- parameters --------------------------------------------------------------------------
    def _make_parameters(self, suffix):
        return [Parameter(None, "weight" + suffix), Parameter(None, "recurrent_weight" + suffix),
                Parameter(None, "bias" + suffix)]

    def reset_parameters(self):
        """Draw new weights from ``self.rng``; biases start at 0 (subclasses may change that)."""
        gh = self.gates * self.hidden
        rec = orthogonal if self.recurrent_init == "orthogonal" else get_init(self.recurrent_init)
        for p in self.directions:
            p[0].value = get_init(self.init)((self.n_in, gh), self.rng, self.dtype)
            p[1].value = rec((self.hidden, gh), self.rng, self.dtype)
            for q in p[2:]:
                q.value = zeros(q.value.shape if q.value is not None else gh, dtype=self.dtype)

    def parameters(self):
        return [p for direction in self.directions for p in direction]

    @property
    def n_out(self):
        """Width of the output's last axis: H, or 2H when bidirectional."""
        return self.hidden * len(self.directions)

    # -- the mask ----------------------------------------------------------------------------
    def _mask(self, x, mask):
        xp = array_module(x)
        if mask is None:
            mask = self.fixed_mask
        if mask is None and self.mask_value is not None:
            mask = xp.any(x != self.mask_value, axis=-1)
        if mask is None:
            return None
        mask = xp.asarray(mask)
        if mask.shape != x.shape[:2]:
            raise ShapeError(f"The mask given to {self!r} has shape {tuple(mask.shape)}; it must be (batch, time) "
                             f"= {tuple(x.shape[:2])}, 1 on real steps and 0 on padding.")
        return mask.astype(x.dtype)[:, :, None]       # (B, T, 1): broadcasts over the state

    # -- the contract ------------------------------------------------------------------------
    def forward(self, x, mask=None):
        """Run every direction over ``x`` (batch, time, n_in); see the class notes for the output."""
        if x.ndim != 3 or x.shape[-1] != self.n_in:
            raise ShapeError(
                f"{self!r} expects sequences of shape (batch, time, {self.n_in}); got shape {tuple(x.shape)}. "
                + ("Add a feature axis: x[:, :, None]." if x.ndim == 2 and self.n_in == 1 else
                   "Check n_in or the layout: glassnet sequences are (batch, time, features).")
            )
        m = self._mask(x, mask)
        outs, caches = [], []
        for d, p in enumerate(self.directions):
            seq, last, cache = self._forward_direction(x, m, [q.value for q in p], reverse=d == 1)
            outs.append(seq if self.return_sequences else last)
            caches.append(cache)
        self._cache = (x, m, caches)
        return outs[0] if len(outs) == 1 else array_module(x).concatenate(outs, axis=-1)

    def backward(self, grad_output):
        x, m, caches = self._cached(self._cache)
        H, xp = self.hidden, array_module(x)
        grad_x = None
        self.state_grads = [] if self.record_state_grads else None
        for d, p in enumerate(self.directions):
            g = grad_output[..., d * H:(d + 1) * H]
            g_seq, g_last = (g, None) if self.return_sequences else (None, g)
            keep = xp.zeros((x.shape[0], x.shape[1], H), x.dtype) if self.record_state_grads else None
            grads, dx = self._backward_direction(x, m, [q.value for q in p], caches[d], g_seq, g_last,
                                                 reverse=d == 1, keep=keep)
            if keep is not None:
                self.state_grads.append(keep)
            for q, gq in zip(p, grads):
                q.grad = gq
            grad_x = dx if grad_x is None else grad_x + dx
        return grad_x if grad_x is not None else xp.zeros_like(x)

    def gate_values(self):
        """The activations of the last forward pass, for the glass box: one dict per direction.

        Each maps a gate name ('i', 'f', 'g', 'o' for LSTM; 'r', 'z', 'n' for GRU; 'h' for
        SimpleRNN's tanh) to an array (batch, time, hidden) in time order; with the mask
        (batch, time, 1) or None under the key 'mask'.
        """
        x, m, caches = self._cached(self._cache)
        out = []
        for d, cache in enumerate(caches):
            gates = {}
            for name, a in self._gates(cache).items():          # (steps taken, B, H), in the order taken
                a = a.transpose(1, 0, 2)
                gates[name] = a[:, ::-1] if d == 1 else a
            gates["mask"] = m
            out.append(gates)
        return out

    def _input_part(self, x, W, b):
        """x_t W + b for every step at once: (B, T, n_in) -> (B, T, gates * H), one GEMM."""
        return (x.reshape(-1, self.n_in) @ W + b).reshape(x.shape[0], x.shape[1], -1)

    def _input_grads(self, x, W, dA):
        """From dL/d(x_t W + b) of every step, (B, T, gates*H): (dL/dW, dL/db, dL/dx), one GEMM each."""
        x2, dA2 = x.reshape(-1, self.n_in), dA.reshape(-1, dA.shape[-1])
        return x2.T @ dA2, dA2.sum(axis=0), (dA2 @ W.T).reshape(x.shape)

    @staticmethod
    def _order(T, reverse):
        return range(T - 1, -1, -1) if reverse else range(T)

    @staticmethod
    def _step_grad(dh, g_seq, m, t, keep):
        """dL/dh_t: what flows back from step t+1, plus step t's own output gradient (none where padded)."""
        if g_seq is not None:
            dh = dh + (g_seq[:, t] if m is None else m[:, t] * g_seq[:, t])
        if keep is not None:
            keep[:, t] = dh
        return dh

    def config(self):
        return {k: getattr(self, k) for k in self.config_keys}

    def __repr__(self):
        opts = [f"{k}={getattr(self, k)!r}" for k, default in
                (("return_sequences", False), ("bidirectional", False), ("mask_value", None))
                if getattr(self, k) != default]
        return f"{type(self).__name__}({self.n_in} -> {self.hidden}{''.join(', ' + o for o in opts)})"


class SimpleRNN(Recurrent):
    """The Elman network: h_t = tanh(x_t W + h_(t-1) U + b).

    Backward through one step, given dL/dh_t (from the output at t and from step t + 1):
    da_t = dL/dh_t * (1 - h_t^2); dL/dU += h_(t-1)^T da_t; dL/dh_(t-1) = da_t U^T;
    dL/dx_t = da_t W^T. The Jacobian dh_t/dh_(t-1) = diag(1 - h_t^2) U^T: tanh' <= 1 is why
    plain RNNs lose the gradient over long spans.

    PyTorch's ``nn.RNN`` has the same formula with two biases; ``b = b_ih + b_hh``.

    Examples
    --------
    >>> rnn = SimpleRNN(3, 5, seed=0)
    >>> rnn.forward(np.ones((2, 7, 3), dtype=np.float32)).shape
    (2, 5)
    """

    gates = 1

    def _forward_direction(self, x, m, p, reverse):
        W, U, b = p
        xp, (B, T, _), H = array_module(x), x.shape, self.hidden
        A = self._input_part(x, W, b)                        # x_t W + b, all t
        S = xp.zeros((T + 1, B, H), x.dtype)                 # S[k]: state before the k-th step taken
        Hn = xp.empty((T, B, H), x.dtype)                    # the tanh output of each step
        seq = xp.zeros((B, T, H), x.dtype)
        for k, t in enumerate(self._order(T, reverse)):
            h = S[k]
            Hn[k] = xp.tanh(A[:, t] + h @ U)                 # h_new = tanh(x_t W + h U + b)
            S[k + 1] = Hn[k] if m is None else m[:, t] * Hn[k] + (1 - m[:, t]) * h
            seq[:, t] = Hn[k] if m is None else m[:, t] * Hn[k]
        return seq, S[T], (S, Hn)

    def _gates(self, cache):
        return {"h": cache[1]}

    def _backward_direction(self, x, m, p, cache, g_seq, g_last, reverse, keep=None):
        W, U, b = p
        S, Hn = cache
        xp, (B, T, _), H = array_module(x), x.shape, self.hidden
        dA = xp.empty((B, T, H), x.dtype)
        dU = xp.zeros_like(U)
        dh = xp.zeros((B, H), x.dtype) if g_last is None else g_last.astype(x.dtype)
        for k in range(T - 1, -1, -1):                       # the forward loop, reversed
            t = self._order(T, reverse)[k]
            dh = self._step_grad(dh, g_seq, m, t, keep)       # keep: dL/dh_t, for the glass box
            dh_new = dh if m is None else m[:, t] * dh       # a padded step passes dh on untouched
            da = dh_new * (1 - Hn[k] * Hn[k])                # tanh'(a) = 1 - tanh(a)^2
            dU += S[k].T @ da                                # dL/dU += h_(t-1)^T da
            dh = da @ U.T + (0 if m is None else (1 - m[:, t]) * dh)
            dA[:, t] = da
        dW, db, dx = self._input_grads(x, W, dA)
        return (dW, dU, db), dx


class LSTM(Recurrent):
    """Long short-term memory (Hochreiter & Schmidhuber 1997), as in PyTorch's ``nn.LSTM``.

    ::

        [a_i, a_f, a_g, a_o] = x_t W + h_(t-1) U + b
        i = sigma(a_i)   f = sigma(a_f)   g = tanh(a_g)   o = sigma(a_o)
        c_t = f * c_(t-1) + i * g          (the cell: an additive path through time)
        h_t = o * tanh(c_t)

    Backward through one step, given dL/dh_t and dL/dc_t from step t + 1:
    dc_t += dh_t * o * (1 - tanh(c_t)^2); do = dh_t * tanh(c_t); di = dc_t * g; dg = dc_t * i;
    df = dc_t * c_(t-1); dL/dc_(t-1) = dc_t * f; each gate's pre-activation gradient is its
    gradient times sigma' = s (1 - s) or tanh' = 1 - g^2; dL/dh_(t-1) = da U^T. The forget gate f
    multiplies dL/dc unchanged by any weight matrix: with f near 1 the gradient survives long spans.

    Parameters
    ----------
    forget_bias : float, default 1.0
        Initial bias of the forget gate: remembering by default (Jozefowicz et al. 2015).
        ``b = b_ih + b_hh`` for PyTorch's two biases.
    (the others as :class:`Recurrent`)

    Examples
    --------
    >>> lstm = LSTM(3, 4, return_sequences=True, seed=0)
    >>> lstm.forward(np.ones((2, 6, 3), dtype=np.float32)).shape
    (2, 6, 4)
    """

    gates = 4
    config_keys = Recurrent.config_keys + ("forget_bias",)

    def __init__(self, n_in, hidden, *, forget_bias=1.0, **kwargs):
        self.forget_bias = check_scalar(forget_bias, "forget_bias", float, caller="LSTM")
        super().__init__(n_in, hidden, **kwargs)

    def reset_parameters(self):
        super().reset_parameters()
        for p in self.directions:
            p[2].value[self.hidden:2 * self.hidden] = self.forget_bias

    fast = True     # NumPy arrays take glassnet.nn.layers.recurrent_fast (proven equal); False: this loop

    def _forward_direction(self, x, m, p, reverse):
        W, U, b = p
        xp, (B, T, _), H = array_module(x), x.shape, self.hidden
        if self.fast and xp is np:
            seq, last, cache, x_tm = recurrent_fast.lstm_forward(x, m, W, U, b, H, reverse)
            return seq, last, (*cache, x_tm)
        A = self._input_part(x, W, b)
        S = xp.zeros((T + 1, B, H), x.dtype)                 # hidden states h, in the order taken
        C = xp.zeros((T + 1, B, H), x.dtype)                 # cell states c
        G = xp.empty((T, B, 4 * H), x.dtype)                 # activated gates [i, f, g, o]
        TC = xp.empty((T, B, H), x.dtype)                    # tanh(c_new)
        seq = xp.zeros((B, T, H), x.dtype)
        for k, t in enumerate(self._order(T, reverse)):
            h, c = S[k], C[k]
            a = A[:, t] + h @ U
            G[k, :, :2 * H] = sigmoid(a[:, :2 * H])          # i, f
            G[k, :, 2 * H:3 * H] = xp.tanh(a[:, 2 * H:3 * H])  # g
            G[k, :, 3 * H:] = sigmoid(a[:, 3 * H:])          # o
            i, f, g, o = G[k, :, :H], G[k, :, H:2 * H], G[k, :, 2 * H:3 * H], G[k, :, 3 * H:]
            c_new = f * c + i * g
            TC[k] = xp.tanh(c_new)
            h_new = o * TC[k]
            if m is None:
                S[k + 1], C[k + 1], seq[:, t] = h_new, c_new, h_new
            else:
                mt = m[:, t]
                S[k + 1], C[k + 1], seq[:, t] = mt * h_new + (1 - mt) * h, mt * c_new + (1 - mt) * c, mt * h_new
        return seq, S[T], (S, C, G, TC)

    def _gates(self, cache):
        G, H = cache[2], self.hidden
        return {"i": G[:, :, :H], "f": G[:, :, H:2 * H], "g": G[:, :, 2 * H:3 * H], "o": G[:, :, 3 * H:]}

    def _backward_direction(self, x, m, p, cache, g_seq, g_last, reverse, keep=None):
        W, U, b = p
        if len(cache) == 5:                                  # the forward pass took the fast path
            return recurrent_fast.lstm_backward(cache[4], m, W, U, cache[:4], g_seq, g_last, self.hidden,
                                                reverse, keep, x.shape)
        S, C, G, TC = cache
        xp, (B, T, _), H = array_module(x), x.shape, self.hidden
        dA = xp.empty((B, T, 4 * H), x.dtype)
        dU = xp.zeros_like(U)
        dh = xp.zeros((B, H), x.dtype) if g_last is None else g_last.astype(x.dtype)
        dc = xp.zeros((B, H), x.dtype)
        for k in range(T - 1, -1, -1):
            t = self._order(T, reverse)[k]
            dh = self._step_grad(dh, g_seq, m, t, keep)
            mt = 1 if m is None else m[:, t]
            i, f, g, o = G[k, :, :H], G[k, :, H:2 * H], G[k, :, 2 * H:3 * H], G[k, :, 3 * H:]
            dh_new, dc_new = mt * dh, mt * dc
            dc_new = dc_new + dh_new * o * (1 - TC[k] * TC[k])      # through h = o tanh(c)
            da = dA[:, t]
            da[:, :H] = dc_new * g * i * (1 - i)                     # di * sigma'
            da[:, H:2 * H] = dc_new * C[k] * f * (1 - f)             # df * sigma'
            da[:, 2 * H:3 * H] = dc_new * i * (1 - g * g)            # dg * tanh'
            da[:, 3 * H:] = dh_new * TC[k] * o * (1 - o)             # do * sigma'
            dU += S[k].T @ da
            dc = dc_new * f + (1 - mt) * dc                          # dL/dc_(t-1)
            dh = da @ U.T + (1 - mt) * dh                            # dL/dh_(t-1)
        dW, db, dx = self._input_grads(x, W, dA)
        return (dW, dU, db), dx


class GRU(Recurrent):
    """Gated recurrent unit (Cho et al. 2014), as in PyTorch's ``nn.GRU``.

    ::

        [a_r, a_z, a_n] = x_t W + b              (input part)
        [u_r, u_z, u_n] = h_(t-1) U              (recurrent part)
        r = sigma(a_r + u_r)     z = sigma(a_z + u_z)
        n = tanh(a_n + r * (u_n + b_rec))        (reset gate r scales the recurrent candidate)
        h_t = (1 - z) * n + z * h_(t-1)

    Backward through one step, given dL/dh_t: dn = dh (1 - z); dz = dh (h_(t-1) - n);
    da_n = dn (1 - n^2); d(u_n + b_rec) = da_n r; dr = da_n (u_n + b_rec); da_r = dr r (1 - r);
    da_z = dz z (1 - z); dL/dh_(t-1) = dh z + [da_r, da_z, da_n r] U^T.

    ``recurrent_bias`` is b_rec (PyTorch's b_hn); ``bias`` is b_ih + [b_hr, b_hz, 0].

    Examples
    --------
    >>> gru = GRU(3, 4, bidirectional=True, seed=0)
    >>> gru.forward(np.ones((2, 6, 3), dtype=np.float32)).shape
    (2, 8)
    """

    gates = 3

    def _make_parameters(self, suffix):
        p = super()._make_parameters(suffix)
        p.append(Parameter(zeros(self.hidden, dtype=self.dtype), "recurrent_bias" + suffix))
        return p

    # Off: recurrent_fast.gru_* (proven equal) measured no faster than this loop (0.97x-1.06x an epoch,
    # benchmarks/rnn.py); set True to use it.
    fast = False

    def _forward_direction(self, x, m, p, reverse):
        W, U, b, rb = p
        xp, (B, T, _), H = array_module(x), x.shape, self.hidden
        if self.fast and xp is np:
            seq, last, cache, x_tm = recurrent_fast.gru_forward(x, m, W, U, b, rb, H, reverse)
            return seq, last, (*cache, x_tm)
        A = self._input_part(x, W, b)
        S = xp.zeros((T + 1, B, H), x.dtype)
        G = xp.empty((T, B, 4 * H), x.dtype)                 # [r, z, n, u_n + b_rec] of each step
        seq = xp.zeros((B, T, H), x.dtype)
        for k, t in enumerate(self._order(T, reverse)):
            h = S[k]
            u = h @ U
            G[k, :, :2 * H] = sigmoid(A[:, t, :2 * H] + u[:, :2 * H])       # r, z
            G[k, :, 3 * H:] = u[:, 2 * H:] + rb
            r, z, un = G[k, :, :H], G[k, :, H:2 * H], G[k, :, 3 * H:]
            G[k, :, 2 * H:3 * H] = xp.tanh(A[:, t, 2 * H:] + r * un)        # n
            h_new = (1 - z) * G[k, :, 2 * H:3 * H] + z * h
            S[k + 1] = h_new if m is None else m[:, t] * h_new + (1 - m[:, t]) * h
            seq[:, t] = h_new if m is None else m[:, t] * h_new
        return seq, S[T], (S, G)

    def _gates(self, cache):
        G, H = cache[1], self.hidden
        return {"r": G[:, :, :H], "z": G[:, :, H:2 * H], "n": G[:, :, 2 * H:3 * H]}

    def _backward_direction(self, x, m, p, cache, g_seq, g_last, reverse, keep=None):
        W, U, b, rb = p
        if len(cache) == 3:                                  # the forward pass took the fast path
            return recurrent_fast.gru_backward(cache[2], m, W, U, rb, cache[:2], g_seq, g_last, self.hidden,
                                               reverse, keep, x.shape)
        S, G = cache
        xp, (B, T, _), H = array_module(x), x.shape, self.hidden
        dA = xp.empty((B, T, 3 * H), x.dtype)
        dU = xp.zeros_like(U)
        drb = xp.zeros_like(rb)
        du = xp.empty((B, 3 * H), x.dtype)                   # dL/d(h_(t-1) U)
        dh = xp.zeros((B, H), x.dtype) if g_last is None else g_last.astype(x.dtype)
        for k in range(T - 1, -1, -1):
            t = self._order(T, reverse)[k]
            dh = self._step_grad(dh, g_seq, m, t, keep)
            mt = 1 if m is None else m[:, t]
            r, z, n, un = G[k, :, :H], G[k, :, H:2 * H], G[k, :, 2 * H:3 * H], G[k, :, 3 * H:]
            h = S[k]
            dh_new = mt * dh
            da = dA[:, t]
            da[:, 2 * H:] = dh_new * (1 - z) * (1 - n * n)            # da_n = dn tanh'
            du[:, 2 * H:] = da[:, 2 * H:] * r                          # d(u_n + b_rec)
            da[:, :H] = da[:, 2 * H:] * un * r * (1 - r)               # da_r = dr sigma'
            da[:, H:2 * H] = dh_new * (h - n) * z * (1 - z)            # da_z = dz sigma'
            du[:, :2 * H] = da[:, :2 * H]
            dU += h.T @ du
            drb += du[:, 2 * H:].sum(axis=0)
            dh = du @ U.T + dh_new * z + (1 - mt) * dh
        dW, db, dx = self._input_grads(x, W, dA)
        return (dW, dU, db, drb), dx
