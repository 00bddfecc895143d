"""`CycleGAN`: unpaired image-to-image translation (Zhu et al. 2017).

Generators G_AB: A -> B and G_BA: B -> A, discriminators D_A and D_B (PatchGANs). Per step,
on a batch `a` of domain A and a batch `b` of domain B (unpaired), both generators take one
update on

    L_G = adv(D_B(G_AB(a))) + adv(D_A(G_BA(b)))
        + cycle_weight * (|G_BA(G_AB(a)) - a| + |G_AB(G_BA(b)) - b|)
        + identity_weight * (|G_BA(a) - a| + |G_AB(b) - b|)

then both discriminators take one on the real batches against the fakes of that generator
pass as drawn through an image buffer of past fakes (`pool_query`). `adv` is the run's loss
family (`gan_tf.losses`; CycleGAN uses least squares) averaged over the patch logits, `| |`
the mean absolute pixel difference.

The buffers are variables, checkpointed with the networks, and their draws are stateless
functions of `(seed, step)`; the buffer is updated with the fakes of the *global* batch
(gathered across replicas), so a resumed run, and a run on any number of replicas, repeats the
single-device run exactly.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from gan_tf import losses, streams
from gan_tf.models.gan import GAN
from gan_tf.networks.cyclegan import PatchDiscriminator, Translator


def pool_query(
    buffer: tf.Tensor, filled: tf.Tensor, images: tf.Tensor, draws: tf.Tensor
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Passes images through a buffer of past images (Shrivastava et al. 2017), in order.

    Image `i` is stored and returned while the buffer is not full. Once it is, with
    `draws[i, 0] < 0.5` the image replaces the stored image at `floor(draws[i, 1] * size)`,
    which is returned instead; otherwise the image itself is returned.

    Args:
      buffer: `[size, H, W, C]` stored images (`size` may be 0: images pass through).
      filled: int64 scalar, how many slots hold images.
      images: `[n, H, W, C]` new images.
      draws: `[n, 2]` uniform draws in [0, 1).

    Returns:
      `(returned images [n, H, W, C], new buffer, new filled)`.
    """
    size = tf.shape(buffer, out_type=tf.int64)[0]
    count = tf.shape(images)[0]
    if buffer.shape[0] == 0:
        return images, buffer, filled

    def body(i, buffer, filled, out):
        image = images[i]
        store = filled < size
        swap = tf.logical_and(tf.logical_not(store), draws[i, 0] < 0.5)
        picked = tf.minimum(tf.cast(draws[i, 1] * tf.cast(size, tf.float32), tf.int64), size - 1)
        slot = tf.where(store, filled, picked)
        returned = tf.where(swap, buffer[slot], image)
        written = tf.logical_or(store, swap)
        buffer = tf.tensor_scatter_nd_update(
            buffer, [[slot]], [tf.where(written, image, buffer[slot])]
        )
        filled = filled + tf.cast(store, tf.int64)
        return i + 1, buffer, filled, out.write(i, returned)

    out = tf.TensorArray(images.dtype, size=count, element_shape=images.shape[1:])
    _, buffer, filled, out = tf.while_loop(
        lambda i, *_: i < count, body, (tf.constant(0), buffer, filled, out)
    )
    return out.stack(), buffer, filled


def patch_mean(values: tf.Tensor, count: tf.Tensor) -> tf.Tensor:
    """`[count * P]` per-patch values -> `[count]` per-image means."""
    return tf.reduce_mean(tf.reshape(values, [count, -1]), axis=1)


