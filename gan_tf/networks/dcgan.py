"""DCGAN (Radford et al., 2016) for 28, 32 and 64 pixel images, grayscale or RGB.

The generator projects z to a 7x7 (28 px) or 4x4 (32, 64 px) map with `width * 2**n` channels
and doubles the resolution `n` times with stride-2 transposed convolutions, halving the
channels; a 3x3 convolution and tanh make the image. The discriminator mirrors it with
stride-2 convolutions and LeakyReLU(0.2); its first layer is never normalised.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from gan_tf.errors import ConfigError
from gan_tf.networks import base

SIZES = (28, 32, 64)


def _start_and_steps(image_size: int) -> tuple[int, int]:
    start = 7 if image_size == 28 else 4
    return start, int(math.log2(image_size // start))


UPSAMPLES = ("transpose", "nearest")


class DCGANGenerator(base.Generator):
    """DCGAN generator: normalisation (synchronised batch norm by default) and ReLU.

    Args:
      kernel_size: kernel of the stride-2 transposed convolutions (4 in the paper; 3 runs
        about twice as fast on CPUs).
      norm: `batch`, `pixel` or `none` after every layer but the last.
      upsample: `transpose` (stride-2 transposed convolutions, as in the paper) or `nearest`
        (nearest-neighbour doubling, then a convolution: the same cost, and no checkerboard
        pattern from the uneven overlap of kernel-3 transposed convolutions).
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        kernel_size: int = 4,
        norm: str = "batch",
        upsample: str = "transpose",
        **kwargs: Any,
    ):
        base.check_image_shape(image_size, channels, SIZES, "dcgan")
        if upsample not in UPSAMPLES:
            raise ConfigError(
                f"unknown upsampling {upsample!r} (model.generator.upsample); expected one of "
                f"{UPSAMPLES}"
            )
        super().__init__(image_size, channels, **kwargs)
        self.kernel_size = kernel_size
        self.norm = norm
        self.upsample = upsample
        start, steps = _start_and_steps(image_size)
        top = self.width * 2**steps
        self.project = keras.layers.Dense(start * start * top, use_bias=norm == "none")
        self.reshape = keras.layers.Reshape((start, start, top))
        self.blocks = [base.g_norm_layer(norm), keras.layers.ReLU()]
        for i in range(steps):
            filters = top // 2 ** (i + 1)
            if upsample == "transpose":
                self.blocks.append(
                    keras.layers.Conv2DTranspose(
                        filters, kernel_size, strides=2, padding="same", use_bias=norm == "none"
                    )
                )
            else:
                self.blocks += [
                    keras.layers.UpSampling2D(2, interpolation="nearest"),
                    keras.layers.Conv2D(
                        filters, kernel_size, padding="same", use_bias=norm == "none"
                    ),
                ]
            self.blocks += [base.g_norm_layer(norm), keras.layers.ReLU()]
        self.to_image = keras.layers.Conv2D(
            channels, 3, padding="same", activation="tanh", dtype="float32"
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "norm": self.norm,
            "upsample": self.upsample,
        }

    def call(self, inputs: Any, training: bool = False) -> tf.Tensor:
        h = self.reshape(self.project(self.condition(inputs)))
        for layer in self.blocks:
            h = layer(h, training=training)
        return self.to_image(h)


class DCGANDiscriminator(base.Discriminator):
    """DCGAN discriminator; `norm` and `spectral_norm` select its normalisation.

    Args:
      kernel_size: kernel of the stride-2 convolutions.
      hidden: units of a fully connected layer between the convolutions and the head (0 =
        none); normalised like the convolutions, then leaky ReLU.
    """

    def __init__(
        self, image_size: int, channels: int, kernel_size: int = 4, hidden: int = 0, **kwargs: Any
    ):
        base.check_image_shape(image_size, channels, SIZES, "dcgan")
        self.hidden = hidden
        super().__init__(image_size, channels, **kwargs)
        self.kernel_size = kernel_size
        _, steps = _start_and_steps(image_size)
        self.blocks = []
        for i in range(steps):
            conv = keras.layers.Conv2D(self.width * 2**i, kernel_size, strides=2, padding="same")
            self.blocks.append(base.maybe_spectral(conv, self.spectral_norm))
            if i > 0:
                self.blocks.append(base.d_norm_layer(self.norm))
            self.blocks.append(keras.layers.LeakyReLU(0.2))
        self.flatten = keras.layers.Flatten()
        self.dense = (
            [
                base.maybe_spectral(keras.layers.Dense(hidden), self.spectral_norm),
                base.d_norm_layer(self.norm),
                keras.layers.LeakyReLU(0.2),
            ]
            if hidden
            else []
        )

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "kernel_size": self.kernel_size, "hidden": self.hidden}

    @property
    def feature_dim(self) -> int:
        if self.hidden:
            return self.hidden
        start, steps = _start_and_steps(self.image_size)
        return start * start * (self.width * 2 ** (steps - 1) + (1 if self.mbstd else 0))

    def features(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        h = x
        for layer in self.blocks:
            h = layer(h, training=training)
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = self.flatten(h)
        for layer in self.dense:
            h = layer(h, training=training)
        return h
