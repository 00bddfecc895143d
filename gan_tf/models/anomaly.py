"""`AnomalyGAN`: a GAN trained on normal data, then an encoder that inverts its generator.

f-AnoGAN (Schlegl et al. 2019) in one run. Steps `[0, gan_steps)` are the GAN's own
(`gan_tf.models.gan.GAN.train_step`); from step `gan_steps` on, the generator and
discriminator are frozen and each step trains the encoder E on the "izi_f" loss

    mean((x - G(E(x)))^2) + feature_weight * mean((f(x) - f(G(E(x))))^2)

where G is the EMA generator as outputs see it (float32, batch-norm statistics recomputed for
its weights; `OutputGenerator`) and f the discriminator's features in inference mode. The
same expression, per image, is the anomaly score (`gan_tf.detector`).

The phase is a Python attribute: the train function is traced for one phase and traced again
when the phase changes (`set_phase`), so neither phase pays for the other's graph and every
`tf.distribute` strategy sees plain, unconditional updates.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from gan_tf.models.gan import GAN
from gan_tf.networks.base import Discriminator, Generator
from gan_tf.networks.heads import Encoder


def residuals(
    images: tf.Tensor,
    reconstructions: tf.Tensor,
    discriminator: Discriminator,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-image mean squared residuals of the pixels and of the discriminator's features.

    Args:
      images: real images in [-1, 1], `[n, H, W, C]`.
      reconstructions: `G(E(images))`, same shape.
      discriminator: whose features (inference mode) are compared.

    Returns:
      `(image_residual, feature_residual)`, each float32 `[n]`.
    """
    images = tf.cast(images, tf.float32)
    reconstructions = tf.cast(reconstructions, tf.float32)
    pixels = tf.reduce_mean(tf.square(images - reconstructions), axis=[1, 2, 3])
    both = discriminator.features(tf.concat([images, reconstructions], 0), training=False)
    real, fake = tf.split(tf.cast(both, tf.float32), 2)
    features = tf.reduce_mean(tf.square(real - fake), axis=1)
    return pixels, features


class AnomalyGAN(GAN):
    """A `GAN` plus an encoder trained after it (see the module docstring).

    Args:
      generator, discriminator: the GAN's networks.
      encoder: maps images to latents.
      gan_steps: number of GAN steps before the encoder steps.
      feature_weight: kappa, the weight of the feature residual.
      **kwargs: the `GAN`'s settings.
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        encoder: Encoder,
        gan_steps: int,
        feature_weight: float = 1.0,
        **kwargs: Any,
    ):
        super().__init__(generator, discriminator, **kwargs)
        self.encoder = encoder
        self.gan_steps = int(gan_steps)
        self.feature_weight = float(feature_weight)
        self.encoder_phase = False
        self.encoder_trackers = {
            name: keras.metrics.Mean(name=name) for name in ("e_loss", "e_image", "e_feature")
        }

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return [*self.trackers.values(), *self.encoder_trackers.values()]

    def build_networks(self) -> None:
        super().build_networks()
        self.encoder(self.encoder.dummy_inputs())

    def compile(self, g_optimizer, d_optimizer, e_optimizer, **kwargs: Any) -> None:
        """Sets the three optimizers and builds them on their networks' variables."""
        super().compile(g_optimizer, d_optimizer, **kwargs)
        self.e_optimizer = e_optimizer
        e_optimizer.build(self.encoder.trainable_variables)

    def set_phase(self, step: int) -> bool:
        """Enters the phase of `step`; returns whether it changed (the train function must
        then be traced again).

        Entering the encoder phase fixes the generator the encoder inverts: the EMA
        generator's output copy, whose batch-norm statistics are a pure function of the EMA
        weights, so a resumed run inverts exactly the same network.
        """
        encoder_phase = step >= self.gan_steps
        changed = encoder_phase != self.encoder_phase
        if changed and encoder_phase:
            self.output_generator()
        self.encoder_phase = encoder_phase
        return changed

    def reconstruct(self, images: tf.Tensor, training: bool = False) -> tf.Tensor:
        """`G(E(images))` with the frozen generator, in [-1, 1]."""
        z = self.encoder(images, training=training)
        c = tf.zeros([tf.shape(z)[0], 0])
        return self._outputs.net((z, c), training=False)

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        if not self.encoder_phase:
            return super().train_step(data)
        images = data[0] if isinstance(data, (tuple, list)) else data
        images = tf.cast(images, tf.float32)
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx is not None else 1
        global_batch = tf.shape(images)[0] * replicas
        e_vars = self.encoder.trainable_variables
        with tf.GradientTape() as tape:
            image_res, feature_res = residuals(
                images, self.reconstruct(images, training=True), self.discriminator
            )
            per_example = image_res + self.feature_weight * feature_res
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            loss = self.e_optimizer.scale_loss(loss)
        self.e_optimizer.apply_gradients(zip(tape.gradient(loss, e_vars), e_vars))
        self.step_counter.assign_add(1)
        self.encoder_trackers["e_loss"].update_state(per_example)
        self.encoder_trackers["e_image"].update_state(image_res)
        self.encoder_trackers["e_feature"].update_state(feature_res)
        return self.logs(self.encoder_trackers)
