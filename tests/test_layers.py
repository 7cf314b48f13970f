import numpy as np
import pytest

import glassnet as g
from glassnet.nn.gradcheck import GradientCheckError, check_layer, check_model
from tests.conftest import away_from_zero

LAYERS = [
    lambda: g.Dense(4, 3, seed=1, dtype="float64"),
    lambda: g.Dense(4, 3, l2=0.3, seed=1, dtype="float64"),
    lambda: g.Dense(4, 3, l1=0.2, seed=1, dtype="float64"),
    lambda: g.Dense(4, 3, l1=0.1, l2=0.1, seed=1, dtype="float64"),
    g.Linear, g.Sigmoid, g.Tanh, g.Softmax, g.ReLU, lambda: g.LeakyReLU(0.1),
]


@pytest.mark.parametrize("make", LAYERS)
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 4)])
def test_gradcheck_every_layer(make, shape, rng):
    layer = make()
    x = away_from_zero(rng.normal(size=shape))
    errors = check_layer(layer, x)
    assert max(errors.values()) < 1e-6
    if layer.parameters():
        assert set(errors) == {"input", "weight", "bias"}


def test_dropout_gradcheck_with_fixed_mask(rng):
    d = g.Dropout(0.4, seed=0)
    d.fixed_mask = rng.random((5, 4)) > 0.4
    assert max(check_layer(d, rng.normal(size=(5, 4))).values()) < 1e-6


@pytest.mark.parametrize("act", [g.ReLU, g.Tanh, g.Sigmoid, lambda: g.LeakyReLU(0.2)])
@pytest.mark.parametrize("loss,out", [(g.CrossEntropy, g.Softmax), (g.BinaryCrossEntropy, g.Sigmoid),
                                      (g.MSE, g.Linear)])
@pytest.mark.parametrize("fused", [None, False])
def test_gradcheck_whole_model(act, loss, out, fused, rng):
    k = 1 if loss is g.BinaryCrossEntropy else 3
    drop = g.Dropout(0.3)
    model = g.Sequential([g.Dense(4, 6, l2=0.05, seed=3, dtype="float64"), act(), drop,
                          g.Dense(6, 5, l1=0.01, seed=4, dtype="float64"), act(),
                          g.Dense(5, k, seed=5, dtype="float64"), out()])
    drop.fixed_mask = rng.random((7, 6)) > 0.3
    X = rng.normal(size=(7, 4))
    y = rng.integers(0, 3, 7) if loss is g.CrossEntropy else (
        rng.integers(0, 2, (7, 1)).astype(float) if loss is g.BinaryCrossEntropy else rng.normal(size=(7, 3)))
    errors = check_model(model, loss(), X, y, fused=fused)
    assert max(errors.values()) < 1e-6
    assert len(errors) == 6


def test_gradcheck_detects_a_wrong_gradient(rng):
    class BadTanh(g.Tanh):
        def backward(self, grad_output):
            return grad_output * (1 - self._y)  # wrong on purpose

    with pytest.raises(GradientCheckError, match="input"):
        check_layer(BadTanh(), rng.normal(size=(3, 2)))


def test_backward_sets_not_accumulates(rng):
    layer = g.Dense(3, 2, seed=0)
    x = rng.normal(size=(4, 3)).astype(np.float32)
    gy = np.ones((4, 2), np.float32)
    layer.forward(x)
    layer.backward(gy)
    first = layer.weight.grad.copy()
    layer.forward(x)
    layer.backward(gy)
    np.testing.assert_array_equal(layer.weight.grad, first)


def test_backward_before_forward_is_clear():
    for layer in [g.Dense(2, 2), g.ReLU(), g.Sigmoid(), g.Tanh(), g.Softmax(), g.LeakyReLU(), g.Dropout(0.5)]:
        with pytest.raises(RuntimeError, match="before forward"):
            layer.backward(np.ones((1, 2), np.float32))


def test_numerical_stability_extremes():
    x = np.array([[-1e4, 0.0, 1e4]], np.float32)
    s = g.Sigmoid().forward(x)
    np.testing.assert_allclose(s, [[0.0, 0.5, 1.0]])
    p = g.Softmax().forward(x)
    assert np.isfinite(p).all() and abs(p.sum() - 1) < 1e-6
    assert g.Tanh().forward(x).tolist() == [[-1.0, 0.0, 1.0]]


