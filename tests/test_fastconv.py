"""The convolutional fast path (glassnet/train/fastconv.py) equals the readable layers, in float64
and float32, with every trick on and with each one off, and allocates nothing per batch."""

import tracemalloc

import numpy as np
import pytest

import glassnet as g
from glassnet.nn.losses import CrossEntropy
from glassnet.train import fastconv, fastpath


def mixed_cnn(dtype, seed=0):
    """Every kernel of the fast path and fallbacks: padding, strides, overlapping pool, BatchNorm, Dropout."""
    r = np.random.default_rng(seed)
    return g.Sequential([
        g.Conv2D(2, 5, 3, padding="same", seed=r, dtype=dtype), g.ReLU(), g.MaxPool2D(2),
        g.Conv2D(5, 6, (3, 2), stride=(2, 1), padding=1, seed=r, dtype=dtype), g.BatchNorm(6, dtype=dtype),
        g.ReLU(), g.MaxPool2D(3, stride=2),
        g.Conv2D(6, 4, (1, 2), seed=r, dtype=dtype), g.ReLU(), g.Flatten(),
        g.Dense(8, 7, init="he_normal", seed=r, dtype=dtype), g.ReLU(), g.Dropout(0.2, seed=r),
        g.Dense(7, 3, seed=r, dtype=dtype), g.Softmax()])


def signal_cnn(dtype, seed=0):
    r = np.random.default_rng(seed)
    return g.Sequential([
        g.Conv1D(1, 4, 5, padding="same", seed=r, dtype=dtype), g.ReLU(), g.MaxPool1D(2),
        g.Conv1D(4, 6, 3, stride=2, seed=r, dtype=dtype), g.ReLU(), g.MaxPool1D(2),
        g.Flatten(), g.Dense(12, 3, seed=r, dtype=dtype), g.Softmax()])


def pooled_cnn(dtype, seed=0):
    """Convolution -> [BatchNorm] -> ReLU -> 2x2 max pool, the window-major layout: with BatchNorm and no
    crop, without BatchNorm and an odd size cropped, and with BatchNorm and a crop (the plain layout)."""
    r = np.random.default_rng(seed)
    return g.Sequential([
        g.Conv2D(1, 4, 3, padding="same", seed=r, dtype=dtype), g.BatchNorm(4, dtype=dtype), g.ReLU(),
        g.MaxPool2D(2),
        g.Conv2D(4, 5, 2, seed=r, dtype=dtype), g.ReLU(), g.MaxPool2D(2),
        g.Conv2D(5, 3, 3, padding="same", seed=r, dtype=dtype), g.BatchNorm(3, dtype=dtype), g.ReLU(),
        g.MaxPool2D(2), g.Flatten(), g.Dense(3, 3, seed=r, dtype=dtype), g.Softmax()])


def flat_cnn(dtype, seed=0):
    return g.Sequential([g.Reshape((12, 14, 1)), *pooled_cnn(dtype, seed).layers])


def fit_both(make, X, y, dtype, optimizer, epochs=3):
    fast, plain = make(dtype), make(dtype)
    h1 = fast.fit(X, y, optimizer=optimizer(), epochs=epochs, batch_size=8, seed=0, verbose=0)
    with fastpath.readable():
        h2 = plain.fit(X, y, optimizer=optimizer(), epochs=epochs, batch_size=8, seed=0, verbose=0)
    return fast, plain, h1, h2


def max_diff(a, b, skip=()):
    pa, pb = a.parameters() + a.buffers(), b.parameters() + b.buffers()
    return max(float(np.abs(p.value - q.value).max()) for p, q in zip(pa, pb, strict=True) if id(q) not in skip)


def bias_before_batchnorm(model):
    """The bias of a layer right before BatchNorm: BatchNorm subtracts it again, so its exact gradient is 0
    and what is computed is rounding noise, which Adam's m / sqrt(s) scales up to full steps of +-lr; and
    that BatchNorm's running mean, which holds the bias."""
    pairs = [(layer, nxt) for layer, nxt in zip(model.layers, model.layers[1:]) if isinstance(nxt, g.BatchNorm)]
    return {id(layer.bias) for layer, _ in pairs} | {id(nxt.running_mean) for _, nxt in pairs}


SGD = ("sgd", lambda: g.SGD(0.1, momentum=0.9))
ADAM = ("adam", lambda: g.Adam(0.01))


