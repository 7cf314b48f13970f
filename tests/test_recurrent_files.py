"""Recurrent models in model files and checkpoints: save, load, resume."""

import numpy as np
import pytest

import glassnet as g
from glassnet.backend.errors import ModelFileError
from glassnet.files.checkpoint import ModelCheckpoint
from glassnet.files.serialization import load, save


def _model(dtype=None):
    r = np.random.default_rng(0)
    return g.Sequential([g.Embedding(9, 4, padding_idx=0, seed=r, dtype=dtype),
                         g.LSTM(4, 6, return_sequences=True, bidirectional=True, mask_value=0.0, seed=r, dtype=dtype),
                         g.GRU(12, 5, mask_value=0.0, seed=r, dtype=dtype),
                         g.Dense(5, 3, seed=r, dtype=dtype), g.Softmax()])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_save_load_round_trip(tmp_path, dtype, rng):
    model = _model(dtype)
    ids = rng.integers(1, 9, size=(6, 7)).astype(np.float32)
    ids[:, 5:] = 0
    model.fit(ids, rng.integers(0, 3, 6), optimizer=g.Adam(0.01), epochs=2, batch_size=3, seed=0, verbose=0)
    path = save(model, tmp_path / "m.glassnet")
    back = load(path)
    assert repr(back) == repr(model) and back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.predict(ids), model.predict(ids))
    simple = g.Sequential([g.SimpleRNN(2, 3, seed=0), g.Dense(3, 1, seed=0)])
    x = rng.normal(size=(2, 4, 2)).astype(np.float32)
    np.testing.assert_array_equal(load(save(simple, tmp_path / "s.glassnet")).predict(x), simple.predict(x))


def test_a_file_whose_config_disagrees_with_its_weight_is_refused(tmp_path):
    import json

    from glassnet.files.serialization import pack, unpack
    path = save(_model(), tmp_path / "m.glassnet")
    tensors, meta = unpack(path.read_bytes() if hasattr(path, "read_bytes") else open(path, "rb").read())
    arch = json.loads(meta["architecture"])
    arch["layers"][1]["config"]["hidden"] = 10**9          # a hostile size: refused before allocating
    meta = {k: v for k, v in meta.items() if k != "sha256"}
    meta["architecture"] = json.dumps(arch)
    bad = tmp_path / "bad.glassnet"
    bad.write_bytes(pack(tensors, meta))
    with pytest.raises(ModelFileError, match="layer 1 is LSTM"):
        load(bad)


def test_checkpoint_resume_equals_one_run(tmp_path, rng):
    X = rng.normal(size=(40, 6, 2)).astype(np.float32)
    y = (X[:, :, 0].sum(1) > 0).astype(int)

    def make():
        r = np.random.default_rng(3)
        return g.Sequential([g.GRU(2, 4, seed=r), g.Dense(4, 2, seed=r), g.Softmax()])
    full = make()
    full.fit(X, y, optimizer=g.Adam(0.01), epochs=4, batch_size=8, seed=0, verbose=0)
    part = make()
    ck = tmp_path / "ck"
    part.fit(X, y, optimizer=g.Adam(0.01), epochs=2, batch_size=8, seed=0, verbose=0, callbacks=[ModelCheckpoint(ck)])
    resumed = make()
    resumed.fit(X, y, optimizer=g.Adam(0.01), epochs=4, batch_size=8, seed=0, verbose=0,
                callbacks=[ModelCheckpoint(ck, resume=True)])
    for a, b in zip(full.parameters(), resumed.parameters()):
        np.testing.assert_allclose(a.value, b.value, rtol=1e-6, atol=1e-7)
