"""What every generator and discriminator shares: input conventions, conditioning, config.

Every network takes a pair `(x, c)`: generators `(z, c)` with `z` of shape
`[batch, latent_dim]`, discriminators `(images, c)`. The condition `c` is always present: the
one-hot class `[batch, num_classes]`, and `[batch, 0]` for an unconditional network
(`condition(labels, num_classes, count)` makes it), so no caller branches on "labels or
not". Generators return images in [-1, 1], NHWC; discriminators one logit per image,
`[batch, 1]`. Conditional generators concatenate a linear embedding of `c` to `z`;
conditional discriminators use the projection head of Miyato & Koyama (2018):
`logit = linear(h) + <embed(c), h>`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import keras
import tensorflow as tf

from gan_tf.errors import ConfigError
from gan_tf.networks.sync_batch_norm import SyncBatchNormalization

D_NORMS = ("none", "batch", "layer")
G_NORMS = ("batch", "pixel", "none")
# Latents whose batch statistics become an EMA generator's batch-norm statistics.
STATISTICS_SAMPLES = 1024


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Layers created inside use the Keras dtype policy `name` (e.g. `mixed_float16`)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def float32_copy(net: keras.Model) -> keras.Model:
    """A float32 twin of a (mixed-precision) network, with the same weights."""
    with dtype_policy("float32"):
        clone = type(net).from_config(net.get_config())
        clone(clone.dummy_inputs())
    for target, source in zip(clone.variables, net.variables):
        target.assign(tf.cast(source, target.dtype))
    return clone


def condition(labels, num_classes: int, count=None) -> tf.Tensor:
    """The conditioning input `c`: one-hot `labels` `[n, num_classes]`, or `[count, 0]`.

    Args:
      labels: int class labels `[n]`, or None for an unconditional network.
      num_classes: the network's classes (0 = unconditional).
      count: batch size when `labels` is None.
    """
    if num_classes <= 0:
        n = count if labels is None else tf.shape(labels)[0]
        return tf.zeros(tf.stack([n, 0]), tf.float32)
    if labels is None:
        raise ValueError(f"a conditional network ({num_classes} classes) needs labels")
    return tf.one_hot(tf.cast(labels, tf.int32), num_classes, dtype=tf.float32)


def split_inputs(inputs: Any, num_classes: int) -> tuple[tf.Tensor, tf.Tensor]:
    """Splits `(x, c)`, checking that `c` has `num_classes` columns."""
    if not isinstance(inputs, (tuple, list)) or len(inputs) != 2:
        raise ValueError(
            "networks take a pair (x, c), c the one-hot condition ([batch, 0] when "
            "unconditional; see gan_tf.networks.base.condition)"
        )
    x, c = inputs
    width = c.shape[-1] if c.shape.rank else None
    if width is not None and width != num_classes:
        raise ValueError(f"condition has {width} columns but the network has {num_classes} classes")
    return x, c


def maybe_spectral(layer: keras.layers.Layer, enabled: bool) -> keras.layers.Layer:
    """Wraps `layer` in spectral normalisation when `enabled`."""
    return keras.layers.SpectralNormalization(layer) if enabled else layer


def batch_norm(**kwargs: Any) -> keras.layers.Layer:
    """Batch normalisation whose statistics are synchronised across replicas.

    On one replica it equals the plain layer; on several it keeps the single-device maths.
    """
    return SyncBatchNormalization(**kwargs)


class PixelNorm(keras.layers.Layer):
    """Scales each pixel's feature vector to unit RMS (Karras et al., 2018)."""

    def call(self, x: tf.Tensor) -> tf.Tensor:
        return x * tf.math.rsqrt(tf.reduce_mean(tf.square(x), axis=-1, keepdims=True) + 1e-8)


def g_norm_layer(kind: str) -> keras.layers.Layer:
    """Normalisation layer of a generator block: batch norm, pixel norm or none."""
    if kind == "batch":
        return batch_norm()
    if kind == "pixel":
        return PixelNorm()
    if kind == "none":
        return keras.layers.Identity()
    raise ConfigError(f"unknown generator norm {kind!r} (model.generator.norm); expected {G_NORMS}")