# Adam's step m / sqrt(s) turns a rounding difference of a near-zero gradient into a full step, so
# over many float32 steps it cannot agree to rounding; float32 is compared over SGD trajectories and
# on single steps below (Adam included).
@pytest.mark.parametrize("dtype,tol,optimizer", [("float64", 1e-10, SGD), ("float64", 1e-10, ADAM),
                                                 ("float32", 2e-5, SGD)], ids=["f64-sgd", "f64-adam", "f32-sgd"])
@pytest.mark.parametrize("case", ["image", "signal", "pooled", "flat"])
def test_fast_fit_equals_readable_fit(dtype, tol, optimizer, case, rng):
    optimizer = optimizer[1]
    # 37 samples in batches of 8: the last batch (5) gets its own workspace
    if case == "image":
        make, X = mixed_cnn, rng.normal(size=(37, 15, 13, 2)).astype(dtype)
    elif case == "signal":
        make, X = signal_cnn, rng.normal(size=(37, 23, 1)).astype(dtype)
    elif case == "pooled":
        make, X = pooled_cnn, rng.normal(size=(37, 12, 14, 1)).astype(dtype)
    else:                                      # rows reshaped by the model: no gradient before its first conv
        make, X = flat_cnn, rng.normal(size=(37, 168)).astype(dtype)
    y = rng.integers(0, 3, len(X))
    fast, plain, h1, h2 = fit_both(make, X, y, dtype, optimizer)
    assert max_diff(fast, plain, skip=bias_before_batchnorm(plain) if optimizer is ADAM[1] else ()) < tol
    np.testing.assert_allclose(h1["loss"], h2["loss"], rtol=tol)
    assert h1["accuracy"] == h2["accuracy"]
    assert max_diff(fast, make(dtype)) > 1e-3                       # it did train


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("make,shape", [(mixed_cnn, (9, 15, 13, 2)), (signal_cnn, (9, 23, 1)),
                                        (pooled_cnn, (9, 12, 14, 1))])
def test_one_step_gradients_equal_the_layers(dtype, tol, make, shape, rng):
    from glassnet.train.loop import plain_step
    X = rng.normal(size=shape).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, len(X))]
    fast, plain = make(dtype), make(dtype)
    mask = rng.random((len(X), 7)) > 0.2                  # one Dropout mask for both
    for m in (fast, plain):
        m.train()
        for layer in m.layers:
            if isinstance(layer, g.Dropout):
                layer.fixed_mask = mask
    sgd = [g.SGD(0.1, momentum=0.9).setup(m.parameters()) for m in (fast, plain)]
    loss_f, _ = fastconv.build_fast_step(fast, CrossEntropy(), sgd[0], X)(X, Y)
    loss_p, _ = plain_step(plain, CrossEntropy(), sgd[1], True, False, True, X, Y)
    assert abs(loss_f - loss_p) <= tol * abs(loss_p)
    # A convolution's bias before BatchNorm has gradient 0 up to rounding: the scale is the model's.
    scale = max(float(np.abs(q.grad).max()) for q in plain.parameters())
    for p, q in zip(fast.parameters(), plain.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad, rtol=tol, atol=tol * scale)
    assert max_diff(fast, plain) < 10 * tol


def test_the_fast_path_is_engaged_and_released(rng):
    model = mixed_cnn("float64")
    X = rng.normal(size=(8, 15, 13, 2))
    opt = g.SGD(0.1).setup(model.parameters())
    with fastpath.engaged(model, CrossEntropy(), opt, X) as step:
        assert isinstance(step, fastconv.FastConvStep)
        step(X, np.eye(3)[rng.integers(0, 3, 8)])
        grads = [p.grad for p in model.parameters()]
    assert all(p.grad is not None and p.grad is not w for p, w in zip(model.parameters(), grads, strict=True))
    assert not step.spaces                                          # workspaces dropped
    with fastpath.readable(), fastpath.engaged(model, CrossEntropy(), opt, X) as step:
        assert step is None


@pytest.mark.parametrize("trick", sorted(fastconv.TRICKS))
def test_each_trick_off_gives_the_same_result(trick, rng, monkeypatch):
    monkeypatch.setitem(fastconv.TRICKS, trick, False)
    X = rng.normal(size=(21, 15, 13, 2))
    fast, plain, _, _ = fit_both(mixed_cnn, X, rng.integers(0, 3, 21), "float64", lambda: g.SGD(0.1, momentum=0.9),
                                 epochs=2)
    assert max_diff(fast, plain) < 1e-12


