"""The compiled convolution kernels (glassnet/adapters/compiled_conv.py, numba) equal the readable layers and the
NumPy fast path.

Every test of tests/test_fastconv.py (the readable layers against the fast path: float64 1e-10 / 1e-12, float32
2e-5 / 1e-5, each trick off, ties in pooling, no allocation per batch, inference) runs here again with the
compiled kernels on (the autouse fixture ``on``); the tests below check that they really ran and that they agree
with the NumPy kernels on single steps and on NaN.
"""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import glassnet as g
from glassnet.adapters import compiled_conv
from glassnet.nn.losses import CrossEntropy
from glassnet.train import fastconv
from tests.test_fastconv import (  # noqa: F401  (collected here again, with the compiled kernels on)
    mixed_cnn,
    pooled_cnn,
    signal_cnn,
    test_each_trick_off_gives_the_same_result,
    test_fast_fit_equals_readable_fit,
    test_inference_equals_the_readable_forward,
    test_inference_follows_new_image_sizes_and_dtypes,
    test_no_allocation_per_batch,
    test_one_step_gradients_equal_the_layers,
    test_the_fast_path_is_engaged_and_released,
    test_ties_in_max_pooling_follow_the_readable_layer,
)


@pytest.fixture(autouse=True)
def on():
    pytest.importorskip("numba")
    compiled_conv.enable()
    try:
        yield
    finally:
        compiled_conv.disable()


def strided_cnn(dtype, seed=0):
    """Strided and padded convolutions into 2x2 and 3x3 window-major pools, a 1x2 pool, no ReLU before one."""
    r = np.random.default_rng(seed)
    return g.Sequential([
        g.Conv2D(2, 4, 3, stride=2, padding=2, seed=r, dtype=dtype), g.ReLU(), g.MaxPool2D(3),
        g.Conv2D(4, 5, (2, 3), padding="same", seed=r, dtype=dtype), g.MaxPool2D((1, 2)),
        g.Conv2D(5, 3, 2, stride=(1, 2), seed=r, dtype=dtype), g.ReLU(), g.Flatten(),
        g.Dense(9, 3, seed=r, dtype=dtype), g.Softmax()])


def steps(make, X, Y, compiled):
    """One SGD step of the fast path, compiled or NumPy kernels: (loss, model, the step)."""
    (compiled_conv.enable if compiled else compiled_conv.disable)()
    model = make(X.dtype)
    step = fastconv.build_fast_step(model, CrossEntropy(), g.SGD(0.1, momentum=0.9).setup(model.parameters()), X)
    return step(X, Y)[0], model, step


@pytest.mark.parametrize("dtype,tol", [("float64", 1e-12), ("float32", 1e-5)])
@pytest.mark.parametrize("make,shape", [(mixed_cnn, (9, 15, 13, 2)), (signal_cnn, (9, 23, 1)),
                                        (pooled_cnn, (9, 12, 14, 1)), (strided_cnn, (9, 23, 29, 2))])
def test_compiled_kernels_equal_the_numpy_fast_path(dtype, tol, make, shape, rng):
    X = rng.normal(size=shape).astype(dtype)
    Y = np.eye(3, dtype=dtype)[rng.integers(0, 3, len(X))]
    loss_c, fast_c, step_c = steps(make, X, Y, True)
    loss_n, fast_n, step_n = steps(make, X, Y, False)
    kinds = [type(k) for k in step_c.kernels]
    assert compiled_conv.Conv in kinds and compiled_conv.MaxPool in kinds         # the compiled kernels ran
    assert not {compiled_conv.Conv, compiled_conv.MaxPool} & {type(k) for k in step_n.kernels}
    assert abs(loss_c - loss_n) <= tol * abs(loss_n)
    scale = max(float(np.abs(q.grad).max()) for q in fast_n.parameters())
    for p, q in zip(fast_c.parameters(), fast_n.parameters(), strict=True):
        np.testing.assert_allclose(p.grad, q.grad, rtol=tol, atol=tol * scale)


