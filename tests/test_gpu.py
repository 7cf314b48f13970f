"""The GPU backend: real CuPy tests (skipped without CuPy and a CUDA device), and CPU tests that
run the whole training path on a CuPy stand-in which, like CuPy, refuses any implicit copy to
NumPy and any mix of host and device arrays. Those catch core code that forces NumPy where
the array module should be used.
"""

import sys
import types

import numpy as np
import pytest

import glassnet as g


def _unwrap(x, strict=True):
    if isinstance(x, FakeDeviceArray):
        return x._a
    if strict and isinstance(x, np.ndarray) and x.ndim > 0:
        raise TypeError(f"Unsupported type {type(x)}: a NumPy array mixed with device arrays "
                        "(real CuPy refuses this; move it with xp.asarray first)")
    if isinstance(x, (list, tuple)):
        return type(x)(_unwrap(v, strict) for v in x)
    if isinstance(x, dict):
        return {k: _unwrap(v, strict) for k, v in x.items()}
    return x


TRANSFERS = {"to_device": 0}


def _index(idx):
    # Like CuPy: a NumPy index array is accepted but copied to the device first.
    parts = idx if isinstance(idx, tuple) else (idx,)
    TRANSFERS["to_device"] += sum(isinstance(p, (np.ndarray, list)) for p in parts)
    return _unwrap(idx, strict=False)


def _wrap(x):
    if isinstance(x, np.ndarray):
        return FakeDeviceArray(x)
    if isinstance(x, tuple):
        return tuple(_wrap(v) for v in x)
    return x


class FakeDeviceArray:
    __array_priority__ = 1000

    def __init__(self, a):
        self._a = a

    def __array__(self, *args, **kwargs):
        raise TypeError("Implicit conversion to a NumPy array is not allowed. Please use `.get()`.")

    def get(self):
        return self._a.copy()

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        out = kwargs.pop("out", None)
        args = _unwrap(inputs)
        if out is not None:
            kwargs["out"] = tuple(_unwrap(o) for o in out)
        res = getattr(ufunc, method)(*args, **kwargs)
        return out[0] if out is not None and len(out) == 1 else _wrap(res)

    def __array_function__(self, func, types_, args, kwargs):
        return _wrap(func(*_unwrap(args), **_unwrap(kwargs)))

    def __getattr__(self, name):
        if name == "_a":
            raise AttributeError(name)
        attr = getattr(self._a, name)
        if callable(attr):
            return lambda *a, **k: _wrap(attr(*_unwrap(a), **_unwrap(k)))
        return _wrap(attr)

    def __getitem__(self, idx):
        return _wrap(self._a[_index(idx)])

    def __setitem__(self, idx, value):
        self._a[_index(idx)] = _unwrap(value)

    def __len__(self):
        return len(self._a)

    def __float__(self):
        return float(self._a)

    def __int__(self):
        return int(self._a)

    def __bool__(self):
        return bool(self._a)

    def __iter__(self):
        raise TypeError("iterating a device array element by element: not allowed in the fake")

    def __repr__(self):
        return f"FakeDeviceArray({self._a!r})"

    @property
    def T(self):
        return FakeDeviceArray(self._a.T)


FakeDeviceArray.__module__ = "cupy._fake"

_BIN = {"add": np.add, "sub": np.subtract, "mul": np.multiply, "truediv": np.true_divide,
        "floordiv": np.floor_divide, "pow": np.power, "matmul": np.matmul, "mod": np.remainder,
        "and": np.bitwise_and, "or": np.bitwise_or, "xor": np.bitwise_xor}
for _n, _f in _BIN.items():
    setattr(FakeDeviceArray, f"__{_n}__", lambda s, o, f=_f: f(s, o))
    setattr(FakeDeviceArray, f"__r{_n}__", lambda s, o, f=_f: f(o, s))
    setattr(FakeDeviceArray, f"__i{_n}__", lambda s, o, f=_f: f(s, o, out=(s,)))
for _n, _f in {"lt": np.less, "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal,
               "eq": np.equal, "ne": np.not_equal}.items():
    setattr(FakeDeviceArray, f"__{_n}__", lambda s, o, f=_f: f(s, o))
