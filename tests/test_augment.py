"""RandomShiftFlip: light image augmentation as a training callback (glassnet.adapters.augment)."""

import numpy as np
import pytest

import glassnet as g
from glassnet.adapters.augment import RandomShiftFlip


def test_identity_without_shift_or_flip_and_the_input_untouched(rng):
    x = rng.random((6, 5, 4, 2)).astype(np.float32)
    keep = x.copy()
    np.testing.assert_array_equal(RandomShiftFlip(max_shift=0, flip=0.0, seed=0).augment(x), x)
    RandomShiftFlip(max_shift=2, seed=0).augment(x)
    np.testing.assert_array_equal(x, keep)


def test_every_image_is_a_shifted_possibly_mirrored_copy(rng):
    # Each output image equals its input moved by some (dy, dx) in [-s, s]^2 (zeros where it left the frame),
    # mirrored or not; and both shifts and mirrors occur.
    s, x = 2, rng.random((40, 7, 6, 1)) + 1.0                    # no zeros inside: the border shows
    out = RandomShiftFlip(max_shift=s, flip=0.5, seed=3).augment(x)
    seen = set()
    for img, src in zip(out, x):
        found = None
        for flip in (False, True):
            base = src[:, ::-1] if flip else src
            pad = np.pad(base, ((s, s), (s, s), (0, 0)))
            for dy in range(2 * s + 1):
                for dx in range(2 * s + 1):
                    if np.array_equal(pad[dy:dy + 7, dx:dx + 6], img):
                        found = (flip, dy - s, dx - s)
        assert found is not None
        seen.add(found)
    assert {f[0] for f in seen} == {False, True} and len({f[1:] for f in seen}) > 5


def test_it_trains_a_cnn_and_refuses_rows(rng):
    X = rng.random((32, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 2, 32)
    r = np.random.default_rng(0)
    model = g.Sequential([g.Conv2D(1, 2, 3, seed=r), g.ReLU(), g.MaxPool2D(2), g.Flatten(), g.Dense(18, 2, seed=r),
                          g.Softmax()])
    keep = X.copy()
    model.fit(X, y, epochs=2, batch_size=8, seed=0, verbose=0, callbacks=[RandomShiftFlip(seed=1)])
    np.testing.assert_array_equal(X, keep)                            # augmentation works on copies
    flat = g.Sequential([g.Dense(64, 2, seed=r), g.Softmax()])
    with pytest.raises(g.ValidationError, match=r"channels-last images.*reshape"):
        flat.fit(X.reshape(32, -1), y, epochs=1, verbose=0, callbacks=[RandomShiftFlip()])
    with pytest.raises(g.ValidationError, match="max_shift"):
        RandomShiftFlip(max_shift=-1)


def test_a_resumed_run_draws_the_same_augmentations(tmp_path, rng):
    """The callback's generator travels in the checkpoint: 2 epochs + resume to 4 == 4 epochs straight."""
    X = rng.random((32, 8, 8, 1)).astype(np.float32)
    y = rng.integers(0, 2, 32)

    def run(epochs, callbacks):
        r = np.random.default_rng(0)
        model = g.Sequential([g.Conv2D(1, 2, 3, seed=r), g.ReLU(), g.Flatten(), g.Dense(72, 2, seed=r), g.Softmax()])
        model.fit(X, y, epochs=epochs, batch_size=8, seed=0, verbose=0, callbacks=callbacks)
        return [p.value.copy() for p in model.parameters()]

    straight = run(4, [RandomShiftFlip(seed=1)])
    path = tmp_path / "ck.safetensors"
    run(2, [RandomShiftFlip(seed=1), g.ModelCheckpoint(path)])
    resumed = run(4, [RandomShiftFlip(seed=99), g.ModelCheckpoint(path, resume=True)])   # seed overwritten
    for a, b in zip(straight, resumed, strict=True):
        np.testing.assert_array_equal(a, b)
