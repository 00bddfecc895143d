"""`SyncBatchNormalization`: global statistics with one all-reduce per call."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from gan_tf import distribute
from gan_tf.networks.sync_batch_norm import SyncBatchNormalization

X = tf.random.stateless_normal([8, 5, 5, 6], seed=[3, 4]) * 3.0 + 1.5
UPSTREAM = tf.random.stateless_normal([8, 5, 5, 6], seed=[5, 6])


def forward_backward(layer, x, upstream):
    """Output, input gradient and gamma/beta gradients of `sum(layer(x) * upstream)`."""
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True)
        loss = tf.reduce_sum(y * upstream)
    dx, dgamma, dbeta = tape.gradient(loss, [x, layer.gamma, layer.beta])
    return y, dx, dgamma, dbeta


def mirrored_step(make_layer):
    """The mirrored strategy, a layer built under it, and a replicated `forward_backward`."""
    strategy = distribute.get_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2
    with strategy.scope():
        layer = make_layer()
        layer.build(X.shape)

    @tf.function
    def step(x, upstream):
        return strategy.run(lambda a, b: forward_backward(layer, a, b), args=(x, upstream))

    return strategy, layer, step


def test_one_replica_equals_keras_batch_norm():
    ours, theirs = (
        SyncBatchNormalization(momentum=0.9),
        keras.layers.BatchNormalization(momentum=0.9),
    )
    for a, b in zip(forward_backward(ours, X, UPSTREAM), forward_backward(theirs, X, UPSTREAM)):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.moving_mean.numpy(), theirs.moving_mean.numpy(), atol=1e-6)
    np.testing.assert_allclose(
        ours.moving_variance.numpy(), theirs.moving_variance.numpy(), rtol=1e-5
    )
    # The batch statistics themselves, against numpy.
    mean = X.numpy().mean(axis=(0, 1, 2))
    var = X.numpy().var(axis=(0, 1, 2))
    np.testing.assert_allclose(ours.moving_mean.numpy(), 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(ours.moving_variance.numpy(), 0.9 + 0.1 * var, rtol=1e-5)


def test_two_replicas_use_the_global_batch_statistics():
    single = SyncBatchNormalization()
    expected = forward_backward(single, X, UPSTREAM)

    strategy, layer, step = mirrored_step(SyncBatchNormalization)

    def halves(t):
        return strategy.experimental_distribute_values_from_function(
            lambda ctx: t[4 * ctx.replica_id_in_sync_group : 4 * (ctx.replica_id_in_sync_group + 1)]
        )

    y, dx, dgamma, dbeta = step(halves(X), halves(UPSTREAM))
    local = strategy.experimental_local_results
    np.testing.assert_allclose(tf.concat(local(y), 0), expected[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(tf.concat(local(dx), 0), expected[1], rtol=1e-4, atol=1e-5)
    # Parameter gradients are per replica; their sum is the single-device gradient.
    np.testing.assert_allclose(tf.add_n(local(dgamma)), expected[2], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(tf.add_n(local(dbeta)), expected[3], rtol=1e-4, atol=1e-4)
    for moving_mean in local(layer.moving_mean.value):  # every replica holds the global update
        np.testing.assert_allclose(moving_mean, single.moving_mean, atol=1e-6)


@pytest.mark.parametrize(
    "make, expected",
    [
        (SyncBatchNormalization, 2),  # packed statistics: once forward, once backward
        (lambda: keras.layers.BatchNormalization(synchronized=True), 5),  # Keras' own
    ],
)
def test_all_reduces_per_forward_and_backward(monkeypatch, make, expected):
    calls = []
    original = tf.distribute.ReplicaContext.all_reduce

    def counting(self, reduce_op, value, options=None):
        calls.append(reduce_op)
        return original(self, reduce_op, value, options)

    monkeypatch.setattr(tf.distribute.ReplicaContext, "all_reduce", counting)
    strategy, _, step = mirrored_step(make)
    step(X[:4], UPSTREAM[:4])
    per_replica = len(calls) / strategy.num_replicas_in_sync
    assert per_replica == expected