def test_ties_in_max_pooling_follow_the_readable_layer(rng):
    # Zero backgrounds (as in MNIST) make whole pooling windows equal: the gradient must go to the
    # first maximum exactly as MaxPool2D's argmax does, with and without the ReLU folded in.
    X = np.zeros((16, 12, 12, 1))
    X[:, 3:9, 3:9, 0] = rng.random((16, 6, 6)) > 0.5
    y = rng.integers(0, 3, 16)

    def make(dtype):
        r = np.random.default_rng(1)
        return g.Sequential([g.Conv2D(1, 4, 3, seed=r, dtype=dtype), g.ReLU(), g.MaxPool2D(2),
                             g.Conv2D(4, 4, 3, seed=r, dtype=dtype), g.MaxPool2D(2), g.Flatten(),
                             g.Dense(4, 3, seed=r, dtype=dtype), g.Softmax()])
    fast, plain, _, _ = fit_both(make, X, y, "float64", lambda: g.SGD(0.5, momentum=0.9))
    assert max_diff(fast, plain) < 1e-12


def test_no_allocation_per_batch(rng):
    r = np.random.default_rng(0)
    model = g.Sequential([g.Conv2D(1, 8, 3, seed=r), g.BatchNorm(8), g.ReLU(), g.MaxPool2D(2),
                          g.Conv2D(8, 16, 3, padding=1, seed=r),
                          g.ReLU(), g.MaxPool2D(2), g.Flatten(), g.Dense(576, 32, seed=r), g.ReLU(),
                          g.Dense(32, 10, seed=r), g.Softmax()])
    X = rng.random((64, 28, 28, 1), dtype=np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]
    opt = g.SGD(0.01, momentum=0.9).setup(model.parameters())
    step = fastconv.build_fast_step(model, CrossEntropy(), opt, X)
    step(X, Y)                                                       # builds the workspace
    spaces = step.spaces[(X.shape, X.dtype)]
    workspace = sum(a.nbytes for ws in spaces for a in ws.values() if isinstance(a, np.ndarray))
    tracemalloc.start()
    step(X, Y)
    _, peak_fast = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    from glassnet.train.loop import plain_step
    tracemalloc.start()
    plain_step(model, CrossEntropy(), opt, True, False, True, X, Y)
    _, peak_plain = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    # Only small temporaries remain (argmax rows, index arrays): under 2% of the workspace it reuses,
    # where the readable step allocates about a workspace's worth.
    assert peak_fast < 0.02 * workspace < peak_plain


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-10), ("float32", 2e-5)])
@pytest.mark.parametrize("make,shape", [(mixed_cnn, (15, 13, 2)), (signal_cnn, (23, 1)), (pooled_cnn, (12, 14, 1))])
def test_inference_equals_the_readable_forward(dtype, tol, make, shape, rng, monkeypatch):
    # predict / evaluate take fastconv.forward (BatchNorm on its running statistics, Dropout off), in chunks:
    # 2 images per chunk here, so 7 images give full chunks and a short last one.
    monkeypatch.setattr(fastconv, "INFER_CHUNK", 2)
    X = rng.normal(size=(23, *shape)).astype(dtype)
    y = rng.integers(0, 3, len(X))
    model = make(dtype)
    model.fit(X, y, optimizer=g.SGD(0.1, momentum=0.9), epochs=2, batch_size=8, seed=0, verbose=0)
    assert fastconv.forward(model, X[:7]) is not None                 # the fast path applies
    fast_p, fast_e = model.predict(X[:7]), model.evaluate(X[:7], y[:7])
    with fastpath.readable():
        plain_p, plain_e = model.predict(X[:7]), model.evaluate(X[:7], y[:7])
    np.testing.assert_allclose(fast_p, plain_p, rtol=tol, atol=tol)
    assert fast_e["accuracy"] == plain_e["accuracy"]
    np.testing.assert_allclose(fast_e["loss"], plain_e["loss"], rtol=tol)


def test_inference_follows_new_image_sizes_and_dtypes(rng):
    # A fully convolutional model (global pooling) takes any image size: the inference workspaces are per batch
    # shape and dtype, and only two sets are kept.
    r = np.random.default_rng(0)
    model = g.Sequential([g.Conv2D(1, 3, 3, padding="same", seed=r, dtype="float64"), g.ReLU(), g.MaxPool2D(2),
                          g.GlobalAveragePool2D(), g.Dense(3, 2, seed=r, dtype="float64"), g.Softmax()])
    for shape in [(5, 8, 8, 1), (5, 12, 10, 1), (3, 8, 8, 1)]:
        X = rng.normal(size=shape)
        fast = model.predict(X)
        with fastpath.readable():
            np.testing.assert_allclose(fast, model.predict(X), rtol=1e-12, atol=1e-12)
    assert len(fastconv._INFERENCE[model][1].spaces) == 2
