"""Image helpers: [-1, 1] floats to uint8, sample grids, atomic PNG files."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from gan_tf import files


def to_uint8(images) -> np.ndarray:
    """Maps images in [-1, 1] to uint8 [0, 255] (rounded, clipped)."""
    x = np.asarray(images, np.float32)
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def make_grid(images: np.ndarray, cols: int | None = None, pad: int = 2) -> np.ndarray:
    """Tiles uint8 NHWC images into one HWC image with `pad` black pixels between them."""
    images = np.asarray(images)
    n, h, w, c = images.shape
    cols = cols or math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), images.dtype)
    for i, image in enumerate(images):
        r, q = divmod(i, cols)
        y, x = pad + r * (h + pad), pad + q * (w + pad)
        grid[y : y + h, x : x + w] = image
    return grid


def write_png(path: str, image: np.ndarray) -> None:
    """Writes a uint8 HWC image as PNG, atomically (temporary file, then rename)."""
    files.atomic_write(path, tf.io.encode_png(np.asarray(image, np.uint8)).numpy())
