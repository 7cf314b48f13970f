"""Convolutional models in model files and checkpoints: BatchNorm's running statistics included."""

import numpy as np
import pytest

import glassnet as g
from glassnet.files.checkpoint import ModelCheckpoint


def cnn(seed=0, dtype="float32"):
    r = np.random.default_rng(seed)
    return g.Sequential([
        g.Conv2D(1, 4, 3, padding="same", seed=r, dtype=dtype), g.BatchNorm(4, dtype=dtype), g.ReLU(),
        g.MaxPool2D(2), g.Conv2D(4, 6, 3, stride=2, seed=r, dtype=dtype), g.ReLU(), g.AvgPool2D(1),
        g.Flatten(), g.Dropout(0.2, seed=r), g.Dense(6, 3, seed=r, dtype=dtype), g.Softmax()])


def flat_input_cnn(seed=0, dtype="float32"):
    """Rows of 64 values, as the CLI gives them, reshaped to 8 x 8 images by the model itself."""
    r = np.random.default_rng(seed)
    return g.Sequential([g.Reshape((8, 8, 1)), g.Conv2D(1, 4, 3, seed=r, dtype=dtype), g.ReLU(), g.MaxPool2D(2),
                         g.Flatten(), g.Dense(36, 3, seed=r, dtype=dtype), g.Softmax()])


def signal_cnn(seed=0):
    r = np.random.default_rng(seed)
    return g.Sequential([g.Conv1D(1, 4, 5, padding=2, seed=r), g.BatchNorm(4), g.ReLU(), g.MaxPool1D(2),
                         g.GlobalAveragePool2D(), g.Dense(4, 3, seed=r), g.Softmax()])


def data(shape, n=40):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, *shape)).astype(np.float32)
    return X, (X.reshape(n, -1).mean(axis=1) > 0).astype(int) + (X.reshape(n, -1)[:, 0] > 0)


@pytest.mark.parametrize("make,shape,dtype", [(cnn, (8, 8, 1), "float32"), (cnn, (8, 8, 1), "float64"),
                                              (signal_cnn, (12, 1), "float32"), (flat_input_cnn, (64,), "float32")])
def test_save_load_round_trip(tmp_path, make, shape, dtype):
    model = make() if make is signal_cnn else make(dtype=dtype)
    X, y = data(shape)
    X = X.astype(dtype)
    model.fit(X, y, optimizer=g.Adam(0.01), epochs=3, batch_size=8, seed=0, verbose=0)
    g.save(model, tmp_path / "m.safetensors")
    loaded = g.load(tmp_path / "m.safetensors")
    assert repr(loaded) == repr(model) and loaded.dtype == model.dtype
    for a, b in zip(model.parameters() + model.buffers(), loaded.parameters() + loaded.buffers(), strict=True):
        np.testing.assert_array_equal(a.value, b.value)
    np.testing.assert_array_equal(model.predict(X), loaded.predict(X))      # running statistics came back


@pytest.mark.parametrize("fast", [True, False])
def test_checkpoint_resume_is_bit_identical(tmp_path, fast):
    from glassnet.train import fastpath
    X, y = data((8, 8, 1))
    kw = {"epochs": 4, "batch_size": 8, "seed": 3, "verbose": 0}

    def run(model, epochs, callbacks):
        opt = g.SGD(0.05, momentum=0.9)
        if fast:
            return model.fit(X, y, optimizer=opt, callbacks=callbacks, **{**kw, "epochs": epochs})
        with fastpath.readable():
            return model.fit(X, y, optimizer=opt, callbacks=callbacks, **{**kw, "epochs": epochs})

    ref = cnn()
    run(ref, 4, [ModelCheckpoint(tmp_path / "ref")])
    interrupted = cnn()
    run(interrupted, 2, [ModelCheckpoint(tmp_path / "ck")])
    resumed = cnn(seed=9)                          # other weights: everything must come from the checkpoint
    h = run(resumed, 4, [ModelCheckpoint(tmp_path / "ck", resume=True)])
    assert h.epochs == 4
    for a, b in zip(ref.parameters() + ref.buffers(), resumed.parameters() + resumed.buffers(), strict=True):
        np.testing.assert_array_equal(a.value, b.value)


