"""A fast feature extractor for MNIST-like data: a small CNN classifier trained by the project.

Scores computed with it are *domain* scores (`fid_domain`, `kid_domain`, class coverage ...),
for quick gates, training curves and class metrics, never comparable with published FIDs.

Its weights are never committed: the first use trains them (about two minutes, once per
machine) from the offline MNIST train split, or `gan-tf evaluate --train-domain-classifier`
does, and caches them in `$GAN_TF_CACHE_DIR/metrics/` (default `~/.cache/gan_tf`). Training is
reproducible bit for bit: it runs in a child process with op determinism, one CPU thread and
oneDNN off, every random draw seeded, and the resulting weights must match the SHA-256
recorded here (`PINNED_SHA256`), so every machine scores with the same network. A mismatch
is an error (`GAN_TF_DOMAIN_CLASSIFIER_UNPINNED=1` accepts it and marks the protocol unpinned).

Recipe (`RECIPE`): conv 32-64-128 (3x3, ReLU, max-pool after the first two), dense 128
(the features), dropout 0.3, 10 logits; Adam 1e-3 with cosine decay to 5e-5, batch 128,
4 epochs, each training image shifted by up to 2 pixels (a random crop of the image
padded by 2, drawn from its position in the stream). Test accuracy 99.4%.
`fit_classifier` trains the same network with the same recipe on other images, epochs and
seeds (the fixed classifier of `bench/synthetic_data.py`).

Protocol: uint8 images of any size; RGB is converted to grayscale (ITU-R 601 luma), images of
another size are resized to 28x28 (bilinear with antialiasing), scaled to [0, 1]; features
are the 128-d penultimate ReLU layer, logits the 10-way output.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys

import keras
import numpy as np
import tensorflow as tf

from gan_tf import files
from gan_tf.errors import DataError
from gan_tf.metrics.cache import cache_dir
from gan_tf.metrics.inception import run_batched

log = logging.getLogger(__name__)

VERSION = "mnist-cnn-v2"
SIZE = 28
FEATURE_DIM = 128
EPOCHS = 4
BATCH_SIZE = 128
SHIFT = 2
SEED = 0
RECIPE = (
    f"MNIST train (60k), conv 32-64-128 + dense {FEATURE_DIM} + dropout 0.3, Adam 1e-3 cosine "
    f"to 5e-5, batch {BATCH_SIZE}, {EPOCHS} epochs, shifts up to {SHIFT} px, seed {SEED}, "
    "1 thread, op determinism, oneDNN off"
)
# SHA-256 of the trained weights (every array's bytes, in `model.weights` order).
PINNED_SHA256 = "32b642c1207c4c8dbcd9f3c5ff07f035fcb5ef5c0d1f56534b0f17f00b7ca43d"
UNPINNED_ENV = "GAN_TF_DOMAIN_CLASSIFIER_UNPINNED"


def weights_file(directory: str | None = None) -> str:
    return os.path.join(directory or cache_dir("metrics"), f"{VERSION}.weights.h5")


def build_classifier(seed: int = SEED) -> keras.Model:
    """The domain CNN: 28x28x1 in [0, 1] -> (128-d features, 10 logits); `seed` seeds its
    dropout."""
    layers = keras.layers
    inputs = keras.Input((SIZE, SIZE, 1))
    x = layers.Conv2D(32, 3, padding="same", activation="relu")(inputs)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = layers.MaxPooling2D()(x)
    x = layers.Conv2D(128, 3, padding="same", activation="relu")(x)
    x = layers.Flatten()(x)
    features = layers.Dense(FEATURE_DIM, activation="relu", name="features")(x)
    dropped = layers.Dropout(0.3, seed=seed)(features)
    logits = layers.Dense(10, name="logits")(dropped)
    return keras.Model(inputs, [features, logits], name=VERSION)


def weights_sha256(model: keras.Model) -> str:
    """SHA-256 of every weight array's bytes, in `model.weights` order."""
    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(weight)).tobytes())
    return digest.hexdigest()


def preprocess(images: tf.Tensor) -> tf.Tensor:
    """uint8 NHWC (1 or 3 channels, any size) -> float32 28x28x1 in [0, 1]."""
    x = tf.cast(images, tf.float32)
    if x.shape[-1] == 3:
        x = tf.image.rgb_to_grayscale(x)
    if x.shape[1] != SIZE or x.shape[2] != SIZE:
        x = tf.image.resize(x, [SIZE, SIZE], method="bilinear", antialias=True)
    return x / 255.0


def _training_data(
    images: np.ndarray, labels: np.ndarray, seed: int, epochs: int
) -> tf.data.Dataset:
    """Shuffled epochs of shifted images; every draw is seeded, so the stream is fixed."""
    x = images[..., None].astype(np.float32) / 255.0
    ds = tf.data.Dataset.from_tensor_slices((x, labels)).shuffle(len(x), seed=seed)
    ds = ds.repeat(epochs).enumerate()

    def shift(i, example):
        image, label = example
        padded = tf.pad(image, [[SHIFT, SHIFT], [SHIFT, SHIFT], [0, 0]])
        crop_seed = tf.stack([tf.constant(seed, tf.int64), i])
        return tf.image.stateless_random_crop(padded, [SIZE, SIZE, 1], seed=crop_seed), label

    return ds.map(shift).batch(BATCH_SIZE)


