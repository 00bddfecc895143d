"""The `gan` family: a generator against a discriminator, with an EMA copy of the generator.

Architectures `dcgan`, `resnet` and `mlp` (`gan_tf.networks`), unconditional or
class-conditional (`data.num_classes`). The training step is `gan_tf.models.gan.GAN`. Its
inference object, what samples, metrics and the export use, is the EMA generator as a float32
network with batch-norm statistics recomputed for its weights.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from gan_tf import callbacks, distribute, networks, streams
from gan_tf.errors import ConfigError, GanTfError
from gan_tf.families import register
from gan_tf.families.base import Family
from gan_tf.models.gan import GAN
from gan_tf.networks.base import Generator, dtype_policy


@keras.saving.register_keras_serializable(package="gan_tf")
class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """`rate` until update `start`, then linearly down to 0 at update `end`."""

    def __init__(self, rate: float, start: int, end: int):
        self.rate, self.start, self.end = float(rate), int(start), int(end)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        left = (self.end - step) / max(self.end - self.start, 1)
        return self.rate * keras.ops.clip(left, 0.0, 1.0)

    def get_config(self) -> dict:
        return {"rate": self.rate, "start": self.start, "end": self.end}


def learning_rate(rate: float, train_config, updates_per_step: int = 1):
    """The learning rate of an optimizer updated `updates_per_step` times per train step:
    constant, or with `train.lr_decay_start < 1` a linear decay to 0 over the last steps."""
    t = train_config
    if t.lr_decay_start >= 1.0:
        return rate
    start = int(t.lr_decay_start * t.steps) * updates_per_step
    return LinearDecay(rate, start, t.steps * updates_per_step)


def make_optimizer(name: str, learning_rate, beta_1: float, beta_2: float, epsilon: float):
    """Creates a Keras optimizer by name (`adam` or `sgd`; `sgd` ignores the Adam settings)."""
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2, epsilon=epsilon)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate)
    raise ConfigError(f"unknown optimizer {name!r} (train.optimizer); expected adam or sgd")


def optimizers(config, updates: tuple[int, ...], policy: str) -> list:
    """One optimizer per learning rate `(train.g_lr, train.d_lr)` with its Adam epsilon, each
    updated `updates[i]` times per step; loss-scaled under `mixed_float16`."""
    t = config.train
    settings = ((t.g_lr, t.g_adam_epsilon), (t.d_lr, t.d_adam_epsilon))
    made = [
        make_optimizer(t.optimizer, learning_rate(rate, t, n), t.beta_1, t.beta_2, epsilon)
        for (rate, epsilon), n in zip(settings, updates)
    ]
    return [loss_scaled(opt, policy) for opt in made]


def loss_scaled(optimizer: keras.optimizers.Optimizer, policy: str):
    """The optimizer, wrapped to scale the loss under the `mixed_float16` policy."""
    if policy == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def compute_policy(config) -> str:
    """The Keras dtype policy of the run: float32, or mixed precision for the strategy."""
    if not config.train.mixed_precision:
        return "float32"
    return distribute.mixed_precision_policy(tf.distribute.get_strategy())


def build_gan(
    config, make: Callable[..., GAN] = GAN, **extra_optimizers: keras.optimizers.Optimizer
) -> GAN:
    """Builds and compiles the GAN of a config in the current strategy scope.

    Weights are initialised from `train.seed`, so equal configs give equal networks. With
    `train.mixed_precision`, layers compute in float16 (bfloat16 on TPU) with float32
    variables, outputs and losses, and every optimizer scales the loss (float16 only).

    Args:
      config: the run configuration.
      make: the model class (or a function) called with the generator, the discriminator
        and the GAN's settings, under the run's dtype policy; e.g. a `GAN` subclass that
        adds networks of its own.
      **extra_optimizers: further optimizers passed to the model's `compile` by name.
    """
    keras.utils.set_random_seed(config.train.seed)
    t, lo = config.train, config.loss
    policy = compute_policy(config)
    with dtype_policy(policy):
        generator, discriminator = networks.build(config)
        gan = make(
            generator,
            discriminator,
            loss=lo.name,
            gp_weight=lo.gp_weight,
            r1_gamma=lo.r1_gamma,
            r1_every=lo.r1_every,
            d_steps=t.d_steps,
            ema_decay=t.ema_decay,
            diffaugment=t.diffaugment,
            seed=t.seed,
            reuse_fakes=t.reuse_fakes,
            grow=(config.progressive.stage_steps, config.progressive.fade_steps),
        )
        gan.build_networks()
    g_opt, d_opt = optimizers(config, (1, 1 if t.reuse_fakes else t.d_steps), policy)
    extra = {name: loss_scaled(opt, policy) for name, opt in extra_optimizers.items()}
    gan.compile(g_optimizer=g_opt, d_optimizer=d_opt, jit_compile=t.jit_compile, **extra)
    return gan


def validate_growth(config) -> None:
    """Checks the `progressive` section against the networks' `progressive` settings.

    Raises:
      ConfigError: for negative steps, or growth with networks that cannot grow.
    """
    p = config.progressive
    if p.stage_steps < 0 or p.fade_steps < 0:
        raise ConfigError(
            f"progressive.stage_steps and progressive.fade_steps must be >= 0, got "
            f"{p.stage_steps} and {p.fade_steps}"
        )
    if not p.stage_steps:
        return
    for role in ("generator", "discriminator"):
        if not networks.resolved_kwargs(config.model, role).get("progressive"):
            raise ConfigError(
                f"progressive.stage_steps={p.stage_steps} needs model.{role}.progressive=true "
                f"(architectures that grow: dcgan, stylegan; model.arch={config.model.arch!r})"
            )


@register
class GANFamily(Family):
    """Generator, discriminator and EMA generator, trained adversarially."""

    name = "gan"
    grows = True
    architectures = networks.family_architectures("gan")

    def validate(self) -> None:
        super().validate()
        config, t = self.config, self.config.train
        if t.d_steps > streams.MAX_PASSES:
            raise ConfigError(
                f"train.d_steps must be at most {streams.MAX_PASSES}, got {t.d_steps}"
            )
        if t.reuse_fakes and t.d_steps != 1:
            raise ConfigError(
                f"train.reuse_fakes needs train.d_steps=1 (got {t.d_steps}): each critic pass "
                "draws its own fakes"
            )
        validate_growth(config)
        if config.loss.r1_every < 1:
            raise ConfigError(f"loss.r1_every must be >= 1, got {config.loss.r1_every}")
        critic = networks.resolved_kwargs(config.model, "discriminator")
        if (config.loss.gp_weight or config.loss.r1_gamma) and critic.get("norm") == "batch":
            raise ConfigError(
                "loss.gp_weight / loss.r1_gamma need a discriminator without batch norm "
                "(set model.discriminator.norm=layer or none): batch norm couples the examples "
                "of a batch, so per-example input gradients are not defined"
            )
        group = critic.get("mbstd_group", 0)
        if group and (group < 2 or t.batch_size % group):
            raise ConfigError(
                f"model.discriminator.mbstd_group={group} must be >= 2 and divide "
                f"train.batch_size={t.batch_size}"
            )
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if group and (t.batch_size // replicas) % group:
            raise ConfigError(
                f"model.discriminator.mbstd_group={group} must divide the per-replica batch "
                f"({t.batch_size // replicas} = train.batch_size / {replicas} replicas)"
            )

    def build(self) -> GAN:
        return build_gan(self.config)

    def checkpoint_items(self, model: GAN) -> Mapping[str, Any]:
        return {
            "generator": model.generator,
            "discriminator": model.discriminator,
            "ema_generator": model.ema_generator,
            "step": model.step_counter,
            "g_optimizer": model.g_optimizer,
            "d_optimizer": model.d_optimizer,
        }

    def finite(self, model: GAN) -> bool:
        return callbacks.all_finite(model)

    def learning_rates(self, model: GAN) -> list:
        t = self.config.train
        return [(model.g_optimizer, t.g_lr), (model.d_optimizer, t.d_lr)]

    def callbacks(self, model: GAN, writer, guard) -> list:
        if self.config.eval.every <= 0:
            return []
        from gan_tf.metrics.callback import EvalCallback

        return [EvalCallback(self.config, writer, guard)]

    # -- outputs -----------------------------------------------------------------------

    def inference(self, model: GAN) -> Generator:
        """The live model's inference object: `GAN.output_generator()`."""
        return model.output_generator()

    def grid_inputs(self):
        t = self.config.train
        return callbacks.grid_inputs(
            self.config.model.latent_dim, self.config.data.num_classes, t.num_grid, t.seed
        )

    def sample_grid(self, generator: Generator) -> np.ndarray:
        return callbacks.sample_grid(generator, self.grid_inputs())

    def generate(self, generator: Generator) -> Callable[[np.ndarray], np.ndarray]:
        from gan_tf.metrics import sources

        return sources.seeded(generator, "EMA generator")

    def export(self, generator: Generator, export_dir: str, metadata: dict[str, Any]) -> str:
        from gan_tf import export

        return export.export_generator(
            generator, export_dir, metadata, warmup_requests=self.config.export.warmup_requests
        )

    def load(self, workdir: str) -> tuple[Generator, int]:
        return load_ema_generator(self.config, workdir)


def load_ema_generator(
    config, workdir: str, recompute_statistics: bool = True
) -> tuple[Generator, int]:
    """Builds the run's generator with the EMA weights of its newest checkpoint.

    Args:
      config: the run's configuration.
      workdir: the training workdir.
      recompute_statistics: recompute batch-norm statistics for the EMA weights (see
        `Generator.recompute_statistics`), as training does before every output.

    Returns:
      The EMA generator and the checkpoint step.

    Raises:
      GanTfError: if the workdir holds no checkpoint.
    """
    from gan_tf import checkpoint
    from gan_tf import workdir as workdir_lib

    generator, _ = networks.build(config)
    generator(generator.dummy_inputs())
    try:
        step = checkpoint.restore_items(
            {"ema_generator": generator}, workdir_lib.checkpoint_dir(workdir)
        )
    except FileNotFoundError:
        raise GanTfError(f"{workdir} holds no checkpoint yet") from None
    if recompute_statistics:
        generator.recompute_statistics()
    return generator, step