for _n, _f in {"neg": np.negative, "pos": np.positive, "abs": np.absolute, "invert": np.invert}.items():
    setattr(FakeDeviceArray, f"__{_n}__", lambda s, f=_f: f(s))


class _FakeGenerator:
    def __init__(self, seed):
        self._g = np.random.default_rng(seed)

    def __getattr__(self, name):
        attr = getattr(self._g, name)
        return lambda *a, **k: _wrap(attr(*a, **k))


def make_fake_cupy():
    """A module object to put in sys.modules['cupy']."""
    mod = types.ModuleType("cupy")
    mod.ndarray = FakeDeviceArray
    mod.transfers = TRANSFERS

    def asarray(x, dtype=None):
        if not isinstance(x, FakeDeviceArray):
            mod.transfers["to_device"] += 1
        return FakeDeviceArray(np.array(_unwrap(x, strict=False), dtype=dtype))
    mod.asarray = mod.array = asarray
    mod.asnumpy = lambda x: x.get() if isinstance(x, FakeDeviceArray) else np.asarray(x)
    mod.get_array_module = lambda *a: mod if any(isinstance(x, FakeDeviceArray) for x in a) else np
    mod.random = types.SimpleNamespace(default_rng=_FakeGenerator)

    def getattr_(name):
        attr = getattr(np, name)
        if isinstance(attr, type) or not callable(attr):
            return attr
        return lambda *a, **k: _wrap(attr(*_unwrap(a), **_unwrap(k)))
    mod.__getattr__ = getattr_
    return mod


@pytest.fixture
def fake_cupy(monkeypatch):
    mod = make_fake_cupy()
    TRANSFERS["to_device"] = 0
    monkeypatch.setitem(sys.modules, "cupy", mod)
    return mod


def _data(n=60):
    rng = np.random.default_rng(0)
    return rng.standard_normal((n, 5)), rng.integers(0, 3, n)


def _model(dropout=0.0, dtype="float64"):
    rng = np.random.default_rng(3)
    layers = [g.Dense(5, 16, l2=1e-3, l1=1e-4, init="he_normal", seed=rng, dtype=dtype), g.ReLU()]
    layers += [g.Dropout(dropout, seed=rng)] if dropout else []
    return g.Sequential(layers + [g.Dense(16, 3, seed=rng, dtype=dtype), g.Softmax()])


def test_fit_on_the_device_matches_numpy_and_stays_there(fake_cupy):
    X, y = _data()
    kw = dict(optimizer=g.Adam(lr=0.01), epochs=3, batch_size=8, seed=1, verbose=0, validation_split=0.25,
              callbacks=[g.EarlyStopping(patience=5)])
    ref = _model()
    h_ref = ref.fit(X, y, **kw)
    dev = _model().to("gpu")
    kw["callbacks"] = [g.EarlyStopping(patience=5)]
    h_dev = dev.fit(X, y, **kw)
    assert sorted(h_dev) == sorted(h_ref)
    for k in h_ref:
        np.testing.assert_allclose(h_dev[k], h_ref[k], rtol=1e-12, atol=1e-14)
    for p_ref, p_dev in zip(ref.parameters(), dev.parameters()):
        assert type(p_dev.value).__module__.startswith("cupy"), "a parameter left the device"
        np.testing.assert_allclose(p_dev.value.get(), p_ref.value, rtol=1e-12, atol=1e-14)
    # data moved once, not per batch: 3 epochs x 6 batches would be 36+ copies
    assert TRANSFERS["to_device"] < 20, TRANSFERS
    np.testing.assert_allclose(dev.predict(X), ref.predict(X), rtol=1e-12)
    assert isinstance(dev.predict(X), np.ndarray)
    assert dev.evaluate(X, y) == pytest.approx(ref.evaluate(X, y), rel=1e-12)


def test_dropout_draws_its_masks_on_the_device_from_the_seed(fake_cupy):
    X, y = _data()
    runs = []
    for _ in range(2):
        model = _model(dropout=0.3).to("gpu")
        model.fit(X, y, optimizer="sgd", epochs=2, batch_size=16, seed=0, verbose=0)
        runs.append([p.value.get() for p in model.parameters()])
        mask = model.layers[2]._scale
        assert type(mask).__module__.startswith("cupy")
    for a, b in zip(*runs):
        np.testing.assert_array_equal(a, b)


