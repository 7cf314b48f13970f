"""The one place where LSTM and GRU trade readability for speed (NumPy only).

These functions compute exactly what :class:`~glassnet.nn.layers.recurrent.LSTM` and
:class:`~glassnet.nn.layers.recurrent.GRU` compute in their readable loops, with the same caches
(so the glass box reads the same gates and state gradients), but:

- time-major buffers: the input part x_t W + b of every step is one GEMM into a (time, batch, .)
  array, so each step reads one contiguous block;
- every per-step product and activation writes into preallocated workspaces (``out=``): the loop
  allocates nothing;
- LSTM: one sigmoid pass over all four gates, with the g block of W, U and b pre-scaled by 2,
  because tanh(a) = 2 sigma(2a) - 1;
- the recurrent weight gradient dL/dU = sum_t h_(t-1)^T da_t is one GEMM after the backward loop
  over all steps (the per-step gradients are kept in order), instead of one small GEMM per step;
  likewise dL/dW, dL/db and dL/dx;
- LSTM backward: the gate derivatives that do not depend on the incoming gradient are computed a
  block of steps (about 256 KB of gates) at a time, just before the loop reaches the block, into
  the rows of dL/da that the loop then scales in place: on data still in cache, with no separate
  array (a backward pass 0.71x-0.73x the all-steps-at-once version, an epoch 0.89x-0.91x).

The LSTM's two loops over the steps are separate functions (``_lstm_forward_loop``,
``_lstm_backward_loop``) so that ``glassnet.adapters.compiled_recurrent.enable()`` (numba, an
optional extra) can put compiled ones in :data:`COMPILED`, used instead while they are there: the
NumPy elementwise passes per step cost most of a step (BENCHMARKS.md, recurrent section).

``tests/test_recurrent_fast.py`` proves them equal to the readable loops in float64 and float32.
Measured with ``benchmarks/rnn.py --threads 1`` (one training epoch, N 2048, T 50, H 64, batch 64):
the LSTM functions make an epoch 1.14x-1.25x faster than the readable loop, so ``LSTM.fast`` is on;
the GRU functions 0.97x-1.06x (no gain), so ``GRU.fast`` is off. Both are class attributes, also
settable per layer (``layer.fast = False``).
"""

import numpy as np

from glassnet.nn.layers.activations import sigmoid

__all__ = ["COMPILED", "gru_backward", "gru_forward", "lstm_backward", "lstm_forward"]

# The step loops compiled by glassnet.adapters.compiled_recurrent.enable() (numba, an optional extra): an object with
# lstm_forward_loop / lstm_backward_loop of the signatures of _lstm_forward_loop / _lstm_backward_loop below, used
# instead of them while it is here. Everything around the loops (GEMMs over all steps, caches) stays this module's.
COMPILED = []


def _time_major(x):
    return np.ascontiguousarray(x.transpose(1, 0, 2))


def _order(T, reverse):
    return range(T - 1, -1, -1) if reverse else range(T)


def _sequence(S, m_tm, reverse):
    """States in the order taken (T + 1, B, H) -> the layer's sequence output (B, T, H), 0 on padding."""
    seq = S[1:][::-1] if reverse else S[1:]
    if m_tm is not None:
        seq = seq * m_tm
    return seq.transpose(1, 0, 2)


def _input_grads(x_tm, W, dA_steps, reverse, shape, db=None):
    """dL/dW, dL/db (summed unless given), dL/dx from per-step input gradients kept in the order taken (T, B, G)."""
    dA = dA_steps[::-1] if reverse else dA_steps
    T, B, n = x_tm.shape
    dA2 = np.ascontiguousarray(dA).reshape(T * B, -1)
    x2 = x_tm.reshape(T * B, n)
    dx = (dA2 @ W.T).reshape(T, B, n).transpose(1, 0, 2)
    return x2.T @ dA2, dA2.sum(axis=0) if db is None else db, np.ascontiguousarray(dx).reshape(shape)


