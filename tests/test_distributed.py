"""Data-parallel training over MPI: equivalence with one big batch, dead ranks, rank-0-only output.

The MPI tests start real ranks with ``mpiexec`` (the ``mpich`` wheel provides it) and skip
cleanly without mpi4py or a launcher.
"""

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import glassnet as g
from glassnet.adapters import distributed
from glassnet.train.callbacks import Callback

ROOT = Path(__file__).resolve().parents[1]


class FakeComm:
    """Just enough of a communicator for the code paths that only ask rank and size."""

    def __init__(self, rank, size):
        self.rank, self.size = rank, size

    def Get_rank(self):
        return self.rank

    def Get_size(self):
        return self.size


# -- without MPI -------------------------------------------------------------------------------
def test_is_distributed_false_outside_a_launcher_without_importing_mpi4py(monkeypatch):
    for var in distributed._SIZE_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setitem(sys.modules, "mpi4py", None)     # any import would now fail
    assert distributed.is_distributed() is False
    assert distributed.rank_and_size() == (0, 1)


def test_missing_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)
    with pytest.raises(ImportError, match=r"glassnet\[mpi\]"):
        distributed.get_mpi()


def test_shard_covers_every_row_once():
    X, y = np.arange(22).reshape(11, 2), np.arange(11)
    parts = [distributed.shard(X, y, FakeComm(r, 3)) for r in range(3)]
    assert [len(p[0]) for p in parts] == [3, 4, 4]
    np.testing.assert_array_equal(np.concatenate([p[1] for p in parts]), y)
    np.testing.assert_array_equal(np.concatenate([p[0] for p in parts]), X)
    with pytest.raises(g.ValidationError, match="cannot be split"):
        distributed.shard(X[:2], y[:2], FakeComm(0, 3))


class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_epoch_end(self, state):
        self.calls.append(state.epoch)


class CSVLogger(Callback):      # named like a file-writing callback
    pass


def test_root_only_forwards_on_rank_zero_and_output_callbacks_are_detected():
    rec0, rec1 = Recorder(), Recorder()
    distributed.RootOnly(rec0, 0).on_epoch_end(type("S", (), {"epoch": 4})())
    distributed.RootOnly(rec1, 1).on_epoch_end(type("S", (), {"epoch": 4})())
    assert rec0.calls == [4] and rec1.calls == []
    assert distributed.RootOnly(rec0, 0).calls == [4]                 # attributes read through
    assert distributed._writes_output(g.ProgressPrinter())
    assert distributed._writes_output(CSVLogger())
    assert not distributed._writes_output(g.EarlyStopping())
    rec1.rank_zero_only = True
    assert distributed._writes_output(rec1)


# -- with MPI ----------------------------------------------------------------------------------
def _mpiexec():
    pytest.importorskip("mpi4py")
    exe = shutil.which("mpiexec") or shutil.which("mpirun")
    if exe is None:
        pytest.skip("no mpiexec on PATH (pip install mpich)")
    return exe


