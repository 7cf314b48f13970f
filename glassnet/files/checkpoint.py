"""Training checkpoints: save the full training state at epoch ends, resume bit-identically.

Granularity: one epoch. A checkpoint is written at the end of an epoch, after every other
callback has run, and holds everything the next epoch depends on:

- the model's weights and every layer's random generator (Dropout masks, Dense init);
- the optimizer's state arrays (velocity / moments), its step counter ``t`` and its ``lr``;
- the shuffling generator of :func:`glassnet.train.loop.fit` (so the resumed run replays the
  same shuffles), the epoch and iteration counters and the History (curves and counters);
- the state of each callback that defines ``state_dict()`` (EarlyStopping, NaNGuard, ...).

``ModelCheckpoint(path, resume=True)`` restores it at the start of ``fit`` and training continues with
the next epoch. Work done after
the last checkpoint (part of an epoch) is redone, so a run killed at any point and resumed
ends with exactly the weights of an uninterrupted run with the same seed.

The file is the safetensors layout of :mod:`glassnet.files.serialization` (tensors + JSON
metadata; no pickle), written atomically: temporary file, flush, fsync, rename.
"""

import json
import os
import zlib

import numpy as np

from glassnet.backend.arrays import to_numpy
from glassnet.backend.atomic import atomic_write
from glassnet.backend.checks import check_path, check_scalar
from glassnet.backend.errors import ModelFileError, ValidationError
from glassnet.files.serialization import check_format, pack, read_bytes, strict_json, unpack
from glassnet.train.callbacks import Callback, ProgressPrinter
from glassnet.train.state import History

__all__ = ["ModelCheckpoint", "read_checkpoint", "restore", "save_checkpoint"]

FORMAT = "glassnet-checkpoint"
RESTART = "Resume from an intact checkpoint, or start the run again without resume."
FORMAT_VERSION = "1"


class ModelCheckpoint(Callback):
    """Write the full training state to ``path`` every ``every`` epochs (and after the last one).

    Resume with ``ModelCheckpoint(path, resume=True)``, passing ``fit`` the same data, seed and callbacks.
    Put it last in ``callbacks`` so the states it saves include the other callbacks' updates
    for the epoch.

    Parameters
    ----------
    path : str or os.PathLike
        Checkpoint file; overwritten atomically each time (never left half-written).
    every : int, default=1
        Epochs between checkpoints.
    resume : bool or 'if_exists', default=False
        True: at the start of ``fit``, restore the full training state from ``path`` (which must
        exist) and continue with the epoch after it. 'if_exists': the same when the file exists,
        a fresh start otherwise (one script for the first run and every restart).

    Examples
    --------
    >>> import glassnet as g, numpy as np, tempfile, os
    >>> X, y = np.random.default_rng(0).normal(size=(20, 3)), np.arange(20) % 2
    >>> path = os.path.join(tempfile.mkdtemp(), "run.ckpt")
    >>> model = g.mlp(3, [4], 2, seed=0)
    >>> h = model.fit(X, y, epochs=2, seed=0, verbose=0, callbacks=[ModelCheckpoint(path)])
    >>> h = g.mlp(3, [4], 2, seed=0).fit(X, y, epochs=3, seed=0, verbose=0,
    ...                                   callbacks=[ModelCheckpoint(path, resume=True)])
    >>> h.epochs
    3
    """

    def __init__(self, path, every=1, resume=False):
        self.path = check_path(path, "ModelCheckpoint")
        self.every = check_scalar(every, "every", int, min_val=1, caller="ModelCheckpoint")
        if resume not in (True, False, "if_exists"):
            raise ValidationError(f"The 'resume' parameter of ModelCheckpoint must be True, False or 'if_exists'. "
                                  f"Got {resume!r} instead. Pass resume=True to continue a run.")
        self.resume = resume

    def on_train_begin(self, state):
        callbacks = state.callbacks
        after = callbacks[callbacks.index(self) + 1:] if self in callbacks else []
        late = [type(cb).__name__ for cb in after if not isinstance(cb, (ModelCheckpoint, ProgressPrinter))]
        if late:
            raise ValidationError(
                f"ModelCheckpoint must come after the callbacks whose state it saves, but {late} follow it. "
                "Move ModelCheckpoint to the end of callbacks."
            )
        if self.resume is True or (self.resume == "if_exists" and os.path.exists(self.path)):
            state.start_epoch = restore(self.path, state)

    def on_epoch_end(self, state):
        if (state.epoch + 1) % self.every == 0 or state.epoch + 1 == state.epochs or state.stop:
            save_checkpoint(self.path, state)


