"""The compiled step (glassnet/adapters/compiled.py, numba) computes what the readable layers compute.

The NumPy fast path it falls back to is checked the same way in tests/test_fastpath.py.
"""

import contextlib
import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import glassnet as g
from glassnet.adapters import compiled
from glassnet.train import fastpath
from tests.test_fastpath import CASES, OPTIMIZERS, TOL, _assert_same, _data, _run


@pytest.fixture
def on():
    pytest.importorskip("numba")
    compiled.enable()
    try:
        yield
    finally:
        compiled.disable()


def _step(model, loss, opt, X):
    return fastpath.build_fast_step(model, g.nn.losses.get_loss(loss), opt.setup(model.parameters()), X)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act,opt,output,loss,k", CASES, ids=[f"{c[0]}-{c[1]}-{c[3]}" for c in CASES])
def test_compiled_step_matches_readable_path(on, act, opt, output, loss, k, dtype):
    X, y = _data(loss)
    X = X.astype(dtype)
    make = lambda: g.mlp(6, [9, 7], k, activation=act, output=output, l2=1e-3, seed=1, dtype=dtype)  # noqa: E731
    assert type(_step(make(), loss, OPTIMIZERS[opt](), X)) is compiled.CompiledStep
    fast, hf = _run(make, loss, OPTIMIZERS[opt], X, y, fast=True)
    plain, hp = _run(make, loss, OPTIMIZERS[opt], X, y, fast=False)
    _assert_same(fast, plain, hf, hp, TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opt", ["sgd", "momentum", "nesterov"])
@pytest.mark.parametrize("act,output,loss,k", [("relu", "softmax", "crossentropy", 4), ("tanh", "sigmoid",
                                               "binary_crossentropy", 1), ("leaky_relu", "linear", "mse", 2)])
def test_sgd_inside_the_backward_matches_readable_path(on, monkeypatch, act, opt, output, loss, k, dtype):
    """Without a penalty the SGD rule runs inside the kernel, layer by layer: the readable result, and bit for bit
    the one-pass update after the kernel that it replaced."""
    X, y = _data(loss)
    X = X.astype(dtype)
    make = lambda: g.mlp(6, [9, 7], k, activation=act, output=output, seed=1, dtype=dtype)  # noqa: E731
    step = _step(make(), loss, OPTIMIZERS[opt](), X)
    assert type(step) is compiled.CompiledStep and not step.reg
    calls = []
    monkeypatch.setattr(compiled, "_fused_update", lambda *a: calls.append(a) or False)   # would run after
    inside, hi = _run(make, loss, OPTIMIZERS[opt], X, y, fast=True)
    assert calls == []
    plain, hp = _run(make, loss, OPTIMIZERS[opt], X, y, fast=False)
    _assert_same(inside, plain, hi, hp, TOL[dtype])
    monkeypatch.undo()
    monkeypatch.setattr(compiled.CompiledStep, "update_in_backward", False)
    after, ha = _run(make, loss, OPTIMIZERS[opt], X, y, fast=True)
    for p, q in zip(inside.parameters(), after.parameters(), strict=True):
        np.testing.assert_array_equal(p.value, q.value)


@pytest.mark.parametrize("loss,output,k", [("crossentropy", "softmax", 3), ("binary_crossentropy", "sigmoid", 1),
                                           ("mse", "linear", 2)])
def test_sample_weights_and_l1_match_readable_path(on, loss, output, k):
    X, y = _data(loss)
    if loss == "crossentropy":
        y = y % 3
    w = np.random.default_rng(3).uniform(0.1, 3.0, len(X))
    make = lambda: g.mlp(6, [8], k, activation="tanh", output=output, l1=1e-3, seed=4, dtype="float64")  # noqa: E731
    runs = []
    for fast in (True, False):
        model = make()
        with (fastpath.readable() if not fast else contextlib.nullcontext()):
            hist = model.fit(X, y, loss=loss, optimizer=g.Adam(0.01), epochs=3, batch_size=16, seed=0, verbose=0,
                             sample_weight=w)
        runs.append((model, hist))
    _assert_same(runs[0][0], runs[1][0], runs[0][1], runs[1][1], TOL["float64"])


def test_schedule_down_to_zero_and_callbacks_see_ordinary_arrays(on):
    # Callbacks read p.value / p.grad per batch: the same numbers as on the readable path, dL/dW even at lr = 0.
    class Record(g.Callback):
        def __init__(self):
            self.seen = []

        def on_batch_end(self, state):
            self.seen.append([p.grad.copy() for p in state.model.parameters()])

    X, y = _data("crossentropy")
    rates = [1.0, 0.0, 0.5]
    records = []
    for fast in (True, False):
        rec = Record()
        model = g.mlp(6, [9], 4, seed=2, dtype="float64")
        with (fastpath.readable() if not fast else contextlib.nullcontext()):
            model.fit(X, y, optimizer=g.SGD(lr=0.1, momentum=0.9), epochs=3, batch_size=16, seed=0, verbose=0,
                      callbacks=[rec, g.LearningRateScheduler(lambda lr0, epoch: lr0 * rates[epoch])])
        records.append(rec.seen)
        assert all(p.value.base is None and p.grad.base is None for p in model.parameters())   # sealed after fit
    assert len(records[0]) == len(records[1]) == 18
    for batch_fast, batch_plain in zip(*records, strict=True):
        for a, b in zip(batch_fast, batch_plain, strict=True):
            assert type(a) is np.ndarray and np.isfinite(a).all()
            np.testing.assert_allclose(a, b, **TOL["float64"])


def test_no_allocation_per_batch(on):
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 20), dtype=np.float32)
    Y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 64)]
    model = g.mlp(20, [64, 32], 5, seed=0)
    step = _step(model, "crossentropy", g.SGD(0.01, momentum=0.9), X)
    step(X, Y)                                                        # compiles, builds the workspace
    workspace = sum(a.nbytes for a in step.cspaces[64][:2])
    tracemalloc.start()
    for _ in range(3):
        step(X, Y)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 0.02 * workspace                                    # a few Python objects, no arrays