def test_distributed_optimizer_stages_device_gradients_through_a_host_buffer(fake_cupy):
    pytest.importorskip("mpi4py")
    from glassnet.adapters.distributed import DistributedOptimizer

    class OneRank:
        def Get_rank(self):
            return 0

        def Get_size(self):
            return 1

        def Allreduce(self, sendbuf, recvbuf):
            assert isinstance(recvbuf, np.ndarray), "MPI got a device buffer"

    X, y = _data()
    ref = _model().fit(X, y, optimizer=g.SGD(0.1, momentum=0.9), epochs=1, batch_size=8, seed=0, verbose=0)
    dev = _model().to("gpu")
    h = dev.fit(X, y, optimizer=DistributedOptimizer(g.SGD(0.1, momentum=0.9), OneRank(), timeout=60),
                epochs=1, batch_size=8, seed=0, verbose=0)
    np.testing.assert_allclose(h["loss"], ref["loss"], rtol=1e-12)


def test_gpu_module_imports_without_cupy_and_explains(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    from glassnet.adapters import gpu

    with pytest.raises(ImportError, match=r"glassnet\[gpu\]"):
        gpu._kernel("sgd")


# -- real CuPy on a CUDA device -----------------------------------------------------------------
def _real_cupy():
    cp = pytest.importorskip("cupy")
    try:
        if cp.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except Exception as e:  # no driver
        pytest.skip(f"CUDA unavailable: {e}")
    return cp


def test_gpu_gradients_match_cpu():
    _real_cupy()
    X, y = _data(32)
    cpu, gpu_model = _model(), _model().to("gpu")
    loss = g.CrossEntropy()
    import cupy as cp

    for model, x in ((cpu, X), (gpu_model, cp.asarray(X))):
        out = model.forward(x, stop=len(model.layers) - 1)
        loss.forward(out, y if model is cpu else cp.asarray(y), from_logits=True)
        model.backward(loss.backward(), stop=len(model.layers) - 1)
    for a, b in zip(cpu.parameters(), gpu_model.parameters()):
        np.testing.assert_allclose(cp.asnumpy(b.grad), a.grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("opt", [lambda: g.SGD(0.05), lambda: g.SGD(0.05, momentum=0.9, nesterov=True),
                                 lambda: g.Adam(0.01), lambda: g.RMSprop(0.01)])
def test_fused_optimizers_match_the_plain_rules(opt):
    _real_cupy()
    from glassnet.adapters.gpu import FusedOptimizer

    X, y = _data()
    a, b = _model().to("gpu"), _model().to("gpu")
    ha = a.fit(X, y, optimizer=opt(), epochs=2, batch_size=8, seed=0, verbose=0)
    hb = b.fit(X, y, optimizer=FusedOptimizer(opt()), epochs=2, batch_size=8, seed=0, verbose=0)
    np.testing.assert_allclose(hb["loss"], ha["loss"], rtol=1e-10)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_allclose(q.value.get(), p.value.get(), rtol=1e-9, atol=1e-12)


def test_cuda_graph_step_matches_eager_steps():
    cp = _real_cupy()
    from glassnet.adapters.gpu import CudaGraphStep, FusedOptimizer

    X, y = _data(64)
    Y = np.eye(3)[y]
    eager, graphed = _model().to("gpu"), _model().to("gpu")
    opt = FusedOptimizer(g.SGD(0.05, momentum=0.9)).setup(eager.parameters())
    step = CudaGraphStep(graphed, g.SGD(0.05, momentum=0.9), batch_size=16)
    loss = g.CrossEntropy()
    for k in range(6):                       # 2 eager warm-ups, 1 capture, 3 replays
        xb, yb = cp.asarray(X[16 * (k % 4):16 * (k % 4) + 16]), cp.asarray(Y[16 * (k % 4):16 * (k % 4) + 16])
        out = eager.forward(xb, stop=3)
        loss.forward(out, yb, from_logits=True)
        eager.backward(loss.backward(), stop=3)
        opt.step()
        step(xb, yb)
    step.synchronize()
    for p, q in zip(eager.parameters(), graphed.parameters()):
        np.testing.assert_allclose(q.value.get(), p.value.get(), rtol=1e-10, atol=1e-12)
