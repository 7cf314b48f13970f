"""Peer implementations of the same MLP training epoch, for comparison.

Task: Dense+ReLU hidden layers, Dense output, softmax + cross-entropy (mean
over the batch), SGD momentum 0.9 (no dampening, no Nesterov), lr 0.01,
float32, data reshuffled every epoch.

Every factory has the signature ``make_xxx(sizes, B, X, Y, lr=0.01,
momentum=0.9)`` and returns a zero-argument callable that runs ONE epoch and
blocks until the result is ready. Setup (model build, JIT compile,
device_put) happens in the factory, never inside the timed callable.
Imports of peer libraries happen inside the factory: a peer whose import
fails raises ``PeerUnavailable`` and the harness skips it with a note.

None of these libraries is (or may become) a dependency of glassnet.

Notes per peer
--------------
* torch: eager, ``torch.set_num_threads`` = $OMP_NUM_THREADS or every core, nn.Sequential,
  F.cross_entropy, optim.SGD(momentum=0.9); per batch ``index_select`` of a
  ``randperm``; last partial batch kept.
* jax_step: one ``jax.jit`` step with donated (params, velocity); X/Y live on
  the device, the per-epoch permutation is put on the device once and each
  step slices it with ``lax.dynamic_slice`` (start is a traced scalar) and
  gathers rows inside the jit. Last partial batch kept (one extra compile for
  that static size, done during warm-up).
* jax_scan: the whole epoch is one jitted ``lax.scan`` over a (steps, B)
  permutation matrix. The remainder (n % B samples) is DROPPED, not padded;
  samples/s in the harness is computed from the samples actually processed.
* sklearn: MLPClassifier(solver='sgd', momentum=0.9, nesterovs_momentum=False,
  alpha=0, shuffle=True), one ``partial_fit(X, Y)`` per epoch (float32 kept).
* gemm_floor: only the 8 GEMMs per batch of a 3-layer net (3 forward,
  3 weight-gradient, 2 input-gradient) in float32 numpy into preallocated
  outputs, W stored (out, in) like the prototype. Input batch is a contiguous
  slice (no gather). Generalises to L layers: L + L + (L-1) GEMMs.
* gemm_floor_mkl / gemm_floor_openblas: the same 8 GEMMs in the compiled step's
  layouts (W stored (in, out): NN, TN, NT), called from one numba loop over the
  epoch's full batches through glassnet.adapters.compiled.gemm_kernel() on that BLAS: the
  floor of the BLAS the compiled step uses (no Python per batch).
* glassnet_compiled: glassnet with glassnet.adapters.compiled.enable() on its
  default BLAS (MKL when the 'mkl' extra is installed, else NumPy's OpenBLAS);
  glassnet_compiled_openblas forces NumPy's OpenBLAS (GLASSNET_BLAS=openblas).
"""
from __future__ import annotations

import functools
import os

import numpy as np


class PeerUnavailable(RuntimeError):
    pass


def _glorot(rng, fan_in, fan_out):
    lim = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-lim, lim, (fan_in, fan_out)).astype(np.float32)


# ---------------------------------------------------------------- torch
def _torch():
    try:
        import torch
    except Exception as e:  # pragma: no cover
        raise PeerUnavailable(f"torch import failed: {e!r}")
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))   # run.py --threads
    return torch


def _torch_model(torch, sizes):
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(torch.nn.ReLU())
    return torch.nn.Sequential(*layers)


def make_torch(sizes, B, X, Y, lr=0.01, momentum=0.9):
    torch = _torch()
    F = torch.nn.functional
    torch.manual_seed(0)
    model = _torch_model(torch, sizes)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    Xt = torch.from_numpy(np.ascontiguousarray(X, np.float32))
    Yt = torch.from_numpy(Y.astype(np.int64))
    n = Xt.shape[0]

    def epoch():
        perm = torch.randperm(n)
        for s in range(0, n, B):
            idx = perm[s:s + B]
            xb = Xt.index_select(0, idx)
            yb = Yt.index_select(0, idx)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        loss.item()  # sync (eager CPU is synchronous anyway)

    return epoch


