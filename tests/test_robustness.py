"""Numerical robustness: extreme logits and inputs, zero gradients, divergence, float32 over/underflow."""

import warnings

import numpy as np
import pytest

import glassnet as g
from glassnet.nn.losses import BinaryCrossEntropy, CrossEntropy

LOUD = dict(over="raise", invalid="raise", divide="raise")       # underflow to 0 is fine and expected


def _softmax64(z):
    z = np.asarray(z, np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_crossentropy_with_huge_logits(dtype):
    z = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4], [1e4, 1e4, -1e4]], dtype=dtype)
    y = np.array([1, 2, 0])
    loss = CrossEntropy()
    with np.errstate(**LOUD):
        value = loss.forward(z, y, from_logits=True)
        grad = loss.backward()
    # -log p_y from log-sum-exp: 2e4 (row 0), log 3 (row 1), log 2 (row 2); mean over 3 rows.
    assert value == pytest.approx((2e4 + np.log(3) + np.log(2)) / 3, rel=1e-6)
    Y = np.eye(3)[y]
    np.testing.assert_allclose(grad, (_softmax64(z) - Y) / 3, atol=1e-7)
    assert grad.dtype == dtype


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_binary_crossentropy_with_huge_logits(dtype):
    z = np.array([[1e4], [-1e4], [1e4], [-1e4]], dtype=dtype)
    y = np.array([[0.0], [1.0], [1.0], [0.0]], dtype=dtype)
    loss = BinaryCrossEntropy()
    with np.errstate(**LOUD):
        value = loss.forward(z, y, from_logits=True)
        grad = loss.backward()
    assert value == pytest.approx(1e4 / 2, rel=1e-6)              # two rows wrong by 1e4, two right
    np.testing.assert_allclose(grad, np.array([[1.0], [-1.0], [0.0], [0.0]]) / 4, atol=1e-7)


@pytest.mark.parametrize("layer", [g.Softmax(), g.Sigmoid(), g.Tanh(), g.ReLU(), g.LeakyReLU(0.1)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activations_at_plus_minus_1e4(layer, dtype):
    x = np.array([[1e4, -1e4, 0.0, 3e38 if dtype == np.float32 else 1e300]], dtype=dtype)
    with np.errstate(**LOUD):
        y = layer.forward(x)
        grad = layer.backward(np.ones_like(y))
    assert np.isfinite(y).all() and np.isfinite(grad).all()
    if isinstance(layer, g.Softmax):
        assert y.sum() == pytest.approx(1.0)


def test_unfused_losses_with_saturated_probabilities():
    # Probabilities that underflowed to exactly 0 or rounded to 1 must not give log(0) = -inf.
    p = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]], dtype=np.float32)
    with np.errstate(**LOUD):
        ce = CrossEntropy()(p, np.array([1, 1]))
        loss = CrossEntropy()
        loss.forward(p, np.array([1, 1]))
        grad = loss.backward()
    assert np.isfinite(ce) and ce > 40                              # -log(tiny) / 2 for the wrong row
    assert np.isfinite(grad).all()
    bce = BinaryCrossEntropy()
    with np.errstate(**LOUD):
        value = bce(np.array([[1.0], [0.0]], np.float32), np.array([[0.0], [1.0]], np.float32))
        grad = bce.backward()
    assert np.isfinite(value) and value > 10 and np.isfinite(grad).all()


@pytest.mark.parametrize("opt", [g.SGD(lr=0.1, momentum=0.9, nesterov=True), g.Adam(lr=0.1), g.RMSprop(lr=0.1)])
def test_all_zero_gradients_leave_weights_unchanged(opt):
    model = g.mlp(3, [4], 2, seed=0)
    before = [p.value.copy() for p in model.parameters()]
    opt.setup(model.parameters())
    for p in model.parameters():
        p.grad = np.zeros_like(p.value)
    with np.errstate(**LOUD):
        for _ in range(3):
            opt.step()
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.value, b)
    for arrays in opt.state().values():
        assert all(np.isfinite(a).all() for a in arrays)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
def test_dead_network_trains_without_nan(optimizer):
    # Every ReLU off: the hidden layer gets all-zero gradients for the whole run.
    model = g.mlp(3, [4], 2, seed=0)
    model[0].weight.value[...] = 0.0
    model[0].bias.value[...] = -1.0
    X = np.random.default_rng(0).normal(size=(32, 3))
    with np.errstate(**LOUD):
        h = model.fit(X, np.arange(32) % 2, optimizer=optimizer, epochs=3, seed=0, verbose=0)
    assert h.diverged is None and np.isfinite(h["loss"]).all()
    np.testing.assert_array_equal(model[0].weight.value, 0.0)


LOSSES = {"crossentropy": ("softmax", 2), "binary_crossentropy": ("sigmoid", 1), "mse": ("linear", 1)}


class _Recorder(g.Callback):
    def on_train_begin(self, state):
        self.weights = {-1: [p.value.copy() for p in state.model.parameters()]}

    def on_epoch_end(self, state):
        self.weights[state.epoch] = [p.value.copy() for p in state.model.parameters()]


