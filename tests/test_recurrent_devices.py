"""Recurrent layers on the CuPy stand-in of tests/test_gpu.py and under MPI data parallelism.

The stand-in refuses implicit copies to NumPy and host/device mixes, as CuPy does, so these runs
catch recurrent code that forces NumPy. On the device the readable loops run (the fast path is
NumPy's); they must give the NumPy run's losses and weights (float64, 1e-10).
"""

import sys
import types
from pathlib import Path

import numpy as np
import pytest
from test_gpu import FakeDeviceArray, make_fake_cupy

import glassnet as g
from glassnet.nn.layers.recurrent import mask_from_lengths


@pytest.fixture
def fake_cupy(monkeypatch):
    """The CuPy stand-in, with cupyx.scatter_add (Embedding's backward on the device) on its arrays."""
    mod = make_fake_cupy()
    monkeypatch.setitem(sys.modules, "cupy", mod)

    def scatter_add(a, slices, value):
        assert isinstance(a, FakeDeviceArray) and isinstance(value, FakeDeviceArray), "host array in scatter_add"
        np.add.at(a._a, slices._a if isinstance(slices, FakeDeviceArray) else slices, value._a)
    monkeypatch.setitem(sys.modules, "cupyx", types.SimpleNamespace(scatter_add=scatter_add))
    return mod


def _series(n=24, T=7, C=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, T, C))
    lengths = rng.integers(2, T + 1, n)
    X *= mask_from_lengths(lengths, T)[:, :, None]          # padding = 0 after each series' end
    y = (X[:, :, 0].sum(1) > 0).astype(np.int64) + (X[:, :, 1].sum(1) > 0)
    return X, y


def _model(kind):
    rng = np.random.default_rng(1)
    kw = dict(seed=rng, dtype="float64")
    if kind == "lstm-bidirectional-masked":
        body = [g.LSTM(3, 5, bidirectional=True, mask_value=0.0, **kw), g.Dense(10, 3, **kw)]
    elif kind == "gru-stacked-masked":
        body = [g.GRU(3, 5, return_sequences=True, mask_value=0.0, **kw), g.GRU(5, 4, mask_value=0.0, **kw),
                g.Dense(4, 3, **kw)]
    elif kind == "rnn":
        body = [g.SimpleRNN(3, 6, **kw), g.Dense(6, 3, **kw)]
    else:                                                     # tokens: Embedding -> LSTM
        body = [g.Embedding(10, 4, **kw), g.LSTM(4, 5, **kw), g.Dense(5, 3, **kw)]
    return g.Sequential(body + [g.Softmax()])


def _data(kind):
    X, y = _series()
    if kind == "embedding-lstm":
        X = (np.abs(X[:, :, 0]) * 3).astype(np.int64) % 10    # (n, T) token ids
    return X, y


KINDS = ["lstm-bidirectional-masked", "gru-stacked-masked", "rnn", "embedding-lstm"]


@pytest.mark.parametrize("kind", KINDS)
def test_recurrent_fit_on_the_device_matches_numpy(fake_cupy, kind):
    X, y = _data(kind)
    kw = dict(optimizer=g.Adam(0.01, clip_norm=1.0), epochs=3, batch_size=8, seed=2, verbose=0)
    ref = _model(kind)
    h_ref = ref.fit(X, y, **kw)
    dev = _model(kind).to("gpu")
    h_dev = dev.fit(X, y, **{**kw, "optimizer": g.Adam(0.01, clip_norm=1.0)})
    np.testing.assert_allclose(h_dev["loss"], h_ref["loss"], rtol=1e-10)
    for p_ref, p_dev in zip(ref.parameters(), dev.parameters()):
        assert type(p_dev.value).__module__.startswith("cupy"), "a parameter left the device"
        np.testing.assert_allclose(p_dev.value.get(), p_ref.value, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(dev.predict(X), ref.predict(X), rtol=1e-10, atol=1e-12)


# -- MPI: two ranks with batch B = one process with batch 2B -----------------------------------------
RECURRENT_WORKER = """
import sys
import numpy as np
import glassnet as g
from glassnet.adapters import distributed
sys.path.insert(0, sys.argv[1])
from test_recurrent_devices import _data, _model

X, y = _data(sys.argv[2])
model = _model(sys.argv[2])
rank = distributed.world().Get_rank()
for p in model.parameters():
    p.value += rank                                             # a different init per rank: the broadcast undoes it
distributed.fit(model, X, y, optimizer=g.Adam(0.01, clip_norm=1.0), batch_size=4, epochs=2, seed=5, verbose=0)
np.savez(f"weights{rank}.npz", *[p.value for p in model.parameters()])
"""


@pytest.mark.parametrize("kind", ["lstm-bidirectional-masked", "gru-stacked-masked"])
def test_two_ranks_train_a_recurrent_model_like_one_process(tmp_path, kind):
    from test_distributed import _mpiexec, _run
    exe = _mpiexec()
    (tmp_path / "worker.py").write_text(RECURRENT_WORKER)
    here = str(Path(__file__).resolve().parent)
    proc, _ = _run([exe, "-n", "2", sys.executable, "worker.py", here, kind], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    X, y = _data(kind)
    ref = _model(kind)
    ref.fit(X, y, optimizer=g.Adam(0.01, clip_norm=1.0), batch_size=8, epochs=2, seed=5, verbose=0)
    for rank in (0, 1):
        got = np.load(tmp_path / f"weights{rank}.npz")
        for i, p in enumerate(ref.parameters()):
            np.testing.assert_allclose(got[f"arr_{i}"], p.value, rtol=0, atol=1e-10, err_msg=f"rank {rank} {p.name}")
