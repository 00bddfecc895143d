"""DCGAN (Radford et al., 2016) for 28, 32 and 64 pixel images, grayscale or RGB.

The generator projects z to a 7x7 (28 px) or 4x4 (32, 64 px) map with `width * 2**n` channels
and doubles the resolution `n` times with stride-2 transposed convolutions, halving the
channels; a 3x3 convolution and tanh make the image. The discriminator mirrors it with
stride-2 convolutions and LeakyReLU(0.2); its first layer is never normalised.

With `progressive=true` both networks grow by level of detail (`gan_tf.networks.progressive`):
the generator has an image layer at every resolution and blends them, the discriminator
reads the input at every resolution through 1x1 convolutions and blends them.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import tensorflow as tf

from gan_tf.errors import ConfigError
from gan_tf.networks import base
from gan_tf.networks.progressive import blur_to_lod, grow_images, lod_variable, shrink_features

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
      progressive: grow by level of detail (an image layer per resolution).
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        kernel_size: int = 4,
        norm: str = "batch",
        upsample: str = "transpose",
        progressive: bool = False,
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
        self.progressive, self.levels = progressive, steps + 1
        # Image layers of the lower resolutions, lowest first (the top one is `to_image`).
        self.lower_images = [
            keras.layers.Conv2D(channels, 3, padding="same", activation="tanh", dtype="float32")
            for _ in range(steps if progressive else 0)
        ]
        self.lod = lod_variable(self)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "norm": self.norm,
            "upsample": self.upsample,
            "progressive": self.progressive,
        }

    def call(self, inputs: Any, training: bool = False) -> tf.Tensor:
        h = self.reshape(self.project(self.condition(inputs)))
        if not self.progressive:
            for layer in self.blocks:
                h = layer(h, training=training)
            return self.to_image(h)
        # blocks: norm, ReLU, then per resolution the upsampling layers, norm and ReLU.
        per_level = (len(self.blocks) - 2) // (self.levels - 1)
        images = []
        for level, to_image in enumerate([*self.lower_images, self.to_image]):
            start = 0 if level == 0 else 2 + (level - 1) * per_level
            for layer in self.blocks[start : 2 if level == 0 else start + per_level]:
                h = layer(h, training=training)
            images.append(to_image(h))
        return grow_images(images, self.lod)


class DCGANDiscriminator(base.Discriminator):
    """DCGAN discriminator; `norm` and `spectral_norm` select its normalisation.

    Args:
      kernel_size: kernel of the stride-2 convolutions.
      hidden: units of a fully connected layer between the convolutions and the head (0 =
        none); normalised like the convolutions, then leaky ReLU.
      progressive: grow by level of detail (a 1x1 input convolution per lower resolution).
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        kernel_size: int = 4,
        hidden: int = 0,
        progressive: bool = False,
        **kwargs: Any,
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
        self.progressive, self.levels = progressive, steps + 1
        # Input layers of the lower resolutions, lowest first: level i's features are those
        # of convolution `steps - 1 - i`, with `width * 2**(steps - 1 - i)` channels.
        self.lower_inputs = [
            base.maybe_spectral(
                keras.layers.Conv2D(self.width * 2 ** (steps - 1 - i), 1), self.spectral_norm
            )
            for i in range(steps if progressive else 0)
        ]
        self.lod = lod_variable(self)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "kernel_size": self.kernel_size,
            "hidden": self.hidden,
            "progressive": self.progressive,
        }

    @property
    def feature_dim(self) -> int:
        if self.hidden:
            return self.hidden
        start, steps = _start_and_steps(self.image_size)
        return start * start * (self.width * 2 ** (steps - 1) + (1 if self.mbstd else 0))

    def _convolutions(self, training: bool) -> list:
        """Each stride-2 convolution with its norm and activation, as one function."""
        groups, current = [], []
        for layer in self.blocks:
            current.append(layer)
            if isinstance(layer, keras.layers.LeakyReLU):
                groups.append(current)
                current = []

        def run(layers):
            def apply(h):
                for layer in layers:
                    h = layer(h, training=training)
                return h

            return apply

        return [run(group) for group in groups]

    def features(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        convolutions = self._convolutions(training)
        if self.progressive:
            x = blur_to_lod(x, self.lod, self.levels)
            inputs = [
                lambda h, layer=layer: tf.nn.leaky_relu(layer(h), 0.2)
                for layer in self.lower_inputs
            ]
            # Block i maps level i + 1 to level i: convolution `steps - 1 - i`.
            h = shrink_features(x, self.lod, [*inputs, lambda h: h], convolutions[::-1])
        else:
            h = x
            for convolution in convolutions:
                h = convolution(h)
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = self.flatten(h)
        for layer in self.dense:
            h = layer(h, training=training)
        return h
