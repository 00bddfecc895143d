"""Fashion-MNIST (Xiao et al., 2017; MIT licence), offline, as the TFDS dataset `fashion_mnist`.

Read from a directory holding the four IDX files of the original release
(`train-images-idx3-ubyte.gz`, `train-labels-idx1-ubyte.gz`, `t10k-images-idx3-ubyte.gz`,
`t10k-labels-idx1-ubyte.gz`), stored once with TFDS's own name, version, features and splits
(train 60,000, test 10,000). The directory is the first of:

* `$GAN_TF_FASHION_MNIST_DIR`;
* `/usr/share/datasets/fashion-mnist` (Debian's `dataset-fashion-mnist` package);
* `~/.cache/gan_tf/fashion-mnist` (where `scripts/get_fashion_mnist.sh` unpacks that
  package without root: `apt-get download` + `dpkg-deb -x`).
"""

from __future__ import annotations

import logging
import os

import numpy as np

from gan_tf.data import idx, offline
from gan_tf.errors import DataError

log = logging.getLogger(__name__)

NAME = "fashion_mnist"
TFDS_VERSION = "3.0.1"
FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def candidate_dirs() -> list[str]:
    """Directories searched for the IDX files, in order."""
    dirs = [os.environ.get("GAN_TF_FASHION_MNIST_DIR", "")]
    dirs.append("/usr/share/datasets/fashion-mnist")
    cache = os.path.join(os.path.expanduser("~"), ".cache", "gan_tf", "fashion-mnist")
    dirs += [cache, os.path.join(cache, "usr", "share", "datasets", "fashion-mnist")]
    return [d for d in dirs if d]


def find_dir() -> str:
    """The first candidate directory holding all four IDX files.

    Raises:
      DataError: naming where it looked and how to get the files.
    """
    needed = [name for pair in FILES.values() for name in pair]
    for directory in candidate_dirs():
        if all(os.path.isfile(os.path.join(directory, f)) for f in needed):
            return directory
    raise DataError(
        "Fashion-MNIST IDX files not found in "
        + ", ".join(candidate_dirs())
        + "; set GAN_TF_FASHION_MNIST_DIR to a directory holding "
        + ", ".join(needed)
        + " (scripts/get_fashion_mnist.sh unpacks Debian's dataset-fashion-mnist there)"
    )


def load_arrays(directory: str | None = None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """`{"train": (images [60000, 28, 28] uint8, labels int64), "test": (...)}`.

    Raises:
      DataError: for missing or malformed files, or images and labels of different counts.
    """
    directory = directory or find_dir()
    arrays = {}
    for split, (images_file, labels_file) in FILES.items():
        images = idx.read_idx(os.path.join(directory, images_file))
        labels = idx.read_idx(os.path.join(directory, labels_file)).astype(np.int64)
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise DataError(
                f"{directory}: {split} images {images.shape} and labels {labels.shape} do not "
                "match (expected [N, H, W] and [N])"
            )
        if labels.size and labels.max() >= len(CLASSES):
            raise DataError(f"{directory}: {split} label {labels.max()} is not a class")
        arrays[split] = (images, labels)
    return arrays


def prepare(data_dir: str | None = None, directory: str | None = None) -> str:
    """Stores Fashion-MNIST as the TFDS dataset `fashion_mnist` in `data_dir` (once).

    Returns:
      The data directory.
    """
    data_dir = data_dir or offline.default_data_dir()
    if offline.is_stored(NAME, TFDS_VERSION, data_dir):
        return data_dir
    arrays = load_arrays(directory)
    log.info("Preparing Fashion-MNIST (%d images) as TFDS `%s` in %s", 70_000, NAME, data_dir)
    offline.store(
        NAME,
        TFDS_VERSION,
        arrays,
        len(CLASSES),
        data_dir,
        "Fashion-MNIST from its IDX files (Xiao, Rasul, Vollgraf 2017; MIT licence).",
    )
    return data_dir
