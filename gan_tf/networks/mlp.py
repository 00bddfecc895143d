"""The vanilla fully connected GAN of Goodfellow et al. (2014), for any image size."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from gan_tf.errors import ConfigError
from gan_tf.networks import base


class MLPGenerator(base.Generator):
    """Three hidden layers of `width`, `2 width`, `4 width` units, tanh output."""

    def __init__(self, image_size: int, channels: int, **kwargs: Any):
        super().__init__(image_size, channels, **kwargs)
        self.hidden = [
            keras.layers.Dense(self.width * m, activation="leaky_relu", name=f"dense_{i}")
            for i, m in enumerate((1, 2, 4))
        ]
        self.out = keras.layers.Dense(
            image_size * image_size * channels, activation="tanh", dtype="float32"
        )
        self.reshape = keras.layers.Reshape(self.image_shape)

    def call(self, inputs: Any, training: bool = False) -> tf.Tensor:
        h = self.condition(inputs)
        for layer in self.hidden:
            h = layer(h)
        return self.reshape(self.out(h))


class MLPDiscriminator(base.Discriminator):
    """Two hidden layers of `4 width` and `2 width` units.

    Args:
      noise: standard deviation of Gaussian noise added, in training only, to the input and
        to each hidden layer's output (0 = none), the regulariser of Salimans et al.'s (2016)
        semi-supervised MNIST discriminator (they used 0.3 and 0.5).
    """

    def __init__(self, image_size: int, channels: int, noise: float = 0.0, **kwargs: Any):
        if kwargs.get("mbstd_group"):
            raise ConfigError(
                "model.discriminator.mbstd_group needs a convolutional discriminator "
                "(dcgan, resnet), not mlp"
            )
        super().__init__(image_size, channels, **kwargs)
        self.noise = float(noise)
        self.flatten = keras.layers.Flatten()
        # Noise layers hold random-generator state: made only when used, so that a
        # discriminator without noise keeps the variables it always had.
        self.hidden = [keras.layers.GaussianNoise(self.noise)] if self.noise else []
        for i, m in enumerate((4, 2)):
            self.hidden.append(
                base.maybe_spectral(keras.layers.Dense(self.width * m), self.spectral_norm)
            )
            self.hidden.append(base.d_norm_layer(self.norm) if i > 0 else keras.layers.Identity())
            self.hidden.append(keras.layers.LeakyReLU(0.2))
            if self.noise:
                self.hidden.append(keras.layers.GaussianNoise(self.noise))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "noise": self.noise}

    @property
    def feature_dim(self) -> int:
        return self.width * 2

    def features(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        h = self.flatten(x)
        for layer in self.hidden:
            h = layer(h, training=training)
        return h
