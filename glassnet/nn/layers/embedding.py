"""Token embeddings: a lookup table, the first layer of a network that reads token sequences."""

import numpy as np

from glassnet.backend.arrays import array_module, resolve_dtype, to_numpy
from glassnet.backend.checks import check_choice, check_rng, check_scalar
from glassnet.backend.errors import ValidationError
from glassnet.nn.init import INITS, get_init
from glassnet.nn.layers.base import Layer
from glassnet.nn.parameter import Parameter

__all__ = ["Embedding"]


class Embedding(Layer):
    """y[b, t] = W[ids[b, t]]: row ``ids[b, t]`` of a (n_tokens, dim) table.

    The same as a Dense layer on one-hot inputs without building them: y = onehot(ids) W, so
    dL/dW = onehot(ids)^T g, i.e. each row of W receives the sum of the gradients at the
    positions holding its token. The input is integer ids; it has no gradient (``backward``
    returns zeros shaped like the ids so a container can still chain).

    Parameters
    ----------
    n_tokens : int
        Vocabulary size; ids run from 0 to n_tokens - 1.
    dim : int
        Embedding width.
    padding_idx : int, optional
        The id used for padding: its row is 0 and stays 0 (it gets no gradient), so a recurrent
        layer after this one masks those steps with ``mask_value=0.0``.
    init : str, default 'glorot_uniform'
    seed : int or numpy.random.Generator, optional
    dtype : {'float32', 'float64'}, default float32

    Examples
    --------
    >>> emb = Embedding(10, 4, padding_idx=0, seed=0)
    >>> y = emb.forward(np.array([[1, 2, 0]]))
    >>> y.shape, float(abs(y[0, 2]).sum())
    ((1, 3, 4), 0.0)
    """

    config_keys = ("n_tokens", "dim", "padding_idx", "init")

    def __init__(self, n_tokens, dim, *, padding_idx=None, init="glorot_uniform", seed=None, dtype=None):
        self.n_tokens = check_scalar(n_tokens, "n_tokens", int, min_val=1, caller="Embedding")
        self.dim = check_scalar(dim, "dim", int, min_val=1, caller="Embedding")
        self.padding_idx = None if padding_idx is None else check_scalar(
            padding_idx, "padding_idx", int, min_val=0, max_val=self.n_tokens - 1, caller="Embedding")
        self.init = check_choice(init, "init", tuple(INITS), caller="Embedding")
        self.dtype = resolve_dtype(dtype)
        self.rng = check_rng(seed)
        self.weight = Parameter(None, "weight")
        self.reset_parameters()
        self._ids = None

    n_in = None     # any number of ids per row: the model's input width is not fixed by this layer

    def reset_parameters(self):
        self.weight.value = get_init(self.init)((self.n_tokens, self.dim), self.rng, self.dtype)
        if self.padding_idx is not None:
            self.weight.value[self.padding_idx] = 0

    def _ids_of(self, x):
        xp = array_module(x)
        ids = xp.rint(x).astype(np.int64) if xp.issubdtype(x.dtype, xp.floating) else x.astype(np.int64)
        if ids.size and (bool((ids < 0).any()) or bool((ids >= self.n_tokens).any())
                         or (xp.issubdtype(x.dtype, xp.floating) and bool((ids != x).any()))):
            bad = to_numpy(x).ravel()
            bad = bad[(bad < 0) | (bad >= self.n_tokens) | (bad != np.rint(bad))][:5]
            raise ValidationError(f"{self!r} takes integer token ids in [0, {self.n_tokens - 1}]; got {bad.tolist()}. "
                                  "Map unknown tokens to a reserved id, or enlarge n_tokens.")
        return ids

    def forward(self, x):
        self._ids = ids = self._ids_of(x)
        return self.weight.value[ids]

    def backward(self, grad_output):
        ids = self._cached(self._ids)
        xp = array_module(grad_output)
        grad = xp.zeros_like(self.weight.value)
        g2 = grad_output.reshape(-1, self.dim)
        if xp is np:
            np.add.at(grad, ids.reshape(-1), g2)          # rows of repeated tokens add up
        else:                                             # CuPy spells the same scatter-add this way
            import cupyx
            cupyx.scatter_add(grad, ids.reshape(-1), g2)
        if self.padding_idx is not None:
            grad[self.padding_idx] = 0
        self.weight.grad = grad
        return xp.zeros(ids.shape, grad_output.dtype)

    def parameters(self):
        return [self.weight]

    def __repr__(self):
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"Embedding({self.n_tokens} -> {self.dim}{pad})"