def test_strided_net_equals_the_readable_layers(rng):
    from tests.test_fastconv import fit_both, max_diff
    X = rng.normal(size=(21, 23, 29, 2))
    fast, plain, h1, h2 = fit_both(strided_cnn, X, rng.integers(0, 3, 21), "float64",
                                   lambda: g.SGD(0.1, momentum=0.9))
    assert max_diff(fast, plain) < 1e-10
    assert max_diff(fast, strided_cnn("float64")) > 1e-3                 # it did train


@pytest.mark.parametrize("relu", [False, True])
def test_pooling_propagates_nan_as_the_numpy_kernel(relu, rng):
    layers = [g.Conv2D(1, 3, 3, seed=0, dtype="float64")] + ([g.ReLU()] if relu else []) + [g.MaxPool2D(2)]
    model = g.Sequential([*layers, g.Flatten(), g.Dense(3 * 16, 2, seed=0, dtype="float64"), g.Softmax()])
    x = rng.normal(size=(2, 10, 10, 1))
    x[0, 4, 4, 0] = np.nan
    outs = []
    for on in (True, False):
        (compiled_conv.enable if on else compiled_conv.disable)()
        outs.append(fastconv.FastConvStep(model, model.layers[:len(layers)], None, infer=True).forward(x))
    assert np.isnan(outs[0]).any()
    np.testing.assert_array_equal(np.isnan(outs[0]), np.isnan(outs[1]))
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-12)


def test_by_default_follows_the_environment(monkeypatch):
    compiled_conv.disable()
    with compiled_conv.by_default() as used:
        assert used and fastconv.COMPILED == [compiled_conv.compiled_kernel]
    assert not fastconv.COMPILED
    monkeypatch.setenv("GLASSNET_COMPILED", "0")
    with compiled_conv.by_default() as used:
        assert not used and not fastconv.COMPILED


@pytest.mark.parametrize("off", sorted(compiled_conv.KERNELS))
def test_each_compiled_kernel_off_gives_the_same_result(off, rng, monkeypatch):
    from tests.test_fastconv import fit_both, max_diff
    monkeypatch.setitem(compiled_conv.KERNELS, off, False)
    for make, shape in ((mixed_cnn, (21, 15, 13, 2)), (strided_cnn, (21, 23, 29, 2)), (signal_cnn, (21, 23, 1))):
        X = rng.normal(size=shape)
        fast, plain, _, _ = fit_both(make, X, rng.integers(0, 3, len(X)), "float64", lambda: g.SGD(0.1, momentum=0.9),
                                     epochs=2)
        assert max_diff(fast, plain) < 1e-10


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 3), h=st.integers(2, 9), w=st.integers(2, 9), c=st.integers(1, 5), k=st.sampled_from([
    (2, 2), (3, 3), (1, 2), (2, 3)]), relu=st.booleans(), seed=st.integers(0, 2**16))
def test_pooling_kernels_equal_numpys_on_random_shapes_with_ties(n, h, w, c, k, relu, seed):
    # Small integers make ties and zero maxima common: the routing must pick the same first maximum.
    assume(h >= k[0] and w >= k[1])
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, (n, h, w, c)).astype(np.float64)
    g_out = rng.normal(size=(n, h // k[0], w // k[1], c))
    results = []
    for kernel_class in (fastconv._MaxPool, compiled_conv.MaxPool):
        layer = g.MaxPool2D(k)
        kernel = kernel_class.__new__(kernel_class)
        fastconv._MaxPool.__init__(kernel, layer, layer)
        kernel.relu, kernel.infer = relu, False
        ws = kernel.workspace(x.shape, x.dtype)
        y = kernel.forward(x, ws).copy()
        results.append((y, kernel.backward(g_out, ws, True).copy()))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])


def test_enable_without_numba_says_what_to_install(monkeypatch):
    compiled_conv.disable()
    monkeypatch.setattr(compiled_conv, "available", lambda: False)
    with pytest.raises(ModuleNotFoundError, match=r"glassnet\[compiled\]"):
        compiled_conv.enable()
    with compiled_conv.by_default() as used:
        assert not used and not fastconv.COMPILED
