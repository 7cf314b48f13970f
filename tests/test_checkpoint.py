"""Checkpoints and resume: full training state, atomic writes, bit-identical resumption."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import glassnet as g
from glassnet.files.checkpoint import ModelCheckpoint, read_checkpoint
from glassnet.files.serialization import pack
from tests.conftest import record_counts

ROOT = Path(g.__file__).resolve().parents[1]
FAULTS = {"sigkill_mid_epoch": 0, "sigkill_during_write": 0, "io_error_during_write": 0}


@pytest.fixture(scope="module", autouse=True)
def _record_counts(request):
    yield
    record_counts(request.config, "faults_injected", dict(FAULTS))


def _data(n=120):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(n, 4))
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    return X, y


def _model():
    return g.mlp(4, [16, 8], 3, dropout=0.2, seed=1)


OPTIMIZERS = {
    "sgd_momentum": lambda: g.SGD(lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda: g.Adam(lr=0.01),
    "rmsprop": lambda: g.RMSprop(lr=0.005),
}


def _callbacks():
    return [g.EarlyStopping(patience=100), g.ReduceLROnPlateau(patience=1, factor=0.5),
            g.LearningRateScheduler(g.ExponentialDecay(0.9))]


def _resuming(callbacks, path):
    """``callbacks`` with the final ModelCheckpoint (added if absent) resuming from ``path``."""
    callbacks = list(callbacks)
    if callbacks and isinstance(callbacks[-1], ModelCheckpoint):
        callbacks.pop()
    return [*callbacks, ModelCheckpoint(path, resume=True)]


def _fit(model, opt, epochs, resume_from=None, callbacks=(), **kw):
    X, y = _data()
    if resume_from is not None:
        callbacks = _resuming(callbacks, resume_from)
    return model.fit(X, y, optimizer=opt, epochs=epochs, batch_size=16, validation_split=0.2, seed=3,
                     verbose=0, callbacks=list(callbacks), **kw)


def _same_weights(a, b):
    return all(np.array_equal(p.value, q.value) for p, q in zip(a.parameters(), b.parameters(), strict=True))


@pytest.mark.parametrize("opt,dropout", [(name, 0.2) for name in sorted(OPTIMIZERS)] + [("adam", 0.0)])
def test_resume_is_bit_identical(tmp_path, opt, dropout):
    # dropout=0 takes the fused fast path of the training loop; Dropout takes the layer path.
    def make():
        return g.mlp(4, [16, 8], 3, dropout=dropout, seed=1)

    ref = make()
    h_ref = _fit(ref, OPTIMIZERS[opt](), 7, callbacks=_callbacks())
    path = tmp_path / "run.ckpt"
    first = make()
    _fit(first, OPTIMIZERS[opt](), 3, callbacks=[*_callbacks(), ModelCheckpoint(path)])
    resumed = make()            # fresh weights: everything must come from the checkpoint
    h = _fit(resumed, OPTIMIZERS[opt](), 7, callbacks=[*_callbacks(), ModelCheckpoint(path)], resume_from=path)
    assert _same_weights(ref, resumed)
    assert dict(h) == dict(h_ref)
    assert (h.epochs, h.iterations, h.best_epoch) == (h_ref.epochs, h_ref.iterations, h_ref.best_epoch)
    assert [p.name for p in tmp_path.iterdir()] == ["run.ckpt"]       # no temporary file left


def test_checkpoint_contents(tmp_path):
    path = tmp_path / "c"
    model = _model()
    opt = g.Adam(lr=0.01)
    _fit(model, opt, 2, callbacks=[g.EarlyStopping(patience=9), ModelCheckpoint(path)])
    tensors, meta = read_checkpoint(path)
    np.testing.assert_array_equal(tensors["model.layers.0.weight"], model[0].weight.value)
    np.testing.assert_array_equal(tensors["optimizer.m.0"], opt.m[0])
    assert meta["optimizer"]["t"] == opt.t == 12 and meta["epoch"] == 1 and meta["iteration"] == 12
    assert [c["type"] for c in meta["callbacks"]] == ["NaNGuard", "EarlyStopping"]
    assert meta["rng"]["bit_generator"] == "PCG64" and set(meta["layer_rngs"]) == {"0", "2", "3", "5", "6"}
    assert "pickle" not in path.read_bytes()[:8].decode("latin-1")


def test_every_n_epochs(tmp_path):
    path = tmp_path / "c"
    seen = []

    class Spy(g.Callback):
        def on_epoch_end(self, state):
            seen.append(read_checkpoint(path)[1]["epoch"] if path.exists() else None)

    _fit(_model(), g.SGD(lr=0.05), 5, callbacks=[Spy(), ModelCheckpoint(path, every=2)])
    assert seen == [None, None, 1, 1, 3]            # Spy runs first, so it sees the previous write
    assert read_checkpoint(path)[1]["epoch"] == 4   # the last epoch is always written


def test_resume_after_early_stop_does_not_train_again(tmp_path):
    X, y = _data()
    kw = dict(optimizer=g.SGD(lr=0.5), epochs=40, batch_size=16, validation_split=0.3, seed=0, verbose=0)
    ref = _model()
    h_ref = ref.fit(X, y, callbacks=[g.EarlyStopping(patience=1, min_delta=10.0)], **kw)
    assert h_ref.epochs < 40
    first = _model()
    first.fit(X, y, callbacks=[g.EarlyStopping(patience=1, min_delta=10.0), ModelCheckpoint(tmp_path / "c")],
              **{**kw, "optimizer": g.SGD(lr=0.5)})
    resumed = _model()
    h = resumed.fit(X, y, callbacks=[g.EarlyStopping(patience=1, min_delta=10.0),
                                     ModelCheckpoint(tmp_path / "c", resume=True)],
                    **{**kw, "optimizer": g.SGD(lr=0.5)})
    assert h.epochs == h_ref.epochs and h.best_epoch == h_ref.best_epoch
    assert _same_weights(ref, resumed)            # the best weights, restored by EarlyStopping


def test_resume_mismatches_are_clear_errors(tmp_path):
    path = tmp_path / "c"
    _fit(_model(), g.Adam(lr=0.01), 3, callbacks=[ModelCheckpoint(path)])
    X, y = _data()
    with pytest.raises(g.ValidationError, match="other training data"):
        _model().fit(X[::-1], y[::-1], optimizer=g.Adam(lr=0.01), epochs=5, batch_size=16,
                     validation_split=0.2, seed=3, verbose=0, callbacks=[ModelCheckpoint(path, resume=True)])
    with pytest.raises(g.ValidationError, match="written with Adam but fit got SGD"):
        _fit(_model(), g.SGD(lr=0.1), 5, resume_from=path)
    with pytest.raises(g.ValidationError, match="callbacks"):
        _fit(_model(), g.Adam(lr=0.01), 5, callbacks=[g.EarlyStopping()], resume_from=path)
    with pytest.raises(g.ValidationError, match="Pass epochs >= 3"):
        _fit(_model(), g.Adam(lr=0.01), 2, resume_from=path)
    with pytest.raises(g.ValidationError, match="architecture"):
        _fit(g.mlp(4, [16, 9], 3, dropout=0.2, seed=1), g.Adam(lr=0.01), 5, resume_from=path)
    with pytest.raises(g.ModelFileError, match="Cannot read"):
        _fit(_model(), g.Adam(lr=0.01), 5, resume_from=tmp_path / "missing")
    g.save(_model(), tmp_path / "model.safetensors")
    with pytest.raises(g.ModelFileError, match="not a glassnet training checkpoint"):
        _fit(_model(), g.Adam(lr=0.01), 5, resume_from=tmp_path / "model.safetensors")
    with pytest.raises(g.GlassnetTypeError, match="str or os.PathLike"):
        _fit(_model(), g.Adam(lr=0.01), 5, resume_from=3)


def test_damaged_checkpoint_is_a_model_file_error(tmp_path):
    path = tmp_path / "c"
    _fit(_model(), g.Adam(lr=0.01), 2, callbacks=[ModelCheckpoint(path)])
    tensors, meta = read_checkpoint(path)
    bad = dict(meta, optimizer={**meta["optimizer"], "state": {"m": [{"__tensor__": "nope"}]}})
    raw = pack(tensors, {"format": "glassnet-checkpoint", "format_version": "1", "state": json.dumps(bad)})
    path.write_bytes(raw)
    with pytest.raises(g.ModelFileError, match="malformed"):
        _fit(_model(), g.Adam(lr=0.01), 5, resume_from=path)
    raw = pack(tensors, {"format": "glassnet-checkpoint", "format_version": "7", "state": "{}"})
    path.write_bytes(raw)
    with pytest.raises(g.ModelFileError, match="'7'.*'1'"):
        _fit(_model(), g.Adam(lr=0.01), 5, resume_from=path)


def test_checkpoint_must_come_last():
    with pytest.raises(g.ValidationError, match="Move ModelCheckpoint to the end"):
        _fit(_model(), g.SGD(lr=0.1), 2, callbacks=[ModelCheckpoint("unused"), g.EarlyStopping()])
    with pytest.raises(g.ValidationError, match="every"):
        ModelCheckpoint("x", every=0)


def test_failed_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    path = tmp_path / "c"
    _fit(_model(), g.SGD(lr=0.05), 2, callbacks=[ModelCheckpoint(path)])
    before = path.read_bytes()
    for target in ("fsync", "replace"):
        def boom(*a, **k):
            raise OSError(28, "No space left on device")

        with monkeypatch.context() as m:
            m.setattr(os, target, boom)
            with pytest.raises(OSError, match="No space"):
                _fit(_model(), g.SGD(lr=0.05), 4, callbacks=[ModelCheckpoint(path)])
        FAULTS["io_error_during_write"] += 1
        assert path.read_bytes() == before
        assert [p.name for p in tmp_path.iterdir()] == ["c"]


CHILD = r"""
import os, sys, time
import numpy as np
import glassnet as g
from glassnet.files.checkpoint import ModelCheckpoint
sys.path.insert(0, {tests!r})
from test_checkpoint import _data, _model, _callbacks, OPTIMIZERS

