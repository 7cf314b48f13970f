"""The fast path (glassnet/train/fastpath.py) computes what the readable layers compute, and leaves no trace."""

import itertools

import numpy as np
import pytest

import glassnet as g
from glassnet.train import fastpath

ACTIVATIONS = ["relu", "leaky_relu", "tanh", "sigmoid", "linear"]
OPTIMIZERS = {
    "sgd": lambda: g.SGD(lr=0.1),
    "momentum": lambda: g.SGD(lr=0.1, momentum=0.9),
    "nesterov": lambda: g.SGD(lr=0.05, momentum=0.8, nesterov=True),
    "adam": lambda: g.Adam(lr=0.01),
    "rmsprop": lambda: g.RMSprop(lr=0.005),
}
OUTPUTS = [("softmax", "crossentropy", 4), ("sigmoid", "binary_crossentropy", 1), ("linear", "mse", 2)]
# Both paths do the same arithmetic in the same order but for the fused loss: they agree to rounding
# (measured: at most 2e-7 apart in float32 after 18 steps, 0 for MSE).
TOL = {"float64": dict(rtol=1e-9, atol=1e-11), "float32": dict(rtol=1e-5, atol=1e-6)}


def _data(loss, n=90, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 6))          # 90 = 5 full batches of 16 + a partial batch of 10
    y = {"crossentropy": lambda: rng.integers(0, 4, n), "binary_crossentropy": lambda: rng.integers(0, 2, n),
         "mse": lambda: rng.normal(size=(n, 2))}[loss]()
    return X, y


def _run(make_model, loss, make_opt, X, y, fast, callbacks=tuple, epochs=3):
    model = make_model()
    if fast:
        hist = model.fit(X, y, loss=loss, optimizer=make_opt(), epochs=epochs, batch_size=16, seed=0, verbose=0,
                         callbacks=list(callbacks()))
    else:
        with fastpath.readable():
            hist = model.fit(X, y, loss=loss, optimizer=make_opt(), epochs=epochs, batch_size=16, seed=0,
                             verbose=0, callbacks=list(callbacks()))
    return model, hist


def _qualifies(model, loss, opt, X):
    return fastpath.build_fast_step(model, g.nn.losses.get_loss(loss), opt.setup(model.parameters()), X) is not None


def _assert_same(fast, plain, hf, hp, tol):
    for pf, pp in zip(fast.parameters(), plain.parameters(), strict=True):
        np.testing.assert_allclose(pf.value, pp.value, **tol)
        np.testing.assert_allclose(pf.grad, pp.grad, **tol)
    assert hf.keys() == hp.keys()
    for key in hp:
        np.testing.assert_allclose(hf[key], hp[key], **tol)


CASES = [(act, opt, *OUTPUTS[i % len(OUTPUTS)])
         for i, (act, opt) in enumerate(itertools.product(ACTIVATIONS, OPTIMIZERS))]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("act,opt,output,loss,k", CASES, ids=[f"{c[0]}-{c[1]}-{c[3]}" for c in CASES])
def test_fast_path_matches_readable_path(act, opt, output, loss, k, dtype):
    X, y = _data(loss)
    X = X.astype(dtype)
    make = lambda: g.mlp(6, [9, 7], k, activation=act, output=output, l2=1e-3, seed=1, dtype=dtype)  # noqa: E731
    assert _qualifies(make(), loss, OPTIMIZERS[opt](), X)
    fast, hf = _run(make, loss, OPTIMIZERS[opt], X, y, fast=True)
    plain, hp = _run(make, loss, OPTIMIZERS[opt], X, y, fast=False)
    _assert_same(fast, plain, hf, hp, TOL[dtype])


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("opt", sorted(OPTIMIZERS))
def test_learning_rate_changed_mid_run_including_zero(opt, dtype):
    # A schedule that changes lr every epoch, down to 0: both paths follow it, p.grad stays dL/dW (finite).
    X, y = _data("crossentropy")
    X = X.astype(dtype)
    rates = [1.0, 0.3, 0.0, 2.0]
    sched = lambda: [g.LearningRateScheduler(lambda lr0, epoch: lr0 * rates[epoch])]  # noqa: E731
    make = lambda: g.mlp(6, [9], 4, seed=2, dtype=dtype)  # noqa: E731
    fast, hf = _run(make, "crossentropy", OPTIMIZERS[opt], X, y, True, sched, epochs=4)
    plain, hp = _run(make, "crossentropy", OPTIMIZERS[opt], X, y, False, sched, epochs=4)
    for p in fast.parameters():
        assert np.isfinite(p.grad).all() and np.abs(p.grad).sum() > 0
    _assert_same(fast, plain, hf, hp, TOL[dtype])


