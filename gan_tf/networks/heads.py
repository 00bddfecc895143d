"""Networks made of a discriminator's feature stack and a linear map of their own.

`Encoder`   images -> latents (`anomaly` family: f-AnoGAN's encoder)
`Classifier` images -> K class logits (`semi_supervised` family: the K-class discriminator)
"""

from __future__ import annotations

import importlib
from typing import Any

import keras
import tensorflow as tf

from gan_tf.networks.base import Discriminator
from gan_tf.networks.mlp import WeightNormDense


class FeatureHead(keras.Model):
    """A discriminator's feature stack (`Discriminator.features`) and a linear map to `units`
    outputs, computed in float32; the discriminator's own logit head is dropped. On a body
    initialised from data (`data_init`), the map is a weight-normalised layer with a trained
    gain, initialised from data with it (Salimans et al.'s class head).

    Args:
      body: an unbuilt, unconditional discriminator of the run's architecture.
      units: number of outputs.
    """

    def __init__(self, body: Discriminator, units: int, **kwargs: Any):
        super().__init__(**kwargs)
        if body.num_classes or body.mbstd is not None:
            raise ValueError("a feature head's body must be unconditional and without mbstd")
        del body.logit  # never called: an unbuilt layer would leave the network half built
        self.body = body
        self.units = int(units)
        if self.data_init:
            self.project = WeightNormDense(
                self.units, gain="trained", name="outputs", dtype="float32"
            )
        else:
            self.project = keras.layers.Dense(self.units, name="outputs", dtype="float32")

    def get_config(self) -> dict[str, Any]:
        body = type(self.body)
        return {
            "name": self.name,
            "units": self.units,
            "body_class": f"{body.__module__}.{body.__qualname__}",
            "body": self.body.get_config(),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> FeatureHead:
        config = dict(config)
        module, _, name = config.pop("body_class").rpartition(".")
        body = getattr(importlib.import_module(module), name).from_config(config.pop("body"))
        return cls(body, **config)

    @property
    def data_init(self) -> bool:
        """Whether the body, and so the map, is initialised from data."""
        return bool(getattr(self.body, "data_init", False))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.body.image_shape

    def build(self, input_shape) -> None:
        # The body is used through `features`, never called: build it that way.
        self.body.features(tf.zeros([1, *input_shape[1:]]))
        self.body.built = True
        self.project.build((None, self.body.feature_dim))
        self.built = True

    def features(
        self, images: tf.Tensor, training: bool = False, before_noise: bool = False
    ) -> tf.Tensor:
        """The body's features of `images`; with `before_noise`, those before the body's last
        Gaussian noise (`MLPDiscriminator.features_before_noise`)."""
        if before_noise:
            return self.body.features_before_noise(images, training=training)
        return self.body.features(images, training=training)

    def call(self, images: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self.project(tf.cast(self.features(images, training=training), tf.float32))

    def initialise_from_data(self, images: tf.Tensor, seed: int) -> None:
        """Data-dependent initialisation of the body and the map, layer by layer, on `images`
        with training-time noise drawn from `seed` (`MLPDiscriminator.initialise_from_data`):
        the outputs on them start with mean 0 and spread 1 per unit.

        Raises:
          ValueError: when the body was built without `data_init`.
        """
        if not self.data_init:
            raise ValueError("this network's body was built without data_init")
        self.project.initialise(self.body.initialise_from_data(images, seed))

    def dummy_inputs(self, batch: int = 2) -> tf.Tensor:
        return tf.zeros([batch, *self.image_shape])


class Encoder(FeatureHead):
    """Images -> latents: as in f-AnoGAN, the discriminator's architecture (its own weights
    and settings, `model.encoder`) mapping to the latent space."""

    @property
    def latent_dim(self) -> int:
        return self.units


class Classifier(FeatureHead):
    """Images -> logits of K classes: the discriminator of a semi-supervised GAN, whose
    "real" probability is `Z / (Z + 1)` with `Z = sum_k exp(logit_k)` (Salimans et al. 2016)."""

    @property
    def num_outputs(self) -> int:
        return self.units


def class_outputs(classifier: Classifier, images: tf.Tensor) -> dict[str, tf.Tensor]:
    """What a classifier says of uint8 NHWC images: `probabilities` (the logits' softmax,
    float32 `[n, K]`) and `labels` (the largest logit, int64 `[n]`). The maths of the
    export's `classify` signature and of `gan_tf.families.semi_supervised.predictions`."""
    from gan_tf.data.pipeline import to_unit_range

    logits = tf.cast(classifier(to_unit_range(images)), tf.float32)
    return {"probabilities": tf.nn.softmax(logits), "labels": tf.argmax(logits, axis=1)}
