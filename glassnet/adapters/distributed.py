"""Data-parallel training over MPI (mpi4py): every rank holds the whole model.

The recipe (Horovod's, in glassnet's vocabulary):

1. :func:`broadcast_parameters` copies rank 0's weights to every rank before training;
2. each rank runs :func:`glassnet.fit` on its slice of every global mini-batch;
3. :class:`DistributedOptimizer` sums the gradients of all ranks with **one** ``Allreduce``
   over a flat buffer per step, averages them, then runs the wrapped optimizer's step;
4. :class:`DistributedCallback` averages the epoch's curves (training and validation) across
   ranks, and only rank 0 prints or writes files.

With the same seed on every rank, ``size`` ranks with ``batch_size=B`` each take the same steps
as one process with ``batch_size=size * B``: the data are shuffled globally (rank 0's
permutation is broadcast every epoch) and rank r trains on the r-th slice of every global batch.

Run a script as ``mpirun -n 2 python train.py`` (or ``mpirun -n 2 glassnet train ...``) with::

    from glassnet.adapters import distributed
    history = distributed.fit(model, X, y, optimizer=SGD(lr=0.05), batch_size=32, seed=0)

A rank that dies, or a collective that waits longer than ``timeout`` seconds (default 300, or the
``GLASSNET_MPI_TIMEOUT`` environment variable), makes the waiting ranks exit with an explanation
instead of hanging. mpi4py is imported only here: ``pip install 'glassnet[mpi]'``.
"""

import os
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np

from glassnet.backend.arrays import array_module, to_numpy
from glassnet.backend.errors import ValidationError
from glassnet.optim.optimizers import Optimizer, get_optimizer
from glassnet.train.callbacks import Callback, ProgressPrinter

__all__ = ["average_buffers", "broadcast_parameters", "DistributedCallback", "DistributedOptimizer", "EXIT_CODE", "fit",
           "get_mpi", "is_distributed", "rank_and_size", "RootOnly", "Setup", "setup", "shard", "world"]

# Launchers announce the world size in the environment: checking it first means a plain
# ``glassnet train`` never imports mpi4py.
_SIZE_VARS = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE", "PMIX_SIZE")
EXIT_CODE = 70            # what a rank exits with when its peers are gone (os.EX_SOFTWARE)