def test_zero_learning_rate_epoch_leaves_weights_and_reads_true_gradients():
    X, y = _data("crossentropy")
    model = g.mlp(6, [9], 4, seed=2)
    before = [p.value.copy() for p in model.parameters()]
    model.fit(X, y, optimizer=g.SGD(lr=0.1, momentum=0.9), epochs=1, batch_size=16, seed=0, verbose=0,
              callbacks=[g.LearningRateScheduler(lambda lr0, epoch: 0.0)])
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.value, b)         # lr = 0: no step
        assert np.isfinite(p.grad).all()
    # The gradient read after fit is dL/dW of the last batch, as the readable layers compute it.
    plain = g.mlp(6, [9], 4, seed=2)
    with fastpath.readable():
        plain.fit(X, y, optimizer=g.SGD(lr=0.1, momentum=0.9), epochs=1, batch_size=16, seed=0, verbose=0,
                  callbacks=[g.LearningRateScheduler(lambda lr0, epoch: 0.0)])
    for p, q in zip(model.parameters(), plain.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad, rtol=1e-5, atol=1e-6)


def test_parameters_are_ordinary_arrays_after_fit():
    X, y = _data("crossentropy")
    model = g.mlp(6, [9, 7], 4, seed=1)
    opt = g.Adam(lr=0.01)
    model.fit(X, y, optimizer=opt, epochs=2, batch_size=16, seed=0, verbose=0)
    params = model.parameters()
    assert all(p.value.base is None and p.grad.base is None for p in params)        # own memory, no flat buffer
    assert all(m.base is None and s.base is None for m, s in zip(opt.m, opt.s, strict=True))
    params[0].value = np.ones_like(params[0].value)                                 # assigning a new array works
    model.fit(X, y, optimizer=g.SGD(lr=0.0 + 1e-12), epochs=1, batch_size=90, seed=0, verbose=0)
    np.testing.assert_allclose(model.parameters()[0].value, 1.0, atol=1e-6)          # trained from the new array


def test_readable_path_can_be_forced(monkeypatch):
    X, y = _data("crossentropy")
    model = g.mlp(6, [9], 4, seed=1)
    opt = g.SGD(lr=0.1).setup(model.parameters())
    with fastpath.engaged(model, g.CrossEntropy(), opt, X.astype(np.float32)) as fast:
        assert fast is not None
    with fastpath.readable(), fastpath.engaged(model, g.CrossEntropy(), opt, X.astype(np.float32)) as fast:
        assert fast is None
    monkeypatch.setenv("GLASSNET_FASTPATH", "0")
    with fastpath.engaged(model, g.CrossEntropy(), opt, X.astype(np.float32)) as fast:
        assert fast is None


def test_fast_path_declines_what_it_does_not_implement():
    X = np.zeros((4, 3))
    opt = lambda m: g.SGD(0.1).setup(m.parameters())  # noqa: E731
    with_dropout = g.mlp(3, [4], 2, dropout=0.5, seed=0, dtype="float64")
    relu_before_softmax = g.Sequential([g.Dense(3, 2, seed=0, dtype="float64"), g.ReLU(), g.Softmax()])
    for model in (with_dropout, relu_before_softmax):
        assert fastpath.build_fast_step(model, g.CrossEntropy(), opt(model), X) is None
    float32_model = g.mlp(3, [4], 2, seed=0)
    assert fastpath.build_fast_step(float32_model, g.CrossEntropy(), opt(float32_model), X) is None   # dtype differs