def fit_classifier(
    images: np.ndarray, labels: np.ndarray, seed: int = SEED, epochs: int = EPOCHS
) -> keras.Model:
    """Trains a fresh domain CNN on uint8 `[N, 28, 28]` images with the recipe (`RECIPE`).

    Weights, dropout, shuffling and shifts all derive from `seed` (the process's global
    seeds are set to it); with op determinism on, the same inputs give the same weights.

    Args:
      images: uint8 images `[N, 28, 28]`.
      labels: int class labels `0..9`, one per image.
      seed: the seed of every random draw.
      epochs: passes over the images; the learning rate decays over all of them.

    Returns:
      The trained model (outputs: features, logits).
    """
    keras.utils.set_random_seed(seed)
    model = build_classifier(seed)
    trainer = keras.Model(model.input, model.output[1])
    steps = epochs * -(-len(images) // BATCH_SIZE)
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, steps, alpha=0.05)
    trainer.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    trainer.fit(_training_data(images, labels, seed, epochs), epochs=1, verbose=0)
    return model


def accuracy(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy of the classifier `model` on uint8 `[N, 28, 28]` images."""
    x = images[..., None].astype(np.float32) / 255.0
    _, logits = model.predict(x, batch_size=500, verbose=0)
    return float(np.mean(np.argmax(logits, axis=1) == np.asarray(labels)))


def _train_here(path: str) -> dict:
    """Trains in this process (see `train_classifier`) and writes weights and info."""
    from gan_tf.data import mnist

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    tf.config.experimental.enable_op_determinism()
    arrays = mnist.load_arrays()
    model = fit_classifier(*arrays["train"], seed=SEED, epochs=EPOCHS)
    test_accuracy = accuracy(model, *arrays["test"])
    with files.atomic_path(path, suffix=".weights.h5") as tmp:
        model.save_weights(tmp)
    info = {
        "version": VERSION,
        "test_accuracy": test_accuracy,
        "recipe": RECIPE,
        "sha256": weights_sha256(model),
    }
    files.atomic_write_json(_info_file(path), info)
    return info


def train_classifier(directory: str | None = None) -> str:
    """Trains the domain classifier on offline MNIST train and caches its weights.

    Runs in a child process so that its determinism settings (one thread, op determinism,
    oneDNN off) neither leak into nor depend on the caller's TensorFlow runtime.

    Returns:
      The weights file. A JSON file beside it records the accuracy, recipe and hash.

    Raises:
      DataError: if training fails or the weights differ from the pinned ones.
    """
    path = weights_file(directory)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "TF_CPP_MIN_LOG_LEVEL": "2"}
    code = "import sys; from gan_tf.metrics import domain; domain._train_here(sys.argv[1])"
    log.info("Training the domain classifier %s (about two minutes, once)", VERSION)
    done = subprocess.run(
        [sys.executable, "-c", code, path], env=env, capture_output=True, text=True
    )
    if done.returncode != 0:
        tail = "\n".join(done.stderr.strip().splitlines()[-5:])
        raise DataError(f"training the domain classifier failed:\n{tail}")
    info = _read_info(path)
    _check_pinned(info.get("sha256", ""), path)
    log.info(
        "Domain classifier %s: test accuracy %.4f, weights %s", VERSION, info["test_accuracy"], path
    )
    return path


def _check_pinned(sha256: str, path: str) -> bool:
    """Whether `sha256` is the pinned hash; raises unless the user accepts unpinned weights."""
    if sha256 == PINNED_SHA256:
        return True
    if os.environ.get(UNPINNED_ENV) == "1":
        log.warning("Domain classifier %s is not the pinned network (sha256 %s)", path, sha256)
        return False
    raise DataError(
        f"the domain classifier {path} has sha256 {sha256[:16]}..., not the pinned "
        f"{PINNED_SHA256[:16]}...: domain scores would not be comparable with other machines'. "
        f"Delete it to retrain, or set {UNPINNED_ENV}=1 to use it anyway"
    )


def _info_file(weights: str) -> str:
    return weights.replace(".weights.h5", ".json")


class DomainFeatures:
    """uint8 images in, 128-d domain features (and 10-way logits) out."""

    name = "domain"
    feature_dim = FEATURE_DIM
    has_logits = True

    def __init__(self, batch_size: int = 250, directory: str | None = None):
        path = weights_file(directory)
        if not os.path.isfile(path):
            log.info("No cached domain classifier at %s: training it (once)", path)
            train_classifier(directory)
        self.model = build_classifier()
        try:
            self.model.load_weights(path)
        except (OSError, ValueError) as e:
            raise DataError(
                f"cannot load domain classifier weights {path}: {e}; delete the file to retrain"
            ) from None
        self.sha256 = weights_sha256(self.model)
        self.pinned = _check_pinned(self.sha256, path)
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
            "weights_sha256": self.sha256,
            "pinned": self.pinned,
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
        with open(_info_file(weights), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}
