import numpy as np
import pytest

import glassnet as g
from glassnet.nn.parameter import Parameter


def _param(w, grad):
    return Parameter(np.array(w, np.float64), "weight", np.array(grad, np.float64))


def test_sgd_plain_momentum_nesterov_closed_form():
    p = _param([1.0, 2.0], [0.5, -1.0])
    g.SGD(lr=0.1).setup([p]).step()
    np.testing.assert_allclose(p.value, [0.95, 2.1])
    p = _param([1.0], [1.0])
    opt = g.SGD(lr=0.1, momentum=0.9).setup([p])
    opt.step()
    opt.step()                              # v1 = -0.1, v2 = -0.19
    np.testing.assert_allclose(p.value, [1 - 0.1 - 0.19])
    p = _param([1.0], [1.0])
    opt = g.SGD(lr=0.1, momentum=0.9, nesterov=True).setup([p])
    opt.step()                              # v = -0.1 ; w += 0.9 * -0.1 - 0.1
    np.testing.assert_allclose(p.value, [1 - 0.19])


def test_adam_first_step_is_lr_times_sign():
    p = _param([1.0, -1.0], [3.0, -0.01])
    g.Adam(lr=0.01).setup([p]).step()
    np.testing.assert_allclose(p.value, [0.99, -0.99], rtol=1e-6)


def test_rmsprop_one_step():
    p = _param([1.0], [2.0])
    g.RMSprop(lr=0.01, rho=0.9, eps=0.0 + 1e-12).setup([p]).step()
    np.testing.assert_allclose(p.value, [1 - 0.01 * 2 / np.sqrt(0.1 * 4)])


def test_updates_are_in_place():
    p = _param([1.0], [1.0])
    ref = p.value
    for opt in (g.SGD(0.1, momentum=0.5), g.Adam(), g.RMSprop()):
        opt.setup([p]).step()
    assert p.value is ref


def test_schedules():
    assert g.StepDecay(10, 0.5)(1.0, 25) == 0.25
    assert g.ExponentialDecay(0.9)(1.0, 2) == pytest.approx(0.81)


@pytest.mark.parametrize("bad", [0, -0.1, float("nan"), float("inf")])
def test_bad_learning_rate(bad):
    with pytest.raises(g.ValidationError, match="'lr' parameter of SGD"):
        g.SGD(lr=bad)


def test_optimizer_by_name_and_unknown():
    from glassnet.optim.optimizers import get_optimizer

    assert isinstance(get_optimizer("adam"), g.Adam)
    with pytest.raises(g.ValidationError, match="must be an Optimizer instance or one of"):
        get_optimizer("adagrad2")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("n", [7, 40_000])
def test_axpy_blas_and_numpy_forms_agree(dtype, n, monkeypatch):
    from glassnet.backend import arrays

    rng = np.random.default_rng(0)
    x, y0 = rng.normal(size=(n,)).astype(dtype), rng.normal(size=(n,)).astype(dtype)
    expected = y0 + np.asarray(-0.3, dtype) * x
    y = y0.copy()
    assert arrays.axpy(-0.3, x, y, np.empty_like(y)) is y
    tol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(y, expected, rtol=tol, atol=tol)
    monkeypatch.setattr(arrays, "AXPY_BLAS_MIN", 10**12)            # force the NumPy form
    z = y0.copy()
    arrays.axpy(-0.3, x, z, np.empty_like(z))
    np.testing.assert_allclose(z, y, rtol=tol, atol=tol)
    strided = y0.copy()[::2]                                        # not contiguous: NumPy form, still right
    monkeypatch.setattr(arrays, "AXPY_BLAS_MIN", 1)
    arrays.axpy(-0.3, x[::2], strided, np.empty_like(strided))
    np.testing.assert_allclose(strided, expected[::2], rtol=tol, atol=tol)
