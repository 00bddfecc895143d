"""`train(config, workdir)`: the one entry point for training, used by the CLI and TFX.

A workdir holds everything about a run:

    config.json          the resolved configuration (written before training starts)
    config_history.json  settings changed on resume (learning rates, lengths, periods)
    checkpoints/         training state every `train.checkpoint_every` steps and at the end
    tensorboard/         event files: losses, throughput, EMA sample grids, hparams, config
    samples.png          a grid of EMA samples at fixed latents, written at the end
    .lock                held by the one process training in the workdir

Running `train` again on the same workdir resumes from the newest complete checkpoint: the
step, both networks, the EMA generator, both optimizers (with their loss-scale state) and
(being stateless functions of the seed and step) every random draw and the data order
continue as if the run had not stopped, whether it ended normally, on SIGINT/SIGTERM (which
save a checkpoint first) or was killed.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
from typing import NamedTuple

import keras
import tensorflow as tf

from gan_tf import (
    callbacks,
    checkpoint,
    distribute,
    files,
    images,
    networks,
    progress,
    streams,
    summaries,
)
from gan_tf.checkpoint import Checkpointer
from gan_tf.config import Config
from gan_tf.data import pipeline
from gan_tf.errors import ConfigError, DataError, TrainingError
from gan_tf.models.gan import GAN
from gan_tf.networks.base import dtype_policy
from gan_tf.workdir import checkpoint_dir, config_changes, record_config, write_training_state

log = logging.getLogger(__name__)


class TrainResult(NamedTuple):
    """What a call to `train` leaves behind."""

    gan: GAN
    step: int
    checkpoint: str | None
    samples_path: str
    export_dir: str | None = None
    start_step: int = 0


class Interrupted(KeyboardInterrupt):
    """Training stopped on SIGINT or SIGTERM, after saving a checkpoint of its last step.

    Attributes:
      signum: the signal received.
      step: the step reached.
      checkpoint: the checkpoint holding that step (None if none was written yet).
    """

    def __init__(self, signum: int, step: int, checkpoint: str | None):
        self.signum, self.step, self.checkpoint = signum, step, checkpoint
        saved = f"state saved to {checkpoint}" if checkpoint else "no checkpoint yet"
        super().__init__(
            f"{signal.Signals(signum).name} at step {step}: {saved}; rerun the same command "
            "to resume"
        )


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


def make_optimizer(name: str, learning_rate, beta_1: float, beta_2: float):
    """Creates a Keras optimizer by name (`adam` or `sgd`)."""
    if name == "adam":
        return keras.optimizers.Adam(learning_rate, beta_1=beta_1, beta_2=beta_2)
    if name == "sgd":
        return keras.optimizers.SGD(learning_rate)
    raise ConfigError(f"unknown optimizer {name!r} (train.optimizer); expected adam or sgd")


def build_gan(config: Config) -> GAN:
    """Builds and compiles the GAN of a config in the current strategy scope.

    Weights are initialised from `train.seed`, so equal configs give equal networks. With
    `train.mixed_precision`, layers compute in float16 (bfloat16 on TPU) with float32
    variables, outputs and losses, and both optimizers scale the loss (float16 only).
    """
    keras.utils.set_random_seed(config.train.seed)
    t, lo = config.train, config.loss
    policy = "float32"
    if t.mixed_precision:
        policy = distribute.mixed_precision_policy(tf.distribute.get_strategy())
    with dtype_policy(policy):
        generator, discriminator = networks.build(config)
        gan = GAN(
            generator,
            discriminator,
            loss=lo.name,
            gp_weight=lo.gp_weight,
            r1_gamma=lo.r1_gamma,
            d_steps=t.d_steps,
            ema_decay=t.ema_decay,
            diffaugment=t.diffaugment,
            seed=t.seed,
            reuse_fakes=t.reuse_fakes,
        )
        gan.build_networks()
    rates = [learning_rate(t.g_lr, t), learning_rate(t.d_lr, t, 1 if t.reuse_fakes else t.d_steps)]
    optimizers = [make_optimizer(t.optimizer, lr, t.beta_1, t.beta_2) for lr in rates]
    if policy == "mixed_float16":
        optimizers = [keras.optimizers.LossScaleOptimizer(opt) for opt in optimizers]
    gan.compile(g_optimizer=optimizers[0], d_optimizer=optimizers[1], jit_compile=t.jit_compile)
    return gan


def validate(config: Config) -> None:
    """Checks values that no single component checks.

    Raises:
      ConfigError: naming the first bad key.
    """
    t = config.train
    positive = {
        "train.batch_size": t.batch_size,
        "train.steps": t.steps,
        "train.steps_per_epoch": t.steps_per_epoch,
        "train.d_steps": t.d_steps,
        "train.num_grid": t.num_grid,
        "model.latent_dim": config.model.latent_dim,
        "model.g_width": config.model.g_width,
        "model.d_width": config.model.d_width,
        "data.image_size": config.data.image_size,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"{key} must be positive, got {value}")
    if t.d_steps > streams.MAX_PASSES:
        raise ConfigError(f"train.d_steps must be at most {streams.MAX_PASSES}, got {t.d_steps}")
    if t.reuse_fakes and t.d_steps != 1:
        raise ConfigError(
            f"train.reuse_fakes needs train.d_steps=1 (got {t.d_steps}): each critic pass "
            "draws its own fakes"
        )
    if not 0.0 <= t.lr_decay_start <= 1.0:
        raise ConfigError(f"train.lr_decay_start must be in [0, 1], got {t.lr_decay_start}")
    if not 0.0 <= t.ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay must be in [0, 1), got {t.ema_decay}")
    if (config.loss.gp_weight or config.loss.r1_gamma) and config.model.d_norm == "batch":
        raise ConfigError(
            "loss.gp_weight / loss.r1_gamma need a discriminator without batch norm "
            "(set model.d_norm=layer or none): batch norm couples the examples of a batch, so "
            "per-example input gradients are not defined"
        )
    group = config.model.mbstd_group
    if group:
        if config.model.arch == "mlp":
            raise ConfigError(
                "model.mbstd_group needs a convolutional discriminator (dcgan, resnet)"
            )
        if group < 2 or t.batch_size % group:
            raise ConfigError(
                f"model.mbstd_group={group} must be >= 2 and divide train.batch_size={t.batch_size}"
            )
    if config.data.num_classes < 0:
        raise ConfigError(f"data.num_classes must be >= 0, got {config.data.num_classes}")


def fit_plan(start: int, total: int, steps_per_epoch: int) -> list[tuple[int, int, int]]:
    """Splits steps `[start, total)` into `model.fit` calls aligned on epochs.

    Returns:
      `(initial_epoch, epochs, steps_per_epoch)` per call: a partial first epoch when
      resuming mid-epoch, the whole epochs, and a partial last epoch.
    """
    plan, step, spe = [], start, steps_per_epoch
    if step < total and step % spe:
        n = min(spe - step % spe, total - step)
        plan.append((step // spe, step // spe + 1, n))
        step += n
    if total - step >= spe:
        full = (total - step) // spe
        plan.append((step // spe, step // spe + full, spe))
        step += full * spe
    if step < total:
        plan.append((step // spe, step // spe + 1, total - step))
    return plan


def _check_first_batch(dataset: tf.data.Dataset, description: str) -> None:
    try:
        next(iter(dataset.take(1)))
    except tf.errors.OpError as e:
        raise DataError(f"bad training data from {description}: {_op_message(e)}") from None


def _op_message(error: tf.errors.OpError) -> str:
    lines = [line for line in error.message.splitlines() if line.strip()]
    for line in lines:
        if "expected" in line or "Unknown image" in line or "label" in line:
            return line.strip()
    return lines[0].strip() if lines else type(error).__name__


def train(config: Config, workdir: str, verbose: int | str = "auto") -> TrainResult:
    """Trains (or resumes training) the GAN described by `config` in `workdir`.

    Args:
      config: the run configuration.
      workdir: directory of the run; created if missing, resumed if it holds checkpoints.
      verbose: Keras progress output (`"auto"`: a bar on a terminal, a line per epoch else).

    Returns:
      The trained GAN, the step reached, the last checkpoint and the sample grid path.

    Raises:
      ConfigError: for bad configuration, or a workdir holding a different run.
      DataError: for missing, empty, corrupt or wrongly shaped data.
      LockedError: when another process is training in `workdir`.
      TrainingError: when a loss becomes NaN/Inf (the last good checkpoint is kept), or the
        workdir's checkpoints are all incomplete.
      Interrupted: on SIGINT/SIGTERM, after saving a checkpoint.
    """
    validate(config)
    strategy = distribute.get_strategy(config.train.strategy)
    distribute.check_batch_size(config.train.batch_size, strategy)
    replica_batch = config.train.batch_size // strategy.num_replicas_in_sync
    if config.model.mbstd_group and replica_batch % config.model.mbstd_group:
        raise ConfigError(
            f"model.mbstd_group={config.model.mbstd_group} must divide the per-replica batch "
            f"({replica_batch} = train.batch_size / {strategy.num_replicas_in_sync} replicas)"
        )
    # Only the chief writes shared outputs; other workers save into a private scratch dir.
    chief = distribute.is_chief(strategy)
    scratch = None if chief else os.path.join(workdir, f".{distribute.task_suffix(strategy)}")
    with (
        files.DirLock(scratch or workdir, "training workdir"),
        callbacks.StopOnSignal() as stop,
    ):
        return _train(config, workdir, strategy, scratch, stop, verbose)


def _train(
    config: Config,
    workdir: str,
    strategy: tf.distribute.Strategy,
    scratch: str | None,
    stop: callbacks.StopOnSignal,
    verbose: int | str,
) -> TrainResult:
    t = config.train
    changes = {} if scratch else config_changes(config, workdir)
    saved_dir = checkpoint_dir(workdir)
    with strategy.scope():
        gan = build_gan(config)
        checkpointer = Checkpointer(
            gan,
            os.path.join(scratch, "checkpoints") if scratch else saved_dir,
            t.keep_checkpoints,
            restore_dir=saved_dir,
        )
    start = checkpointer.restore()
    # Learning rates are settings, not state: a resumed run uses the configured ones. A
    # constant rate is a variable the restore just overwrote; a schedule is built from them.
    for optimizer, rate in ((gan.g_optimizer, t.g_lr), (gan.d_optimizer, t.d_lr)):
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        if not isinstance(inner._learning_rate, keras.optimizers.schedules.LearningRateSchedule):
            optimizer.learning_rate = rate
    if not scratch:
        record_config(config, workdir, changes, start)
    if start:
        log.info("Resuming %s at step %d from %s", workdir, start, checkpointer.latest)
    for key, (old, new) in changes.items():
        log.info("%s changed from %r to %r at step %d", key, old, new, start)

    guard = callbacks.NonFiniteGuard()
    grid = callbacks.grid_inputs(
        config.model.latent_dim, config.data.num_classes, t.num_grid, t.seed
    )
    tensorboard = callbacks.TensorBoardLogger(
        None if scratch else os.path.join(workdir, "tensorboard"),
        t.log_every,
        t.image_every,
        grid,
        t.batch_size,
        guard,
    )
    tensorboard.set_model(gan)
    summaries.write_run_config(tensorboard.writer, config, start)
    cbs = [
        guard,
        callbacks.CheckpointEvery(checkpointer, t.checkpoint_every, guard),
        stop,
        tensorboard,
        progress.StepReporter(t.steps),
    ]
    if config.eval.every > 0:
        from gan_tf.metrics.callback import EvalCallback

        cbs.append(EvalCallback(config, tensorboard.writer, guard))
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2

    try:
        for initial_epoch, epochs, steps_per_epoch in fit_plan(start, t.steps, t.steps_per_epoch):
            if stop.received is not None:
                break
            dataset = pipeline.train_dataset(config, int(gan.step.numpy()))
            _check_first_batch(dataset, config.data.source)
            gan.fit(
                dataset,
                initial_epoch=initial_epoch,
                epochs=epochs,
                steps_per_epoch=steps_per_epoch,
                callbacks=cbs,
                verbose=verbose,
            )
            if guard.failure or stop.received is not None:
                break
    except tf.errors.InvalidArgumentError as e:
        raise DataError(f"bad training data: {_op_message(e)}") from None

    step = int(gan.step.numpy())
    if guard.failure is None and not callbacks.all_finite(gan):
        guard.failure = f"non-finite weights at step {step}"
    if guard.failure:
        raise TrainingError(
            f"{guard.failure}; training stopped. The last good checkpoint "
            f"({checkpointer.latest or 'none yet'}) is kept: lower the learning rates "
            "(--set train.g_lr=... --set train.d_lr=...) and rerun to resume from it"
        )
    if stop.received is not None:
        saved = checkpointer.latest if step == start else _save_once(checkpointer, step)
        raise Interrupted(stop.received, step, saved)
    saved = _save_once(checkpointer, step)
    if scratch:
        shutil.rmtree(scratch, ignore_errors=True)
        return TrainResult(gan, step, None, "", None, start)
    tensorboard.write_samples(step)
    samples_path = os.path.join(workdir, "samples.png")
    write_samples(gan, grid, samples_path)
    write_training_state(workdir, step, saved)
    export_dir = _export(gan, config, workdir, step, saved) if config.export.enabled else None
    return TrainResult(gan, step, saved, samples_path, export_dir, start)


def _save_once(checkpointer: Checkpointer, step: int) -> str:
    """The checkpoint of `step`: the latest one if it holds that step, else a new one."""
    latest = checkpointer.latest
    if latest is not None and checkpoint.checkpoint_step(latest) == step:
        return latest
    return checkpointer.save()


def _export(gan: GAN, config: Config, workdir: str, step: int, checkpoint: str) -> str:
    """Exports the EMA generator to `<workdir>/export`; the checkpoint is already saved."""
    from gan_tf import export

    try:
        return export.export_generator(
            gan.output_generator(),
            os.path.join(workdir, "export"),
            export.run_metadata(config, step),
            warmup_requests=config.export.warmup_requests,
        )
    except Exception as e:
        raise export.ExportError(
            f"training finished and checkpoint {checkpoint} is kept, but the export failed: "
            f"{e}. Retry with: gan-tf export --workdir {workdir} --out {workdir}/export"
        ) from e


def write_samples(gan: GAN, inputs, path: str) -> None:
    """Writes a PNG grid of EMA-generator samples."""
    images.write_png(path, callbacks.sample_grid(gan.output_generator(), inputs))