def test_enable_and_fallbacks(on, monkeypatch):
    X, y = _data("crossentropy")
    model = g.mlp(6, [9], 4, seed=1, dtype="float64")
    assert type(_step(model, "crossentropy", g.SGD(0.1), X)) is compiled.CompiledStep
    opt = g.SGD(0.1).setup(model.parameters())
    with fastpath.readable(), fastpath.engaged(model, g.CrossEntropy(), opt, X) as step:
        assert step is None
    compiled.disable()
    assert type(_step(model, "crossentropy", g.SGD(0.1), X)) is fastpath.FastStep
    monkeypatch.setitem(sys.modules, "numba", None)                   # numba not installed
    assert not compiled.available()
    with pytest.raises(ModuleNotFoundError, match=r"glassnet\[compiled\]"):
        compiled.enable()
    assert type(_step(model, "crossentropy", g.SGD(0.1), X)) is fastpath.FastStep


@pytest.mark.parametrize("opt", [lambda: g.SGD(0.1, momentum=0.9, clip_norm=0.05),
                                 lambda: g.Adam(0.01, clip_norm=0.05)], ids=["sgd-clip", "adam-clip"])
def test_clip_norm_takes_the_optimizers_own_rule(on, opt):
    X, y = _data("crossentropy")
    make = lambda: g.mlp(6, [9], 4, seed=5, dtype="float64")  # noqa: E731
    fast, hf = _run(make, "crossentropy", opt, X, y, fast=True)
    plain, hp = _run(make, "crossentropy", opt, X, y, fast=False)
    _assert_same(fast, plain, hf, hp, TOL["float64"])


def test_single_dense_layer(on):
    X, y = _data("crossentropy")
    make = lambda: g.Sequential([g.Dense(6, 4, seed=0, dtype="float64"), g.Softmax()])  # noqa: E731
    opt = lambda: g.SGD(0.1, momentum=0.5)  # noqa: E731
    fast, hf = _run(make, "crossentropy", opt, X, y, fast=True)
    plain, hp = _run(make, "crossentropy", opt, X, y, fast=False)
    _assert_same(fast, plain, hf, hp, TOL["float64"])