mode, path, marker, out = sys.argv[1:5]

class PauseMidEpoch(g.Callback):
    # Signals the parent in the middle of epoch 4 (after 3 of its 6 iterations), then waits to be killed.
    def on_batch_end(self, state):
        if mode == "kill" and state.epoch == 3 and state.iteration == 3 * 6 + 3:
            open(marker, "w").close()
            time.sleep(60)

X, y = _data()
model = _model()
kw = dict(optimizer=OPTIMIZERS["adam"](), epochs=6, batch_size=16, validation_split=0.2, seed=3, verbose=0)
cbs = [PauseMidEpoch(), *_callbacks(), ModelCheckpoint(path, resume=mode != "kill")]
model.fit(X, y, callbacks=cbs, **kw)
g.save(model, out)
"""


def _child(tmp_path, *args):
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(tests=str(ROOT / "tests")))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, str(script), *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_sigkill_mid_epoch_then_resume_is_bit_identical(tmp_path):
    ckpt, marker, out = tmp_path / "run.ckpt", tmp_path / "marker", tmp_path / "final.safetensors"
    proc = _child(tmp_path, "kill", ckpt, marker, out)
    deadline = time.monotonic() + 60
    while not marker.exists():
        assert proc.poll() is None, proc.communicate()[1].decode()
        assert time.monotonic() < deadline, "the child never reached the middle of epoch 4"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    FAULTS["sigkill_mid_epoch"] += 1
    assert not out.exists()
    assert read_checkpoint(ckpt)[1]["epoch"] == 2          # epochs 1-3 were checkpointed, 4 was cut
    resume = _child(tmp_path, "resume", ckpt, marker, out)
    _, err = resume.communicate(timeout=60)
    assert resume.returncode == 0, err.decode()
    ref = _model()
    _fit(ref, OPTIMIZERS["adam"](), 6, callbacks=_callbacks())
    assert _same_weights(g.load(out), ref)


WRITER = r"""
import sys
import numpy as np
import glassnet as g
from glassnet.files.checkpoint import save_checkpoint, ModelCheckpoint
path = sys.argv[1]
model = g.mlp(64, [512, 512], 10, seed=0)
X = np.zeros((4, 64)); y = np.arange(4)
state = g.train.state.TrainState(model, g.CrossEntropy(), g.SGD().setup(model.parameters()), g.History(4), 10, X, y)
print("ready", flush=True)
k = 0
while True:                                      # alternate two versions until killed
    for p in model.parameters():
        p.value[...] = k % 2
    state.epoch = k % 2
    save_checkpoint(path, state)
    k += 1
"""


def test_sigkill_during_writes_never_leaves_a_broken_checkpoint(tmp_path):
    path = tmp_path / "c"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    delays = np.random.default_rng(0).uniform(0.0, 0.3, size=8)
    for delay in delays:
        proc = subprocess.Popen([sys.executable, str(script), str(path)], env=env, stdout=subprocess.PIPE)
        assert proc.stdout.readline() == b"ready\n"
        time.sleep(delay)
        proc.kill()
        proc.wait(timeout=30)
        FAULTS["sigkill_during_write"] += 1
        if path.exists():                  # killed before the first rename: no file at all is fine
            tensors, meta = read_checkpoint(path)
            assert meta["epoch"] in (0, 1)
            assert np.all(tensors["model.layers.0.weight"] == meta["epoch"])
    assert path.exists()