def _run(args, tmp_path, env_extra=None, timeout=120):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
               OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", **(env_extra or {}))
    start = time.monotonic()
    proc = subprocess.run(args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - start


WORKER = """
import json, sys
import numpy as np
import glassnet as g
from glassnet.adapters import distributed
from glassnet.train.callbacks import Callback

rng = np.random.default_rng(0)
X = rng.standard_normal((203, 6)); y = rng.integers(0, 3, 203)
init = np.random.default_rng(int(sys.argv[1]))                    # a different init on every rank ...
model = g.Sequential([g.Dense(6, 16, l2=1e-3, seed=init, dtype="float64"), g.Tanh(),
                      g.Dense(16, 3, seed=init, dtype="float64"), g.Softmax()])
rank = distributed.world().Get_rank()
model.layers[0].weight.value += rank                              # ... which the broadcast must undo

class Die(Callback):
    def on_batch_end(self, state):
        if rank == 1 and state.iteration == 3 and sys.argv[2] == "die":
            import os, signal
            os.kill(os.getpid(), signal.SIGKILL)
        if rank == 1 and state.iteration == 3 and sys.argv[2] == "hang":
            import time
            time.sleep(600)

hist = distributed.fit(model, X, y, optimizer=g.Adam(lr=0.01), batch_size=8, epochs=3, seed=5, verbose=1,
                       validation_data=(X[:50], y[:50]), callbacks=[Die()])
np.savez(f"weights{rank}.npz", *[p.value for p in model.parameters()])
json.dump(dict(hist), open(f"history{rank}.json", "w"))
"""


def _reference():
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((203, 6)), rng.integers(0, 3, 203)
    init = np.random.default_rng(11)
    model = g.Sequential([g.Dense(6, 16, l2=1e-3, seed=init, dtype="float64"), g.Tanh(),
                          g.Dense(16, 3, seed=init, dtype="float64"), g.Softmax()])
    hist = model.fit(X, y, optimizer=g.Adam(lr=0.01), batch_size=16, epochs=3, seed=5, verbose=0,
                     validation_data=(X[:50], y[:50]))
    return model, hist


def test_two_ranks_with_batch_b_match_one_rank_with_batch_2b(tmp_path):
    exe = _mpiexec()
    (tmp_path / "worker.py").write_text(WORKER)
    proc, _ = _run([exe, "-n", "2", sys.executable, "worker.py", "11", "live"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ref, ref_hist = _reference()
    for rank in (0, 1):
        got = np.load(tmp_path / f"weights{rank}.npz")
        for i, p in enumerate(ref.parameters()):
            np.testing.assert_allclose(got[f"arr_{i}"], p.value, rtol=0, atol=1e-10)
        hist = json.loads((tmp_path / f"history{rank}.json").read_text())
        assert sorted(hist) == sorted(ref_hist)
        for k in ref_hist:       # 203 % 16 = 11: the uneven last batch is weighted exactly
            np.testing.assert_allclose(hist[k], ref_hist[k], rtol=1e-10, atol=1e-12)
    # only rank 0 prints: one line per epoch
    assert proc.stdout.count("epoch ") == 3, proc.stdout


def test_a_killed_rank_stops_the_job_with_a_nonzero_exit(tmp_path):
    exe = _mpiexec()
    (tmp_path / "worker.py").write_text(WORKER)
    proc, elapsed = _run([exe, "-n", "2", sys.executable, "worker.py", "11", "die"], tmp_path,
                         env_extra={"GLASSNET_MPI_TIMEOUT": "5"}, timeout=90)
    assert proc.returncode != 0
    assert elapsed < 60
    # Either the launcher ends rank 0 at once (MPICH's hydra reports the killed rank), or rank 0's
    # watchdog does after GLASSNET_MPI_TIMEOUT with glassnet's own explanation.
    out = proc.stdout + proc.stderr
    assert "Killed (signal 9)" in out or "another rank has died or hung" in out, out[-2000:]
    assert not (tmp_path / "weights0.npz").exists()


def test_a_hung_rank_makes_the_waiting_rank_explain_and_exit(tmp_path):
    """Rank 1 stops answering (alive, so no launcher notices): rank 0's watchdog must end the job."""
    exe = _mpiexec()
    (tmp_path / "worker.py").write_text(WORKER)
    proc, elapsed = _run([exe, "-n", "2", sys.executable, "worker.py", "11", "hang"], tmp_path,
                         env_extra={"GLASSNET_MPI_TIMEOUT": "3"}, timeout=90)
    assert proc.returncode != 0
    assert elapsed < 45
    assert "rank 0 of 2 waited 3 s in the gradient Allreduce" in proc.stderr, proc.stderr[-2000:]
    assert "another rank has died or hung" in proc.stderr
    assert not (tmp_path / "weights0.npz").exists()


def test_mpirun_glassnet_train_writes_once_from_rank_0(tmp_path):
    exe = _mpiexec()
    proc, _ = _run([exe, "-n", "2", sys.executable, "-m", "glassnet", "train", "--epochs", "2", "--no-report",
                    "--out", "m.safetensors"], tmp_path, timeout=180)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("model written to m.safetensors") == 1, proc.stdout
    assert proc.stdout.count("epoch 2/2") == 1, proc.stdout
    import glassnet as g

    model = g.load(tmp_path / "m.safetensors")
    assert model.predict(np.zeros((1, 64), np.float32)).shape == (1, 10)


BN_WORKER = """
import sys
import numpy as np
import glassnet as g
from glassnet.adapters import distributed
from glassnet.train.callbacks import Callback

rng = np.random.default_rng(0)
X = rng.standard_normal((96, 5, 5, 1)) * 2 + 1; y = rng.integers(0, 3, 96)
r = np.random.default_rng(3)
model = g.Sequential([g.Conv2D(1, 3, 3, seed=r, dtype="float64"), g.BatchNorm(3, dtype="float64"), g.ReLU(),
                      g.Flatten(), g.Dense(27, 3, seed=r, dtype="float64"), g.Softmax()])
rank = distributed.world().Get_rank()

class Local(Callback):                      # this rank's own running statistics after its last batch
    def on_batch_end(self, state):
        self.stats = [b.value.copy() for b in state.model.buffers()]

local = Local()
distributed.fit(model, X, y, optimizer=g.SGD(0.05, momentum=0.9), batch_size=8, epochs=2, seed=1, verbose=0,
                callbacks=[local])
np.savez(f"bn{rank}.npz", *local.stats, *[b.value for b in model.buffers()])
"""


def test_batchnorm_running_statistics_are_averaged_over_the_ranks(tmp_path):
    # Each rank normalizes its own slice of every global batch, so its running statistics differ; at each
    # epoch's end they are averaged: both ranks end with the same buffers, the mean of the ranks' own.
    exe = _mpiexec()
    (tmp_path / "worker.py").write_text(BN_WORKER)
    proc, _ = _run([exe, "-n", "2", sys.executable, "worker.py"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = [np.load(tmp_path / f"bn{rank}.npz") for rank in (0, 1)]
    n = len(got[0].files) // 2                                   # running mean and variance
    for i in range(n):
        local0, local1 = got[0][f"arr_{i}"], got[1][f"arr_{i}"]
        assert np.abs(local0 - local1).max() > 1e-6                 # the ranks did see different slices
        for rank in (0, 1):
            np.testing.assert_allclose(got[rank][f"arr_{n + i}"], (local0 + local1) / 2, rtol=0, atol=1e-14)
