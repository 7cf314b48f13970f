"""GPU fast paths (CuPy): fused optimizer kernels and a CUDA-graph training step.

The layers already run on CuPy arrays (``model.to('gpu')``; ``fit`` moves the data to the
device once and slices batches there). This module is the one named place for what only pays
on a GPU, where a small batch costs more in kernel launches than in arithmetic:

* :class:`FusedOptimizer` wraps SGD / Adam / RMSprop and applies each parameter's update in one
  elementwise kernel (Adam is about ten NumPy-style kernels per parameter otherwise). The
  hyper-parameters sit in a small device array, so a captured graph sees the current lr and
  bias corrections on every replay.
* :func:`softmax_xent_grad` computes (softmax(z) - y) / B and the batch loss in one kernel,
  without reading the loss back to the host (so it can be captured).
* :class:`CudaGraphStep` captures forward, loss gradient, backward and the fused update once
  and replays them as a single CUDA graph per batch.

CuPy is imported only when one of these is used: ``pip install 'glassnet[gpu]'``. Nothing in
the core imports this module.
"""

import numpy as np

from glassnet.backend.arrays import array_module, get_cupy
from glassnet.backend.errors import ValidationError
from glassnet.optim.optimizers import SGD, Adam, Optimizer, RMSprop, get_optimizer

__all__ = ["CudaGraphStep", "FusedOptimizer", "softmax_xent_grad"]

# -- fused elementwise update kernels -------------------------------------------------------------
# h is a float64 device array of hyper-parameters, read inside the kernel (see FusedOptimizer.prepare).
_UPDATES = {
    "sgd": ("T g, raw float64 h", "T w", "w -= (T)h[0] * g"),
    "momentum": ("T g, raw float64 h", "T w, T v",
                 "v = (T)h[1] * v - (T)h[0] * g; w += h[2] != 0.0 ? (T)h[1] * v - (T)h[0] * g : v"),
    "adam": ("T g, raw float64 h", "T w, T m, T s",
             "m = (T)h[2] * m + (T)(1.0 - h[2]) * g; s = (T)h[3] * s + (T)(1.0 - h[3]) * g * g; "
             "w -= (T)h[0] * m / (sqrt(s / (T)h[1]) + (T)h[4])"),
    "rmsprop": ("T g, raw float64 h", "T w, T s",
                "s = (T)h[1] * s + (T)(1.0 - h[1]) * g * g; w -= (T)h[0] * g / (sqrt(s) + (T)h[2])"),
}
_kernels = {}


def _kernel(name):
    if name not in _kernels:
        cp = get_cupy()
        in_params, out_params, body = _UPDATES[name]
        _kernels[name] = cp.ElementwiseKernel(in_params, out_params, body, f"glassnet_{name}")
    return _kernels[name]