def _spy_built_steps(monkeypatch):
    """The list that records the class of every fast step built from now on (the readable loop builds none)."""
    built = []
    real = fastpath.build_fast_step

    def build(*args):
        step = real(*args)
        built.append(type(step))
        return step

    monkeypatch.setattr(fastpath, "build_fast_step", build)
    return built


@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
def test_scikit_learn_estimators_use_the_compiled_step_by_default(solver, monkeypatch):
    # The L-BFGS objective (adapters/sklearn/training.py) drives a fast step with its own no-op optimizer.
    pytest.importorskip("numba")
    pytest.importorskip("sklearn")
    from glassnet.adapters.sklearn import MLPClassifier
    X, y = _data("crossentropy", n=120)
    built = _spy_built_steps(monkeypatch)
    fits = []
    for use, env in ((True, "1"), (False, "1"), (True, "0")):
        monkeypatch.setenv("GLASSNET_COMPILED", env)
        clf = MLPClassifier(hidden_layer_sizes=(8,), solver=solver, max_iter=10, random_state=0, compiled=use)
        fits.append(clf.fit(X, y))
        assert built.pop() is (compiled.CompiledStep if use and env == "1" else fastpath.FastStep)
        assert fastpath.COMPILED == []                                # the hook is left as it was
    for other in fits[1:]:
        np.testing.assert_allclose(fits[0].loss_, other.loss_, rtol=1e-9)
        for a, b in zip(fits[0].coefs_, other.coefs_, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-11)


def test_by_default_without_numba_keeps_the_numpy_fast_path(monkeypatch):
    monkeypatch.setitem(sys.modules, "numba", None)                   # numba not installed
    with compiled.by_default() as on:
        assert on is False and fastpath.COMPILED == []


def test_compiled_parameter_is_checked():
    pytest.importorskip("sklearn")
    from glassnet.adapters.sklearn import MLPRegressor
    X, y = _data("mse", n=40)
    with pytest.raises(ValueError, match="'compiled' parameter of MLPRegressor must be True or False"):
        MLPRegressor(compiled="yes").fit(X, y[:, 0])


def test_cli_trains_with_the_compiled_step_unless_told_not_to(tmp_path, monkeypatch):
    pytest.importorskip("numba")
    pd = pytest.importorskip("pandas")
    from glassnet.adapters import cli
    X, y = _data("crossentropy", n=120)
    frame = pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]).assign(label=y)
    frame.to_csv(tmp_path / "t.csv", index=False)
    built = _spy_built_steps(monkeypatch)
    monkeypatch.chdir(tmp_path)
    for env, expected in (("1", compiled.CompiledStep), ("0", fastpath.FastStep)):
        monkeypatch.setenv("GLASSNET_COMPILED", env)
        assert cli.main(["train", "t.csv", "--target", "label", "--epochs", "2", "--quiet", "--no-report"]) == 0
        assert set(built) == {expected} and fastpath.COMPILED == []
        built.clear()


_EACH_BLAS = """
import sys, numpy as np, glassnet as g
from glassnet.adapters import compiled
from glassnet.train import fastpath
from tests.test_fastpath import TOL, _assert_same, _data, _run
compiled.enable()
assert compiled.blas() == sys.argv[1], compiled.blas()
X, y = _data("crossentropy")
for dtype in ("float64", "float32"):                 # NN, TN and NT products in both precisions
    make = lambda: g.mlp(6, [9, 7], 4, l2=1e-3, seed=1, dtype=dtype)
    opt = lambda: g.SGD(0.1, momentum=0.9)
    fast, hf = _run(make, "crossentropy", opt, X.astype(dtype), y, fast=True)
    plain, hp = _run(make, "crossentropy", opt, X.astype(dtype), y, fast=False)
    _assert_same(fast, plain, hf, hp, TOL[dtype])
print("ok")
"""


