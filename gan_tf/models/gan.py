"""`GAN`: a `keras.Model` whose `train_step` trains a generator against a discriminator.

The step is written once for every `tf.distribute` strategy:

* per-example losses are reduced with `tf.nn.compute_average_loss` over the *global* batch,
  so the summed replica gradients equal the single-device gradient;
* every random draw (latents, GP interpolation weights, DiffAugment parameters) is made
  statelessly for the whole global batch from `(seed, step, purpose, pass)` (see
  `gan_tf.streams`) and sliced per replica, so the maths does not depend on the replica count,
  a resumed run repeats the same draws, and no two draws of a run coincide;
* loss trackers are updated with per-example values, so logs are global means.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from gan_tf import augment, losses, streams
from gan_tf.errors import ConfigError
from gan_tf.networks import progressive
from gan_tf.networks.base import Discriminator, Generator, condition, float32_copy


def global_mean(values: tf.Tensor, global_batch: tf.Tensor) -> tf.Tensor:
    """Mean over the global batch of per-example rows (summed across replicas)."""
    total = tf.reduce_sum(values, axis=0)
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
        total = ctx.all_reduce(tf.distribute.ReduceOp.SUM, total)
    return total / tf.cast(global_batch, values.dtype)


class OutputGenerator:
    """The EMA generator as its outputs see it: a float32 copy of its weights, with batch-norm
    statistics recomputed for those weights (`Generator.recompute_statistics`).

    An EMA generator averages the weights of many steps but carries the training generator's
    batch statistics, which do not match its weights. Output goes through a copy so that it
    never changes the training state: a run that writes samples at some step and one that
    does not stay bit-identical, and a checkpoint equals the state it was saved from. The
    copy is made once, when the GAN is built (inside the strategy scope, on every worker).
    """

    def __init__(self, ema_generator: Generator):
        self.ema_generator = ema_generator
        self.net = float32_copy(ema_generator)

    def __call__(self) -> Generator:
        for target, source in zip(self.net.variables, self.ema_generator.variables):
            target.assign(tf.cast(source, target.dtype))
        self.net.recompute_statistics()
        return self.net


def update_average(average: keras.Model, net: keras.Model, decay: float, step: tf.Tensor) -> None:
    """Moves `average`'s trainable weights towards `net`'s by an exponential moving average
    whose decay ramps up as `min(decay, (1 + t) / (10 + t))` at step t, so early weights fade
    fast; non-trainable weights (batch-norm statistics) are copied."""
    t = tf.cast(step, tf.float32)
    rate = tf.minimum(decay, (1.0 + t) / (10.0 + t))
    for avg, var in zip(average.trainable_variables, net.trainable_variables):
        avg.assign(rate * avg + (1.0 - rate) * tf.cast(var, avg.dtype))
    for avg, var in zip(average.non_trainable_variables, net.non_trainable_variables):
        avg.assign(var)


class GAN(keras.Model):
    """Generator, discriminator and an EMA copy of the generator, trained adversarially.

    Args:
      generator: the generator network.
      discriminator: the discriminator network.
      loss: name of the loss family (see `gan_tf.losses`).
      gp_weight: WGAN-GP penalty weight (0 = off).
      r1_gamma: R1 penalty gamma (0 = off).
      r1_every: compute R1 on every `r1_every`-th step only, weighted by `r1_every` (lazy
        regularisation); the `r1` log averages the steps that computed it.
      d_steps: discriminator updates per generator update (each with fresh latents).
      ema_decay: decay of the EMA generator; ramps up as `min(decay, (1+t)/(10+t))`.
      diffaugment: DiffAugment policy string, e.g. `"color,translation,cutout"`.
      seed: seed of every random draw.
      reuse_fakes: with `d_steps == 1`, use one batch of fakes (and one critic pass on them)
        for both updates, saving a generator and a critic forward pass per step.
      grow: `(stage_steps, fade_steps)` of progressive growing (`stage_steps = 0`: off);
        each step first sets both networks' level of detail to `lod_at(step)`
        (`gan_tf.networks.progressive`), so a resumed run grows exactly as an
        uninterrupted one.

    Raises:
      ConfigError: for `d_steps` outside `[1, streams.MAX_PASSES]` or `reuse_fakes` with
        `d_steps > 1`.
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        loss: str = "non_saturating",
        gp_weight: float = 0.0,
        r1_gamma: float = 0.0,
        r1_every: int = 1,
        d_steps: int = 1,
        ema_decay: float = 0.999,
        diffaugment: str = "",
        seed: int = 0,
        reuse_fakes: bool = False,
        grow: tuple[int, int] = (0, 0),
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = type(generator).from_config(
            {**generator.get_config(), "name": "ema_generator"}
        )
        self.loss_family = losses.get(loss)
        self.loss_name = loss
        self.gp_weight = float(gp_weight)
        self.r1_gamma = float(r1_gamma)
        self.r1_every = int(r1_every)
        if self.r1_every < 1:
            raise ConfigError(f"loss.r1_every must be >= 1, got {self.r1_every}")
        self.d_steps = int(d_steps)
        if not 1 <= self.d_steps <= streams.MAX_PASSES:
            raise ConfigError(
                f"train.d_steps must be in [1, {streams.MAX_PASSES}], got {self.d_steps}"
            )
        if reuse_fakes and self.d_steps != 1:
            raise ConfigError("train.reuse_fakes needs train.d_steps=1")
        self.reuse_fakes = bool(reuse_fakes)
        self.grow = (int(grow[0]), int(grow[1]))
        if self.grow[0] and not (
            getattr(generator, "progressive", False)
            and getattr(discriminator, "progressive", False)
        ):
            raise ConfigError(
                "progressive growing needs networks built with progressive=true "
                "(architectures dcgan and stylegan)"
            )
        self.ema_decay = float(ema_decay)
        self.policies = augment.parse_policy(diffaugment)
        self.seed = int(seed)
        self.num_classes = generator.num_classes
        self.latent_dim = generator.latent_dim
        names = ["d_loss", "g_loss", "d_real", "d_fake"]
        if self.gp_weight:
            names.append("gp")
        if self.r1_gamma:
            names.append("r1")
        self.trackers = {name: keras.metrics.Mean(name=name) for name in names}

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    def build_networks(self) -> None:
        """Creates every variable and starts the EMA generator equal to the generator."""
        self.step_counter = self.add_weight(
            shape=(),
            dtype="int64",
            initializer="zeros",
            trainable=False,
            aggregation="only_first_replica",
            name="step",
        )
        self.generator(self.generator.dummy_inputs())
        self.ema_generator(self.ema_generator.dummy_inputs())
        self.discriminator(self.discriminator.dummy_inputs())
        for ema, var in zip(self.ema_generator.variables, self.generator.variables):
            ema.assign(var)
        # A plain object, not a layer: the copy is derived state, not tracked or saved.
        self._outputs = OutputGenerator(self.ema_generator)
        self.built = True

    def output_generator(self) -> Generator:
        """The EMA generator as samples, evaluations and exports see it (`OutputGenerator`)."""
        return self._outputs()

    def compile(
        self,
        g_optimizer: keras.optimizers.Optimizer,
        d_optimizer: keras.optimizers.Optimizer,
        **kwargs: Any,
    ) -> None:
        """Sets the two optimizers and builds them on their networks' variables.

        Call inside the distribution strategy's scope, after `build_networks`.
        """
        # No optimizer of Keras' own: it would default to an unused RMSprop.
        super().compile(optimizer=None, **kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer
        g_optimizer.build(self.generator.trainable_variables)
        d_optimizer.build(self.discriminator.trainable_variables)

    def _maybe_symbolic_build(self, iterator=None, data_batch=None) -> None:
        """Does nothing: networks and optimizers are built explicitly.

        Keras' version pulls the first batch off the training iterator whenever the model was
        made under a strategy scope, so every `fit` under Mirrored or MultiWorkerMirrored
        would silently skip a batch (and it reduces PerReplica data, keras-team/keras#20585).
        """

    @property
    def step(self):
        """Number of train steps made so far (a step may be skipped by loss scaling)."""
        return self.step_counter

    # -- random draws ----------------------------------------------------------------------

    def _global_draw(
        self, kind: str, global_batch: tf.Tensor, width: int, step: tf.Tensor, purpose: str, k=0
    ) -> tf.Tensor:
        """Draws `[global_batch, width]` values of stream `purpose` (pass `k`) at `step` and
        returns this replica's rows."""
        seed = streams.stream_seed(self.seed, step, purpose, k)
        shape = tf.stack([global_batch, width])
        if kind == "normal":
            values = tf.random.stateless_normal(shape, seed=seed)
        else:
            values = tf.random.stateless_uniform(shape, seed=seed)
        ctx = tf.distribute.get_replica_context()
        if ctx is None or ctx.num_replicas_in_sync == 1:
            return values
        local = global_batch // ctx.num_replicas_in_sync
        start = tf.cast(ctx.replica_id_in_sync_group, tf.int32) * local
        return values[start : start + local]

    def _fakes(self, c: tf.Tensor, global_batch, step, phase: str, k=0) -> tf.Tensor:
        """The generator's images of a training pass, from the latents of stream
        `<phase>_latents` (phase `d` or `g`), pass `k`."""
        z = self._global_draw("normal", global_batch, self.latent_dim, step, f"{phase}_latents", k)
        return self.generator((z, c), training=True)

    def _set_level_of_detail(self, step: tf.Tensor) -> None:
        """Sets both networks' `lod` for `step` when growing progressively (the EMA
        generator copies it with the other non-trainable variables)."""
        if not self.grow[0]:
            return
        lod = progressive.lod_at(step, self.generator.levels, *self.grow)
        self.generator.lod.assign(lod)
        self.discriminator.lod.assign(lod)

    def _critic(self, c: tf.Tensor):
        def critic(images: tf.Tensor) -> tf.Tensor:
            return self.discriminator((images, c), training=True)

        return critic

    def _augment(self, images: tf.Tensor, global_batch, step, purpose: str, k=0) -> tf.Tensor:
        if not self.policies:
            return images
        u = self._global_draw(
            "uniform", global_batch, augment.num_params(self.policies), step, purpose, k
        )
        return augment.diff_augment(images, self.policies, u)

    # -- the step --------------------------------------------------------------------------

    def _discriminator_loss(self, critic, images, fake, global_batch, step, k):
        """Per-example discriminator loss of pass `k`, the logits and the penalties."""
        real_logits = critic(self._augment(images, global_batch, step, "d_augment_real", k))
        fake_logits = critic(self._augment(fake, global_batch, step, "d_augment_fake", k))
        per_example = self.loss_family.discriminator(real_logits, fake_logits)
        penalties = {}
        if self.gp_weight:
            eps = self._global_draw("uniform", global_batch, 1, step, "gp_weights", k)
            penalties["gp"] = losses.wasserstein_gradient_penalty(
                critic, images, tf.stop_gradient(fake), eps[:, 0]
            )
            per_example += self.gp_weight * penalties["gp"]
        if self.r1_gamma:
            penalties["r1"] = self._r1(critic, images, step)
            per_example += 0.5 * self.r1_gamma * self.r1_every * penalties["r1"]
        return per_example, real_logits, fake_logits, penalties

    def _r1_due(self, step: tf.Tensor) -> bool | tf.Tensor:
        """Whether this step computes R1 (every step unless lazy regularisation is on)."""
        return True if self.r1_every == 1 else tf.equal(step % self.r1_every, 0)

    def _r1(self, critic, images: tf.Tensor, step: tf.Tensor) -> tf.Tensor:
        """The per-example R1 penalty, or zeros on the steps lazy regularisation skips."""
        due = self._r1_due(step)
        if due is True:
            return losses.r1_penalty(critic, images)
        return tf.cond(
            due,
            lambda: losses.r1_penalty(critic, images),
            lambda: tf.zeros([tf.shape(images)[0]]),
        )

    def train_step(self, data: Any) -> dict[str, tf.Tensor]:
        if isinstance(data, (tuple, list)):
            images, labels = data[0], (data[1] if self.num_classes > 0 else None)
        else:
            images, labels = data, None
        if self.num_classes > 0 and labels is None:
            raise ValueError("a conditional GAN needs (images, labels) batches")
        c = condition(labels, self.num_classes, tf.shape(images)[0])
        images = tf.cast(images, tf.float32)
        ctx = tf.distribute.get_replica_context()
        replicas = ctx.num_replicas_in_sync if ctx is not None else 1
        global_batch = tf.shape(images)[0] * replicas
        step = tf.cast(self.step, tf.int64)
        self._set_level_of_detail(step)
        critic = self._critic(c)
        d_vars = self.discriminator.trainable_variables
        g_vars = self.generator.trainable_variables

        if self.reuse_fakes:
            # One generator pass and one critic pass on the fakes serve both updates, as in
            # the TensorFlow and PyTorch DCGAN tutorials: both gradients are taken at the
            # current weights (simultaneous updates).
            with tf.GradientTape() as d_tape, tf.GradientTape() as g_tape:
                fake = self._fakes(c, global_batch, step, "d")
                per_example, real_logits, fake_logits, penalties = self._discriminator_loss(
                    critic, images, fake, global_batch, step, 0
                )
                d_loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
                d_loss = self.d_optimizer.scale_loss(d_loss)
                g_per_example = self.loss_family.generator(fake_logits)
                g_loss = tf.nn.compute_average_loss(g_per_example, global_batch_size=global_batch)
                g_loss = self.g_optimizer.scale_loss(g_loss)
            d_grads = d_tape.gradient(d_loss, d_vars)
            g_grads = g_tape.gradient(g_loss, g_vars)
            self.d_optimizer.apply_gradients(zip(d_grads, d_vars))
            self.g_optimizer.apply_gradients(zip(g_grads, g_vars))
        else:
            for k in range(self.d_steps):
                fake = self._fakes(c, global_batch, step, "d", k)
                with tf.GradientTape() as tape:
                    per_example, real_logits, fake_logits, penalties = self._discriminator_loss(
                        critic, images, fake, global_batch, step, k
                    )
                    d_loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
                    d_loss = self.d_optimizer.scale_loss(d_loss)
                grads = tape.gradient(d_loss, d_vars)
                self.d_optimizer.apply_gradients(zip(grads, d_vars))

            with tf.GradientTape() as tape:
                fake = self._fakes(c, global_batch, step, "g")
                fake_logits_g = critic(self._augment(fake, global_batch, step, "g_augment"))
                g_per_example = self.loss_family.generator(fake_logits_g)
                g_loss = tf.nn.compute_average_loss(g_per_example, global_batch_size=global_batch)
                g_loss = self.g_optimizer.scale_loss(g_loss)
            self.g_optimizer.apply_gradients(zip(tape.gradient(g_loss, g_vars), g_vars))
        self._update_ema(step)
        self.step_counter.assign_add(1)

        # Trackers take the per-example values of the last discriminator step.
        self.trackers["d_loss"].update_state(per_example)
        self.trackers["g_loss"].update_state(g_per_example)
        self.trackers["d_real"].update_state(tf.reshape(real_logits, [-1]))
        self.trackers["d_fake"].update_state(tf.reshape(fake_logits, [-1]))
        for name, values in penalties.items():
            weight = tf.cast(self._r1_due(step), tf.float32) if name == "r1" else 1.0
            self.trackers[name].update_state(values, sample_weight=weight)
        return self.logs(self.trackers)

    @staticmethod
    def logs(trackers: dict[str, keras.metrics.Metric]) -> dict[str, tf.Tensor]:
        """The step's logs: each tracker's result (rank 1 under MultiWorkerMirrored, where
        Keras reduces logs along axis 0 across workers, keras-team/keras#20585)."""
        logs = {name: tracker.result() for name, tracker in trackers.items()}
        if isinstance(tf.distribute.get_strategy(), tf.distribute.MultiWorkerMirroredStrategy):
            logs = {name: tf.reshape(value, [1]) for name, value in logs.items()}
        return logs

    def _update_ema(self, step: tf.Tensor) -> None:
        update_average(self.ema_generator, self.generator, self.ema_decay, step)

    def generate(
        self,
        z: tf.Tensor,
        labels: tf.Tensor | None = None,
        ema: bool = True,
    ) -> tf.Tensor:
        """Images in [-1, 1] from latents (and labels) with the EMA or raw generator."""
        net = self.ema_generator if ema else self.generator
        return net(net.inputs_for(z, labels), training=False)
