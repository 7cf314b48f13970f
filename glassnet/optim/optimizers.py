"""Optimizers: read each parameter's .grad and update its .value in place.

An optimizer can be built before the model (``SGD(lr=0.05, momentum=0.9)``) and is
bound to the parameters by :meth:`Optimizer.setup`, which ``fit`` calls.
"""

import math

from glassnet.backend.arrays import array_module, axpy
from glassnet.backend.checks import check_scalar
from glassnet.backend.errors import ValidationError

__all__ = ["Adam", "ExponentialDecay", "get_optimizer", "Optimizer", "OPTIMIZERS", "RMSprop", "SGD",
           "StepDecay"]


class Optimizer:
    """Base class: the learning rate, the step counter and per-parameter state arrays.

    Each optimizer writes its update once, in :meth:`rule`, as in-place operations on arrays
    of any shape. :meth:`step` applies it parameter by parameter; the training fast path
    (glassnet/train/fastpath.py) applies the same rule once to flat buffers holding every
    parameter, gradient and state array of the model.

    Parameters
    ----------
    lr : float
    clip_norm : float, optional
        Clip by global norm before every update (see :meth:`clip`); every optimizer takes it,
        e.g. ``Adam(0.01, clip_norm=1.0)``. None (the default) leaves the gradients as they are.
    """

    config_keys = ("lr",)

    def __init__(self, lr, clip_norm=None):
        self.lr = check_scalar(lr, "lr", float, min_val=0.0, include_min=False,
                               caller=type(self).__name__, hint="Typical values: 1e-3 to 0.1.")
        self.clip_norm = None if clip_norm is None else check_scalar(
            clip_norm, "clip_norm", float, min_val=0.0, include_min=False, caller=type(self).__name__,
            hint="Typical values: 1 to 5 for recurrent networks; None turns clipping off.")
        self.grad_norm = None           # global gradient norm of the last step, before clipping
        self.params = []
        self.t = 0                      # number of steps taken
        self._tmp = []

    def setup(self, params):
        """Bind to ``params`` (a list of Parameter) and create zeroed state."""
        self.params = list(params)
        if not self.params:
            raise ValidationError(f"{type(self).__name__}.setup needs the parameters to train; got none. "
                                  "Pass model.parameters().")
        self.t = 0
        self._init_state()
        self._tmp = self._zeros()       # scratch, one per parameter: the rule allocates nothing
        return self

    def _init_state(self):
        pass

    def _zeros(self):
        return [p.value * 0 for p in self.params]

    def state(self):
        """The optimizer's state arrays by name, each a list with one array per parameter."""
        return {}

    def clip(self, grads):
        """Gradient clipping by global norm (Pascanu et al. 2013), in place.

        With N = sqrt(sum over parameters of ||g||^2): when N > clip_norm every gradient is
        multiplied by clip_norm / N, so the step keeps its direction and its length is bounded:
        one exploding batch (a recurrent net's long products of Jacobians) cannot throw the
        weights far. ``p.grad`` holds the clipped gradient afterwards; ``self.grad_norm`` is N.
        """
        norm = math.sqrt(sum(float((g * g).sum()) for g in grads))       # one host number, on NumPy or CuPy
        self.grad_norm = norm
        if self.clip_norm is not None and norm > self.clip_norm:
            for g in grads:
                g *= self.clip_norm / norm
        return norm

    def step(self):
        """One update of every parameter from its ``.grad`` (clipped first when ``clip_norm`` is set)."""
        self.t += 1
        if self.clip_norm is not None:
            self.clip([p.grad for p in self.params])
        state = [arrays for arrays in self.state().values() if arrays]
        for i, p in enumerate(self.params):
            self.rule(p.value, p.grad, self._tmp[i], *(arrays[i] for arrays in state))

    def step_flat(self, w, g, tmp, state):
        """The same update applied once to flat buffers (``state``: one flat array per state name)."""
        self.t += 1
        if self.clip_norm is not None:
            self.clip([g])              # the flat buffer holds every gradient: its norm is the global norm
        self.rule(w, g, tmp, *state)

    def rule(self, w, g, tmp, *state):
        """Update ``w`` (and ``state``) in place from the gradient ``g``; ``tmp`` is scratch like ``w``."""
        raise NotImplementedError

    def config(self):
        extra = {"clip_norm": self.clip_norm} if self.clip_norm is not None else {}
        return {**{k: getattr(self, k) for k in self.config_keys}, **extra}

    def __repr__(self):
        return f"{type(self).__name__}({', '.join(f'{k}={v}' for k, v in self.config().items())})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum.

    ::

        v = momentum * v - lr * g
        w = w + v                                  # classical momentum
        w = w + momentum * v - lr * g              # nesterov=True
        (momentum = 0 gives w = w - lr * g)
    """

    config_keys = ("lr", "momentum", "nesterov")

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False, clip_norm=None):
        super().__init__(lr, clip_norm)
        self.momentum = check_scalar(momentum, "momentum", float, min_val=0.0, max_val=1.0,
                                     include_max=False, caller="SGD")
        if nesterov and not self.momentum:
            raise ValidationError("The 'nesterov' parameter of SGD needs momentum > 0; got momentum=0. "
                                  "Pass momentum=0.9, or nesterov=False.")
        self.nesterov = bool(nesterov)
        self.velocity = []

    def _init_state(self):
        self.velocity = self._zeros() if self.momentum else []

    def state(self):
        return {"velocity": self.velocity}

    def rule(self, w, g, tmp, v=None):
        # axpy(a, x, y) is y += a x in place (glassnet.backend.arrays: one pass where BLAS allows).
        if not self.momentum:
            axpy(-self.lr, g, w, tmp)              # w = w - lr g
            return
        v *= self.momentum
        axpy(-self.lr, g, v, tmp)                  # v = m v - lr g
        if self.nesterov:
            axpy(-self.lr, g, w, tmp)
            axpy(self.momentum, v, w, tmp)         # w = w + m v - lr g
        else:
            w += v                                 # w = w + v


class Adam(Optimizer):
    """Adam: adaptive moments with bias correction.

    ::

        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * g**2
        w = w - lr * (m / (1 - beta1**t)) / (sqrt(s / (1 - beta2**t)) + eps)
    """

    config_keys = ("lr", "beta1", "beta2", "eps")

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, clip_norm=None):
        super().__init__(lr, clip_norm)
        self.beta1 = check_scalar(beta1, "beta1", float, min_val=0.0, max_val=1.0, include_max=False, caller="Adam")
        self.beta2 = check_scalar(beta2, "beta2", float, min_val=0.0, max_val=1.0, include_max=False, caller="Adam")
        self.eps = check_scalar(eps, "eps", float, min_val=0.0, include_min=False, caller="Adam")
        self.m, self.s = [], []

    def _init_state(self):
        self.m, self.s = self._zeros(), self._zeros()

    def state(self):
        return {"m": self.m, "s": self.s}

    def rule(self, w, g, tmp, m, s):
        xp = array_module(w)
        c1, c2 = 1.0 - self.beta1**self.t, 1.0 - self.beta2**self.t
        m *= self.beta1
        axpy(1.0 - self.beta1, g, m, tmp)          # m = b1 m + (1 - b1) g
        s *= self.beta2
        xp.multiply(g, g, out=tmp)
        axpy(1.0 - self.beta2, tmp, s, tmp)        # s = b2 s + (1 - b2) g^2
        xp.multiply(s, 1.0 / c2, out=tmp)
        xp.sqrt(tmp, out=tmp)
        tmp += self.eps
        xp.divide(m, tmp, out=tmp)
        axpy(-self.lr / c1, tmp, w, tmp)           # w -= lr m_hat / (sqrt(s_hat) + eps)


class RMSprop(Optimizer):
    """RMSprop: divide the step by a running root-mean-square of the gradient.

    ::

        s = rho * s + (1 - rho) * g**2
        w = w - lr * g / (sqrt(s) + eps)
    """

    config_keys = ("lr", "rho", "eps")

    def __init__(self, lr=0.001, rho=0.9, eps=1e-8, clip_norm=None):
        super().__init__(lr, clip_norm)
        self.rho = check_scalar(rho, "rho", float, min_val=0.0, max_val=1.0, include_max=False, caller="RMSprop")
        self.eps = check_scalar(eps, "eps", float, min_val=0.0, include_min=False, caller="RMSprop")
        self.s = []

    def _init_state(self):
        self.s = self._zeros()

    def state(self):
        return {"s": self.s}

    def rule(self, w, g, tmp, s):
        xp = array_module(w)
        s *= self.rho
        xp.multiply(g, g, out=tmp)
        axpy(1.0 - self.rho, tmp, s, tmp)          # s = rho s + (1 - rho) g^2
        xp.sqrt(s, out=tmp)
        tmp += self.eps
        xp.divide(g, tmp, out=tmp)
        axpy(-self.lr, tmp, w, tmp)                # w -= lr g / (sqrt(s) + eps)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get_optimizer(optimizer):
    """An Optimizer instance from an instance or a name ('sgd', 'adam', 'rmsprop')."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    raise ValidationError(
        f"The optimizer must be an Optimizer instance or one of {sorted(OPTIMIZERS)}; got {optimizer!r}. "
        "Use an instance such as SGD(lr=0.05, momentum=0.9) or a name."
    )


# -- learning-rate schedules: lr as a function of the epoch ------------------------------
class StepDecay:
    """lr(epoch) = lr0 * gamma ** (epoch // step_size)."""

    def __init__(self, step_size, gamma=0.1):
        self.step_size = check_scalar(step_size, "step_size", int, min_val=1, caller="StepDecay")
        self.gamma = check_scalar(gamma, "gamma", float, min_val=0.0, include_min=False, caller="StepDecay")

    def __call__(self, lr0, epoch):
        return lr0 * self.gamma ** (epoch // self.step_size)


class ExponentialDecay:
    """lr(epoch) = lr0 * gamma ** epoch."""

    def __init__(self, gamma=0.95):
        self.gamma = check_scalar(gamma, "gamma", float, min_val=0.0, include_min=False,
                                  caller="ExponentialDecay")

    def __call__(self, lr0, epoch):
        return lr0 * self.gamma**epoch
