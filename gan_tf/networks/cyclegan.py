"""The networks of CycleGAN (Zhu et al. 2017), sized for small images.

`Translator`: images of one domain to images of another, both in [-1, 1]: a 7x7
convolution, two stride-2 downsamplings, residual blocks, two stride-2 transposed
convolutions and a 7x7 convolution to the output channels with tanh; instance norm and ReLU
after every convolution but the last (Johnson et al. 2016, as CycleGAN's ResNet generator).
With fewer downsamplings (1 or 0) its blocks work on finer features, each seeing less of the
image: without downsampling, 3 blocks give a 25 px receptive field; with two, each 7 px
feature of a 28 px image sees all of it.

`PatchDiscriminator`: a PatchGAN (Isola et al. 2017): 4x4 convolutions, two of stride 2,
LeakyReLU(0.2) and instance norm (not after the first), ending in a map of logits, one per
overlapping patch. Instance norm normalises each image alone, so a network's outputs for an
image never depend on the rest of its batch (one replica or many).
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from gan_tf.errors import ConfigError


def instance_norm(name: str) -> keras.layers.Layer:
    """Per-image, per-channel normalisation with a learned scale and offset."""
    return keras.layers.GroupNormalization(groups=-1, epsilon=1e-5, name=name)


def _check_shape(image_size: int, channels: int, downsamplings: int, network: str) -> None:
    if image_size % 2**downsamplings:
        raise ConfigError(
            f"the CycleGAN {network} halves the resolution {downsamplings} times: "
            f"data.image_size must be a multiple of {2**downsamplings}, got {image_size}"
        )
    if channels not in (1, 3):
        raise ConfigError(f"image channels must be 1 or 3, not {channels}")


class ResidualBlock(keras.layers.Layer):
    """`x + IN(conv(relu(IN(conv(x)))))` with 3x3 convolutions."""

    def __init__(self, filters: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.conv1 = keras.layers.Conv2D(filters, 3, padding="same", name="conv1")
        self.norm1 = instance_norm("norm1")
        self.conv2 = keras.layers.Conv2D(filters, 3, padding="same", name="conv2")
        self.norm2 = instance_norm("norm2")

    def call(self, x: tf.Tensor) -> tf.Tensor:
        y = tf.nn.relu(self.norm1(self.conv1(x)))
        return x + self.norm2(self.conv2(y))


class ImageNetwork(keras.Model):
    """Base class: a network on `[n, image_size, image_size, channels]` images."""

    image_size: int
    channels: int

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, self.channels)

    def dummy_inputs(self, batch: int = 2) -> tf.Tensor:
        """Inputs of the right shape, used to build the variables."""
        return tf.zeros([batch, *self.image_shape])

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> ImageNetwork:
        return cls(**config)


class Translator(ImageNetwork):
    """A CycleGAN generator: `[n, S, S, channels]` -> `[n, S, S, out_channels]`, in [-1, 1].

    Args:
      image_size: S, a multiple of `2 ** downsamplings`.
      channels: input channels (1 or 3).
      out_channels: output channels (1 or 3).
      width: channels of the first convolution (x2 after each downsampling).
      blocks: residual blocks at resolution S / 2**downsamplings.
      downsamplings: stride-2 convolutions before the blocks, each undone by a stride-2
        transposed convolution after them: 2 (CycleGAN's), 1 or 0.

    Raises:
      ConfigError: for an unsupported image shape or non-positive sizes.
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        out_channels: int,
        width: int = 32,
        blocks: int = 3,
        downsamplings: int = 2,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if width <= 0 or blocks < 0:
            raise ConfigError(f"translator width must be > 0 and blocks >= 0: {width}, {blocks}")
        if downsamplings not in (0, 1, 2):
            raise ConfigError(
                f"model.generator.downsamplings must be 0, 1 or 2, got {downsamplings!r}"
            )
        _check_shape(image_size, channels, downsamplings, "translator")
        _check_shape(image_size, out_channels, downsamplings, "translator")
        self.image_size, self.channels, self.out_channels = image_size, channels, out_channels
        self.width, self.blocks, self.downsamplings = width, blocks, downsamplings
        d = downsamplings
        conv = keras.layers.Conv2D
        self.stem = conv(width, 7, padding="same", name="stem")
        self.down = [
            conv(width * 2**i, 3, 2, padding="same", name=f"down{i}") for i in range(1, d + 1)
        ]
        self.res = [ResidualBlock(width * 2**d, name=f"block{i}") for i in range(blocks)]
        up = keras.layers.Conv2DTranspose
        self.up = [
            up(width * 2**i, 3, 2, padding="same", name=f"up{i}") for i in reversed(range(d))
        ]
        self.norms = [instance_norm(f"norm{i}") for i in range(1 + 2 * d)]
        self.to_image = conv(out_channels, 7, padding="same", name="to_image")

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        x = tf.nn.relu(self.norms[0](self.stem(x)))
        for i, layer in enumerate(self.down):
            x = tf.nn.relu(self.norms[1 + i](layer(x)))
        for block in self.res:
            x = block(x)
        for i, layer in enumerate(self.up):
            x = tf.nn.relu(self.norms[1 + self.downsamplings + i](layer(x)))
        return tf.tanh(self.to_image(x))

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image_size": self.image_size,
            "channels": self.channels,
            "out_channels": self.out_channels,
            "width": self.width,
            "blocks": self.blocks,
            "downsamplings": self.downsamplings,
        }


class PatchDiscriminator(ImageNetwork):
    """A PatchGAN: `[n, S, S, channels]` -> logits `[n, S/4, S/4, 1]`, one per patch.

    Args:
      image_size: S, a multiple of 4.
      channels: 1 or 3.
      width: channels of the first convolution (x2, x4 in the next ones).

    Raises:
      ConfigError: for an unsupported image shape or a non-positive width.
    """

    def __init__(self, image_size: int, channels: int, width: int = 32, **kwargs: Any):
        super().__init__(**kwargs)
        _check_shape(image_size, channels, 2, "discriminator")
        if width <= 0:
            raise ConfigError(f"discriminator width must be positive, got {width}")
        self.image_size, self.channels, self.width = image_size, channels, width
        conv = keras.layers.Conv2D
        self.convs = [
            conv(width, 4, 2, padding="same", name="conv0"),
            conv(width * 2, 4, 2, padding="same", name="conv1"),
            conv(width * 4, 4, 1, padding="same", name="conv2"),
        ]
        self.norms = [instance_norm(f"norm{i}") for i in (1, 2)]
        self.logits = conv(1, 4, 1, padding="same", name="logits", dtype="float32")

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        x = tf.nn.leaky_relu(self.convs[0](x), 0.2)
        for conv, norm in zip(self.convs[1:], self.norms):
            x = tf.nn.leaky_relu(norm(conv(x)), 0.2)
        return self.logits(x)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image_size": self.image_size,
            "channels": self.channels,
            "width": self.width,
        }