def test_monitors_see_dead_filters_and_conv_gradients():
    r = np.random.default_rng(0)
    model = g.Sequential([g.Conv2D(1, 4, 3, seed=r), g.ReLU(), g.MaxPool2D(2), g.Flatten(), g.Dense(36, 3, seed=r),
                          g.Softmax()])
    model.layers[0].bias.value[2] = -1e3              # filter 2 can never fire: a dead filter
    X, y = data((8, 8, 1))
    acts, grads = g.ActivationMonitor(), g.GradientMonitor(warn=False)
    model.fit(X, y, optimizer=g.SGD(0.01), epochs=2, batch_size=8, seed=0, verbose=0, callbacks=[acts, grads])
    assert acts.units[1] == 4 and acts.dead[-1][1] == 1 and acts.active_fraction[-1][1][2] == 0.0
    assert all(acts.active_fraction[-1][1][c] > 0 for c in (0, 1, 3))
    assert any("1 of 4 units dead" in a and "Conv2D(1 -> 4, 3x3)" in a for a in acts.advice())
    assert set(grads.grad_norm[-1]) == {0, 4} and grads.grad_norm[-1][0] > 0


@pytest.mark.parametrize("make,shape", [(cnn, (8, 8, 1)), (signal_cnn, (12, 1))])
def test_integrated_gradients_saliency_of_a_cnn(make, shape):
    model = make()
    X, y = data(shape)
    model.fit(X, y, optimizer=g.Adam(0.01), epochs=2, batch_size=8, seed=0, verbose=0)
    att = g.integrated_gradients(model, X[0], tol=0.01)
    assert att.values.shape == shape                             # a saliency map over the sample
    assert att.completeness_error <= 0.01                         # sum of attributions = f(x) - f(baseline)
    assert abs(att.values.sum() - (att.f_x - att.f_baseline)) <= 0.01 * abs(att.f_x - att.f_baseline)
    with pytest.raises(g.ValidationError, match="channels last"):
        g.integrated_gradients(model, np.ones((3, *shape[:-1], 2)))


def test_backprop_trace_of_a_cnn_shows_shapes():
    model = cnn()
    X, _ = data((8, 8, 1))
    trace = g.backprop_trace(model, X[0], 2)
    text = str(trace)
    assert "(8x8x4)" in text and "(4x4x4)" in text and "(8x8x1)" in text     # feature maps with their shapes
    assert trace.rows[0]["grad_input"].shape == (8, 8, 1)
    assert "col2im" in text and "max of each window" in text


@pytest.mark.parametrize("make,index,key", [(cnn, 0, "in_channels"), (cnn, 4, "out_channels"),
                                            (cnn, 0, "kernel_size"), (cnn, 1, "n_features"),
                                            (signal_cnn, 0, "kernel_size")])
def test_a_hostile_conv_config_is_refused_before_allocating(tmp_path, make, index, key):
    # The weight shape the config implies is compared with the stored tensor before the layer is built,
    # as for Dense and the recurrent layers: 10**9 channels must not reach the allocator.
    import json

    from glassnet.files.serialization import ModelFileError, pack, unpack
    path = g.save(make(), tmp_path / "m.safetensors")
    tensors, meta = unpack(open(path, "rb").read())
    arch = json.loads(meta["architecture"])
    config = arch["layers"][index]["config"]
    config[key] = [10**9, 3] if key == "kernel_size" and isinstance(config[key], list) else 10**9
    meta = {k: v for k, v in meta.items() if k != "sha256"}
    meta["architecture"] = json.dumps(arch)
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(pack(tensors, meta))
    with pytest.raises(ModelFileError, match=f"layer {index} is {arch['layers'][index]['type']}"):
        g.load(bad)