def test_dropout_modes_and_scaling():
    d = g.Dropout(0.5, seed=0)
    x = np.ones((2000, 50), np.float32)
    y = d.forward(x)
    assert set(np.unique(y)) <= {0.0, 2.0}
    assert abs(y.mean() - 1.0) < 0.02
    d.training = False
    assert d.forward(x) is x


def test_mlp_pairs_initialization_with_activation():
    relu = g.mlp(1000, [200], 2, activation="relu", seed=0)
    tanh = g.mlp(1000, [200], 2, activation="tanh", seed=0)
    assert abs(relu[0].weight.value.std() - np.sqrt(2 / 1000)) < 2e-3       # He
    assert abs(tanh[0].weight.value.std() - np.sqrt(2 / 1200)) < 2e-3       # Glorot
    assert abs(g.Dense(1000, 200, seed=0).weight.value.std() - np.sqrt(2 / 1200)) < 2e-3   # Dense's default


@pytest.mark.parametrize("make", [lambda rng: g.Dense(4, 3, seed=rng),
                                  lambda rng: g.Dense(4, 3, init="he_normal", seed=rng)])
def test_weights_set_before_sequential_survive_it(make, rng):
    first, last = make(rng), g.Dense(3, 2, seed=rng)
    first.weight.value[...] = rng.normal(size=(4, 3))
    first.bias.value[...] = 0.5
    before = [p.value.copy() for p in (*first.parameters(), *last.parameters())]
    generators = (first.rng, last.rng)
    model = g.Sequential([first, g.ReLU(), last, g.Softmax()])
    after = [p.value for p in model.parameters()]
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True))
    assert (first.rng, last.rng) == generators and model[0] is first


def test_same_seed_same_weights_other_seed_different():
    a = g.mlp(5, [7], 3, seed=1)
    b = g.mlp(5, [7], 3, seed=1)
    c = g.mlp(5, [7], 3, seed=2)
    for pa, pb, pc in zip(a.parameters(), b.parameters(), c.parameters()):
        np.testing.assert_array_equal(pa.value, pb.value)
        if pc.name == "weight":
            assert not np.array_equal(pa.value, pc.value)


def test_dtype_float32_default_and_float64_on_request(rng):
    assert g.Dense(2, 3).weight.value.dtype == np.float32
    assert g.Dense(2, 3, dtype="float64").weight.value.dtype == np.float64
    m = g.mlp(3, [4], 2, seed=0)
    assert m.predict(rng.normal(size=(2, 3))).dtype == np.float32


def test_reprs_are_one_line():
    for layer in [g.Dense(3, 4, l2=0.1), g.ReLU(), g.LeakyReLU(0.2), g.Dropout(0.25), g.Softmax()]:
        assert "\n" not in repr(layer)
    assert repr(g.Dense(3, 4, l2=0.1)) == "Dense(3 -> 4, l2=0.1)"
    assert repr(g.LeakyReLU(0.2)) == "LeakyReLU(alpha=0.2)"


def test_sequential_names_failing_layer():
    with pytest.raises(g.ValidationError, match="Layer 2"):
        g.Sequential([g.Dense(3, 4), g.ReLU(), g.Dense(5, 2)])
    m = g.Sequential([g.Dense(3, 4), g.ReLU(), g.Dense(4, 2)])
    with pytest.raises(g.ShapeError) as e:
        m.forward(np.ones((2, 5), np.float32))
    assert "in layer 0 (Dense(3 -> 4)) during forward" in "\n".join(e.value.__notes__)


def test_summary_and_neuron(rng):
    m = g.mlp(4, [8, 6], 3, seed=0)
    text = m.summary()
    assert "Dense(4 -> 8)" in text and "(batch, 3)" in text and f"{4*8+8+8*6+6+6*3+3:,}" in text
    x = rng.normal(size=(2, 4)).astype(np.float32)
    n = m.neuron(0, 5, x)
    np.testing.assert_allclose(n.weighted_sum, x @ m[0].weight.value[:, 5] + m[0].bias.value[5], rtol=1e-6)
    np.testing.assert_allclose(n.output, np.maximum(n.weighted_sum, 0), rtol=1e-6)
    assert n.activation == "relu" and "w . x + b" in str(n)
    with pytest.raises(g.ValidationError, match="Dense layer"):
        m.neuron(1, 0)
