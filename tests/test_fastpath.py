"""The fast path (glassnet/_fastpath.py) computes exactly what the readable layers compute."""

import numpy as np
import pytest

import glassnet as g
import glassnet.train.loop as training


def _train(make_model, loss, make_opt, X, y, fast, monkeypatch, epochs=3, batch_size=16):
    model = make_model()
    with monkeypatch.context() as m:
        if not fast:
            m.setattr(training, "build_fast_step", lambda *a: None)
        hist = model.fit(X, y, loss=loss, optimizer=make_opt(), epochs=epochs, batch_size=batch_size,
                         seed=0, verbose=0)
    return model, hist


def _spy_used_fast(model, loss, opt, X):
    from glassnet.train.fastpath import build_fast_step

    return build_fast_step(model, g.losses.get_loss(loss), opt.setup(model.parameters()), X) is not None


CASES = [
    ("relu-ce-sgd-momentum", lambda: g.mlp(6, [9, 7], 4, seed=1, dtype="float64"), "crossentropy",
     lambda: g.SGD(lr=0.1, momentum=0.9)),
    ("relu-ce-nesterov-l2", lambda: g.mlp(6, [9], 4, l2=0.01, seed=1, dtype="float64"), "crossentropy",
     lambda: g.SGD(lr=0.1, momentum=0.8, nesterov=True)),
    ("tanh-ce-adam-l1", lambda: g.mlp(6, [8, 5], 4, activation="tanh", l1=0.001, seed=2, dtype="float64"),
     "crossentropy", lambda: g.Adam(lr=0.01)),
    ("leaky-sigmoid-bce-rmsprop", lambda: g.mlp(6, [8], 1, activation="leaky_relu", output="sigmoid",
                                                  seed=3, dtype="float64"), "binary_crossentropy",
     lambda: g.RMSprop(lr=0.01)),
    ("sigmoid-mse-sgd", lambda: g.mlp(6, [8], 2, activation="sigmoid", output="linear", seed=4,
                                      dtype="float64"), "mse", lambda: g.SGD(lr=0.05)),
    ("tanh-output-mse", lambda: g.Sequential([g.Dense(6, 5, dtype="float64"), g.ReLU(),
                                              g.Dense(5, 2, dtype="float64"), g.Tanh()], seed=5),
     "mse", lambda: g.Adam(lr=0.01)),
]


@pytest.mark.parametrize("name,make_model,loss,make_opt", CASES, ids=[c[0] for c in CASES])
def test_fast_path_matches_plain_formulas_float64(name, make_model, loss, make_opt, monkeypatch):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 6))          # 90 = 5 full batches of 16 + a partial batch of 10
    if loss == "crossentropy":
        y = rng.integers(0, 4, 90)
    elif loss == "binary_crossentropy":
        y = rng.integers(0, 2, 90)
    else:
        y = rng.normal(size=(90, 2))
    assert _spy_used_fast(make_model(), loss, make_opt(), X)
    fast, hf = _train(make_model, loss, make_opt, X, y, True, monkeypatch)
    plain, hp = _train(make_model, loss, make_opt, X, y, False, monkeypatch)
    for pf, pp in zip(fast.parameters(), plain.parameters()):
        np.testing.assert_allclose(pf.value, pp.value, rtol=0, atol=1e-10)
        np.testing.assert_allclose(pf.grad, pp.grad, rtol=0, atol=1e-10)
    for key in hp:
        np.testing.assert_allclose(hf[key], hp[key], rtol=1e-10, atol=1e-12)


def test_fast_path_declines_what_it_does_not_implement():
    from glassnet.train.fastpath import build_fast_step

    X = np.zeros((4, 3))
    opt = lambda m: g.SGD(0.1).setup(m.parameters())  # noqa: E731
    with_dropout = g.mlp(3, [4], 2, dropout=0.5, seed=0, dtype="float64")
    relu_before_softmax = g.Sequential([g.Dense(3, 2, dtype="float64"), g.ReLU(), g.Softmax()])
    for model in (with_dropout, relu_before_softmax):
        assert build_fast_step(model, g.CrossEntropy(), opt(model), X) is None
    float32_model = g.mlp(3, [4], 2, seed=0)
    assert build_fast_step(float32_model, g.CrossEntropy(), opt(float32_model), X) is None   # dtype differs


def test_scaled_gradient_storage_reads_as_the_gradient():
    from glassnet.nn.parameter import Parameter

    p = Parameter(np.zeros(3), "weight")
    buffer = np.array([0.1, -0.2, 0.3])
    p.set_scaled_grad(buffer, 0.1)                     # the fast path's SGD: buffer = lr * g
    np.testing.assert_allclose(p.grad, [1.0, -2.0, 3.0])
    g = np.ones(3)
    p.grad = g                                         # a layer's backward sets it plainly again
    assert p.grad is g