def make_torch_infer(sizes, B, X, Y=None, **_):
    """Returns a callable running inference over all of X in batches of B."""
    torch = _torch()
    torch.manual_seed(0)
    model = _torch_model(torch, sizes).eval()
    Xt = torch.from_numpy(np.ascontiguousarray(X, np.float32))
    n = Xt.shape[0]

    def epoch():
        with torch.inference_mode():
            for s in range(0, n, B):
                out = model(Xt[s:s + B])
        float(out[0, 0])

    return epoch


# ---------------------------------------------------------------- jax
def _jax():
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    try:
        import jax
        import jax.numpy as jnp
    except Exception as e:  # pragma: no cover
        raise PeerUnavailable(f"jax import failed: {e!r}")
    return jax, jnp


def _jax_update(jax, jnp, lr, momentum):
    def loss_fn(params, xb, yb):
        h = xb
        for W, b in params[:-1]:
            h = jax.nn.relu(h @ W + b)
        W, b = params[-1]
        logp = jax.nn.log_softmax(h @ W + b)
        return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))

    def update(params, vel, xb, yb):
        loss, g = jax.value_and_grad(loss_fn)(params, xb, yb)
        vel = jax.tree_util.tree_map(lambda v, gg: momentum * v + gg, vel, g)
        params = jax.tree_util.tree_map(lambda p, v: p - lr * v, params, vel)
        return params, vel, loss

    return update


def _jax_init(jnp, sizes):
    rng = np.random.default_rng(0)
    params = [(jnp.asarray(_glorot(rng, sizes[i], sizes[i + 1])),
               jnp.zeros(sizes[i + 1], jnp.float32)) for i in range(len(sizes) - 1)]
    vel = [(jnp.zeros_like(W), jnp.zeros_like(b)) for W, b in params]
    return params, vel


def make_jax_step(sizes, B, X, Y, lr=0.01, momentum=0.9):
    jax, jnp = _jax()
    update = _jax_update(jax, jnp, lr, momentum)
    Xd = jax.device_put(np.asarray(X, np.float32))
    Yd = jax.device_put(np.asarray(Y, np.int32))
    n = X.shape[0]

    def _step(params, vel, Xd, Yd, perm, start, size):
        idx = jax.lax.dynamic_slice(perm, (start,), (size,))
        return update(params, vel, Xd[idx], Yd[idx])

    step = jax.jit(_step, donate_argnums=(0, 1), static_argnums=(6,))
    state = list(_jax_init(jnp, sizes))
    rng = np.random.default_rng(0)

    def epoch():
        params, vel = state
        perm = jax.device_put(rng.permutation(n).astype(np.int32))
        for s in range(0, n, B):
            params, vel, loss = step(params, vel, Xd, Yd, perm, s, min(B, n - s))
        jax.block_until_ready(params)
        state[:] = [params, vel]

    return epoch


def make_jax_scan(sizes, B, X, Y, lr=0.01, momentum=0.9):
    jax, jnp = _jax()
    update = _jax_update(jax, jnp, lr, momentum)
    Xd = jax.device_put(np.asarray(X, np.float32))
    Yd = jax.device_put(np.asarray(Y, np.int32))
    n = X.shape[0]
    steps = n // B  # remainder dropped

    def _epoch(params, vel, Xd, Yd, perm):
        def body(carry, idx):
            p, v = carry
            p, v, loss = update(p, v, Xd[idx], Yd[idx])
            return (p, v), loss
        (params, vel), losses = jax.lax.scan(body, (params, vel), perm)
        return params, vel, losses.mean()

    run = jax.jit(_epoch, donate_argnums=(0, 1))
    state = list(_jax_init(jnp, sizes))
    rng = np.random.default_rng(0)

    def epoch():
        params, vel = state
        perm = rng.permutation(n)[: steps * B].reshape(steps, B).astype(np.int32)
        params, vel, loss = run(params, vel, Xd, Yd, jax.device_put(perm))
        jax.block_until_ready(params)
        state[:] = [params, vel]

    epoch.samples = steps * B
    return epoch