def lstm_forward(x, m, W, U, b, H, reverse):
    """Same as ``LSTM._forward_direction``: (sequence output, last state, cache)."""
    B, T, n = x.shape
    x_tm = _time_major(x)
    A = (x_tm.reshape(T * B, n) @ W).reshape(T, B, 4 * H)      # x_t W, every step; the loop adds b
    m_tm = None if m is None else _time_major(m)
    S, C = np.zeros((T + 1, B, H), x.dtype), np.zeros((T + 1, B, H), x.dtype)
    G, TC = np.empty((T, B, 4 * H), x.dtype), np.empty((T, B, H), x.dtype)
    (COMPILED[-1].lstm_forward_loop if COMPILED else _lstm_forward_loop)(A, b, U, m_tm, S, C, G, TC, reverse)
    return _sequence(S, m_tm, reverse), S[T], (S, C, G, TC), x_tm


def _lstm_forward_loop(A, b, U, m_tm, S, C, G, TC, reverse):
    """The steps: S[k + 1], C[k + 1] (states), G[k] (gates [i, f, g, o]), TC[k] = tanh(c) from S[k], C[k], A[t] + b."""
    T, B, H = TC.shape
    A += b
    A[:, :, 2 * H:3 * H] *= 2                     # tanh(a) = 2 sigma(2a) - 1 (A is this function's own buffer)
    U2 = U.copy()
    U2[:, 2 * H:3 * H] *= 2
    tmp = np.empty((B, H), A.dtype)
    for k, t in enumerate(_order(T, reverse)):
        a = G[k]
        np.matmul(S[k], U2, out=a)
        a += A[t]
        sigmoid(a, out=a)
        g = a[:, 2 * H:3 * H]
        g *= 2
        g -= 1
        c, h = C[k + 1], S[k + 1]
        np.multiply(a[:, H:2 * H], C[k], out=c)
        np.multiply(a[:, :H], g, out=tmp)
        c += tmp
        np.tanh(c, out=TC[k])
        np.multiply(a[:, 3 * H:], TC[k], out=h)
        if m_tm is not None:                      # carry the state over padding: s = s_prev + m (s_new - s_prev)
            for new, old in ((h, S[k]), (c, C[k])):
                new -= old
                new *= m_tm[t]
                new += old


# Steps per block of gate derivatives in lstm_backward: about 256 KB of gates per block, so a block's derivatives
# are computed and then read by the loop while they are still in cache (BENCHMARKS.md, recurrent section).
BLOCK_BYTES = 1 << 18


def _lstm_derivatives(G, C, TC, H, lo, hi, P, Q):
    """For the steps lo:hi taken: P = [g, c_prev, i, tanh(c)] * [sigma'(a_i), sigma'(a_f), tanh'(a_g), sigma'(a_o)]
    into P[lo:hi] and Q = o (1 - tanh(c)^2) into Q[:hi - lo]."""
    Gb, Pb, Qb, TCb = G[lo:hi], P[lo:hi], Q[:hi - lo], TC[lo:hi]
    np.subtract(1, Gb, out=Pb)                     # sigma' = s (1 - s) for i, f, o ...
    Pb *= Gb
    g = Gb[:, :, 2 * H:3 * H]
    np.multiply(g, g, out=Pb[:, :, 2 * H:3 * H])
    np.subtract(1, Pb[:, :, 2 * H:3 * H], out=Pb[:, :, 2 * H:3 * H])   # ... and tanh' = 1 - g^2 for g
    Pb[:, :, :H] *= g
    Pb[:, :, H:2 * H] *= C[lo:hi]
    Pb[:, :, 2 * H:3 * H] *= Gb[:, :, :H]
    Pb[:, :, 3 * H:] *= TCb
    np.multiply(TCb, TCb, out=Qb)
    np.subtract(1, Qb, out=Qb)
    Qb *= Gb[:, :, 3 * H:]