@pytest.mark.parametrize("name", ["openblas", "mkl"])
def test_each_blas_gives_the_readable_result(name):
    # The BLAS is bound once per process (GLASSNET_BLAS), so each one runs in a process of its own.
    pytest.importorskip("numba")
    if name == "mkl" and not (compiled._open("mkl") or os.environ.get("GLASSNET_MKL")):
        pytest.skip("MKL not installed (pip install 'glassnet[mkl]')")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", _EACH_BLAS, name], cwd=root, capture_output=True, text=True,
                          env=dict(os.environ, GLASSNET_BLAS=name, PYTHONPATH=root), timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_blas_order_follows_the_processor():
    # MKL first, but on AMD processors without AVX-512, where OpenBLAS ran these products faster (BENCHMARKS.md).
    assert compiled._preference("znver3", {"avx2": True, "avx512f": False}) == ["openblas", "mkl"]
    assert compiled._preference("znver1", {}) == ["openblas", "mkl"]
    assert compiled._preference("znver4", {"avx2": True, "avx512f": True}) == ["mkl", "openblas"]
    assert compiled._preference("skylake-avx512", {"avx512f": True}) == ["mkl", "openblas"]
    assert compiled._preference("haswell", {"avx2": True}) == ["mkl", "openblas"]


def test_a_missing_blas_is_said(monkeypatch):
    pytest.importorskip("numba")
    monkeypatch.setattr(compiled, "_STATE", {})
    monkeypatch.setenv("GLASSNET_BLAS", "blis")
    assert compiled.blas() is None and not compiled.available()
    with pytest.raises(ModuleNotFoundError, match="GLASSNET_BLAS=blis"):
        compiled.enable()


def test_gemm_kernel_for_other_compiled_code():
    # The binding other kernels (adapters/compiled_recurrent.py) call: every layout, both precisions, beta, slices.
    numba = pytest.importorskip("numba")
    gemm = compiled.gemm_kernel()

    @numba.njit
    def product(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc):
        gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)

    rng = np.random.default_rng(0)
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 1e-5)):
        for ta in (False, True):
            for tb in (False, True):
                # n = 1 goes to ?gemv; pad > 0 puts each matrix inside a wider one (leading dimensions > minimal)
                for m, n, k, pad in ((5, 3, 7, 0), (5, 1, 7, 0), (5, 1, 7, 2), (6, 4, 3, 1)):
                    a = rng.standard_normal((k, m + pad) if ta else (m, k + pad)).astype(dtype)
                    b = rng.standard_normal((n, k + pad) if tb else (k, n + pad)).astype(dtype)
                    c = rng.standard_normal((m, n + pad)).astype(dtype)
                    op_a = a[:, :m].T if ta else a[:, :k]
                    op_b = b[:, :k].T if tb else b[:, :n]
                    expected = c.copy()
                    expected[:, :n] = 0.5 * op_a @ op_b + 2.0 * c[:, :n]
                    product(ta, tb, m, n, k, 0.5, a, a.shape[1], b, b.shape[1], 2.0, c, c.shape[1])
                    np.testing.assert_allclose(c, expected, rtol=tol, atol=tol)
                m, n, k = 5, 3, 7                               # C starts at a slice's first element
                a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
                b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
                c = rng.standard_normal(m * n + 4).astype(dtype)
                expected = 0.5 * (a.T if ta else a) @ (b.T if tb else b) + 2.0 * c[2:2 + m * n].reshape(m, n)
                product(ta, tb, m, n, k, 0.5, a, m if ta else k, b, k if tb else n, 2.0, c[2:], n)
                np.testing.assert_allclose(c[2:2 + m * n].reshape(m, n), expected, rtol=tol, atol=tol)


_NO_CACHE = """
import numba, numpy as np
real = numba.njit
def njit(*args, **kwargs):            # what numba raises when no cache location is writable
    if kwargs.get("cache"):
        raise RuntimeError("cannot cache function '_step': no locator available for file")
    return real(*args, **kwargs)
numba.njit = njit
import glassnet as g
from glassnet.adapters import compiled
compiled.enable()
X = np.random.default_rng(0).standard_normal((64, 8)); y = np.arange(64) % 3
g.mlp(8, [16], 3, seed=0, dtype="float64").fit(X, y, epochs=1, batch_size=32, verbose=0)
print(type(compiled._step._cache).__name__)
"""


def test_no_writable_cache_location_compiles_per_process():
    pytest.importorskip("numba")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    proc = subprocess.run([sys.executable, "-c", _NO_CACHE], cwd=root, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=root), timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == "NullCache", proc.stderr[-2000:]
