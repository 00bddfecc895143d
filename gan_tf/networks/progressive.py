"""Progressive growing by level of detail (Karras et al. 2018; StyleGAN's `lod` input).

Every layer of a progressive network exists from the start. A network of `levels`
resolutions (e.g. 7, 14, 28 px: 3 levels; level 0 is the lowest) holds a non-trainable
`lod` variable in `[0, levels - 1]`: `levels - 1` means only the lowest resolution is in
use, 0 the full network. Level `i` is weighted by

    alpha_i(lod) = clip(levels - i - lod, 0, 1)

so it is off while `lod >= levels - i`, fades in linearly while `lod` falls by one, and is
fully on from `lod <= levels - 1 - i` (the lowest level is always on). The generator blends
each level's image with the upsampled image of the levels below (`grow_images`); the
discriminator blends each level's features with those of the downsampled input
(`shrink_features`) and first reduces every input to the current level of detail
(`blur_to_lod`), as the official code does to real images, so reals and fakes are seen
through the same map.

The schedule `lod_at(step)` is a pure function of the training step, so a run resumed in the
middle of a fade repeats the uninterrupted run exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import tensorflow as tf

from gan_tf.errors import ConfigError


def lod_at(step, levels: int, stage_steps: int, fade_steps: int) -> tf.Tensor:
    """The level of detail at a training step (float32 scalar).

    Training starts at `levels - 1`; each level is trained alone for `stage_steps`, then
    the next one fades in over `fade_steps`; after the last fade `lod` stays 0.

    Args:
      step: the train step (int scalar or tensor).
      levels: number of resolutions of the networks.
      stage_steps: steps at each level before the next fades in (> 0).
      fade_steps: steps of each fade (>= 0; 0 switches levels at once).
    """
    if stage_steps <= 0 or fade_steps < 0:
        raise ConfigError(
            f"progressive growing needs stage_steps > 0 and fade_steps >= 0, got "
            f"{stage_steps} and {fade_steps}"
        )
    step = tf.cast(step, tf.float64)
    period = float(stage_steps + fade_steps)
    phase = tf.math.floor(step / period)
    into = step - phase * period
    if fade_steps:
        fading = tf.clip_by_value((into - stage_steps) / fade_steps, 0.0, 1.0)
    else:
        fading = tf.cast(into >= stage_steps, tf.float64)
    lod = (levels - 1) - phase - fading
    return tf.cast(tf.maximum(lod, 0.0), tf.float32)


def level_weight(lod: tf.Tensor, level: int, levels: int) -> tf.Tensor:
    """`alpha_level(lod)`: how much of level `level` is in use (see the module docstring)."""
    return tf.clip_by_value(float(levels - level) - lod, 0.0, 1.0)


def downscale(x: tf.Tensor) -> tf.Tensor:
    """Halves the resolution by averaging 2x2 blocks."""
    return tf.nn.avg_pool2d(x, 2, 2, "VALID")


def upscale(x: tf.Tensor, factor: int = 2) -> tf.Tensor:
    """Multiplies the resolution by repeating each pixel `factor` times (nearest)."""
    if factor == 1:
        return x
    return tf.repeat(tf.repeat(x, factor, axis=1), factor, axis=2)


def blur_to_lod(images: tf.Tensor, lod: tf.Tensor, levels: int) -> tf.Tensor:
    """Images reduced to level of detail `lod`, at their own resolution.

    At an integer `lod = k` each `2**k` block is replaced by its mean; between two integers
    the result is the linear blend of the two neighbouring integer levels. The official
    `process_reals`, written for a traced `lod`.
    """
    reduced = [images]
    for _ in range(levels - 1):
        reduced.append(downscale(reduced[-1]))
    full = [upscale(r, 2**k) for k, r in enumerate(reduced)]
    out = full[-1]
    for k in range(levels - 2, -1, -1):
        # Level k's detail fades in as lod falls from k + 1 to k.
        out = out + tf.clip_by_value(float(k + 1) - lod, 0.0, 1.0) * (full[k] - out)
    return out


def grow_images(images: Sequence[tf.Tensor], lod: tf.Tensor, skip: bool = False) -> tf.Tensor:
    """The generator's output from each level's image (lowest level first).

    Args:
      images: `levels` images, each of twice the previous resolution.
      lod: the level of detail.
      skip: sum the levels' images, each weighted by its alpha (the StyleGAN2 "skip"
        generator, which at `lod = 0` sums them all); otherwise replace the upsampled lower
        levels by each level as it fades in (the progressive GAN, which at `lod = 0` outputs
        the top level's image).
    """
    levels = len(images)
    out = images[0]
    for i in range(1, levels):
        alpha = tf.cast(level_weight(lod, i, levels), images[i].dtype)
        out = upscale(out)
        out = out + alpha * images[i] if skip else out + alpha * (images[i] - out)
    return out


def shrink_features(
    images: tf.Tensor,
    lod: tf.Tensor,
    from_rgb: Sequence[Callable[[tf.Tensor], tf.Tensor]],
    blocks: Sequence[Callable[[tf.Tensor], tf.Tensor]],
) -> tf.Tensor:
    """The discriminator's features at the lowest level, blending in each level's input.

    Args:
      images: full-resolution input.
      lod: the level of detail.
      from_rgb: one input layer per level, lowest level first.
      blocks: `levels - 1` blocks, lowest first; block `i` maps level `i + 1`'s features to
        level `i`'s resolution.
    """
    levels = len(from_rgb)
    x = from_rgb[-1](images)
    for i in range(levels - 2, -1, -1):
        x = blocks[i](x)
        images = downscale(images)
        # Level i + 1 is weighted by its alpha; the rest comes from the lower-resolution input.
        alpha = level_weight(lod, i + 1, levels)
        lower = from_rgb[i](images)
        x = lower + tf.cast(alpha, x.dtype) * (x - lower)
    return x


def lod_variable(net: keras.layers.Layer) -> keras.Variable | None:
    """The non-trainable `lod` variable of a network with `net.progressive` set (starting
    at 0: the full network), else None."""
    if not net.progressive:
        return None
    return net.add_weight(
        shape=(),
        dtype="float32",
        initializer="zeros",
        trainable=False,
        aggregation="only_first_replica",
        name="lod",
    )
