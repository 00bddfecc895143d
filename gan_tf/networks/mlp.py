"""Fully connected networks: the vanilla GAN of Goodfellow et al. (2014), for any image size,
and (with its settings) the semi-supervised MNIST networks of Salimans et al. (2016)."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from gan_tf.errors import ConfigError
from gan_tf.networks import base

ACTIVATIONS = ("leaky_relu", "relu", "softplus")


def parse_units(units: str, default: tuple[int, ...], key: str) -> tuple[int, ...]:
    """Hidden layer sizes from a comma-separated setting ("" = `default`).

    Raises:
      ConfigError: naming `key` when a size is not a positive integer.
    """
    if not units:
        return default
    try:
        sizes = tuple(int(u) for u in units.split(","))
    except ValueError:
        sizes = ()
    if not sizes or min(sizes) < 1:
        raise ConfigError(f"{key}={units!r}: expected comma-separated positive layer sizes")
    return sizes


def activation_layer(name: str, key: str) -> keras.layers.Layer:
    """The hidden-layer nonlinearity called `name` (leaky ReLU with slope 0.2)."""
    if name == "leaky_relu":
        return keras.layers.LeakyReLU(0.2)
    if name in ACTIVATIONS:
        return keras.layers.Activation(name)
    raise ConfigError(f"{key}={name!r}: expected one of {', '.join(ACTIVATIONS)}")


class WeightNormDense(keras.layers.Layer):
    """A dense layer whose kernel columns have unit norm: `y = x (v / ||v||) + b`, the fixed
    scale weight normalisation of Salimans et al.'s (2016) MNIST discriminator. The scale
    cannot grow, so the network cannot outgrow the Gaussian noise added between its layers.

    Args:
      units: number of outputs.
      gain: `"none"` (unit-norm columns), `"fixed"` or `"trained"`: a per-output scale `g`
        (`y = x g v / ||v|| + b`), set from data by `initialise` and then kept (Salimans
        et al.'s hidden layers) or trained (their class head).
    """

    GAINS = ("none", "fixed", "trained")

    def __init__(self, units: int, gain: str = "none", **kwargs: Any):
        super().__init__(**kwargs)
        if gain not in self.GAINS:
            raise ConfigError(f"weight-norm gain {gain!r}: expected one of {', '.join(self.GAINS)}")
        self.units = int(units)
        self.gain_kind = gain

    def build(self, input_shape) -> None:
        self.direction = self.add_weight(
            name="direction",
            shape=(input_shape[-1], self.units),
            initializer=keras.initializers.RandomNormal(stddev=0.1),
        )
        self.bias = self.add_weight(name="bias", shape=(self.units,), initializer="zeros")
        self.gain = None
        if self.gain_kind != "none":
            self.gain = self.add_weight(
                name="gain",
                shape=(self.units,),
                initializer="ones",
                trainable=self.gain_kind == "trained",
            )

    def kernel(self) -> tf.Tensor:
        """`v / ||v||`, times the gain if there is one."""
        kernel = tf.math.l2_normalize(self.direction, axis=0, epsilon=1e-12)
        return kernel if self.gain is None else kernel * self.gain

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return tf.matmul(x, tf.cast(self.kernel(), x.dtype)) + tf.cast(self.bias, x.dtype)

    def initialise(self, x: tf.Tensor) -> tf.Tensor:
        """Data-dependent initialisation (Salimans & Kingma 2016): sets the gain and bias so
        that the outputs on the batch `x` have mean 0 and standard deviation 1 per unit, and
        returns those outputs.

        Raises:
          ValueError: when the layer has no gain.
        """
        if self.gain is None:
            raise ValueError("a weight-norm layer without a gain cannot be initialised from data")
        x = tf.cast(x, tf.float32)
        pre = tf.matmul(x, self.kernel())
        mean, variance = tf.nn.moments(pre, axes=[0])
        std = tf.maximum(tf.sqrt(variance), 1e-8)
        self.gain.assign(self.gain / std)
        self.bias.assign(-mean / std)
        return (pre - mean) / std

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units, "gain": self.gain_kind}


class MLPGenerator(base.Generator):
    """Hidden layers of `units` (default `width`, `2 width`, `4 width`), tanh output.

    Args:
      units: comma-separated hidden sizes ("" = `width`, `2 width`, `4 width`).
      activation: hidden nonlinearity (leaky_relu, relu, softplus).
      norm: normalisation after each hidden layer (batch, pixel, none).
      norm_first: with `norm="batch"`, normalise each hidden layer's pre-activation instead,
        with a learned offset and no scale, in place of the dense layer's bias: Salimans et
        al.'s (2016) MNIST generator, `softplus(BN(x W))`.
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        units: str = "",
        activation: str = "leaky_relu",
        norm: str = "none",
        norm_first: bool = False,
        **kwargs: Any,
    ):
        if norm_first and norm != "batch":
            raise ConfigError(
                f"model.generator.norm_first needs model.generator.norm='batch', not {norm!r}"
            )
        super().__init__(image_size, channels, **kwargs)
        self.units = units
        self.activation = activation
        self.norm, self.norm_first = norm, norm_first
        sizes = parse_units(units, (self.width, 2 * self.width, 4 * self.width), "generator.units")
        self.hidden = []
        for i, size in enumerate(sizes):
            self.hidden.append(keras.layers.Dense(size, use_bias=not norm_first, name=f"dense_{i}"))
            if norm_first:
                self.hidden.append(base.batch_norm(scale=False))
            self.hidden.append(activation_layer(activation, "model.generator.activation"))
            if norm != "none" and not norm_first:
                self.hidden.append(base.g_norm_layer(norm))
        self.out = keras.layers.Dense(
            image_size * image_size * channels, activation="tanh", dtype="float32"
        )
        self.reshape = keras.layers.Reshape(self.image_shape)

    def get_config(self) -> dict[str, Any]:
        settings = {"units": self.units, "activation": self.activation, "norm": self.norm}
        return {**super().get_config(), **settings, "norm_first": self.norm_first}

    def call(self, inputs: Any, training: bool = False) -> tf.Tensor:
        h = self.condition(inputs)
        for layer in self.hidden:
            h = layer(h, training=training)
        return self.reshape(self.out(h))


