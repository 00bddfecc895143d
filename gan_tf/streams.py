"""Random streams of a training step, each named for its purpose.

Every random number of a training step (latents, DiffAugment parameters, WGAN-GP
interpolation weights) comes from a stateless draw whose seed is a function of
`(train.seed, step, purpose, pass)` only, so

* a resumed run repeats exactly the draws of an uninterrupted one;
* the maths does not depend on the replica count (draws are made for the global batch);
* no two draws of a run share a seed: the seed's second half packs step, purpose and pass
  into disjoint bit fields, an injective map (the stateless generators scramble the seed
  through Philox, so distinct seeds give unrelated streams).

Purpose 0 is never used, so the serving latents `stateless_normal(seed=(s, 0))` of
`gan_tf.sampling` and the grid latents `(seed, 2**31 - 1)` of `gan_tf.callbacks` can never
coincide with a training draw.
"""

from __future__ import annotations

import tensorflow as tf

# Purpose -> id. Add new purposes at the end; ids must stay below 2**PURPOSE_BITS.
PURPOSES: dict[str, int] = {
    "d_latents": 1,  # latents of discriminator pass k
    "d_augment_real": 2,  # DiffAugment parameters of the real batch, pass k
    "d_augment_fake": 3,  # DiffAugment parameters of the fake batch, pass k
    "gp_weights": 4,  # WGAN-GP interpolation weights, pass k
    "g_latents": 5,  # latents of the generator update
    "g_augment": 6,  # DiffAugment parameters of the generator update
    "labelled_batch": 7,  # which labelled examples a semi-supervised step reads
    "d_mixing_latents": 8,  # second latents of style mixing, discriminator pass k
    "d_mixing_choice": 9,  # whether and where to mix styles, discriminator pass k
    "d_noise": 10,  # per-layer noise of a style-based generator, discriminator pass k
    "g_mixing_latents": 11,  # the same three for the generator update
    "g_mixing_choice": 12,
    "g_noise": 13,
    "pool_a": 14,  # CycleGAN: which past fakes of domain A its discriminator sees
    "pool_b": 15,  # CycleGAN: which past fakes of domain B its discriminator sees
    "labelled_pass": 16,  # the permutation of a pass over a semi-supervised label draw
}
PASS_BITS = 6
PURPOSE_BITS = 6
MAX_PASSES = 2**PASS_BITS  # discriminator passes per step (train.d_steps)
MAX_STEP = 2 ** (63 - PASS_BITS - PURPOSE_BITS) - 1


def stream_key(step, purpose: str, index: int = 0) -> tf.Tensor:
    """The int64 packing `step | purpose | pass` (the seed's second half).

    Args:
      step: training step (int64 scalar tensor or int), `0 <= step <= MAX_STEP`.
      purpose: a key of `PURPOSES`.
      index: the pass (e.g. discriminator pass k), `0 <= index < MAX_PASSES`.

    Raises:
      ValueError: for an unknown purpose or an index out of range.
    """
    if purpose not in PURPOSES:
        raise ValueError(f"unknown random stream {purpose!r}; expected one of {sorted(PURPOSES)}")
    if not 0 <= index < MAX_PASSES:
        raise ValueError(f"stream pass {index} out of range [0, {MAX_PASSES})")
    low = (PURPOSES[purpose] << PASS_BITS) | index
    step = tf.cast(step, tf.int64)
    return step * (2 ** (PASS_BITS + PURPOSE_BITS)) + low


def stream_seed(seed: int, step, purpose: str, index: int = 0) -> tf.Tensor:
    """The `[2]` int64 stateless seed of draw `purpose` (pass `index`) at `step`."""
    return tf.stack([tf.constant(seed, tf.int64), stream_key(step, purpose, index)])