def lstm_backward(x_tm, m, W, U, cache, g_seq, g_last, H, reverse, keep, shape):
    """Same as ``LSTM._backward_direction``: ((dW, dU, db), dx).

    The loop over the steps (:func:`_lstm_backward_loop`, or the compiled one) fills dL/da of every
    step, in the order taken; the weight and input gradients are then one GEMM each over all steps.
    """
    T, B, _ = x_tm.shape
    m_tm = None if m is None else _time_major(m)
    g_tm = None if g_seq is None else g_seq.transpose(1, 0, 2)
    dA = np.empty((T, B, 4 * H), x_tm.dtype)       # in the order taken
    dh = np.zeros((B, H), x_tm.dtype) if g_last is None else np.array(g_last, dtype=x_tm.dtype)
    # the compiled loop also sums dL/db (None from the NumPy loop)
    db = (COMPILED[-1].lstm_backward_loop if COMPILED else _lstm_backward_loop)(U, cache, g_tm, m_tm, keep, dh, dA,
                                                                                 reverse)
    dU = cache[0][:T].reshape(T * B, H).T @ dA.reshape(T * B, 4 * H)     # sum over steps, one GEMM
    dW, db, dx = _input_grads(x_tm, W, dA, reverse, shape, db)
    return (dW, dU, db), dx


