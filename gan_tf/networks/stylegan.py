"""Style-based generator and its discriminator (StyleGAN2, Karras et al. 2020), 28 or 32 px.

Generator: a mapping network turns `(z, c)` into a style vector `w`; the synthesis network
starts from a learned constant at 7x7 (28 px) or 4x4 (32 px) and doubles the resolution to
the image size. Every convolution is modulated by its own `w` (one per layer: `num_ws`
vectors, so styles can be mixed between layers) and demodulated; after each, per-pixel
noise scaled by a learned per-layer strength is added. Each resolution has a toRGB layer;
their images are summed after upsampling (the "skip" generator), or, with `progressive`,
faded in by level of detail (`gan_tf.networks.progressive`). Outputs are linear (roughly
[-1, 1]; exports and metrics clip), or with `tanh_output` the tanh of the summed image.

The generator tracks `w_avg`, a moving average of the `w` its training batches map to
(updated by the training step, `gan_tf.models.stylegan`): truncation `w <- w_avg + psi (w -
w_avg)` pulls styles towards it. Noise is an input of `synthesize`: the training step draws
it from the run's random streams; without it, every layer uses its fixed noise buffer, so
an image depends only on its latent (and style inputs).

Discriminator: fromRGB, then per resolution two 3x3 convolutions and a 2x2 average pool,
minibatch standard deviation, a 3x3 convolution and a hidden dense layer before the head.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from gan_tf.errors import ConfigError
from gan_tf.networks import base
from gan_tf.networks.progressive import (
    blur_to_lod,
    downscale,
    grow_images,
    lod_variable,
    shrink_features,
    upscale,
)

SIZES = (28, 32)


def levels_of(image_size: int) -> tuple[int, int]:
    """`(start, levels)`: the lowest resolution and the number of resolutions."""
    start = 7 if image_size == 28 else 4
    levels = 1
    while start * 2 ** (levels - 1) < image_size:
        levels += 1
    return start, levels


def normalize(x: tf.Tensor) -> tf.Tensor:
    """Scales each row to unit RMS."""
    return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + 1e-8)


class ScaledDense(keras.layers.Layer):
    """A dense layer with an equalised learning rate and a learning-rate multiplier
    (Karras et al. 2018, 2019; StyleGAN's mapping network uses 0.01).

    The kernel is stored as N(0, 1/lr_mul²) and multiplied by `lr_mul / sqrt(fan_in)` at run
    time, the bias by `lr_mul`: the effective weights start as N(0, 1/fan_in) and, since Adam
    moves every stored parameter by about the learning rate, move `lr_mul` times as fast as
    a plain layer's (scaled by 1/sqrt(fan_in)).
    """

    def __init__(self, units: int, lr_mul: float = 1.0, **kwargs: Any):
        if lr_mul <= 0:
            raise ConfigError(f"the learning-rate multiplier must be > 0, got {lr_mul}")
        super().__init__(**kwargs)
        self.units, self.lr_mul = units, lr_mul

    def build(self, input_shape) -> None:
        fan_in = int(input_shape[-1])
        self.kernel = self.add_weight(
            shape=(fan_in, self.units),
            initializer=keras.initializers.RandomNormal(stddev=1.0 / self.lr_mul),
            name="kernel",
        )
        self.bias = self.add_weight(shape=(self.units,), initializer="zeros", name="bias")
        self.scale = self.lr_mul / fan_in**0.5

    def call(self, x: tf.Tensor) -> tf.Tensor:
        kernel = tf.cast(self.kernel * self.scale, x.dtype)
        return tf.matmul(x, kernel) + tf.cast(self.bias * self.lr_mul, x.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "lr_mul": self.lr_mul}


class ModulatedConv2D(keras.layers.Layer):
    """A convolution whose input channels are scaled per example by an affine map of `w`,
    with each output channel then divided by its weight norm (demodulation).

    The non-fused form of StyleGAN2's modulated convolution: scaling the input by `s` and
    the output by `d` equals convolving with the per-example weight `w * s` normalised by
    `d = rsqrt(sum(w**2 s**2))`.

    Args:
      fan_in: input channels.
      filters: output channels.
      kernel_size: square kernel size.
      demodulate: divide by the weight norm (off for toRGB layers).
      upsample: double the resolution (nearest) before the convolution.
    """

    def __init__(
        self,
        fan_in: int,
        filters: int,
        kernel_size: int,
        demodulate: bool = True,
        upsample: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.demodulate, self.upsample = demodulate, upsample
        self.affine = keras.layers.Dense(fan_in, bias_initializer="ones", name="affine")
        self.kernel = self.add_weight(
            shape=(kernel_size, kernel_size, fan_in, filters),
            initializer=keras.initializers.HeNormal(),
            name="kernel",
        )

    def call(self, inputs) -> tf.Tensor:
        x, w = inputs
        s = tf.cast(self.affine(w), x.dtype)  # [n, in]
        kernel = tf.cast(self.kernel, x.dtype)
        if self.upsample:
            x = upscale(x)
        y = tf.nn.conv2d(x * s[:, None, None, :], kernel, 1, "SAME")
        if self.demodulate:
            energy = tf.reduce_sum(tf.square(tf.cast(kernel, tf.float32)), axis=[0, 1])  # [in, out]
            d = tf.math.rsqrt(tf.matmul(tf.square(tf.cast(s, tf.float32)), energy) + 1e-8)
            y = y * tf.cast(d, y.dtype)[:, None, None, :]
        return y


class StyleLayer(keras.layers.Layer):
    """Modulated 3x3 convolution, scaled per-pixel noise, bias and leaky ReLU.

    The noise strength (one scalar, starting at 0) is trained; the fixed noise buffer of
    shape `[size, size, 1]` is what the layer adds when no noise is passed.
    """

    def __init__(self, fan_in: int, filters: int, size: int, upsample: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.size = size
        self.conv = ModulatedConv2D(fan_in, filters, 3, upsample=upsample, name="conv")
        self.noise_strength = self.add_weight(shape=(), initializer="zeros", name="noise_strength")
        self.noise_buffer = self.add_weight(
            shape=(size, size, 1),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            trainable=False,
            name="noise_buffer",
        )
        self.bias = self.add_weight(shape=(filters,), initializer="zeros", name="bias")

    def call(self, x: tf.Tensor, w: tf.Tensor, noise: tf.Tensor | None = None) -> tf.Tensor:
        y = self.conv((x, w))
        if noise is None:
            noise = self.noise_buffer[None]
        y = y + tf.cast(self.noise_strength, y.dtype) * tf.cast(noise, y.dtype)
        return tf.nn.leaky_relu(y + tf.cast(self.bias, y.dtype), 0.2)


class ToRGB(keras.layers.Layer):
    """Modulated 1x1 convolution to the image channels (no demodulation) plus a bias."""

    def __init__(self, fan_in: int, channels: int, **kwargs: Any):
        super().__init__(**kwargs)
        self.conv = ModulatedConv2D(fan_in, channels, 1, demodulate=False, name="conv")
        self.bias = self.add_weight(shape=(channels,), initializer="zeros", name="bias")

    def call(self, x: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
        y = self.conv((x, w))
        return y + tf.cast(self.bias, y.dtype)


class StyleGenerator(base.Generator):
    """Mapping network and modulated synthesis network (see the module docstring).

    Args:
      w_dim: size of the style vector w.
      mapping_layers: dense layers of the mapping network.
      mapping_lr_mul: > 0: the mapping network's layers have equalised learning rates at
        this multiple of the generator's (`ScaledDense`; StyleGAN: 0.01); 0: plain dense
        layers at the generator's rate.
      mixing_prob: probability that a training example mixes the styles of two latents
        (style mixing regularisation; read by the training step).
      w_avg_decay: decay of the tracked average w (read by the training step).
      progressive: fade the resolutions in by level of detail (`lod`) instead of summing
        them all.
      tanh_output: bound the image to (-1, 1) with a tanh after the toRGB layers (StyleGAN's
        output is linear).
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        w_dim: int = 128,
        mapping_layers: int = 4,
        mapping_lr_mul: float = 0.0,
        mixing_prob: float = 0.9,
        w_avg_decay: float = 0.995,
        progressive: bool = False,
        tanh_output: bool = False,
        **kwargs: Any,
    ):
        base.check_image_shape(image_size, channels, SIZES, "stylegan")
        if not 0.0 <= mixing_prob <= 1.0 or not 0.0 <= w_avg_decay < 1.0 or mapping_layers < 1:
            raise ConfigError(
                "model.generator: mixing_prob must be in [0, 1], w_avg_decay in [0, 1) and "
                f"mapping_layers >= 1 (got {mixing_prob}, {w_avg_decay}, {mapping_layers})"
            )
        if mapping_lr_mul < 0:
            raise ConfigError(f"model.generator.mapping_lr_mul must be >= 0, got {mapping_lr_mul}")
        super().__init__(image_size, channels, **kwargs)
        self.w_dim, self.mapping_layers = w_dim, mapping_layers
        self.mapping_lr_mul = mapping_lr_mul
        self.mixing_prob, self.w_avg_decay = mixing_prob, w_avg_decay
        self.progressive, self.tanh_output = progressive, tanh_output
        start, self.levels = levels_of(image_size)
        self.mapping = [
            ScaledDense(w_dim, mapping_lr_mul, name=f"mapping_{i}")
            if mapping_lr_mul
            else keras.layers.Dense(w_dim, name=f"mapping_{i}")
            for i in range(mapping_layers)
        ]
        widths = [self.width * 2 ** (self.levels - 1 - i) for i in range(self.levels)]
        self.const = self.add_weight(
            shape=(start, start, widths[0]),
            initializer=keras.initializers.RandomNormal(stddev=1.0),
            name="const",
        )
        self.layers_by_level: list[list[StyleLayer]] = []
        self.to_rgb: list[ToRGB] = []
        for i, filters in enumerate(widths):
            size = start * 2**i
            level = []
            if i > 0:
                level.append(
                    StyleLayer(widths[i - 1], filters, size, upsample=True, name=f"up_{i}")
                )
            level.append(StyleLayer(filters, filters, size, name=f"conv_{i}"))
            self.layers_by_level.append(level)
            self.to_rgb.append(ToRGB(filters, channels, name=f"to_rgb_{i}", dtype="float32"))
        self.num_ws = sum(len(level) for level in self.layers_by_level) + 1
        self.w_avg = self.add_weight(
            shape=(w_dim,),
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
            dtype="float32",
            name="w_avg",
        )
        self.lod = lod_variable(self)

    @property
    def noise_shapes(self) -> list[tuple[int, int, int]]:
        """The `[H, W, 1]` shape of each layer's noise, in layer order."""
        return [(layer.size, layer.size, 1) for level in self.layers_by_level for layer in level]

    def styles(self, inputs: Any) -> tf.Tensor:
        """The mapping network: `(z, c) -> w`, `[n, w_dim]` float32."""
        z, c = base.split_inputs(inputs, self.num_classes)
        h = normalize(tf.cast(z, tf.float32))
        if self.embedding is not None:
            h = tf.concat([h, normalize(tf.cast(self.embedding(c), tf.float32))], axis=-1)
        for layer in self.mapping:
            h = tf.nn.leaky_relu(layer(h), 0.2)
        return tf.cast(h, tf.float32)

    def truncate(self, w: tf.Tensor, psi) -> tf.Tensor:
        """`w_avg + psi (w - w_avg)`, with `psi` a scalar or one value per row.

        Raises:
          InvalidArgumentError: (in graphs) if a `psi` is negative or not finite.
        """
        psi = tf.convert_to_tensor(psi, tf.float32)
        check = tf.debugging.Assert(
            tf.reduce_all(tf.math.is_finite(psi) & (psi >= 0.0)),
            ["truncation (psi) must be finite and >= 0"],
        )
        with tf.control_dependencies([check]):
            psi = tf.reshape(psi, [-1, 1]) if psi.shape.rank else psi
            return self.w_avg + psi * (w - self.w_avg)

    def mix(self, w_a: tf.Tensor, w_b: tf.Tensor, crossover) -> tf.Tensor:
        """Per-layer styles `[n, num_ws, w_dim]`: layers before `crossover` take `w_a`, the
        rest `w_b` (`crossover = num_ws` is `w_a` everywhere, 0 is `w_b` everywhere).

        Raises:
          InvalidArgumentError: if a `crossover` is outside `[0, num_ws]`.
        """
        crossover = tf.cast(tf.reshape(crossover, [-1, 1]), tf.int32)
        checks = [
            tf.debugging.assert_non_negative(crossover, message="crossover must be >= 0"),
            tf.debugging.assert_less_equal(
                crossover,
                self.num_ws,
                message=f"crossover must be <= num_ws ({self.num_ws}, the number of styled layers)",
            ),
        ]
        with tf.control_dependencies(checks):
            first = tf.range(self.num_ws)[None, :] < crossover  # [n, num_ws]
        return tf.where(first[..., None], w_a[:, None], w_b[:, None])

    def broadcast(self, w: tf.Tensor) -> tf.Tensor:
        """The same style for every layer: `[n, w_dim] -> [n, num_ws, w_dim]`."""
        return tf.tile(w[:, None], [1, self.num_ws, 1])

    def synthesize(self, ws: tf.Tensor, noise: list | None = None) -> tf.Tensor:
        """Images from per-layer styles `ws` `[n, num_ws, w_dim]`.

        Args:
          ws: one style per layer (`broadcast`, `mix`).
          noise: one `[n, H, W, 1]` tensor per layer (`noise_shapes`), or None for the
            layers' fixed noise buffers.
        """
        n = tf.shape(ws)[0]
        x = tf.tile(tf.cast(self.const, self.compute_dtype)[None], [n, 1, 1, 1])
        images, index = [], 0
        for level, to_rgb in zip(self.layers_by_level, self.to_rgb):
            for layer in level:
                x = layer(x, ws[:, index], None if noise is None else noise[index])
                index += 1
            images.append(tf.cast(to_rgb(x, ws[:, index]), tf.float32))
        lod = self.lod if self.lod is not None else tf.constant(0.0)
        image = grow_images(images, lod, skip=True)
        return tf.tanh(image) if self.tanh_output else image

    def call(self, inputs: Any, training: bool = False) -> tf.Tensor:
        return self.synthesize(self.broadcast(self.styles(inputs)))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "w_dim": self.w_dim,
            "mapping_layers": self.mapping_layers,
            "mapping_lr_mul": self.mapping_lr_mul,
            "mixing_prob": self.mixing_prob,
            "w_avg_decay": self.w_avg_decay,
            "progressive": self.progressive,
            "tanh_output": self.tanh_output,
        }


