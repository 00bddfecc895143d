"""Image helpers: [-1, 1] floats to uint8, sample grids, atomic PNG and GIF files."""

from __future__ import annotations

import io
import math
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from gan_tf import files


def to_uint8(images) -> np.ndarray:
    """Maps images in [-1, 1] to uint8 [0, 255] (rounded, clipped)."""
    x = np.asarray(images, np.float32)
    return np.clip(np.rint((x + 1.0) * 127.5), 0, 255).astype(np.uint8)


def map_batches(
    fn: Callable[[np.ndarray], np.ndarray], array: np.ndarray, batch_size: int
) -> np.ndarray:
    """`fn` applied to `array` in slices of `batch_size` along the first axis, concatenated
    (an empty array is passed to `fn` as it is, so the result keeps `fn`'s shape and dtype)."""
    if len(array) == 0:
        return np.asarray(fn(array))
    return np.concatenate(
        [np.asarray(fn(array[i : i + batch_size])) for i in range(0, len(array), batch_size)]
    )


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


def write_gif(path: str, frames: np.ndarray, frame_ms: int = 100) -> None:
    """Writes uint8 NHWC frames as a looping animated GIF, atomically.

    Grayscale frames are stored exactly; RGB frames are reduced to a 256-colour palette each
    (the GIF format's limit). Consecutive identical frames are stored once, shown for their
    summed duration.
    """
    from PIL import Image

    frames = np.asarray(frames, np.uint8)
    pictures = [Image.fromarray(f[..., 0] if f.shape[-1] == 1 else f) for f in frames]
    buffer = io.BytesIO()
    pictures[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=pictures[1:],
        duration=frame_ms,
        loop=0,
    )
    files.atomic_write(path, buffer.getvalue())
