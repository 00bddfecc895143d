"""TFRecord files of `tf.Example`: encoded image bytes under `image`, optional int64 `label`."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import tensorflow as tf

from gan_tf import files


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 HWC (or HW) image."""
    image = np.asarray(image, np.uint8)
    if image.ndim == 2:
        image = image[..., None]
    return tf.io.encode_png(image).numpy()


def make_example(
    image_bytes: bytes,
    label: int | None = None,
    image_key: str = "image",
    label_key: str = "label",
) -> tf.train.Example:
    """A `tf.Example` holding encoded image bytes and, optionally, a class label."""
    feature = {image_key: tf.train.Feature(bytes_list=tf.train.BytesList(value=[image_bytes]))}
    if label is not None:
        feature[label_key] = tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)]))
    return tf.train.Example(features=tf.train.Features(feature=feature))


def write_images(
    path: str,
    images: Iterable[np.ndarray],
    labels: Iterable[int] | None = None,
) -> int:
    """Writes uint8 images (and labels) as PNG-encoded `tf.Example`s; returns the count.

    The file is written beside its destination and renamed into place, so a reader never
    sees half a file. Examples are serialized deterministically (features in key order; the
    order of a protobuf map is otherwise unspecified), so equal inputs give equal bytes.
    """
    count = 0
    label_iter = iter(labels) if labels is not None else None
    with files.atomic_path(path) as tmp, tf.io.TFRecordWriter(tmp) as writer:
        for image in images:
            label = next(label_iter) if label_iter is not None else None
            writer.write(
                make_example(encode_png(image), label).SerializeToString(deterministic=True)
            )
            count += 1
    return count


def parse_fn(image_key: str, label_key: str, with_label: bool):
    """Returns a function parsing a serialized `tf.Example` into `{"image", "label"}`."""
    spec = {image_key: tf.io.FixedLenFeature([], tf.string)}
    if with_label:
        spec[label_key] = tf.io.FixedLenFeature([], tf.int64)

    def parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
        parsed = tf.io.parse_single_example(serialized, spec)
        out = {"image": parsed[image_key]}
        out["label"] = parsed[label_key] if with_label else tf.constant(-1, tf.int64)
        return out

    return parse
