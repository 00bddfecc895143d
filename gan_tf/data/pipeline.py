"""The training input pipeline: epochs of shuffled records, decoded, batched, prefetched.

The order of examples is a pure function of `(train.seed, epoch)`: epoch `e` is the records
shuffled with a seed derived statelessly from the two, on its own, so the order depends neither
on the epochs before it nor on how many iterators were made over the dataset. A run resumed at
step `s` starts at the epoch holding example `s * batch_size` and skips what that epoch already
served (before decoding), so it reads exactly what step `s` of an uninterrupted run reads, at
the cost of at most one epoch of raw records.

Datasets whose decoded images fit in `data.cache_mb` (MNIST: 47 MB) are decoded once and kept
in memory; the shuffle then moves decoded images instead of encoded ones, in the same order,
and later epochs cost no decoding. Scaling to [-1, 1] runs once per batch.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from gan_tf.config import Config, DataConfig
from gan_tf.data import sources
from gan_tf.errors import DataError


def decode_fn(cfg: DataConfig, image_is_path: bool):
    """Returns a function turning a record into an image in [0, 255] (and a label).

    The image is uint8, or float32 when resized; `to_unit_range` maps it to [-1, 1].
    Images of another size fail with a message naming the expected shape, unless
    `cfg.resize` is set. Grayscale and RGB are converted to `cfg.channels`.
    """
    size, channels = cfg.image_size, cfg.channels
    conditional = cfg.num_classes > 0

    def decode(record):
        data = tf.io.read_file(record["image"]) if image_is_path else record["image"]
        image = tf.io.decode_image(data, channels=channels, expand_animations=False)
        if cfg.resize:
            image = tf.image.resize(image, [size, size], antialias=True)
        else:
            check = tf.debugging.assert_equal(
                tf.shape(image)[:2],
                tf.constant([size, size]),
                message=(
                    f"image shape does not match the network: expected {size}x{size}x{channels} "
                    "(data.image_size, data.channels); set data.resize=true to resize"
                ),
            )
            with tf.control_dependencies([check]):
                image = tf.identity(image)
        image = tf.ensure_shape(image, [size, size, channels])
        if not conditional:
            return image
        label = record["label"]
        checks = [
            tf.debugging.assert_greater_equal(
                label, tf.constant(0, tf.int64), message="example without a label (data.label_key)"
            ),
            tf.debugging.assert_less(
                label,
                tf.constant(cfg.num_classes, tf.int64),
                message=f"label out of range for data.num_classes={cfg.num_classes}",
            ),
        ]
        with tf.control_dependencies(checks):
            return image, tf.cast(label, tf.int32)

    return decode


def to_unit_range(images: tf.Tensor) -> tf.Tensor:
    """Pixel values in [0, 255] -> float32 in [-1, 1]."""
    return tf.cast(images, tf.float32) / 127.5 - 1.0


def _scale_batch(images, *labels):
    return (to_unit_range(images), *labels) if labels else to_unit_range(images)


def decoded_bytes(cfg: DataConfig, count: int) -> int:
    """Memory taken by `count` decoded images (uint8, or float32 when resized)."""
    return count * cfg.image_size**2 * cfg.channels * (4 if cfg.resize else 1)


def epoch_seed(seed: int, epoch: tf.Tensor) -> tf.Tensor:
    """The shuffle seed of one epoch: a stateless function of `(seed, epoch)` (int64)."""
    return tf.random.stateless_uniform(
        [], seed=tf.stack([tf.constant(seed, tf.int64), epoch]), minval=None, dtype=tf.int64
    )


# Graph-level seed of each epoch's shuffle; the epoch's own seed is the op-level one.
_GRAPH_SEED = 1


def train_dataset(config: Config, start_step: int = 0) -> tf.data.Dataset:
    """Infinite dataset of global batches, positioned at `start_step`.

    Args:
      config: run configuration (data section, `train.batch_size`, `train.seed`).
      start_step: number of batches already consumed (for resuming).

    Returns:
      Batches of `train.batch_size` images in [-1, 1] (with int32 labels when conditional).
    """
    cfg = config.data
    recs = sources.records(cfg)
    buffer = max(1, min(cfg.shuffle_buffer, recs.count))
    decode = decode_fn(cfg, recs.image_is_path)
    cached = decoded_bytes(cfg, recs.count) <= cfg.cache_mb * 2**20
    examples = recs.dataset
    if cached:
        examples = examples.map(decode, num_parallel_calls=tf.data.AUTOTUNE).cache()
    first_epoch, offset = divmod(start_step * config.train.batch_size, recs.count)

    def epoch(index: tf.Tensor) -> tf.data.Dataset:
        # Pinning this function's graph-level seed leaves TensorFlow's global seed (set by
        # whoever ran before) out of the order. It also lets the op-level seed be a tensor,
        # which `random_seed.get_seed` rejects when the global seed is 0.
        tf.random.set_seed(_GRAPH_SEED)
        shuffled = examples.shuffle(
            buffer, seed=epoch_seed(config.train.seed, index), reshuffle_each_iteration=False
        )
        return shuffled.skip(tf.where(index == first_epoch, tf.constant(offset, tf.int64), 0))

    ds = tf.data.Dataset.counter(first_epoch).flat_map(epoch)
    if not cached:
        ds = ds.map(decode, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(config.train.batch_size, drop_remainder=True)
    ds = ds.map(_scale_batch, num_parallel_calls=tf.data.AUTOTUNE)
    # Every worker runs the same seeded pipeline and keeps its slice of each global batch.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)


def image_batches(
    cfg: DataConfig,
    split: str | None = None,
    batch_size: int = 256,
    limit: int = 0,
    labels: bool = False,
) -> tf.data.Dataset:
    """Finite dataset of uint8 images, in order, for evaluation.

    Args:
      cfg: data configuration.
      split: split to read for TFDS sources (default `cfg.split`).
      batch_size: images per batch.
      limit: number of images (0 = all).
      labels: yield `(images, labels)` with int64 labels (-1 where the source has none).
    """
    recs = sources.records(cfg, split, labels=labels)
    decode = decode_fn(cfg, recs.image_is_path)
    ds = recs.dataset.take(limit) if limit else recs.dataset

    def to_uint8(record):
        out = decode(record)
        image = out[0] if isinstance(out, tuple) else out
        if image.dtype != tf.uint8:
            image = tf.cast(tf.clip_by_value(tf.round(image), 0.0, 255.0), tf.uint8)
        return (image, record["label"]) if labels else image

    return ds.map(to_uint8, num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)


def labelled_images(
    cfg: DataConfig, split: str | None = None, limit: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 images of a split, in order, with their int64 labels: every class
    (`cfg.normal_classes` and `cfg.limit` are ignored), the first `limit` (0 = all).

    Raises:
      DataError: when the split holds no images or has no labels (`data.label_key`).
    """
    split = split or cfg.split
    data = dataclasses.replace(cfg, normal_classes="", limit=0)
    images, labels = [], []
    for x, y in image_batches(data, split, batch_size=1000, limit=limit, labels=True):
        images.append(x.numpy())
        labels.append(y.numpy())
    if not labels:
        raise DataError(f"split {split!r} holds no images")
    labels = np.concatenate(labels)
    if labels.min() < 0:
        raise DataError(f"split {split!r} has no labels (data.label_key)")
    return np.concatenate(images), labels
