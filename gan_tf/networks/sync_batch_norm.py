"""Batch normalisation with cross-replica statistics and one all-reduce per call.

Keras' `BatchNormalization(synchronized=True)` all-reduces the sum, the squared sum and the
count separately: three collectives forward and two more backward, per layer and per call.
A DCGAN step calls its normalised layers about ten times, and on CPUs each collective costs
a thread handoff across replicas, so this layer packs the three into one vector: one
collective forward and one backward. The maths is Keras' (global `E[x]` and
`E[x^2] - E[x]^2`, in float32 even under mixed precision) on any replica count, so a
single-device run and a mirrored one agree to float rounding.
"""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="gan_tf")
class SyncBatchNormalization(keras.layers.BatchNormalization):
    """`keras.layers.BatchNormalization` whose training statistics span all replicas.

    Takes the arguments of `keras.layers.BatchNormalization` except `synchronized`, which
    is always on. Masks fall back to Keras' own (unsynchronised) masked moments.
    """

    def __init__(self, **kwargs):
        kwargs.pop("synchronized", None)
        super().__init__(**kwargs)

    def get_config(self) -> dict:
        config = super().get_config()
        config.pop("synchronized", None)
        return config

    def _moments(self, inputs, mask):
        # `call` has already cast `inputs` to float32 (or wider).
        ctx = tf.distribute.get_replica_context()
        if mask is not None or ctx is None:
            return super()._moments(inputs, mask)
        axes = list(self._reduction_axes)
        total = tf.reduce_sum(inputs, axes)
        squared = tf.reduce_sum(tf.square(inputs), axes)
        count = tf.cast(tf.reduce_prod(tf.gather(tf.shape(inputs), axes)), inputs.dtype)
        packed = tf.concat([total, squared, tf.reshape(count, [1])], axis=0)
        if ctx.num_replicas_in_sync > 1:
            packed = ctx.all_reduce(tf.distribute.ReduceOp.SUM, packed)
        channels = tf.shape(total)[0]
        total, squared, count = tf.split(packed, tf.stack([channels, channels, 1]))
        mean = total / count
        return mean, tf.maximum(squared / count - tf.square(mean), 0.0)