class FusedOptimizer(Optimizer):
    """Run an SGD, Adam or RMSprop update as one CuPy kernel per parameter.

    The update rules are those of the wrapped optimizer (see its docstring); the results match
    it to rounding. ``step() = prepare(); launch()``: ``prepare`` advances the step counter and
    writes the hyper-parameters (lr, bias corrections...) to a device array on the host side;
    ``launch`` only enqueues kernels, so it can be captured in a CUDA graph.

    Examples
    --------
    >>> model.to("gpu").fit(X, y, optimizer=FusedOptimizer(Adam(1e-3)))   # doctest: +SKIP
    """

    def __init__(self, optimizer):
        self.inner = get_optimizer(optimizer)
        if type(self.inner) not in (SGD, Adam, RMSprop):
            raise ValidationError(f"FusedOptimizer supports SGD, Adam and RMSprop; got {self.inner!r}.")
        self.params, self.t, self.hyper = [], 0, None

    lr = property(lambda self: self.inner.lr, lambda self, v: setattr(self.inner, "lr", v))

    def setup(self, params):
        self.inner.setup(params)
        self.params = self.inner.params
        xp = array_module(self.params[0].value)
        if xp is np:
            raise ValidationError("FusedOptimizer needs the model on the GPU: call model.to('gpu') first.")
        self.hyper = xp.zeros(8, dtype=np.float64)
        self._hyper_host = np.zeros(8, dtype=np.float64)
        return self

    def state(self):
        return self.inner.state()

    def config(self):
        return self.inner.config()

    def prepare(self):
        """Advance t and upload this step's hyper-parameters (host side, not capturable)."""
        o = self.inner
        o.t += 1
        self.t = o.t
        h = self._hyper_host
        if isinstance(o, SGD):
            h[:3] = (o.lr, o.momentum, float(o.nesterov))
        elif isinstance(o, Adam):
            c1, c2 = 1.0 - o.beta1**o.t, 1.0 - o.beta2**o.t
            h[:5] = (o.lr / c1, c2, o.beta1, o.beta2, o.eps)
        else:
            h[:3] = (o.lr, o.rho, o.eps)
        self.hyper.set(h)

    def launch(self):
        """Enqueue one fused kernel per parameter (capturable)."""
        o, h = self.inner, self.hyper
        for i, p in enumerate(self.params):
            if isinstance(o, SGD):
                if o.momentum:
                    _kernel("momentum")(p.grad, h, p.value, o.velocity[i])
                else:
                    _kernel("sgd")(p.grad, h, p.value)
            elif isinstance(o, Adam):
                _kernel("adam")(p.grad, h, p.value, o.m[i], o.s[i])
            else:
                _kernel("rmsprop")(p.grad, h, p.value, o.s[i])

    def step(self):
        self.prepare()
        self.launch()

    def __repr__(self):
        return f"FusedOptimizer({self.inner!r})"


# -- fused softmax + cross-entropy gradient --------------------------------------------------------
_XENT_SRC = r"""
extern "C" __global__ void glassnet_xent_T(const T* z, const T* y, T* grad, double* loss, int B, int K) {
    int i = blockDim.x * blockIdx.x + threadIdx.x;
    if (i >= B) return;
    const T* zi = z + (long long)i * K;
    const T* yi = y + (long long)i * K;
    T* gi = grad + (long long)i * K;
    double m = zi[0];
    for (int k = 1; k < K; ++k) m = zi[k] > m ? zi[k] : m;
    double s = 0.0;
    for (int k = 0; k < K; ++k) s += exp((double)zi[k] - m);
    double lse = m + log(s), li = 0.0;
    for (int k = 0; k < K; ++k) {
        double log_p = (double)zi[k] - lse;
        gi[k] = (T)((exp(log_p) - (double)yi[k]) / B);
        li -= (double)yi[k] * log_p;
    }
    atomicAdd(loss, li / B);
}
"""