def d_norm_layer(kind: str) -> keras.layers.Layer:
    """Normalisation layer of a discriminator block."""
    if kind == "batch":
        return batch_norm()
    if kind == "layer":
        return keras.layers.LayerNormalization()
    if kind == "none":
        return keras.layers.Identity()
    raise ConfigError(
        f"unknown discriminator norm {kind!r} (model.discriminator.norm); expected {D_NORMS}"
    )


class MinibatchStdDev(keras.layers.Layer):
    """Appends one feature map: the mean standard deviation across groups of examples.

    Karras et al. (2018): a discriminator that sees how much a group of samples varies can
    penalise a generator whose samples look alike (mode collapse). Groups are
    `group_size` *consecutive* examples, so a replica's slice of a global batch forms the
    same groups as the single-device batch (the per-replica batch must divide by it).

    Args:
      group_size: examples per group; the batch size must be a multiple of it.
    """

    def __init__(self, group_size: int = 4, **kwargs: Any):
        super().__init__(**kwargs)
        if group_size < 2:
            raise ConfigError(f"minibatch stddev groups need at least 2 examples, not {group_size}")
        self.group_size = group_size

    def call(self, x: tf.Tensor) -> tf.Tensor:
        shape = tf.shape(x)
        n, g = shape[0], self.group_size
        check = tf.debugging.assert_equal(
            n % g,
            0,
            message=f"minibatch stddev: the batch must be a multiple of the group size {g}",
        )
        with tf.control_dependencies([check]):
            grouped = tf.reshape(tf.cast(x, tf.float32), [-1, g, shape[1], shape[2], shape[3]])
        std = tf.sqrt(tf.math.reduce_variance(grouped, axis=1, keepdims=True) + 1e-8)
        score = tf.reduce_mean(std, axis=[2, 3, 4], keepdims=True)  # [n/g, 1, 1, 1, 1]
        # Spread over the group and the pixels by a product, not `tf.tile` / `tf.repeat`:
        # XLA cannot compile Tile's gradient inside a `tf.cond` of a second-order tape
        # (lazy R1 under `train.jit_compile`).
        feature = score * tf.ones_like(grouped[..., :1])  # [n/g, g, H, W, 1]
        feature = tf.cast(tf.reshape(feature, [n, shape[1], shape[2], 1]), x.dtype)
        return tf.concat([x, feature], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], input_shape[-1] + 1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "group_size": self.group_size}


def check_image_shape(image_size: int, channels: int, sizes: tuple[int, ...], arch: str) -> None:
    """Raises `ConfigError` unless the architecture supports the image shape."""
    if sizes and image_size not in sizes:
        raise ConfigError(
            f"model.arch={arch!r} supports image sizes {sizes}, not data.image_size={image_size}"
        )
    if channels not in (1, 3):
        raise ConfigError(f"data.channels must be 1 or 3, not {channels}")


