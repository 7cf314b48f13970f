import numpy as np
import pytest

import glassnet as g
from glassnet.nn.gradcheck import check_loss


def test_gradcheck_losses(rng):
    p = rng.dirichlet(np.full(4, 5.0), size=6)  # away from 0, where -1/p is ill-conditioned
    labels = rng.integers(0, 4, 6)
    check_loss(g.CrossEntropy(), p, labels, tol=1e-6)
    check_loss(g.CrossEntropy(), p, np.eye(4)[labels], tol=1e-6)
    check_loss(g.CrossEntropy(), rng.normal(size=(6, 4)), labels, from_logits=True, tol=1e-6)
    probs = rng.uniform(0.05, 0.95, size=(6, 1))
    y01 = rng.integers(0, 2, (6, 1)).astype(float)
    check_loss(g.BinaryCrossEntropy(), probs, y01, tol=1e-6)
    check_loss(g.BinaryCrossEntropy(), rng.normal(size=(6, 1)), y01, from_logits=True, tol=1e-6)
    check_loss(g.MSE(), rng.normal(size=(6, 2)), rng.normal(size=(6, 2)), tol=1e-6)


def test_known_values():
    assert g.CrossEntropy().forward(np.zeros((3, 5)), np.array([0, 1, 2]), from_logits=True) == pytest.approx(np.log(5))
    assert g.MSE().forward(np.ones((4, 2)), np.ones((4, 2))) == 0.0
    value = g.BinaryCrossEntropy().forward(np.zeros((2, 1)), np.array([[0.0], [1.0]]), from_logits=True)
    assert value == pytest.approx(np.log(2))


def test_fused_gradient_is_p_minus_y_over_n_and_finite_for_huge_logits():
    z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]], np.float32)
    y = np.array([1, 1])
    ce = g.CrossEntropy()
    value = ce.forward(z, y, from_logits=True)
    grad = ce.backward()
    assert np.isfinite(value) and value == pytest.approx(1e4, rel=1e-6)
    p = g.Softmax().forward(z)
    np.testing.assert_allclose(grad, (p - np.eye(3)[y]) / 2, atol=1e-7)
    bce = g.BinaryCrossEntropy()
    v = bce.forward(np.array([[1e4], [-1e4]], np.float32), np.array([[0.0], [0.0]]), from_logits=True)
    assert np.isfinite(v) and np.isfinite(bce.backward()).all()


def test_label_and_shape_errors():
    with pytest.raises(g.ValidationError, match="output layer has 3 units"):
        g.CrossEntropy().forward(np.full((2, 3), 1 / 3), np.array([0, 3]))
    with pytest.raises(g.ShapeError, match="targets"):
        g.MSE().forward(np.zeros((2, 3)), np.zeros((2, 2)))
    with pytest.raises(g.ValidationError, match="expects probabilities"):
        g.CrossEntropy().forward(np.array([[2.0, -1.0]]), np.array([0]))


def test_mse_integer_targets_are_reshaped():
    assert g.MSE().forward(np.zeros((3, 1)), np.array([1.0, 1.0, 1.0])) == 1.0
