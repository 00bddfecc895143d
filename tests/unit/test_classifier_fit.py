"""The domain classifier's trainer on a tiny input: outputs, training, determinism per seed."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from gan_tf.metrics import domain


@pytest.fixture(scope="module")
def tiny():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    return images, np.arange(40) % 10


@pytest.fixture(scope="module")
def fitted(tiny):
    return {
        name: domain.fit_classifier(*tiny, seed=seed, epochs=2)
        for name, seed in (("a", 0), ("b", 0), ("c", 1))
    }


def test_outputs_features_and_logits(fitted, tiny):
    features, logits = fitted["a"](tiny[0][:5, ..., None] / 255.0, training=False)
    assert features.shape == (5, domain.FEATURE_DIM)
    assert logits.shape == (5, 10)


def test_training_moves_the_weights(fitted):
    # Seeding then building gives fit_classifier's initial weights.
    keras.utils.set_random_seed(0)
    untrained = domain.build_classifier(0)
    assert domain.weights_sha256(untrained) != domain.weights_sha256(fitted["a"])


def test_same_seed_same_weights_other_seed_other_weights(fitted):
    assert domain.weights_sha256(fitted["a"]) == domain.weights_sha256(fitted["b"])
    assert domain.weights_sha256(fitted["a"]) != domain.weights_sha256(fitted["c"])


def test_accuracy_is_the_share_of_argmax_hits(fitted, tiny):
    images = tiny[0]
    _, logits = fitted["a"](images[..., None].astype(np.float32) / 255.0, training=False)
    predicted = np.argmax(logits.numpy(), axis=1)
    assert domain.accuracy(fitted["a"], images, predicted) == 1.0
    labels = predicted.copy()
    labels[:10] = (predicted[:10] + 1) % 10
    assert domain.accuracy(fitted["a"], images, labels) == 0.75