@pytest.mark.parametrize("loss", sorted(LOSSES))
@pytest.mark.parametrize("opt", ["SGD", "Adam", "RMSprop"])
def test_huge_learning_rate_is_detected_and_explained(loss, opt):
    output, n_out = LOSSES[loss]
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 4))
    y = (X[:, 0] > 0).astype(int) if output != "linear" else X[:, :1] * 3
    model = g.mlp(4, [8], n_out, output=output, seed=0)
    rec = _Recorder()
    # Three sane epochs, then the learning rate jumps to 1e6 in the fourth.
    jump = g.LearningRateScheduler(lambda lr0, epoch: lr0 if epoch < 3 else 1e6)
    lr = 0.05 if opt == "SGD" else 0.01
    with pytest.warns(RuntimeWarning, match="diverged"):
        h = model.fit(X, y, loss=loss, optimizer=getattr(g, opt)(lr=lr), epochs=8, batch_size=16, seed=0,
                      verbose=0, callbacks=[jump, rec])
    assert h.diverged.startswith("Training diverged at epoch 4")
    assert "lr=1e+06" in h.diverged and "try lr=100000" in h.diverged
    assert h.epochs == 3 and len(h["loss"]) == 3
    for p, w in zip(model.parameters(), rec.weights[2], strict=True):           # end of epoch 3: the last good weights
        np.testing.assert_array_equal(p.value, w)
    assert np.isfinite(model.evaluate(X, y, loss=loss)["loss"])


def test_divergence_with_early_stopping_keeps_the_best_epoch():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(64, 4))
    y = (X[:, 0] > 0).astype(int)
    model = g.mlp(4, [8], 2, seed=0)
    rec = _Recorder()
    # lr 5 overshoots (the loss rises but stays finite) from epoch 3, then 1e6 explodes in epoch 6.
    sched = g.LearningRateScheduler(lambda lr0, e: lr0 if e < 2 else (5.0 if e < 5 else 1e6))
    with pytest.warns(RuntimeWarning, match="diverged"):
        h = model.fit(X, y, optimizer=g.SGD(lr=0.1), epochs=10, batch_size=16, seed=0, verbose=0,
                      callbacks=[sched, g.EarlyStopping(monitor="loss", patience=10), rec])
    best = int(np.argmin(h["loss"]))
    assert h.best_epoch == best < h.epochs - 1 and h.diverged is not None    # the best is not the last
    for p, w in zip(model.parameters(), rec.weights[best], strict=True):
        np.testing.assert_array_equal(p.value, w)


def test_float32_overflow_on_input_conversion_is_a_clear_error():
    model = g.mlp(3, [4], 2, seed=0)
    X = np.ones((4, 3))
    X[2, 1] = 1e39                       # finite in float64, inf in float32
    with pytest.raises(g.ValidationError, match="float32"):
        model.fit(X, np.arange(4) % 2, epochs=1, verbose=0)
    with pytest.raises(g.ValidationError, match="float32"):
        model.predict(X)


def test_float32_overflow_inside_the_network_is_caught_by_the_guard():
    # 3e38 is a valid float32, but x @ W overflows to inf: the loss is inf at the first batch.
    model = g.mlp(3, [4], 1, output="linear", seed=0)
    initial = [p.value.copy() for p in model.parameters()]
    X = np.full((8, 3), 3e38, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)       # numpy's own overflow warnings
        h = model.fit(X, np.ones(8), epochs=2, verbose=0, seed=0)
    assert "the loss became inf" in h.diverged or "the loss became nan" in h.diverged
    for p, w in zip(model.parameters(), initial, strict=True):
        np.testing.assert_array_equal(p.value, w)


def test_huge_regression_targets_overflow_the_float32_loss_and_are_caught():
    model = g.mlp(3, [4], 1, output="linear", seed=0)
    X = np.random.default_rng(0).normal(size=(8, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        h = model.fit(X, np.full(8, 1e20), epochs=2, verbose=0, seed=0)   # (1e20)^2 > float32 max
    assert h.diverged is not None and "standardize" in h.diverged
    assert all(np.isfinite(p.value).all() for p in model.parameters())


@pytest.mark.parametrize("scale", [1e-30, 1e-42])
def test_float32_underflow_inputs(scale):
    # Tiny (even subnormal) inputs: the network sees zeros in effect, and must stay finite.
    model = g.mlp(3, [4], 2, seed=0)
    X = np.random.default_rng(0).normal(size=(16, 3)) * scale
    with np.errstate(**LOUD):
        h = model.fit(X, np.arange(16) % 2, epochs=2, verbose=0, seed=0)
        p = model.predict(X)
    assert h.diverged is None and np.isfinite(p).all()
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)


def test_large_unscaled_inputs_never_return_a_nan_model():
    model = g.mlp(3, [16], 2, seed=0)
    X = np.random.default_rng(0).normal(size=(64, 3)) * 1e6
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        h = model.fit(X, (X[:, 0] > 0).astype(int), optimizer=g.SGD(lr=0.5), epochs=5, verbose=0, seed=0)
    assert all(np.isfinite(p.value).all() for p in model.parameters())
    assert h.diverged is None or "standardize" in h.diverged