class MLPDiscriminator(base.Discriminator):
    """Hidden layers of `units` (default `4 width`, `2 width`).

    Args:
      units: comma-separated hidden sizes ("" = `4 width`, `2 width`).
      activation: hidden nonlinearity (leaky_relu, relu, softplus).
      noise: standard deviation of Gaussian noise added to the input in training only
        (0 = none).
      hidden_noise: the same, added to each hidden layer's output. With `weight_norm`, the
        regulariser of Salimans et al.'s (2016) semi-supervised MNIST discriminator (input
        0.3 and hidden 0.5 on [0, 1] images).
      weight_norm: unit-norm kernel columns (`WeightNormDense`) in the hidden layers.
      unit_range: map images from [-1, 1] to [0, 1] before the input noise. With fixed-scale
        `weight_norm` layers, the input's scale sets every layer's scale against its
        `hidden_noise`: Salimans et al.'s noise levels are for [0, 1] images.
      data_init: with `weight_norm`, give each hidden layer a fixed gain that
        `initialise_from_data` sets, as Salimans et al. do, so that every layer's outputs
        start with unit spread against its `hidden_noise` whatever the input's scale (a
        feature head on this body then has a trained gain; `heads.FeatureHead`).
    """

    def __init__(
        self,
        image_size: int,
        channels: int,
        units: str = "",
        activation: str = "leaky_relu",
        noise: float = 0.0,
        hidden_noise: float = 0.0,
        weight_norm: bool = False,
        unit_range: bool = False,
        data_init: bool = False,
        **kwargs: Any,
    ):
        if kwargs.get("mbstd_group"):
            raise ConfigError(
                "model.discriminator.mbstd_group needs a convolutional discriminator "
                "(dcgan, resnet), not mlp"
            )
        if weight_norm and kwargs.get("spectral_norm"):
            raise ConfigError(
                "model.discriminator: weight_norm and spectral_norm are two normalisations "
                "of the same kernel; choose one"
            )
        if data_init and not weight_norm:
            raise ConfigError(
                "model.discriminator.data_init sets weight_norm layers' gains; "
                "it needs weight_norm=true"
            )
        width = kwargs.get("width", 64)
        self.sizes = parse_units(units, (4 * width, 2 * width), "discriminator.units")
        super().__init__(image_size, channels, **kwargs)
        self.units = units
        self.activation = activation
        self.noise = float(noise)
        self.hidden_noise = float(hidden_noise)
        self.weight_norm = bool(weight_norm)
        self.unit_range = bool(unit_range)
        self.data_init = bool(data_init)
        self.flatten = keras.layers.Flatten()
        # Noise layers hold random-generator state: made only when used, so that a
        # discriminator without noise keeps the variables it always had.
        self.hidden = [keras.layers.GaussianNoise(self.noise)] if self.noise else []
        for i, size in enumerate(self.sizes):
            dense = (
                WeightNormDense(size, gain="fixed" if self.data_init else "none")
                if self.weight_norm
                else keras.layers.Dense(size)
            )
            self.hidden.append(base.maybe_spectral(dense, self.spectral_norm))
            self.hidden.append(base.d_norm_layer(self.norm) if i > 0 else keras.layers.Identity())
            self.hidden.append(activation_layer(activation, "model.discriminator.activation"))
            if self.hidden_noise:
                self.hidden.append(keras.layers.GaussianNoise(self.hidden_noise))

    def get_config(self) -> dict[str, Any]:
        settings = {
            "units": self.units,
            "activation": self.activation,
            "noise": self.noise,
            "hidden_noise": self.hidden_noise,
            "weight_norm": self.weight_norm,
            "unit_range": self.unit_range,
            "data_init": self.data_init,
        }
        return {**super().get_config(), **settings}

    @property
    def feature_dim(self) -> int:
        return self.sizes[-1]

    def _inputs(self, x: tf.Tensor) -> tf.Tensor:
        h = self.flatten(x)
        return h * 0.5 + 0.5 if self.unit_range else h

    def features(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        return self._through(self.hidden, x, training)

    def features_before_noise(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """The last hidden layer's outputs before its `hidden_noise` (the features Salimans
        et al.'s code matches; the same as `features` without hidden noise)."""
        return self._through(self.hidden[:-1] if self.hidden_noise else self.hidden, x, training)

    def _through(self, layers: list, x: tf.Tensor, training: bool) -> tf.Tensor:
        h = self._inputs(x)
        for layer in layers:
            h = layer(h, training=training)
        return h

    def initialise_from_data(self, x: tf.Tensor, seed: int) -> tf.Tensor:
        """Sets each hidden layer's gain and bias from the images `x`, first layer first, so
        that its outputs on them have mean 0 and spread 1 per unit, with the training-time
        noise drawn from `seed` (Salimans et al.'s data-dependent initialisation), and
        returns the features of `x` so computed.

        Raises:
          ValueError: when the network was built without `data_init`.
        """
        if not self.data_init:
            raise ValueError("this discriminator was built without data_init")
        h = tf.cast(self._inputs(tf.convert_to_tensor(x)), tf.float32)
        for i, layer in enumerate(self.hidden):
            if isinstance(layer, keras.layers.GaussianNoise):
                noise = tf.random.stateless_normal(tf.shape(h), seed=[seed, i])
                h = h + layer.stddev * noise
            elif isinstance(layer, WeightNormDense):
                h = layer.initialise(h)
            else:
                h = tf.cast(layer(h, training=False), tf.float32)
        return h
