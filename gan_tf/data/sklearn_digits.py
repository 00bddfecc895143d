"""The 1,797 scikit-learn 8x8 digits (UCI optdigits test set), offline, as the TFDS dataset
`sklearn_digits` with 28x28 uint8 images.

scikit-learn (installed with TFX) ships them: `sklearn.datasets.load_digits()`, pixel values
0..16 on an 8x8 grid. Each is scaled to 0..255 (`v * 255 / 16`, rounded) and upsampled to
MNIST's framing: bilinearly (antialiased) to 20x20, then centred in 28x28 with a 4-pixel
black border, as MNIST centres its digits in a 20x20 box. One split, `train`, holds all
1,797 images in scikit-learn's order, with their labels 0..9.

UCI optdigits: E. Alpaydin, C. Kaynak (CC BY 4.0).
"""

from __future__ import annotations

import logging

import numpy as np

from gan_tf.data import offline
from gan_tf.errors import DataError

log = logging.getLogger(__name__)

NAME = "sklearn_digits"
TFDS_VERSION = "1.0.0"
SIZE = 28
BOX = 20  # MNIST centres its digits in a 20x20 box


def upsample(digits: np.ndarray) -> np.ndarray:
    """8x8 digits with values 0..16 -> uint8 `[N, 28, 28]` (see the module docstring).

    Raises:
      DataError: for anything but `[N, 8, 8]` values in 0..16.
    """
    import tensorflow as tf

    digits = np.asarray(digits, np.float64)
    if digits.ndim != 3 or digits.shape[1:] != (8, 8) or digits.min() < 0 or digits.max() > 16:
        raise DataError(f"expected [N, 8, 8] digits with values 0..16, got {digits.shape}")
    scaled = np.rint(digits * 255.0 / 16.0).astype(np.float32)[..., None]
    boxed = tf.image.resize(scaled, [BOX, BOX], method="bilinear", antialias=True).numpy()
    border = (SIZE - BOX) // 2
    framed = np.pad(boxed[..., 0], [[0, 0], [border, border], [border, border]])
    return np.clip(np.rint(framed), 0, 255).astype(np.uint8)


def load_arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """`{"train": (uint8 images [1797, 28, 28], int64 labels)}`.

    Raises:
      DataError: if scikit-learn is not installed.
    """
    try:
        from sklearn.datasets import load_digits
    except ImportError:
        raise DataError(
            "the sklearn_digits dataset needs scikit-learn (pip install scikit-learn)"
        ) from None
    bunch = load_digits()
    return {"train": (upsample(bunch.images), np.asarray(bunch.target, np.int64))}


def prepare(data_dir: str | None = None) -> str:
    """Stores the digits as the TFDS dataset `sklearn_digits` in `data_dir` (once).

    Returns:
      The data directory.
    """
    data_dir = data_dir or offline.default_data_dir()
    if offline.is_stored(NAME, TFDS_VERSION, data_dir):
        return data_dir
    log.info("Preparing the scikit-learn digits (1,797 images) as TFDS `%s` in %s", NAME, data_dir)
    offline.store(
        NAME,
        TFDS_VERSION,
        load_arrays(),
        10,
        data_dir,
        "scikit-learn's 8x8 digits (UCI optdigits; Alpaydin, Kaynak; CC BY 4.0), upsampled to "
        "28x28 in MNIST's framing.",
    )
    return data_dir
