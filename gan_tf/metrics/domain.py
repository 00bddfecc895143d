"""A fast feature extractor for MNIST-like data: a small CNN classifier trained by the project.

Scores computed with it are *domain* scores (`fid_domain`, `kid_domain`, ...), useful for quick
gates and training curves, never comparable with published FIDs. Its weights are trained on
the offline MNIST train split, reproducibly from a command:

    gan-tf evaluate --train-domain-classifier
    # or: python scripts/train_domain_classifier.py

and cached in `$GAN_TF_CACHE_DIR/metrics/` (default `~/.cache/gan_tf`), never committed. The
first use trains it (about a minute on 2 CPU cores) if the cache is empty.

Protocol: uint8 images of any size; RGB is converted to grayscale (ITU-R 601 luma), images of
another size are resized to 28x28 (bilinear with antialiasing), scaled to [0, 1]; features
are the 128-d penultimate ReLU layer, logits the 10-way output.
"""

from __future__ import annotations

import json
import logging
import os

import keras
import numpy as np
import tensorflow as tf

from gan_tf import files
from gan_tf.errors import DataError
from gan_tf.metrics.cache import cache_dir
from gan_tf.metrics.inception import run_batched

log = logging.getLogger(__name__)

VERSION = "mnist-cnn-v1"
SIZE = 28
FEATURE_DIM = 128
EPOCHS = 2
BATCH_SIZE = 128
SEED = 0


def weights_file(directory: str | None = None) -> str:
    return os.path.join(directory or cache_dir("metrics"), f"{VERSION}.weights.h5")


def build_classifier() -> keras.Model:
    """The domain CNN: 28x28x1 in [0, 1] -> (128-d features, 10 logits)."""
    inputs = keras.Input((SIZE, SIZE, 1))
    x = keras.layers.Conv2D(32, 3, strides=2, padding="same", activation="relu")(inputs)
    x = keras.layers.Conv2D(64, 3, strides=2, padding="same", activation="relu")(x)
    x = keras.layers.Flatten()(x)
    features = keras.layers.Dense(FEATURE_DIM, activation="relu", name="features")(x)
    logits = keras.layers.Dense(10, name="logits")(features)
    return keras.Model(inputs, [features, logits], name=VERSION)


def preprocess(images: tf.Tensor) -> tf.Tensor:
    """uint8 NHWC (1 or 3 channels, any size) -> float32 28x28x1 in [0, 1]."""
    x = tf.cast(images, tf.float32)
    if x.shape[-1] == 3:
        x = tf.image.rgb_to_grayscale(x)
    if x.shape[1] != SIZE or x.shape[2] != SIZE:
        x = tf.image.resize(x, [SIZE, SIZE], method="bilinear", antialias=True)
    return x / 255.0


def train_classifier(directory: str | None = None, verbose: int = 2) -> str:
    """Trains the domain classifier on offline MNIST train and caches its weights.

    Returns:
      The weights file. A JSON file beside it records the test accuracy and the recipe.
    """
    from gan_tf.data import mnist

    arrays = mnist.load_arrays()
    (x_train, y_train), (x_test, y_test) = arrays["train"], arrays["test"]
    keras.utils.set_random_seed(SEED)
    model = build_classifier()
    trainer = keras.Model(model.input, model.output[1])
    trainer.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    x_train = x_train[..., None].astype(np.float32) / 255.0
    x_test = x_test[..., None].astype(np.float32) / 255.0
    trainer.fit(
        x_train, y_train, batch_size=BATCH_SIZE, epochs=EPOCHS, shuffle=True, verbose=verbose
    )
    _, accuracy = trainer.evaluate(x_test, y_test, batch_size=500, verbose=0)
    path = weights_file(directory)
    with files.atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    info = {
        "version": VERSION,
        "test_accuracy": float(accuracy),
        "recipe": f"MNIST train (60k), Adam 1e-3, batch {BATCH_SIZE}, {EPOCHS} epochs, seed {SEED}",
    }
    with open(path.replace(".weights.h5", ".json"), "w", encoding="utf-8") as f:
        json.dump(info, f, indent=2)
    log.info("Domain classifier %s: test accuracy %.4f, weights %s", VERSION, accuracy, path)
    return path


class DomainFeatures:
    """uint8 images in, 128-d domain features (and 10-way logits) out."""

    name = "domain"
    feature_dim = FEATURE_DIM
    has_logits = True

    def __init__(self, batch_size: int = 250, directory: str | None = None):
        path = weights_file(directory)
        if not os.path.isfile(path):
            log.info("No cached domain classifier at %s: training it (about a minute)", path)
            train_classifier(directory)
        self.model = build_classifier()
        try:
            self.model.load_weights(path)
        except (OSError, ValueError) as e:
            raise DataError(
                f"cannot load domain classifier weights {path}: {e}; delete the file to retrain"
            ) from None
        self.batch_size = batch_size
        self.info = _read_info(path)

        @tf.function
        def both(images):
            features, logits = self.model(preprocess(images), training=False)
            return tf.concat([features, logits], axis=1)

        self._both = both
        self.protocol = {
            "features": f"domain classifier {VERSION} penultimate layer ({FEATURE_DIM}-d); "
            "NOT Inception: domain scores are not comparable with published FIDs",
            "weights": f"{path} (test accuracy {self.info.get('test_accuracy', 'unknown')})",
            "resizer": f"none for {SIZE}x{SIZE}, else bilinear with antialias to {SIZE}x{SIZE}",
            "grayscale": "RGB converted to luma",
            "scaling": "x / 255",
        }

    def features_and_logits(self, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = run_batched(self._both, images, self.batch_size)
        if len(out) == 0:
            return np.zeros((0, FEATURE_DIM), np.float32), np.zeros((0, 10), np.float32)
        return out[:, :FEATURE_DIM], out[:, FEATURE_DIM:]

    def __call__(self, images: np.ndarray) -> np.ndarray:
        return self.features_and_logits(images)[0]


def _read_info(weights: str) -> dict:
    try:
        with open(weights.replace(".weights.h5", ".json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}
