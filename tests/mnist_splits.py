"""MNIST as the pipeline ingests it: a data root of `train/` and `eval/` TFRecords."""

from __future__ import annotations

import os

import numpy as np

from gan_tf.data import mnist, tfrecord


def write_splits(root, train: int, eval: int) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Writes the first `train` MNIST training images to `root/train/data.tfrecord` and the
    first `eval` test images to `root/eval/data.tfrecord` (tf.Example: PNG and label).

    Returns:
      `{"train": (images, labels), "eval": (images, labels)}`, the arrays written.
    """
    arrays = mnist.load_arrays()
    written = {}
    for split, source, count in (("train", "train", train), ("eval", "test", eval)):
        x, y = arrays[source]
        written[split] = x[:count], y[:count]
        tfrecord.write_images(os.path.join(str(root), split, "data.tfrecord"), *written[split])
    return written
