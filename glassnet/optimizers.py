"""Optimizers: read each parameter's .grad and update its .value in place.

An optimizer can be built before the model (``SGD(lr=0.05, momentum=0.9)``) and is
bound to the parameters by :meth:`Optimizer.setup`, which ``fit`` calls.
"""

from ._validation import check_scalar
from .errors import ValidationError


class Optimizer:
    """Base class: holds the learning rate and per-parameter state lists."""

    config_keys = ("lr",)

    def __init__(self, lr):
        self.lr = check_scalar(lr, "lr", float, min_val=0.0, include_min=False,
                               caller=type(self).__name__, hint="Typical values: 1e-3 to 0.1.")
        self.params = []
        self.t = 0                      # number of steps taken

    def setup(self, params):
        """Bind to ``params`` (a list of Parameter) and create zeroed state."""
        self.params = list(params)
        if not self.params:
            raise ValidationError(f"{type(self).__name__} got no parameters; pass model.parameters().")
        self.t = 0
        self._init_state()
        return self

    def _init_state(self):
        pass

    def _zeros(self):
        return [p.value * 0 for p in self.params]

    def state(self):
        """The optimizer's state arrays, by name (for checkpoints)."""
        return {}

    def step(self):
        raise NotImplementedError

    def config(self):
        return {k: getattr(self, k) for k in self.config_keys}

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

    def __init__(self, lr=0.01, momentum=0.0, nesterov=False):
        super().__init__(lr)
        self.momentum = check_scalar(momentum, "momentum", float, min_val=0.0, max_val=1.0,
                                     include_max=False, caller="SGD")
        if nesterov and not self.momentum:
            raise ValidationError("SGD(nesterov=True) needs momentum > 0; got momentum=0.")
        self.nesterov = bool(nesterov)

    def _init_state(self):
        self.velocity = self._zeros() if self.momentum else []

    def state(self):
        return {"velocity": self.velocity}

    def step(self):
        self.t += 1
        if not self.momentum:
            for p in self.params:
                p.value -= self.lr * p.grad
            return
        for p, v in zip(self.params, self.velocity):
            v *= self.momentum
            v -= self.lr * p.grad
            if self.nesterov:
                p.value += self.momentum * v - self.lr * p.grad
            else:
                p.value += v


class Adam(Optimizer):
    """Adam: adaptive moments with bias correction.

    ::

        m = beta1 * m + (1 - beta1) * g
        s = beta2 * s + (1 - beta2) * g**2
        w = w - lr * (m / (1 - beta1**t)) / (sqrt(s / (1 - beta2**t)) + eps)
    """

    config_keys = ("lr", "beta1", "beta2", "eps")

    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8):
        super().__init__(lr)
        self.beta1 = check_scalar(beta1, "beta1", float, min_val=0.0, max_val=1.0, include_max=False, caller="Adam")
        self.beta2 = check_scalar(beta2, "beta2", float, min_val=0.0, max_val=1.0, include_max=False, caller="Adam")
        self.eps = check_scalar(eps, "eps", float, min_val=0.0, include_min=False, caller="Adam")

    def _init_state(self):
        self.m, self.s = self._zeros(), self._zeros()

    def state(self):
        return {"m": self.m, "s": self.s}

    def step(self):
        self.t += 1
        c1 = 1.0 - self.beta1**self.t
        c2 = 1.0 - self.beta2**self.t
        for p, m, s in zip(self.params, self.m, self.s):
            g = p.grad
            m *= self.beta1
            m += (1.0 - self.beta1) * g
            s *= self.beta2
            s += (1.0 - self.beta2) * g * g
            p.value -= (self.lr / c1) * m / ((s / c2) ** 0.5 + self.eps)


class RMSprop(Optimizer):
    """RMSprop: divide the step by a running root-mean-square of the gradient.

    ::

        s = rho * s + (1 - rho) * g**2
        w = w - lr * g / (sqrt(s) + eps)
    """

    config_keys = ("lr", "rho", "eps")

    def __init__(self, lr=0.001, rho=0.9, eps=1e-8):
        super().__init__(lr)
        self.rho = check_scalar(rho, "rho", float, min_val=0.0, max_val=1.0, include_max=False, caller="RMSprop")
        self.eps = check_scalar(eps, "eps", float, min_val=0.0, include_min=False, caller="RMSprop")

    def _init_state(self):
        self.s = self._zeros()

    def state(self):
        return {"s": self.s}

    def step(self):
        self.t += 1
        for p, s in zip(self.params, self.s):
            g = p.grad
            s *= self.rho
            s += (1.0 - self.rho) * g * g
            p.value -= self.lr * g / (s**0.5 + self.eps)


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "rmsprop": RMSprop}


def get_optimizer(optimizer):
    """An Optimizer instance from an instance or a name ('sgd', 'adam', 'rmsprop')."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if isinstance(optimizer, str) and optimizer.lower() in OPTIMIZERS:
        return OPTIMIZERS[optimizer.lower()]()
    raise ValidationError(
        f"Unknown optimizer {optimizer!r}. Use an Optimizer instance such as SGD(lr=0.05, momentum=0.9) "
        f"or one of {sorted(OPTIMIZERS)}."
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


