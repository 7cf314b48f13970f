"""Convolutional layers: gradients against finite differences, the readable form against the
definition, shapes (hypothesis) and bad inputs, and the shape check of Sequential."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import glassnet as g
from glassnet.backend.errors import GlassnetTypeError, ShapeError, ValidationError
from glassnet.nn.gradcheck import check_layer, check_model
from glassnet.nn.layers import LAYERS
from glassnet.nn.layers.conv import conv2d_direct, conv_geometry

F64 = "float64"


# -- gradients in float64, with strides, padding and odd sizes -----------------------------------
@pytest.mark.parametrize("padding", ["valid", "same", 1, 2])
@pytest.mark.parametrize("stride", [1, 2, (2, 1), 3])
@pytest.mark.parametrize("kernel", [3, (3, 2), 1])
def test_conv2d_gradcheck(padding, stride, kernel, rng):
    layer = g.Conv2D(3, 4, kernel, stride=stride, padding=padding, seed=1, dtype=F64)
    x = rng.normal(size=(2, 7, 6, 3))
    errors = check_layer(layer, x)
    assert set(errors) == {"input", "weight", "bias"} and max(errors.values()) < 1e-6


@pytest.mark.parametrize("padding,stride,k", [("valid", 1, 5), ("same", 2, 4), (1, 3, 3), ("same", 1, 2)])
def test_conv1d_gradcheck(padding, stride, k, rng):
    layer = g.Conv1D(2, 3, k, stride=stride, padding=padding, seed=1, dtype=F64)
    assert max(check_layer(layer, rng.normal(size=(3, 11, 2))).values()) < 1e-6


@pytest.mark.parametrize("make", [
    lambda: g.MaxPool2D(2), lambda: g.MaxPool2D(3, stride=2), lambda: g.MaxPool2D((2, 3), stride=1),
    lambda: g.AvgPool2D(2), lambda: g.AvgPool2D((3, 2), stride=(2, 1)), lambda: g.AvgPool2D(3, stride=1),
    g.GlobalAveragePool2D, g.Flatten, lambda: g.Reshape((35, 3)),
    lambda: g.BatchNorm(3, dtype=F64),
])
def test_image_layer_gradcheck(make, rng):
    layer = make()
    assert max(check_layer(layer, rng.normal(size=(2, 7, 5, 3))).values()) < 1e-6


@pytest.mark.parametrize("make", [lambda: g.MaxPool1D(2), lambda: g.MaxPool1D(3, stride=2), g.GlobalAveragePool2D,
                                  lambda: g.BatchNorm(2, dtype=F64), g.Flatten])
def test_signal_layer_gradcheck(make, rng):
    assert max(check_layer(make(), rng.normal(size=(3, 11, 2))).values()) < 1e-6


@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_dense_gradcheck_train_and_eval(training, rng):
    bn = g.BatchNorm(4, dtype=F64)
    bn.weight.value = rng.normal(size=4)
    bn.bias.value = rng.normal(size=4)
    bn.running_mean.value, bn.running_var.value = rng.normal(size=4), rng.random(4) + 0.5
    bn.training = training
    x = rng.normal(size=(6, 4)) * 3 + 1
    frozen = (bn.running_mean.value.copy(), bn.running_var.value.copy())
    if training:                                    # the finite differences must not move the statistics
        bn.momentum = 0.0
    errors = check_layer(bn, x)
    assert max(errors.values()) < 1e-6
    if not training:
        np.testing.assert_array_equal(bn.running_mean.value, frozen[0])


def test_whole_cnn_gradcheck(rng):
    r = np.random.default_rng(3)
    model = g.Sequential([
        g.Conv2D(2, 3, 3, padding="same", seed=r, dtype=F64), g.BatchNorm(3, momentum=0.0, dtype=F64), g.Tanh(),
        g.MaxPool2D(2), g.Conv2D(3, 4, 2, stride=2, seed=r, dtype=F64), g.ReLU(), g.AvgPool2D(1),
        g.Flatten(), g.Dense(8, 3, seed=r, dtype=F64), g.Softmax()])
    X = rng.normal(size=(4, 9, 7, 2))
    y = np.eye(3)[[0, 1, 2, 1]]
    assert max(check_model(model, g.CrossEntropy(), X, y).values()) < 1e-6


# -- the readable form against the definition --------------------------------------------------
@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("padding,stride,kernel", [("valid", 1, 3), ("same", 2, (3, 2)), (2, (1, 3), 3),
                                                   ("same", 1, 4)])
def test_conv2d_equals_definition(dtype, tol, padding, stride, kernel, rng):
    layer = g.Conv2D(3, 5, kernel, stride=stride, padding=padding, seed=0, dtype=dtype)
    layer.bias.value = rng.normal(size=5).astype(dtype)
    x = rng.normal(size=(2, 9, 8, 3)).astype(dtype)
    (_, t, b), (_, le, r) = layer.geometry(9, 8)
    expected = conv2d_direct(x.astype(np.float64), layer.weight.value.astype(np.float64),
                             layer.bias.value.astype(np.float64), layer.stride_hw, ((t, b), (le, r)))
    y = layer.forward(x)
    assert y.dtype == np.dtype(dtype)
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)


def test_conv1d_is_conv2d_of_height_one(rng):
    c1 = g.Conv1D(2, 3, 5, stride=2, padding="same", seed=0, dtype=F64)
    c2 = g.Conv2D(2, 3, (1, 5), stride=(1, 2), padding="same", seed=0, dtype=F64)
    c2.weight.value = c1.weight.value[None]
    x = rng.normal(size=(4, 13, 2))
    np.testing.assert_allclose(c1.forward(x), c2.forward(x[:, None])[:, 0], atol=1e-12)


def test_pools_by_definition(rng):
    x = rng.normal(size=(2, 7, 5, 3))
    y = g.MaxPool2D(3, stride=2).forward(x)
    assert y.shape == (2, 3, 2, 3)
    assert y[1, 2, 1, 2] == x[1, 4:7, 2:5, 2].max()
    a = g.AvgPool2D(2).forward(x)
    assert a.shape == (2, 3, 2, 3) and np.isclose(a[0, 1, 0, 1], x[0, 2:4, 0:2, 1].mean())
    np.testing.assert_allclose(g.GlobalAveragePool2D().forward(x), x.mean(axis=(1, 2)))


def test_maxpool_ties_go_to_the_first_maximum():
    x = np.zeros((1, 2, 2, 1))
    pool = g.MaxPool2D(2)
    pool.forward(x)
    dx = pool.backward(np.ones((1, 1, 1, 1)))
    assert dx.sum() == 1.0 and dx[0, 0, 0, 0] == 1.0


def test_batchnorm_statistics(rng):
    bn = g.BatchNorm(3)
    x = (rng.normal(size=(64, 5, 5, 3)) * [1.0, 4.0, 0.5] + [2.0, -1.0, 0.0]).astype(np.float32)
    y = bn.forward(x)
    np.testing.assert_allclose(y.mean(axis=(0, 1, 2)), 0, atol=1e-5)
    np.testing.assert_allclose(y.std(axis=(0, 1, 2)), 1, atol=1e-3)
    for _ in range(200):
        bn.forward(x)
    np.testing.assert_allclose(bn.running_mean.value, x.mean(axis=(0, 1, 2)), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(bn.running_var.value, x.var(axis=(0, 1, 2), ddof=1), rtol=1e-3)
    bn.training = False
    z = bn.forward(x[:1])                          # one sample: running statistics, not its own
    ref = (x[:1] - bn.running_mean.value) / np.sqrt(bn.running_var.value + bn.eps)
    np.testing.assert_allclose(z, ref, rtol=1e-5, atol=1e-5)


# -- shapes: hypothesis ------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(1, 12), w=st.integers(1, 12), c=st.integers(1, 4), o=st.integers(1, 4),
       k=st.integers(1, 5), s=st.integers(1, 4), padding=st.sampled_from(["valid", "same", 0, 1, 2]))
def test_conv2d_shapes(n, h, w, c, o, k, s, padding):
    layer = g.Conv2D(c, o, k, stride=s, padding=padding, seed=0)
    x = np.ones((n, h, w, c), np.float32)
    p = 0 if padding in ("valid", "same") else padding
    expected_h = -(-h // s) if padding == "same" else (h + 2 * p - k) // s + 1
    expected_w = -(-w // s) if padding == "same" else (w + 2 * p - k) // s + 1
    if expected_h < 1 or expected_w < 1:
        with pytest.raises(ShapeError, match="smaller than the kernel"):
            layer.forward(x)
        with pytest.raises(ShapeError):
            layer.output_shape((h, w, c))
        return
    y = layer.forward(x)
    assert y.shape == (n, expected_h, expected_w, o) == (n, *layer.output_shape((h, w, c)))
    assert layer.backward(np.ones_like(y)).shape == x.shape


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 10), w=st.integers(1, 10), k=st.integers(1, 4), s=st.integers(1, 4),
       kind=st.sampled_from(["max", "avg"]))
def test_pool_shapes(h, w, k, s, kind):
    pool = (g.MaxPool2D if kind == "max" else g.AvgPool2D)(k, stride=s)
    x = np.arange(2 * h * w * 3, dtype=np.float64).reshape(2, h, w, 3)
    if h < k or w < k:
        with pytest.raises(ShapeError, match="smaller than the pool window"):
            pool.forward(x)
        return
    y = pool.forward(x)
    assert y.shape == (2, (h - k) // s + 1, (w - k) // s + 1, 3) == (2, *pool.output_shape((h, w, 3)))
    assert pool.backward(np.ones_like(y)).shape == x.shape


@settings(max_examples=30, deadline=None)
@given(length=st.integers(1, 30), k=st.integers(1, 6), s=st.integers(1, 3),
       padding=st.sampled_from(["valid", "same", 1]))
def test_conv1d_and_pool1d_shapes(length, k, s, padding):
    conv = g.Conv1D(2, 3, k, stride=s, padding=padding, seed=0)
    x = np.ones((2, length, 2), np.float32)
    expected = conv_geometry(length, k, s, padding)[0]
    if expected < 1:
        with pytest.raises(ShapeError):
            conv.forward(x)
        return
    y = conv.forward(x)
    assert y.shape == (2, expected, 3) == (2, *conv.output_shape((length, 2)))
    if expected >= 2:
        assert g.MaxPool1D(2).forward(y).shape == (2, expected // 2, 3)


@settings(max_examples=40, deadline=None)
@given(bad=st.sampled_from([0, -1, 2.5, "3", True, (3,), (3, 0), None]))
def test_bad_kernel_sizes_are_refused(bad):
    with pytest.raises((ValidationError, GlassnetTypeError), match="kernel_size"):
        g.Conv2D(1, 2, bad)


@pytest.mark.parametrize("kwargs,match", [
    ({"padding": "full"}, "padding"), ({"padding": -1}, "padding"), ({"padding": True}, "padding"),
    ({"padding": 1.5}, "padding"), ({"stride": 0}, "stride"), ({"init": "nope"}, "init"),
])
def test_bad_conv_settings_are_refused(kwargs, match):
    with pytest.raises((ValidationError, GlassnetTypeError), match=match):
        g.Conv2D(1, 2, 3, **kwargs)


@pytest.mark.parametrize("make,x,match", [
    (lambda: g.Conv2D(3, 2, 3), np.ones((2, 8, 8, 1)), r"\(batch, height, width, 3\)"),
    (lambda: g.Conv2D(3, 2, 3), np.ones((2, 8, 3)), "NHWC"),
    (lambda: g.Conv1D(1, 2, 3), np.ones((2, 8)), "NLC"),
    (lambda: g.MaxPool2D(2), np.ones((2, 8, 3)), "NHWC"),
    (lambda: g.MaxPool1D(2), np.ones((2, 8)), "NLC"),
    (lambda: g.BatchNorm(4), np.ones((2, 3)), "last axis of size 4"),
    (lambda: g.GlobalAveragePool2D(), np.ones((2, 3)), "feature maps"),
])
def test_bad_inputs_name_the_expected_shape(make, x, match):
    with pytest.raises(ShapeError, match=match):
        make().forward(x.astype(np.float32))


@pytest.mark.parametrize("bad", [{"n_features": 0}, {"n_features": 3, "momentum": 1.0}, {"n_features": 3, "eps": 0}])
def test_bad_batchnorm_settings(bad):
    with pytest.raises(ValidationError):
        g.BatchNorm(**bad)


# -- Sequential checks the whole stack -------------------------------------------------------------
def _issue_net(seed=0):
    rng = np.random.default_rng(seed)
    return g.Sequential([
        g.Conv2D(1, 32, 3, seed=rng), g.ReLU(), g.MaxPool2D(2), g.Conv2D(32, 64, 3, seed=rng), g.ReLU(),
        g.MaxPool2D(2), g.Flatten(), g.Dense(1600, 128, seed=rng), g.ReLU(), g.Dense(128, 10, seed=rng), g.Softmax()])


def test_sequential_output_shape_and_summary():
    model = _issue_net()
    assert model.output_shape((28, 28, 1)) == (10,)
    text = model.summary(input_shape=(28, 28, 1))
    for shape in ["(batch, 26, 26, 32)", "(batch, 13, 13, 32)", "(batch, 11, 11, 64)", "(batch, 5, 5, 64)",
                  "(batch, 1600)", "(batch, 10)"]:
        assert shape in text
    assert "225,034" in text
    assert "(batch, ?, ?, 32)" in model.summary()


@pytest.mark.parametrize("layers,input_shape,match", [
    (lambda: [g.Conv2D(1, 8, 3), g.Conv2D(4, 2, 3)], None, r"Layer 1 \(Conv2D\(4 -> 2, 3x3\)\).*layer 0"),
    (lambda: [g.Conv2D(1, 8, 3), g.BatchNorm(4)], None, r"Layer 1 \(BatchNorm\(4\)\)"),
    (lambda: [g.Conv2D(1, 8, 3), g.MaxPool2D(2), g.Flatten(), g.Dense(100, 2)], (28, 28, 1),
     r"Layer 3 \(Dense\(100 -> 2\)\).*1352"),
    (lambda: [g.Dense(4, 8), g.Conv2D(8, 2, 3)], None, r"Layer 1 .*\(height, width, 8\)"),
    (lambda: [g.Conv2D(1, 8, 5), g.MaxPool2D(2), g.Conv2D(8, 8, 5)], (10, 10, 1), r"Layer 2 .*smaller"),
    (lambda: [g.Conv2D(3, 8, 3)], (28, 28, 1), r"Layer 0 .*the input"),
    (lambda: [g.Reshape((5, 5, 1)), g.Conv2D(1, 2, 3)], (36,), r"Layer 0 \(Reshape\(\(5, 5, 1\)\)\).*25 values"),
])
def test_sequential_names_the_layer_where_shapes_break(layers, input_shape, match):
    with pytest.raises(ValidationError, match=match):
        g.Sequential(layers()).output_shape(input_shape)


def test_sequential_refuses_a_broken_channel_chain_at_construction():
    with pytest.raises(ValidationError, match=r"Layer 2 \(Conv2D\(16 -> 4, 3x3\)\)"):
        g.Sequential([g.Conv2D(1, 8, 3), g.ReLU(), g.Conv2D(16, 4, 3)])


def test_forward_error_names_the_layer():
    model = _issue_net()
    with pytest.raises(ShapeError) as info:
        model.forward(np.ones((2, 32, 32, 1), np.float32))     # 32x32: 6x6x64 = 2304 features, not 1600
    assert "in layer 7 (Dense(1600 -> 128))" in "\n".join(info.value.__notes__)


# -- every layer: repr, registry, config round trip ----------------------------------------------------
@pytest.mark.parametrize("layer", [
    g.Conv2D(1, 32, 3), g.Conv2D(2, 4, (3, 2), stride=2, padding="same"), g.Conv1D(1, 8, 5, padding=2),
    g.MaxPool2D(2), g.MaxPool2D(3, stride=1), g.AvgPool2D(2), g.MaxPool1D(2), g.GlobalAveragePool2D(),
    g.Flatten(), g.BatchNorm(16, momentum=0.8),
])
def test_repr_registry_and_config(layer):
    assert "\n" not in repr(layer) and repr(layer).startswith(type(layer).__name__)
    assert LAYERS[type(layer).__name__] is type(layer)
    rebuilt = type(layer)(**layer.config())
    assert repr(rebuilt) == repr(layer) and rebuilt.config() == layer.config()


def test_seed_fixes_the_filters_and_dtype():
    a, b = g.Conv2D(3, 4, 3, seed=7), g.Conv2D(3, 4, 3, seed=7)
    np.testing.assert_array_equal(a.weight.value, b.weight.value)
    assert a.weight.value.dtype == np.float32 and a.weight.value.shape == (3, 3, 3, 4)
    assert g.Conv2D(3, 4, 3, seed=7, dtype=F64).forward(np.ones((1, 5, 5, 3))).dtype == np.float64
    # He: Var(W) = 2 / fan_in, fan_in = kh * kw * C
    w = g.Conv2D(16, 64, 3, seed=0).weight.value
    assert abs(w.var() * 9 * 16 / 2 - 1) < 0.05


def test_the_report_sizes_a_cnn_from_its_data(rng):
    # The report's model table takes one sample's shape from the data it evaluates: no '?' sizes.
    pytest.importorskip("matplotlib")
    from glassnet.glassbox.report import build_report
    r = np.random.default_rng(0)
    model = g.Sequential([g.Conv2D(1, 4, 3, seed=r), g.ReLU(), g.MaxPool2D(2), g.Flatten(), g.Dense(64, 3, seed=r),
                          g.Softmax()])
    X = rng.random((30, 10, 10, 1)).astype(np.float32)
    y = rng.integers(0, 3, 30)
    history = model.fit(X, y, epochs=1, batch_size=10, verbose=0, seed=0)
    page = build_report(model, history, X, y)
    assert "(batch, 8, 8, 4)" in page and "(batch, 4, 4, 4)" in page and "(batch, ?" not in page