# ---------------------------------------------------------------- sklearn
def make_sklearn(sizes, B, X, Y, lr=0.01, momentum=0.9):
    try:
        from sklearn.neural_network import MLPClassifier
    except Exception as e:  # pragma: no cover
        raise PeerUnavailable(f"sklearn import failed: {e!r}")
    import warnings
    warnings.filterwarnings("ignore")
    clf = MLPClassifier(hidden_layer_sizes=tuple(sizes[1:-1]), solver="sgd",
                        momentum=momentum, nesterovs_momentum=False,
                        learning_rate_init=lr, alpha=0.0, batch_size=B,
                        shuffle=True, random_state=0)
    X = np.ascontiguousarray(X, np.float32)
    classes = np.arange(sizes[-1])
    # initialise (allocates coefs); the harness warm-up epoch follows anyway
    clf.partial_fit(X[:B], Y[:B], classes=classes)

    def epoch():
        clf.partial_fit(X, Y)

    return epoch


# ---------------------------------------------------------------- GEMM floor
def make_gemm_floor(sizes, B, X, Y=None, **_):
    rng = np.random.default_rng(0)
    L = len(sizes) - 1
    W = [_glorot(rng, sizes[i], sizes[i + 1]).T.copy() for i in range(L)]  # (out,in)
    dW = [np.empty_like(w) for w in W]
    n = X.shape[0]

    def bufs(b):
        a = [None] + [rng.standard_normal((b, sizes[i]), dtype=np.float32) for i in range(1, L + 1)]
        g = [None] + [rng.standard_normal((b, sizes[i]), dtype=np.float32) for i in range(1, L + 1)]
        return a, g

    ws = {B: bufs(B)}
    if n % B:
        ws[n % B] = bufs(n % B)
    X = np.ascontiguousarray(X, np.float32)

    def epoch():
        for s in range(0, n, B):
            a, g = ws[min(B, n - s)]
            a0 = X[s:s + B]
            for i in range(L):
                np.matmul(a0 if i == 0 else a[i], W[i].T, out=a[i + 1])
            for i in range(L - 1, -1, -1):
                np.matmul(g[i + 1].T, a0 if i == 0 else a[i], out=dW[i])
                if i > 0:
                    np.matmul(g[i + 1], W[i], out=g[i])

    return epoch


# ---------------------------------------------------------------- prototype
def make_proto(sizes, B, X, Y, lr=0.01, momentum=0.9, opts=None):
    from benchmarks.proto_numpy import MLP
    model = MLP(sizes, lr=lr, momentum=momentum, opts=opts)
    rng = np.random.default_rng(0)

    def epoch():
        model.epoch(X, Y, B, rng)

    return epoch


def make_proto_infer(sizes, B, X, Y=None, **_):
    from benchmarks.proto_numpy import MLP
    model = MLP(sizes)
    n = X.shape[0]

    def epoch():
        for s in range(0, n, B):
            model.predict_logits(X[s:s + B])

    return epoch


def _compiled(blas):
    """glassnet.adapters.compiled bound to ``blas`` ('mkl', 'openblas'; None: its own choice), or PeerUnavailable."""
    if blas:
        os.environ["GLASSNET_BLAS"] = blas                  # read when the module binds its BLAS, below
    from glassnet.adapters import compiled
    if not compiled.available():
        raise PeerUnavailable(f"numba or the BLAS missing (pip install 'glassnet[compiled]'"
                              f"{', glassnet[mkl]' if blas == 'mkl' else ''})")
    return compiled


def make_glassnet_compiled(sizes, B, X, Y, lr=0.01, momentum=0.9, blas=None):
    """glassnet with the numba-compiled step (glassnet.adapters.compiled; the 'compiled' extra) on ``blas``."""
    _compiled(blas).enable()
    return make_glassnet(sizes, B, X, Y, lr=lr, momentum=momentum)