def get_mpi():
    """Import ``mpi4py.MPI`` or explain how to get it."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ModuleNotFoundError(
            "Distributed training needs mpi4py and an MPI library: pip install 'glassnet[mpi]' "
            f"(mpi4py plus the mpich wheel, which provides mpiexec). Import failed with: {e}"
        ) from e
    return MPI


def world():
    """``MPI.COMM_WORLD`` (imports mpi4py)."""
    return get_mpi().COMM_WORLD


def is_distributed():
    """True when this process was started by an MPI launcher with more than one rank.

    Looks at the launcher's environment first, so it is free (no mpi4py import) outside MPI.
    """
    sizes = [os.environ.get(v) for v in _SIZE_VARS]
    if not any(s and s.isdigit() and int(s) > 1 for s in sizes):
        return False
    return world().Get_size() > 1


def rank_and_size(comm=None):
    """(rank, size) of ``comm``; (0, 1) outside MPI without importing mpi4py."""
    if comm is None and not is_distributed():
        return 0, 1
    comm = comm or world()
    return comm.Get_rank(), comm.Get_size()


class _Watchdog:
    """Ends this rank when a collective waits longer than ``timeout`` seconds.

    A rank blocked in MPI cannot raise, and a dead peer may leave it blocked for ever (MPICH's
    ``-disable-auto-cleanup``, or a launcher that does not clean up). A daemon thread checks the
    time spent inside the current collective, prints what was waited for, and exits the process.
    """

    def __init__(self, comm, timeout):
        self.rank, self.size, self.timeout = comm.Get_rank(), comm.Get_size(), float(timeout)
        self.since, self.what = None, ""
        threading.Thread(target=self._watch, name="glassnet-mpi-watchdog", daemon=True).start()

    def __call__(self, what):
        self.what = what
        return self

    def __enter__(self):
        self.since = time.monotonic()

    def __exit__(self, *exc):
        self.since = None

    def _watch(self):
        while True:
            time.sleep(min(1.0, self.timeout / 4))
            since = self.since
            if since is not None and time.monotonic() - since > self.timeout:
                sys.stderr.write(
                    f"glassnet.distributed: rank {self.rank} of {self.size} waited {self.timeout:g} s in "
                    f"{self.what} without hearing from every rank: another rank has died or hung. "
                    f"Stopping this rank (exit code {EXIT_CODE}) instead of hanging. Look at the other "
                    "ranks' output for the first error; raise GLASSNET_MPI_TIMEOUT if steps are that slow.\n")
                sys.stderr.flush()
                os._exit(EXIT_CODE)


def _default_timeout(timeout):
    if timeout is not None:
        return float(timeout)
    return float(os.environ.get("GLASSNET_MPI_TIMEOUT", 300))


def _collective(comm, watchdog, what, fn, *args):
    """Run one MPI collective under the watchdog, turning MPI errors into a clear RuntimeError."""
    MPI = get_mpi()
    try:
        if watchdog is None:
            return fn(*args)
        with watchdog(what):
            return fn(*args)
    except MPI.Exception as e:
        raise RuntimeError(
            f"glassnet.distributed: {what} failed on rank {comm.Get_rank()} of {comm.Get_size()} "
            f"({e}); another rank has probably died. Look at its output for the first error."
        ) from e


def broadcast_parameters(model, comm, root=0):
    """Copy the parameter values of rank ``root`` to every rank, in place.

    Parameters
    ----------
    model : Sequential (or anything with ``parameters()``)
    comm : mpi4py communicator
    """
    for p in model.parameters():
        host = np.ascontiguousarray(to_numpy(p.value))
        comm.Bcast(host, root=root)
        p.value[...] = array_module(p.value).asarray(host)


def average_buffers(model, comm, watchdog=None):
    """Average every buffer (BatchNorm's running mean and variance) over the ranks, in place.

    Each rank's BatchNorm normalizes with its own slice of the global batch and moves its running
    statistics with them; averaged at every epoch's end, all ranks (and the model rank 0 saves)
    evaluate with the same statistics. The mean of the ranks' variances is the variance within
    slices, which equals the global one when the slices share their mean (shuffled data).
    """
    MPI, size = get_mpi(), comm.Get_size()
    for b in model.buffers():
        host = np.ascontiguousarray(to_numpy(b.value), dtype=np.float64)
        _collective(comm, watchdog, "the buffers Allreduce", comm.Allreduce, MPI.IN_PLACE, host)
        b.value[...] = array_module(b.value).asarray((host / size).astype(b.value.dtype))


def shard(X, y, comm):
    """Rank ``comm.rank``'s contiguous share of (X, y): sizes differ by at most one row.

    Use it for validation data (each rank evaluates its share; :class:`DistributedCallback`
    averages the metrics). The training data go whole to every rank; the batch sampler
    picks each rank's rows.
    """
    rank, size = comm.Get_rank(), comm.Get_size()
    n = len(X)
    if len(y) != n:
        raise ValidationError(f"shard got X with {n} rows but y with {len(y)}; give one target per row.")
    if n < size:
        raise ValidationError(f"shard: {n} samples cannot be split over {size} ranks; give at least {size}.")
    lo, hi = rank * n // size, (rank + 1) * n // size
    return X[lo:hi], y[lo:hi]


class DistributedOptimizer(Optimizer):
    """Average the gradients over the ranks (one Allreduce), then take the wrapped optimizer's step.

    ::

        flat = [b_r * g_r for every parameter] + [b_r * loss_r, b_r]    # b_r: this rank's batch rows
        flat = Allreduce(flat, SUM)
        g = flat[params] / sum_r b_r                                  # the global batch's gradient
        inner.step()

    Weighting by the local batch size makes the average exact when a last batch splits unevenly;
    the loss rides in the same buffer so every rank sees the global batch loss (the NaN guard
    then stops all ranks at the same step).

    Parameters
    ----------
    optimizer : Optimizer or str
    comm : mpi4py communicator, optional
        ``MPI.COMM_WORLD`` by default.
    timeout : float, optional
        Seconds one Allreduce may wait before this rank gives up (see the module docstring).
    """

    def __init__(self, optimizer, comm=None, *, timeout=None):
        self.inner = get_optimizer(optimizer)
        self.comm = comm if comm is not None else world()
        self.size = self.comm.Get_size()
        self.watchdog = _Watchdog(self.comm, _default_timeout(timeout))
        self.batch_rows = None      # set by the batch sampler before each step
        self.state_ref = None       # the TrainState, set by DistributedCallback
        self.params, self.t = [], 0

    # lr and t belong to the wrapped optimizer, so schedules and checkpoints see one value.
    lr = property(lambda self: self.inner.lr, lambda self, v: setattr(self.inner, "lr", v))

    def setup(self, params):
        self.inner.setup(params)
        self.params = self.inner.params
        sizes = [int(np.prod(p.value.shape)) for p in self.params]
        self._offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        xp = array_module(self.params[0].value)
        self._flat = xp.zeros(self._offsets[-1] + 2, dtype=self.params[0].value.dtype)
        self._host = None if xp is np else np.empty(self._flat.shape, self._flat.dtype)
        return self

    def state(self):
        return self.inner.state()

    def config(self):
        return self.inner.config()

    def step(self):
        flat, off = self._flat, self._offsets
        rows = float(self.batch_rows) if self.batch_rows is not None else 1.0
        for i, p in enumerate(self.params):
            flat[off[i]:off[i + 1]] = p.grad.reshape(-1)
        flat[:off[-1]] *= rows
        loss = self.state_ref.batch_loss if self.state_ref is not None else 0.0
        flat[-2], flat[-1] = rows * loss, rows
        host = flat if self._host is None else to_numpy(flat)   # MPI wheels are not CUDA-aware
        MPI = get_mpi()
        _collective(self.comm, self.watchdog, "the gradient Allreduce", self.comm.Allreduce, MPI.IN_PLACE, host)
        if self._host is not None:
            flat[...] = array_module(flat).asarray(host)
        total = flat[-1]
        flat[:off[-1]] /= total
        for i, p in enumerate(self.params):
            p.grad = flat[off[i]:off[i + 1]].reshape(p.value.shape)
        if self.state_ref is not None:
            self.state_ref.batch_loss = float(flat[-2] / total)
        self.inner.step()
        self.t = self.inner.t

    def __repr__(self):
        return f"DistributedOptimizer({self.inner!r}, size={self.size})"


class DistributedCallback(Callback):
    """Wire a fit into the ranks: broadcast, global batch sampler, averaged curves.

    * ``on_train_begin``: broadcasts rank 0's weights and installs the batch sampler
      (``state.batches``) that gives rank r the r-th slice of each global batch.
    * ``on_epoch_end``: replaces this rank's share of ``loss``/``accuracy`` by the global value
      and each ``val_*`` metric by its average over the ranks, weighted by validation rows; averages
      the buffers (BatchNorm's running statistics, :func:`average_buffers`).

    Put it first in ``callbacks`` so later callbacks (early stopping, printing) see global values.
    """

    def __init__(self, comm=None, *, timeout=None):
        self.comm = comm if comm is not None else world()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.watchdog = _Watchdog(self.comm, _default_timeout(timeout))

    def on_train_begin(self, state):
        broadcast_parameters(state.model, self.comm)
        self.optimizer = state.optimizer if isinstance(state.optimizer, DistributedOptimizer) else None
        if self.optimizer is None:
            raise ValidationError(
                "DistributedCallback needs the optimizer wrapped in DistributedOptimizer(opt, comm) so that "
                "gradients are averaged; got " + repr(state.optimizer) + ". Use glassnet.distributed.setup().")
        self.optimizer.state_ref = state
        state.batches = self.batches

    def batches(self, X, Y, batch_size, rng=None, W=None):
        """Rank r's slice of every global batch of ``size * batch_size`` rows (same order on all ranks)."""
        n, global_batch = X.shape[0], batch_size * self.size
        if 0 < n % global_batch < self.size:
            raise ValidationError(
                f"The last global batch has {n % global_batch} sample(s), fewer than the {self.size} ranks, "
                f"so some rank would get none. Change batch_size (now {batch_size} per rank) or drop "
                f"{n % global_batch} sample(s).")
        order = None
        if rng is not None:
            order = np.ascontiguousarray(rng.permutation(n), dtype=np.int64)
            _collective(self.comm, self.watchdog, "the shuffle Bcast", self.comm.Bcast, order, 0)
            order = array_module(X).asarray(order)
        for start in range(0, n, global_batch):
            m = min(global_batch, n - start)
            lo, hi = start + self.rank * m // self.size, start + (self.rank + 1) * m // self.size
            self.optimizer.batch_rows = hi - lo
            rows = slice(lo, hi) if order is None else order[lo:hi]
            yield (X[rows], Y[rows]) if W is None else (X[rows], Y[rows], W[rows])

    def on_epoch_end(self, state):
        average_buffers(state.model, self.comm, self.watchdog)
        h = state.history
        keys = sorted(k for k, v in h.items() if v and (k in ("loss", "accuracy") or k.startswith("val_")))
        n_val = 0 if state.validation_data is None else len(state.validation_data[0])
        vals = [h[k][-1] * (n_val if k.startswith("val_") else 1) for k in keys] + [n_val]
        buf = np.array(vals, dtype=np.float64)
        MPI = get_mpi()
        _collective(self.comm, self.watchdog, "the metrics Allreduce", self.comm.Allreduce, MPI.IN_PLACE, buf)
        for k, v in zip(keys, buf[:-1]):
            # loss/accuracy: each rank holds its rows' share of the sum over all n rows, so the sum
            # is the global value; val_*: weighted average over each rank's validation rows.
            h[k][-1] = float(v / buf[-1]) if k.startswith("val_") else float(v)


class RootOnly(Callback):
    """Run ``callback`` on rank 0 only (printing, logging, checkpoints)."""

    def __init__(self, callback, rank):
        self.callback, self.rank = callback, rank

    def __getattr__(self, name):
        if name == "callback":
            raise AttributeError(name)
        return getattr(self.callback, name)

    def on_train_begin(self, state):
        if self.rank == 0:
            self.callback.on_train_begin(state)

    def on_epoch_begin(self, state):
        if self.rank == 0:
            self.callback.on_epoch_begin(state)

    def on_batch_end(self, state):
        if self.rank == 0:
            self.callback.on_batch_end(state)

    def on_epoch_end(self, state):
        if self.rank == 0:
            self.callback.on_epoch_end(state)

    def on_train_end(self, state):
        if self.rank == 0:
            self.callback.on_train_end(state)

    def __repr__(self):
        return f"RootOnly({self.callback!r})"


def _writes_output(cb):
    """Callbacks that only print or write files: explicit ``rank_zero_only``, else by type or name."""
    flag = getattr(cb, "rank_zero_only", None)
    if flag is not None:
        return bool(flag)
    name = type(cb).__name__
    return isinstance(cb, ProgressPrinter) or name.endswith(("Logger", "Checkpoint", "Printer", "Writer"))


@dataclass
class Setup:
    """What :func:`setup` returns: pass ``optimizer``, ``callbacks`` and ``verbose`` to ``fit``."""

    optimizer: DistributedOptimizer
    callbacks: list
    verbose: int
    rank: int
    size: int
    comm: object

    @property
    def is_root(self):
        """True on rank 0, the one rank that prints and writes files."""
        return self.rank == 0


def setup(model, optimizer, callbacks=(), comm=None, *, verbose=1, timeout=None):
    """Prepare a data-parallel fit: the one call a script or the CLI needs.

    Broadcasts rank 0's weights now, reseeds Dropout per rank (different masks on each
    rank), wraps the optimizer, puts :class:`DistributedCallback` first and wraps printing,
    logging and checkpoint callbacks in :class:`RootOnly`.

    Parameters
    ----------
    model : Sequential
    optimizer : Optimizer or str
    callbacks : sequence of Callback
    comm : mpi4py communicator, optional
    verbose : int
        The verbosity for rank 0; the other ranks get 0.
    timeout : float, optional
        Seconds a collective may wait for a dead or stuck rank (default 300).

    Returns
    -------
    Setup
    """
    comm = comm if comm is not None else world()
    rank, size = comm.Get_rank(), comm.Get_size()
    broadcast_parameters(model, comm)
    for layer in getattr(model, "layers", ()):
        if type(layer).__name__ == "Dropout":
            # Same seed on every rank would give every rank the same masks.
            layer.rng = np.random.default_rng([int(layer.rng.integers(2**63)), rank])
    opt = optimizer if isinstance(optimizer, DistributedOptimizer) else DistributedOptimizer(
        optimizer, comm, timeout=timeout)
    cbs = [DistributedCallback(comm, timeout=timeout)]
    cbs += [RootOnly(cb, rank) if _writes_output(cb) else cb for cb in callbacks]
    return Setup(opt, cbs, verbose if rank == 0 else 0, rank, size, comm)


def fit(model, X, y, *, optimizer="sgd", callbacks=(), comm=None, verbose=1, validation_data=None,
        timeout=None, **kwargs):
    """:func:`glassnet.fit` on every rank, data-parallel; ``batch_size`` is per rank.

    Every rank passes the same (X, y) and the same ``seed``; ``validation_data`` is sharded
    here and its metrics averaged. Returns the History, identical on every rank.
    """
    d = setup(model, optimizer, callbacks, comm, verbose=verbose, timeout=timeout)
    if validation_data is not None and len(validation_data[0]) >= d.size:
        validation_data = shard(*validation_data, d.comm)
    return model.fit(X, y, optimizer=d.optimizer, callbacks=d.callbacks, verbose=d.verbose,
                     validation_data=validation_data, **kwargs)