class Generator(keras.Model):
    """Base class: stores the shared constructor arguments and embeds class labels."""

    def __init__(
        self,
        image_size: int,
        channels: int,
        latent_dim: int = 100,
        width: int = 64,
        num_classes: int = 0,
        embed_dim: int = 0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.image_size = image_size
        self.channels = channels
        self.latent_dim = latent_dim
        self.width = width
        self.num_classes = num_classes
        self.embed_dim = embed_dim
        self.embedding = (
            keras.layers.Dense(embed_dim or latent_dim, use_bias=False, name="class_embedding")
            if num_classes > 0
            else None
        )

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, self.channels)

    def condition(self, inputs: Any) -> tf.Tensor:
        """Returns z, concatenated with the class embedding for conditional models."""
        z, c = split_inputs(inputs, self.num_classes)
        if self.embedding is None:
            return z
        return tf.concat([z, tf.cast(self.embedding(c), z.dtype)], axis=-1)

    def inputs_for(self, z, labels=None) -> tuple[tf.Tensor, tf.Tensor]:
        """`(z, c)` for latents `z` and int labels (None when unconditional)."""
        z = tf.convert_to_tensor(z, tf.float32)
        return z, condition(labels, self.num_classes, tf.shape(z)[0])

    def dummy_inputs(self, batch: int = 2) -> Any:
        """Inputs of the right structure, used to build the variables."""
        return self.inputs_for(tf.zeros([batch, self.latent_dim]), tf.zeros([batch], tf.int32))

    def recompute_statistics(self, count: int = STATISTICS_SAMPLES) -> bool:
        """Sets every batch-norm layer's moving statistics to those of this network's own
        output on `count` fixed latents (seeds 0..count-1, balanced labels).

        An EMA generator averages the weights of many steps but would otherwise carry the
        statistics of the training generator's last batches, which do not match its weights
        and blur or distort its samples. The latents are fixed, so the result is a pure
        function of the weights. Returns whether the network has batch norm at all.
        """
        from gan_tf import sampling

        layers = [
            layer
            for layer in self._flatten_layers()
            if isinstance(layer, keras.layers.BatchNormalization)
        ]
        if not layers:
            return False
        seeds = tf.range(count, dtype=tf.int64)
        z = sampling.latents_for_seeds(seeds, self.latent_dim)
        labels = sampling.labels_for_seeds(seeds.numpy(), self.num_classes)
        momenta = [layer.momentum for layer in layers]
        try:
            for layer in layers:
                layer.momentum = 0.0  # moving statistic := this batch's statistic
            self(self.inputs_for(z, labels), training=True)
        finally:
            for layer, momentum in zip(layers, momenta):
                layer.momentum = momentum
        return True

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image_size": self.image_size,
            "channels": self.channels,
            "latent_dim": self.latent_dim,
            "width": self.width,
            "num_classes": self.num_classes,
            "embed_dim": self.embed_dim,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Generator:
        return cls(**config)


class Discriminator(keras.Model):
    """Base class: stores the shared constructor arguments and the projection head."""

    def __init__(
        self,
        image_size: int,
        channels: int,
        width: int = 64,
        num_classes: int = 0,
        norm: str = "batch",
        spectral_norm: bool = False,
        mbstd_group: int = 0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        if norm not in D_NORMS:
            raise ConfigError(f"unknown discriminator norm {norm!r}; expected one of {D_NORMS}")
        self.image_size = image_size
        self.channels = channels
        self.width = width
        self.num_classes = num_classes
        self.norm = norm
        self.spectral_norm = spectral_norm
        self.mbstd_group = mbstd_group
        self.mbstd = MinibatchStdDev(mbstd_group, name="mbstd") if mbstd_group else None
        # The head runs in float32 under mixed precision: logits feed the losses.
        self.logit = maybe_spectral(
            keras.layers.Dense(1, name="logit", dtype="float32"), spectral_norm
        )
        self.projection = (
            keras.layers.Dense(self.feature_dim, use_bias=False, name="projection", dtype="float32")
            if num_classes > 0
            else None
        )

    @property
    def feature_dim(self) -> int:
        """Size of the feature vector fed to the head; set by subclasses."""
        raise NotImplementedError

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.image_size, self.image_size, self.channels)

    def features(self, x: tf.Tensor, training: bool = False) -> tf.Tensor:
        """The `[batch, feature_dim]` features of images `x` that the head reads (the
        "discriminator features" of feature matching and of f-AnoGAN's score)."""
        raise NotImplementedError

    def call(self, inputs: Any, training: bool = False) -> tf.Tensor:
        x, c = split_inputs(inputs, self.num_classes)
        return self.head(self.features(x, training=training), c)

    def head(self, features: tf.Tensor, c: tf.Tensor) -> tf.Tensor:
        """Linear logit, plus the class projection for conditional models (float32)."""
        features = tf.cast(features, tf.float32)
        logits = self.logit(features)
        if self.projection is not None:
            embedded = self.projection(tf.cast(c, tf.float32))
            logits = logits + tf.reduce_sum(embedded * features, axis=-1, keepdims=True)
        return logits

    def dummy_inputs(self, batch: int = 2) -> Any:
        batch = max(batch, self.mbstd_group)
        x = tf.zeros([batch, *self.image_shape])
        return x, condition(tf.zeros([batch], tf.int32), self.num_classes, batch)

    def get_config(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "image_size": self.image_size,
            "channels": self.channels,
            "width": self.width,
            "num_classes": self.num_classes,
            "norm": self.norm,
            "spectral_norm": self.spectral_norm,
            "mbstd_group": self.mbstd_group,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Discriminator:
        return cls(**config)
