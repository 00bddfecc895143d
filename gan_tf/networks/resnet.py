"""ResNet generator and spectral-norm discriminator (Miyato et al., 2018) for 32 and 64 px.

The generator starts from a 4x4 map and doubles it in residual up-blocks
(BN-ReLU-upsample-conv3-BN-ReLU-conv3, with a 1x1 shortcut). The discriminator uses residual
down-blocks (the first one "optimised": conv-ReLU-conv-pool), ReLU, global sum pooling and a
linear head, every convolution and dense layer wrapped in spectral normalisation when
`spectral_norm=True` (the usual setting).
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from gan_tf.networks import base

SIZES = (32, 64)


class UpBlock(keras.layers.Layer):
    """Residual block that doubles the resolution."""

    def __init__(self, filters: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.filters = filters
        self.bn1 = base.batch_norm()
        self.bn2 = base.batch_norm()
        self.up = keras.layers.UpSampling2D(2)
        self.conv1 = keras.layers.Conv2D(filters, 3, padding="same")
        self.conv2 = keras.layers.Conv2D(filters, 3, padding="same")
        self.shortcut = keras.layers.Conv2D(filters, 1)

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        h = self.conv1(self.up(tf.nn.relu(self.bn1(x, training=training))))
        h = self.conv2(tf.nn.relu(self.bn2(h, training=training)))
        return h + self.shortcut(self.up(x))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters}


class DownBlock(keras.layers.Layer):
    """Residual block that halves the resolution (`first`: no leading ReLU)."""

    def __init__(self, filters: int, first: bool = False, spectral_norm: bool = True, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.first = first
        self.spectral_norm = spectral_norm
        sn = spectral_norm
        self.conv1 = base.maybe_spectral(keras.layers.Conv2D(filters, 3, padding="same"), sn)
        self.conv2 = base.maybe_spectral(keras.layers.Conv2D(filters, 3, padding="same"), sn)
        self.shortcut = base.maybe_spectral(keras.layers.Conv2D(filters, 1), sn)
        self.pool = keras.layers.AveragePooling2D(2)

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        h = x if self.first else tf.nn.relu(x)
        h = self.conv1(h, training=training)
        h = self.pool(self.conv2(tf.nn.relu(h), training=training))
        if self.first:
            skip = self.shortcut(self.pool(x), training=training)
        else:
            skip = self.pool(self.shortcut(x, training=training))
        return h + skip

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "filters": self.filters,
            "first": self.first,
            "spectral_norm": self.spectral_norm,
        }


class ResNetGenerator(base.Generator):
    """SNGAN/BigGAN-style residual generator with `width` channels per block."""

    def __init__(self, image_size: int, channels: int, **kwargs: Any):
        base.check_image_shape(image_size, channels, SIZES, "resnet")
        super().__init__(image_size, channels, **kwargs)
        steps = int(math.log2(image_size // 4))
        self.project = keras.layers.Dense(4 * 4 * self.width)
        self.reshape = keras.layers.Reshape((4, 4, self.width))
        self.blocks = [UpBlock(self.width, name=f"up_{i}") for i in range(steps)]
        self.bn = base.batch_norm()
        self.to_image = keras.layers.Conv2D(
            channels, 3, padding="same", activation="tanh", dtype="float32"
        )

    def call(self, inputs: Any, training: bool = False) -> tf.Tensor:
        h = self.reshape(self.project(self.condition(inputs)))
        for block in self.blocks:
            h = block(h, training=training)
        return self.to_image(tf.nn.relu(self.bn(h, training=training)))


class ResNetDiscriminator(base.Discriminator):
    """Residual discriminator with global sum pooling and a (projection) linear head."""

    def __init__(self, image_size: int, channels: int, norm: str = "none", **kwargs: Any):
        base.check_image_shape(image_size, channels, SIZES, "resnet")
        super().__init__(image_size, channels, norm=norm, **kwargs)
        steps = int(math.log2(image_size // 4)) - 1
        self.blocks = [
            DownBlock(
                self.width, first=(i == 0), spectral_norm=self.spectral_norm, name=f"down_{i}"
            )
            for i in range(steps)
        ]
        self.final_conv = base.maybe_spectral(
            keras.layers.Conv2D(self.width, 3, padding="same"), self.spectral_norm
        )

    @property
    def feature_dim(self) -> int:
        return self.width

    def features(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        h = x
        for block in self.blocks:
            h = block(h, training=training)
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = tf.nn.relu(self.final_conv(tf.nn.relu(h), training=training))
        return tf.reduce_sum(h, axis=[1, 2])
