"""`Encoder`: images -> latents, for families that invert their generator (`anomaly`)."""

from __future__ import annotations

import importlib
from typing import Any

import keras
import tensorflow as tf

from gan_tf.networks.base import Discriminator


class Encoder(keras.Model):
    """A discriminator's feature stack followed by a linear map to the latent space.

    As in f-AnoGAN, the encoder has the discriminator's architecture (its own weights and
    settings, `model.encoder`) without the discriminator's logit head.

    Args:
      body: an unbuilt, unconditional discriminator of the run's architecture.
      latent_dim: size of the latents it outputs.
    """

    def __init__(self, body: Discriminator, latent_dim: int, **kwargs: Any):
        super().__init__(**kwargs)
        if body.num_classes or body.mbstd is not None:
            raise ValueError("an encoder body must be unconditional and without mbstd")
        del body.logit  # never called: an unbuilt layer would leave the encoder half built
        self.body = body
        self.latent_dim = int(latent_dim)
        # Latents feed a float32 generator input: the projection computes in float32.
        self.project = keras.layers.Dense(self.latent_dim, name="latents", dtype="float32")

    def get_config(self) -> dict[str, Any]:
        body = type(self.body)
        return {
            "name": self.name,
            "latent_dim": self.latent_dim,
            "body_class": f"{body.__module__}.{body.__qualname__}",
            "body": self.body.get_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Encoder:
        config = dict(config)
        module, _, name = config.pop("body_class").rpartition(".")
        body = getattr(importlib.import_module(module), name).from_config(config.pop("body"))
        return cls(body, **config)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.body.image_shape

    def build(self, input_shape) -> None:
        # The body is used through `features`, never called: build it that way.
        self.body.features(tf.zeros([1, *input_shape[1:]]))
        self.body.built = True
        self.project.build((None, self.body.feature_dim))
        self.built = True

    def call(self, images: tf.Tensor, training: bool = False) -> tf.Tensor:
        features = self.body.features(images, training=training)
        return self.project(tf.cast(features, tf.float32))

    def dummy_inputs(self, batch: int = 2) -> tf.Tensor:
        return tf.zeros([batch, *self.image_shape])
