"""Projection of real images into a generator's latent space: find z with G(z) ≈ x.

Two ways, chosen by what the run has:

* `by_encoder`: a run with an encoder (`anomaly` family) maps each image in one pass,
  z = E(x);
* `by_optimisation`: otherwise z starts at 0 (the prior's mean) and Adam minimises, per image,
  `mean((G(z) - x)^2) + feature_weight * mean((f(G(z)) - f(x))^2)`, with f the run's
  discriminator features (a perceptual loss learnt on the run's own data). Each image's
  loss has its own gradient and Adam acts per element, so an image's latent does not depend
  on the rest of its batch.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from gan_tf.data.pipeline import to_unit_range
from gan_tf.networks.base import Discriminator, Generator, condition


def by_encoder(detector, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Latents `E(x)` and reconstructions `G(E(x))` (in [-1, 1]) of uint8 images."""
    x = to_unit_range(images)
    z = detector.encoder(x, training=False)
    reconstructions = detector.generator((z, tf.zeros([len(images), 0])), training=False)
    return z.numpy(), reconstructions.numpy()


def by_optimisation(
    generator: Generator,
    discriminator: Discriminator,
    images: np.ndarray,
    labels: np.ndarray | None = None,
    steps: int = 300,
    learning_rate: float = 0.05,
    feature_weight: float = 1.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Latents found by `steps` Adam steps from z = 0, and their images (in [-1, 1]).

    Args:
      generator, discriminator: the run's networks.
      images: uint8 images `[n, H, W, C]`.
      labels: their classes, for a conditional generator.
      steps, learning_rate: the optimisation.
      feature_weight: weight of the discriminator-feature term.
    """
    x = to_unit_range(images)
    c = condition(labels, generator.num_classes, len(images))
    target = discriminator.features(x, training=False)
    z = tf.Variable(tf.zeros([len(images), generator.latent_dim]))
    optimizer = keras.optimizers.Adam(learning_rate)

    def losses() -> tf.Tensor:
        fake = generator((z, c), training=False)
        pixels = tf.reduce_mean(tf.square(fake - x), axis=[1, 2, 3])
        features = tf.reduce_mean(
            tf.square(discriminator.features(fake, training=False) - target), axis=1
        )
        return pixels + feature_weight * features

    @tf.function
    def step() -> None:
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(losses())  # each image's gradient is its own loss's
        optimizer.apply_gradients([(tape.gradient(total, z), z)])

    for _ in range(steps):
        step()
    return z.numpy(), generator((z, c), training=False).numpy()