def softmax_xent_grad(z, y, grad, loss):
    """grad = (softmax(z) - y) / B and loss += mean cross-entropy, in one kernel.

    Parameters
    ----------
    z : cupy array of shape (B, K), float32 or float64
        Logits (the input of the final Softmax).
    y : cupy array of shape (B, K), same dtype
        One-hot targets.
    grad : cupy array like z
        Written with dL/dz.
    loss : cupy float64 array of shape (1,)
        The batch's mean loss is added to it (atomically, one term per row).
    """
    cp = get_cupy()
    t = "double" if z.dtype == np.float64 else "float"
    key = f"xent_{t}"
    if key not in _kernels:
        _kernels[key] = cp.RawKernel(_XENT_SRC.replace("glassnet_xent_T", f"glassnet_xent_{t}")
                                     .replace("const T*", f"const {t}*").replace("T* grad", f"{t}* grad")
                                     .replace("T* gi", f"{t}* gi").replace("(T)", f"({t})"),
                                     f"glassnet_xent_{t}")
    B, K = z.shape
    threads = 128
    _kernels[key](((B + threads - 1) // threads,), (threads,), (z, y, grad, loss, np.int32(B), np.int32(K)))


# -- the CUDA-graph training step ------------------------------------------------------------------
class CudaGraphStep:
    """One training step (forward, fused softmax-CE gradient, backward, fused update) as a CUDA graph.

    For small batches the step is a few hundred microsecond-long kernels whose launch cost
    dominates; replaying them as one graph removes that cost. The first two calls run eagerly
    (which also fills a private memory pool with every buffer the step needs); the third captures
    the step and from then on each call copies the batch into fixed input buffers and replays the graph.

    Limits: a classifier ending in Softmax, trained with cross-entropy on one-hot targets; no
    Dropout (random numbers in a graph would repeat on every replay); one batch size per instance
    (a smaller last batch runs eagerly).

    Parameters
    ----------
    model : Sequential on the GPU
    optimizer : Optimizer or FusedOptimizer
    batch_size : int
    """

    def __init__(self, model, optimizer, batch_size):
        cp = get_cupy()
        self.cp, self.model, self.batch_size = cp, model, int(batch_size)
        names = [type(layer).__name__ for layer in model.layers]
        if names[-1] != "Softmax":
            raise ValidationError(f"CudaGraphStep trains classifiers ending in Softmax; the model ends with "
                                  f"{names[-1]}. Use fit() for other models.")
        if "Dropout" in names:
            raise ValidationError("CudaGraphStep cannot capture Dropout: a graph replays the same random mask. "
                                  "Train with fit() instead, or remove Dropout.")
        if array_module(model.parameters()[0].value) is np:
            raise ValidationError("CudaGraphStep needs the model on the GPU: call model.to('gpu') first.")
        self.opt = optimizer if isinstance(optimizer, FusedOptimizer) else FusedOptimizer(optimizer)
        if not self.opt.params:
            self.opt.setup(model.parameters())
        self.stop = len(model.layers) - 1
        self.pool = cp.cuda.MemoryPool()          # the graph's buffers: never handed to anyone else
        self.stream = cp.cuda.Stream(non_blocking=True)
        self.graph, self.x, self.y, self.grad = None, None, None, None
        with cp.cuda.using_allocator(self.pool.malloc), self.stream:
            self.loss = cp.zeros(1, dtype=np.float64)
        self.steps = 0
        # Two eager steps leave every buffer the step needs (old and new caches) in the pool,
        # so the capture never calls cudaMalloc, which stream capture forbids.
        self.warmup = 2

    def _body(self, x, y, grad):
        self.loss.fill(0)
        z = self.model.forward(x, stop=self.stop)
        softmax_xent_grad(z, y, grad, self.loss)
        self.model.backward(grad, stop=self.stop)
        self.opt.launch()

    def __call__(self, xb, yb):
        """One step on (xb, yb) (device arrays; yb one-hot). Returns the loss as a device array."""
        cp = self.cp
        self.model.train()
        self.stream.wait_event(cp.cuda.get_current_stream().record())   # xb, yb may come from another stream
        with cp.cuda.using_allocator(self.pool.malloc), self.stream:
            self.opt.prepare()
            if len(xb) != self.batch_size:                             # a short last batch: eager
                self._body(xb, yb, cp.empty(yb.shape, yb.dtype))
            else:
                if self.x is None:
                    self.x, self.y, self.grad = cp.empty_like(xb), cp.empty_like(yb), cp.empty_like(yb)
                self.x[...] = xb
                self.y[...] = yb
                if self.steps < self.warmup:
                    self._body(self.x, self.y, self.grad)
                else:
                    if self.graph is None:
                        self.stream.begin_capture()
                        try:
                            self._body(self.x, self.y, self.grad)
                        finally:
                            self.graph = self.stream.end_capture()
                    self.graph.launch(self.stream)
        self.steps += 1
        return self.loss

    def synchronize(self):
        """Wait for the queued steps (before reading weights from another stream)."""
        self.stream.synchronize()

    def epoch(self, X, Y, rng):
        """One shuffled pass over device arrays (X, one-hot Y); returns the mean loss (one host read)."""
        cp = self.cp
        order = cp.asarray(rng.permutation(len(X)))
        total = cp.zeros(1, dtype=np.float64)
        for start in range(0, len(X), self.batch_size):
            idx = order[start:start + self.batch_size]
            loss = self(X[idx], Y[idx])
            with self.stream:
                total += loss * len(idx)
        self.synchronize()
        return float(total[0]) / len(X)