class _DownBlock(keras.layers.Layer):
    """Two 3x3 convolutions with leaky ReLU (normalised after each), then a 2x2 average."""

    def __init__(self, filters: tuple[int, int], norm: str, spectral: bool, **kwargs: Any):
        super().__init__(**kwargs)
        self.convs = [
            base.maybe_spectral(keras.layers.Conv2D(f, 3, padding="same"), spectral)
            for f in filters
        ]
        self.norms = [base.d_norm_layer(norm) for _ in filters]

    def call(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        for conv, norm in zip(self.convs, self.norms):
            x = tf.nn.leaky_relu(norm(conv(x), training=training), 0.2)
        return downscale(x)


class StyleDiscriminator(base.Discriminator):
    """StyleGAN-style discriminator (see the module docstring).

    Args:
      hidden: units of the dense layer before the head.
      progressive: read each resolution's input by level of detail (`lod`).
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        hidden: int = 256,
        norm: str = "none",
        mbstd_group: int = 4,
        progressive: bool = False,
        **kwargs: Any,
    ):
        base.check_image_shape(image_size, channels, SIZES, "stylegan")
        self.hidden = hidden
        super().__init__(image_size, channels, norm=norm, mbstd_group=mbstd_group, **kwargs)
        self.progressive = progressive
        self.start, self.levels = levels_of(image_size)
        widths = [self.width * 2 ** (self.levels - 1 - i) for i in range(self.levels)]
        spectral = self.spectral_norm
        # Every level reads images when growing; otherwise only the top level does.
        rgb_levels = range(self.levels) if progressive else [self.levels - 1]
        self.from_rgb = [
            base.maybe_spectral(keras.layers.Conv2D(widths[i], 1), spectral) for i in rgb_levels
        ]
        self.blocks = [
            _DownBlock((widths[i + 1], widths[i]), norm, spectral, name=f"block_{i}")
            for i in range(self.levels - 1)
        ]
        self.final = base.maybe_spectral(
            keras.layers.Conv2D(widths[0], 3, padding="same"), spectral
        )
        self.flatten = keras.layers.Flatten()
        self.dense = base.maybe_spectral(keras.layers.Dense(hidden), spectral)
        self.lod = lod_variable(self)

    @property
    def feature_dim(self) -> int:
        return self.hidden

    def _rgb(self, level: int):
        layer = self.from_rgb[level if self.progressive else 0]
        return lambda x: tf.nn.leaky_relu(layer(x), 0.2)

    def features(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        blocks = [lambda h, b=b: b(h, training=training) for b in self.blocks]
        if self.progressive:
            x = blur_to_lod(x, self.lod, self.levels)
            rgb = [self._rgb(i) for i in range(self.levels)]
            h = shrink_features(x, self.lod, rgb, blocks)
        else:
            h = self._rgb(self.levels - 1)(x)
            for block in reversed(blocks):
                h = block(h)
        if self.mbstd is not None:
            h = self.mbstd(h)
        h = tf.nn.leaky_relu(self.final(h), 0.2)
        return tf.nn.leaky_relu(self.dense(self.flatten(h)), 0.2)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "hidden": self.hidden, "progressive": self.progressive}
