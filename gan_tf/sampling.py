"""Latents as a function of integer seeds: one image per seed, whatever the batch."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def latents_for_seeds(seeds, latent_dim: int) -> tf.Tensor:
    """Returns `z[i] = stateless_normal([latent_dim], seed=(seeds[i], 0))`.

    Each row depends only on its own seed, so an image generated from a seed is the same
    alone or in any batch, here and in the exported serving signatures.
    """
    seeds = tf.cast(tf.convert_to_tensor(seeds), tf.int64)

    def one(seed: tf.Tensor) -> tf.Tensor:
        return tf.random.stateless_normal(
            [latent_dim], seed=tf.stack([seed, tf.constant(0, tf.int64)])
        )

    return tf.map_fn(one, seeds, fn_output_signature=tf.float32)


def labels_for_seeds(seeds, num_classes: int) -> np.ndarray | None:
    """The class a conditional generator is asked for with each seed: `seed % num_classes`.

    The evaluation convention: a generated set of seeds `0..N-1` is balanced over classes and,
    like the latents, each image's label depends only on its own seed.
    """
    if num_classes <= 0:
        return None
    return (np.asarray(seeds, np.int64) % num_classes).astype(np.int32)


def default_labels(count: int, num_classes: int, label: int | None = None) -> np.ndarray | None:
    """Labels for a sample grid: all `label`, or cycling 0..num_classes-1 over the grid."""
    if num_classes <= 0:
        return None
    if label is not None:
        return np.full([count], label, np.int32)
    return (np.arange(count) % num_classes).astype(np.int32)


def generator_inputs(generator, seeds) -> tuple:
    """`(z, c)` of seeds for a generator: `latents_for_seeds`, and class `seed % K`."""
    z = latents_for_seeds(seeds, generator.latent_dim)
    labels = labels_for_seeds(np.asarray(seeds), generator.num_classes)
    return generator.inputs_for(z, labels)
