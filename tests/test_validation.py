"""Bad inputs to the core API give glassnet errors with clear messages (property-based)."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import glassnet as g

MODEL = g.mlp(3, [4], 2, seed=0)


def test_messages_name_what_where_expected_got():
    X = np.ones((5, 4), np.float32)
    with pytest.raises(g.ShapeError, match=r"has 4 features.*expects 3"):
        MODEL.predict(X)
    with pytest.raises(g.ValidationError, match="NaN"):
        MODEL.fit(np.array([[1, np.nan, 0]] * 4), np.zeros(4, int), epochs=1, verbose=0)
    with pytest.raises(g.GlassnetTypeError, match="must hold numbers"):
        MODEL.fit(np.array([["a", "b", "c"]] * 2), np.zeros(2, int), epochs=1, verbose=0)
    with pytest.raises(g.ValidationError, match="empty"):
        MODEL.fit(np.zeros((0, 3)), np.zeros(0, int), epochs=1, verbose=0)
    with pytest.raises(g.ValidationError, match="output layer has 2 units"):
        MODEL.fit(np.ones((3, 3)), np.array([0, 1, 5]), epochs=1, verbose=0)
    with pytest.raises(g.ValidationError, match="must have one target per row"):
        MODEL.fit(np.ones((3, 3)), np.array([0, 1]), epochs=1, verbose=0)
    with pytest.raises(g.ValidationError, match="'p' parameter of Dropout"):
        g.Dropout(1.0)
    with pytest.raises(g.ValidationError, match="'batch_size' parameter of fit"):
        MODEL.fit(np.ones((3, 3)), np.array([0, 1, 1]), batch_size=0, verbose=0)
    with pytest.raises(g.ValidationError, match="'epochs' parameter of fit"):
        MODEL.fit(np.ones((3, 3)), np.array([0, 1, 1]), epochs=0, verbose=0)
    with pytest.raises(g.GlassnetTypeError, match="Instantiate classes"):
        g.Sequential([g.Dense(2, 2), g.ReLU])


@settings(max_examples=60, deadline=None)
@given(n_in=st.integers(-3, 0) | st.floats(allow_nan=True) | st.text(max_size=3))
def test_dense_rejects_bad_sizes(n_in):
    with pytest.raises((g.ValidationError, g.GlassnetTypeError)):
        g.Dense(n_in, 3)


@settings(max_examples=60, deadline=None)
@given(X=hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, max_side=6),
                    elements=st.floats(allow_nan=True, allow_infinity=True, width=64)))
def test_predict_any_array_gives_output_or_glassnet_error(X):
    try:
        out = MODEL.predict(X)
    except g.GlassnetError as e:
        assert isinstance(e, (ValueError, TypeError)) and len(str(e)) > 20
    else:
        assert out.shape == X.shape[:-1] + (2,) and np.isfinite(out).all()


@settings(max_examples=40, deadline=None)
@given(lr=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-5, 0) | st.none(),
       momentum=st.floats(-2, 2))
def test_sgd_hyperparameters(lr, momentum):
    try:
        g.SGD(lr=lr, momentum=momentum)
    except g.GlassnetError as e:
        assert isinstance(e, (ValueError, TypeError))
    else:
        assert lr > 0 and 0 <= momentum < 1


@settings(max_examples=40, deadline=None)
@given(y=hnp.arrays(np.int64, st.integers(1, 8), elements=st.integers(-3, 5)))
def test_fit_labels(y):
    X = np.ones((len(y), 3), np.float32)
    m = g.mlp(3, [4], 3, seed=0)
    try:
        m.fit(X, y, epochs=1, verbose=0)
    except g.ValidationError as e:
        assert "labels must be in 0..2" in str(e)
    else:
        assert y.min() >= 0 and y.max() <= 2