def _lstm_backward_loop(U, cache, g_tm, m_tm, keep, dh, dA, reverse):
    """dL/da of every step into dA (T, B, 4H), from dL/dh_T in ``dh`` (overwritten); records dL/dh_t in ``keep``.

    Returns None: dL/db is summed from dA afterwards (a compiled loop may return it instead).

    What does not depend on the incoming gradient is computed a block of steps at a time, just
    before the loop reaches the block (a few larger operations instead of many small ones per step,
    on data still in cache), written straight into dA's rows: P (see :func:`_lstm_derivatives`)
    and Q = o (1 - tanh(c)^2). Per step remain: dc += dh Q; da = [dc, dc, dc, dh] * P (in place);
    dc <- dc f; dh <- da U^T.
    """
    S, C, G, TC = cache
    T, B, H = TC.shape
    block = max(1, min(T, BLOCK_BYTES // (B * 4 * H * G.itemsize)))
    Q = np.empty((block, B, H), dA.dtype)
    dc = np.zeros((B, H), dA.dtype)
    dhn, dcn, t1, keep_m = (np.empty((B, H), dA.dtype) for _ in range(4))
    UT = np.ascontiguousarray(U.T)
    lo = T
    for k in range(T - 1, -1, -1):
        if k < lo:                                 # the next block of steps, k + 1 - block .. k
            lo = max(0, k + 1 - block)
            _lstm_derivatives(G, C, TC, H, lo, k + 1, dA, Q)
        t = T - 1 - k if reverse else k
        _take_step_grad(dh, g_tm, m_tm, t, t1, keep)
        if m_tm is None:
            dhn, dcn = dh, dc                      # no padding: update in place
        else:
            np.multiply(dh, m_tm[t], out=dhn)
            np.multiply(dc, m_tm[t], out=dcn)
        np.multiply(dhn, Q[k - lo], out=t1)        # dc += dh o (1 - tanh(c)^2)
        dcn += t1
        da = dA[k]
        ifg = da[:, :3 * H].reshape(B, 3, H)
        np.multiply(ifg, dcn[:, None, :], out=ifg)
        da[:, 3 * H:] *= dhn
        f = G[k, :, H:2 * H]
        if m_tm is None:
            dc *= f                                # dL/dc_(t-1) = dc f
            np.matmul(da, UT, out=dh)              # dL/dh_(t-1) = da U^T
        else:
            np.subtract(1, m_tm[t], out=keep_m[:, :1])
            dc *= keep_m[:, :1]
            np.multiply(dcn, f, out=t1)
            dc += t1
            dh *= keep_m[:, :1]
            np.matmul(da, UT, out=t1)
            dh += t1


def gru_forward(x, m, W, U, b, rb, H, reverse):
    """Same as ``GRU._forward_direction``: (sequence output, last state, cache)."""
    B, T, n = x.shape
    x_tm = _time_major(x)
    A = (x_tm.reshape(T * B, n) @ W).reshape(T, B, 3 * H)
    A += b
    m_tm = None if m is None else _time_major(m)
    S = np.zeros((T + 1, B, H), x.dtype)
    G = np.empty((T, B, 4 * H), x.dtype)           # [r, z, n, u_n + b_rec]
    u = np.empty((B, 3 * H), x.dtype)
    for k, t in enumerate(_order(T, reverse)):
        np.matmul(S[k], U, out=u)
        rz, n_, un = G[k, :, :2 * H], G[k, :, 2 * H:3 * H], G[k, :, 3 * H:]
        np.add(A[t, :, :2 * H], u[:, :2 * H], out=rz)
        sigmoid(rz, out=rz)
        np.add(u[:, 2 * H:], rb, out=un)
        np.multiply(G[k, :, :H], un, out=n_)
        n_ += A[t, :, 2 * H:]
        np.tanh(n_, out=n_)
        h = S[k + 1]                               # h = n + z (h_prev - n)
        np.subtract(S[k], n_, out=h)
        h *= G[k, :, H:2 * H]
        h += n_
        if m_tm is not None:
            h -= S[k]
            h *= m_tm[t]
            h += S[k]
    return _sequence(S, m_tm, reverse), S[T], (S, G), x_tm


def gru_backward(x_tm, m, W, U, rb, cache, g_seq, g_last, H, reverse, keep, shape):
    """Same as ``GRU._backward_direction``: ((dW, dU, db, drb), dx)."""
    S, G = cache
    T, B, _ = x_tm.shape
    m_tm = None if m is None else _time_major(m)
    g_tm = None if g_seq is None else g_seq.transpose(1, 0, 2)
    dA = np.empty((T, B, 3 * H), x_tm.dtype)
    dUs = np.empty((T, B, 3 * H), x_tm.dtype)      # dL/d(h_(t-1) U) per step, in the order taken
    dh = np.zeros((B, H), x_tm.dtype) if g_last is None else np.array(g_last, dtype=x_tm.dtype)
    dhn, t1, t2 = (np.empty((B, H), x_tm.dtype) for _ in range(3))
    UT = np.ascontiguousarray(U.T)
    for k in range(T - 1, -1, -1):
        t = T - 1 - k if reverse else k
        _take_step_grad(dh, g_tm, m_tm, t, t1, keep)
        r, z, n_, un = G[k, :, :H], G[k, :, H:2 * H], G[k, :, 2 * H:3 * H], G[k, :, 3 * H:]
        if m_tm is None:
            np.copyto(dhn, dh)
        else:
            np.multiply(dh, m_tm[t], out=dhn)
        da, du = dA[k], dUs[k]
        np.subtract(1, z, out=t1)                  # da_n = dh (1 - z)(1 - n^2)
        np.multiply(n_, n_, out=t2)
        np.subtract(1, t2, out=t2)
        np.multiply(dhn, t1, out=da[:, 2 * H:])
        da[:, 2 * H:] *= t2
        np.multiply(da[:, 2 * H:], r, out=du[:, 2 * H:])          # d(u_n + b_rec) = da_n r
        np.subtract(1, r, out=t1)                  # da_r = da_n (u_n + b_rec) r (1 - r)
        np.multiply(da[:, 2 * H:], un, out=da[:, :H])
        da[:, :H] *= r
        da[:, :H] *= t1
        np.subtract(S[k], n_, out=t1)              # da_z = dh (h_prev - n) z (1 - z)
        np.subtract(1, z, out=t2)
        np.multiply(dhn, t1, out=da[:, H:2 * H])
        da[:, H:2 * H] *= z
        da[:, H:2 * H] *= t2
        du[:, :2 * H] = da[:, :2 * H]
        if m_tm is None:
            np.multiply(dhn, z, out=t1)
            np.matmul(du, UT, out=dh)
            dh += t1
        else:
            np.subtract(1, m_tm[t], out=t2[:, :1])
            dh *= t2[:, :1]
            np.multiply(dhn, z, out=t1)
            dh += t1
            np.matmul(du, UT, out=t1)
            dh += t1
    dU = S[:T].reshape(T * B, H).T @ dUs.reshape(T * B, 3 * H)
    drb = dUs[:, :, 2 * H:].sum(axis=(0, 1))
    dW, db, dx = _input_grads(x_tm, W, dA, reverse, shape)
    return (dW, dU, db, drb), dx


def _take_step_grad(dh, g_tm, m_tm, t, scratch, keep):
    """dh += step t's output gradient (masked: padded steps add nothing); record dL/dh_t in ``keep``."""
    if g_tm is not None:
        if m_tm is None:
            dh += g_tm[t]
        else:
            np.multiply(g_tm[t], m_tm[t], out=scratch)
            dh += scratch
    if keep is not None:
        keep[:, t] = dh