def l1(x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Per-image mean absolute difference, `[n]`."""
    return tf.reduce_mean(tf.abs(tf.cast(x, tf.float32) - tf.cast(y, tf.float32)), axis=[1, 2, 3])


class CycleGAN(keras.Model):
    """Two translators and two PatchGAN discriminators (see the module docstring).

    Batches are `(a, b)`: images of domain A and of domain B in [-1, 1].

    Args:
      g_ab, g_ba: the translators A -> B and B -> A.
      d_a, d_b: the discriminators of domains A and B.
      loss: the adversarial loss family (`gan_tf.losses`), e.g. `least_squares`.
      cycle_weight: weight of the cycle L1 losses.
      identity_weight: weight of the identity L1 losses (0 = off).
      buffer_size: past fakes kept per domain (0 = none).
      seed: seed of the buffers' draws.
    """

    def __init__(
        self,
        g_ab: Translator,
        g_ba: Translator,
        d_a: PatchDiscriminator,
        d_b: PatchDiscriminator,
        loss: str = "least_squares",
        cycle_weight: float = 10.0,
        identity_weight: float = 0.0,
        buffer_size: int = 50,
        seed: int = 0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.g_ab, self.g_ba, self.d_a, self.d_b = g_ab, g_ba, d_a, d_b
        self.loss_family = losses.get(loss)
        self.cycle_weight = float(cycle_weight)
        self.identity_weight = float(identity_weight)
        self.buffer_size = int(buffer_size)
        self.seed = int(seed)
        names = ["g_loss", "d_loss", "adversarial", "cycle"]
        if self.identity_weight:
            names.append("identity")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    @property
    def generators(self) -> list[Translator]:
        return [self.g_ab, self.g_ba]

    @property
    def discriminators(self) -> list[PatchDiscriminator]:
        return [self.d_a, self.d_b]

    def build_networks(self) -> None:
        """Creates every variable: the networks', the step counter and the buffers."""

        def state(name: str, shape, dtype: str = "float32"):
            return self.add_weight(
                shape=shape,
                dtype=dtype,
                initializer="zeros",
                trainable=False,
                aggregation="only_first_replica",
                name=name,
            )

        self.step_counter = state("step", (), "int64")
        for net in (*self.generators, *self.discriminators):
            net(net.dummy_inputs())
        self.pool_a = state("pool_a", (self.buffer_size, *self.g_ba.image_shape))
        self.pool_b = state(
            "pool_b", (self.buffer_size, *self.g_ab.image_shape[:2], self.g_ab.out_channels)
        )
        self.pool_filled = state("pool_filled", (), "int64")
        self.built = True

    def compile(self, g_optimizer, d_optimizer, **kwargs: Any) -> None:
        """Sets the optimizers of both generators and of both discriminators and builds them.

        Call inside the distribution strategy's scope, after `build_networks`.
        """
        super().compile(optimizer=None, **kwargs)
        self.g_optimizer, self.d_optimizer = g_optimizer, d_optimizer
        g_optimizer.build(self.g_variables)
        d_optimizer.build(self.d_variables)

    @property
    def g_variables(self) -> list:
        return self.g_ab.trainable_variables + self.g_ba.trainable_variables

    @property
    def d_variables(self) -> list:
        return self.d_a.trainable_variables + self.d_b.trainable_variables

    _maybe_symbolic_build = GAN._maybe_symbolic_build
    logs = staticmethod(GAN.logs)

    @property
    def step(self):
        return self.step_counter

    def _pooled(self, pool, fakes, global_batch, step, purpose: str) -> tf.Tensor:
        """This replica's rows of the global batch of fakes drawn through `pool`."""
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx is not None else 1
        everything = ctx.all_gather(fakes, axis=0) if replicas > 1 else fakes
        seed = streams.stream_seed(self.seed, step, purpose)
        draws = tf.random.stateless_uniform(tf.stack([global_batch, 2]), seed=seed)
        out, buffer, filled = pool_query(pool.value, self.pool_filled.value, everything, draws)
        pool.assign(buffer)
        if replicas == 1:
            return out, filled
        local = global_batch // replicas
        start = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * local
        return out[start : start + local], filled

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        a, b = data
        a, b = tf.cast(a, tf.float32), tf.cast(b, tf.float32)
        n = tf.shape(a)[0]
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx is not None else 1
        global_batch = n * replicas
        step = tf.cast(self.step, tf.int64)
        generator_loss = self.loss_family.generator
        discriminator_loss = self.loss_family.discriminator

        with tf.GradientTape() as tape:
            fake_b = self.g_ab(a, training=True)
            fake_a = self.g_ba(b, training=True)
            adversarial = patch_mean(
                generator_loss(tf.reshape(self.d_b(fake_b, training=True), [-1])), n
            ) + patch_mean(generator_loss(tf.reshape(self.d_a(fake_a, training=True), [-1])), n)
            cycle = l1(self.g_ba(fake_b, training=True), a) + l1(
                self.g_ab(fake_a, training=True), b
            )
            g_per_example = adversarial + self.cycle_weight * cycle
            if self.identity_weight:
                identity = l1(self.g_ba(a, training=True), a) + l1(self.g_ab(b, training=True), b)
                g_per_example += self.identity_weight * identity
            g_loss = tf.nn.compute_average_loss(g_per_example, global_batch_size=global_batch)
        g_vars = self.g_variables
        self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))

        pooled_a, _ = self._pooled(self.pool_a, fake_a, global_batch, step, "pool_a")
        pooled_b, filled = self._pooled(self.pool_b, fake_b, global_batch, step, "pool_b")
        self.pool_filled.assign(filled)
        with tf.GradientTape() as tape:
            d_per_example = 0.0
            for d, real, fake in ((self.d_a, a, pooled_a), (self.d_b, b, pooled_b)):
                real_logits = tf.reshape(d(real, training=True), [-1])
                fake_logits = tf.reshape(d(tf.stop_gradient(fake), training=True), [-1])
                d_per_example += patch_mean(discriminator_loss(real_logits, fake_logits), n)
            d_loss = tf.nn.compute_average_loss(d_per_example, global_batch_size=global_batch)
        d_vars = self.d_variables
        self.d_optimizer.apply_gradients(zip(tape.gradient(d_loss, d_vars), d_vars))
        self.step_counter.assign_add(1)

        self.trackers["g_loss"].update_state(g_per_example)
        self.trackers["d_loss"].update_state(d_per_example)
        self.trackers["adversarial"].update_state(adversarial)
        self.trackers["cycle"].update_state(cycle)
        if self.identity_weight:
            self.trackers["identity"].update_state(identity)
        return self.logs(self.trackers)