def _fingerprint(state):
    # The training set after the validation split: a resumed run must see the same rows.
    crc = 0
    for a in (state.X, state.Y):
        crc = zlib.crc32(np.ascontiguousarray(to_numpy(a)).tobytes(), crc)
    return f"{len(state.X)}:{crc:08x}"


def _stateful(callbacks):
    return [cb for cb in callbacks if type(cb).state_dict is not Callback.state_dict]


def _split(obj, prefix, tensors):
    """Replace arrays inside a JSON-like object with {'__tensor__': name}, collecting them."""
    if isinstance(obj, np.ndarray) or type(obj).__module__.startswith("cupy"):
        tensors[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {k: _split(v, f"{prefix}.{k}", tensors) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split(v, f"{prefix}.{i}", tensors) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _join(obj, tensors):
    if isinstance(obj, dict):
        if set(obj) == {"__tensor__"}:
            return tensors[obj["__tensor__"]]
        return {k: _join(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, tensors) for v in obj]
    return obj


def _layer_rngs(model):
    return {str(i): layer.rng for i, layer in enumerate(model.layers)
            if isinstance(getattr(layer, "rng", None), np.random.Generator)}


def save_checkpoint(path, state):
    """Write ``state`` (a :class:`~glassnet.train.state.TrainState` at an epoch end) to ``path`` atomically."""
    path = check_path(path, "save_checkpoint")
    rng = state.rng
    tensors = {f"model.{n}": p.value for n, p in state.model.named_parameters()}
    opt = state.optimizer
    h = state.history
    meta = {
        "epoch": state.epoch, "iteration": state.iteration, "stop": bool(state.stop),
        "data": _fingerprint(state),
        "rng": None if rng is None else rng.bit_generator.state,
        "layer_rngs": {i: r.bit_generator.state for i, r in _layer_rngs(state.model).items()},
        "optimizer": {"type": type(opt).__name__, "t": opt.t, "lr": opt.lr,
                      "state": _split(opt.state(), "optimizer", tensors)},
        "history": h.to_dict(),
        "callbacks": [{"type": type(cb).__name__, "state": _split(cb.state_dict(), f"callbacks.{i}", tensors)}
                      for i, cb in enumerate(_stateful(state.callbacks))],
    }
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION, "state": json.dumps(meta)}
    atomic_write(path, pack(tensors, metadata))
    return path


def read_checkpoint(path):
    """Parse a checkpoint file into (tensors, state dict), with ModelFileError on any damage."""
    path = check_path(path, "ModelCheckpoint(resume=True)")
    source = f"checkpoint {path!r}"
    tensors, metadata = unpack(read_bytes(path, source, "Check the ModelCheckpoint path."), source=source)
    check_format(metadata, FORMAT, FORMAT_VERSION, source, "glassnet training checkpoint",
                 "write one with ModelCheckpoint", "write a new one with this glassnet")
    try:
        meta = strict_json(metadata["state"])
        if not isinstance(meta, dict):
            raise ValueError("state is not an object")
    except (KeyError, ValueError, RecursionError) as e:
        raise ModelFileError(f"{source}: the training state metadata is malformed ({e}). {RESTART}") from None
    return tensors, meta


def restore(path, state):
    """Load the checkpoint at ``path`` into ``state`` and ``rng``; return the epoch to start from.

    Called by ``ModelCheckpoint(resume=True)`` in ``on_train_begin``, after the other callbacks' own.
    """
    tensors, meta = read_checkpoint(path)
    source = f"checkpoint {os.fspath(path)!r}"
    try:
        _restore(tensors, meta, state, source)
    except (ModelFileError, ValidationError):
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise ModelFileError(f"{source}: the training state is malformed ({RESTART} {type(e).__name__}: "
                             f"{str(e)[:200]}).") from None
    return state.epochs if state.stop else state.epoch + 1


def _restore(tensors, meta, state, source):
    model, opt, h = state.model, state.optimizer, state.history
    done = meta["epoch"] + 1
    if state.epochs < done:
        raise ValidationError(f"{source} has {done} epochs done but fit(epochs={state.epochs}) asks for "
                              f"fewer. Pass epochs >= {done}.")
    if meta["data"] != _fingerprint(state):
        raise ValidationError(f"{source} was written for other training data (fingerprint {meta['data']}, "
                              f"now {_fingerprint(state)}). Resume with the same X, y, validation_split and seed.")
    params = dict(model.named_parameters())
    names = {n[len("model."):] for n in tensors if n.startswith("model.")}
    if names != set(params):
        raise ValidationError(f"{source} holds weights {sorted(names)[:6]} but the model has {sorted(params)[:6]}. "
                              "Resume with the model architecture that wrote the checkpoint.")
    for n, p in params.items():
        _copy_into(p.value, tensors[f"model.{n}"], f"weight {n}", source)
    if type(opt).__name__ != meta["optimizer"]["type"]:
        raise ValidationError(f"{source} was written with {meta['optimizer']['type']} but fit got "
                              f"{type(opt).__name__}. Resume with the same optimizer.")
    saved = _join(meta["optimizer"]["state"], tensors)
    for key, arrays in opt.state().items():
        if len(arrays) != len(saved[key]):
            raise ValidationError(f"{source}: optimizer state {key!r} has {len(saved[key])} arrays, the "
                                  f"optimizer has {len(arrays)}. Resume with the same optimizer settings.")
        for i, (a, b) in enumerate(zip(arrays, saved[key], strict=True)):
            _copy_into(a, b, f"optimizer {key}[{i}]", source)
    opt.t, opt.lr = int(meta["optimizer"]["t"]), float(meta["optimizer"]["lr"])
    if meta["rng"] is not None:
        state.rng.bit_generator.state = meta["rng"]
    rngs = _layer_rngs(model)
    for i, st in meta["layer_rngs"].items():
        rngs[i].bit_generator.state = st
    saved = History.from_dict(meta["history"])
    h.clear()
    h.update(saved)
    for k in History.FIELDS:
        setattr(h, k, getattr(saved, k))
    stateful = _stateful(state.callbacks)
    got, want = [type(cb).__name__ for cb in stateful], [c["type"] for c in meta["callbacks"]]
    if got != want:
        raise ValidationError(f"{source} saved the states of callbacks {want} but fit got {got}. "
                              "Resume with the same callbacks in the same order.")
    for cb, c in zip(stateful, meta["callbacks"], strict=True):
        cb.load_state_dict(_join(c["state"], tensors))
    state.epoch, state.iteration, state.stop = meta["epoch"], int(meta["iteration"]), bool(meta["stop"])


def _copy_into(dst, src, what, source):
    if tuple(dst.shape) != tuple(src.shape):
        raise ValidationError(f"{source}: {what} has shape {tuple(src.shape)} but the model needs "
                              f"{tuple(dst.shape)}. Resume with the architecture that wrote the checkpoint.")
    if not np.isfinite(src).all():
        raise ModelFileError(f"{source}: {what} contains NaN or infinite values; the checkpoint is broken. {RESTART}")
    dst[...] = src