def make_gemm_floor_compiled(sizes, B, X, Y=None, blas=None, **_):
    """The compiled step's own GEMMs alone (same layouts: NN forward, TN weight gradients, NT input gradients),
    called from one numba loop over the epoch's full batches on ``blas``: the floor of that BLAS."""
    compiled = _compiled(blas)
    import numba
    gemm = compiled.gemm_kernel()

    @numba.njit(nogil=True)
    def epoch_gemms(X, W, G, wo, dims, A, D, ao, B):
        L = dims.shape[0] - 1
        for s in range(0, X.shape[0] - B + 1, B):
            xs = X[s:s + B].ravel()
            for i in range(L):
                k, m = dims[i], dims[i + 1]
                gemm(False, False, B, m, k, 1.0, xs if i == 0 else A[ao[i - 1]:], k, W[wo[i]:], m, 0.0, A[ao[i]:], m)
            for i in range(L - 1, -1, -1):
                k, m = dims[i], dims[i + 1]
                gemm(True, False, k, m, B, 1.0, xs if i == 0 else A[ao[i - 1]:], k, D[ao[i]:], m, 0.0, G[wo[i]:], m)
                if i:
                    gemm(False, True, B, k, m, 1.0, D[ao[i]:], m, W[wo[i]:], m, 0.0, D[ao[i - 1]:], k)

    rng = np.random.default_rng(0)
    dims = np.array(sizes, np.int64)
    wo = np.concatenate([[0], np.cumsum(dims[:-1] * dims[1:])]).astype(np.int64)
    ao = np.concatenate([[0], np.cumsum(B * dims[1:])]).astype(np.int64)
    W = rng.standard_normal(wo[-1], dtype=np.float32) * 0.05
    G = np.empty_like(W)
    A, D = (rng.standard_normal(ao[-1], dtype=np.float32) for _ in range(2))
    X = np.ascontiguousarray(X, np.float32)

    def epoch():
        epoch_gemms(X, W, G, wo, dims, A, D, ao, B)

    epoch.samples = X.shape[0] // B * B
    return epoch


def make_glassnet(sizes, B, X, Y, lr=0.01, momentum=0.9, callbacks=()):
    """glassnet itself: one long ``model.fit`` in a thread, paced one epoch per call.

    A callback blocks at the start of each epoch until the harness asks for one, so the
    timed epochs are epochs of a real multi-epoch fit (optimizer state, workspaces and
    data validation are set up once, as for any user), with the library's default
    callbacks (the NaN guard) on.
    """
    import queue
    import threading

    import glassnet as g

    model = g.mlp(sizes[0], sizes[1:-1], sizes[-1], seed=0)
    go, done = queue.Queue(), queue.Queue()

    class Pace(g.Callback):
        def on_epoch_begin(self, state):
            if go.get() is None:
                raise SystemExit

        def on_epoch_end(self, state):
            done.put(state.history["loss"][-1])

    def train():
        try:
            model.fit(X, Y, optimizer=g.SGD(lr=lr, momentum=momentum), epochs=10**6, batch_size=B,
                      seed=0, verbose=0, callbacks=[Pace(), *callbacks])
        except SystemExit:
            pass

    threading.Thread(target=train, daemon=True).start()

    def epoch():
        go.put(True)
        return done.get()

    epoch.model = model
    return epoch


def make_glassnet_infer(sizes, B, X, Y=None, **_):
    import glassnet as g

    model = g.mlp(sizes[0], sizes[1:-1], sizes[-1], seed=0)
    n = X.shape[0]

    def epoch():
        for s in range(0, n, B):
            model.predict(X[s:s + B], batch_size=B)

    return epoch


FACTORIES = {
    "glassnet": make_glassnet,
    "glassnet_compiled": make_glassnet_compiled,
    "glassnet_compiled_openblas": functools.partial(make_glassnet_compiled, blas="openblas"),
    "gemm_floor_mkl": functools.partial(make_gemm_floor_compiled, blas="mkl"),
    "gemm_floor_openblas": functools.partial(make_gemm_floor_compiled, blas="openblas"),
    "glassnet_infer": make_glassnet_infer,
    "torch": make_torch,
    "jax_step": make_jax_step,
    "jax_scan": make_jax_scan,
    "sklearn": make_sklearn,
    "gemm_floor": make_gemm_floor,
    "proto": make_proto,
    "torch_infer": make_torch_infer,
    "proto_infer": make_proto_infer,
}
