"""`train(config, workdir)`: the one entry point for training, used by the CLI and TFX.

A workdir holds everything about a run:

    config.json          the resolved configuration (written before training starts)
    config_history.json  settings changed on resume (learning rates, lengths, periods)
    checkpoints/         training state every `train.checkpoint_every` steps and at the end
    tensorboard/         event files: losses, throughput, EMA sample grids, hparams, config;
                         the embedding projector of generated samples (written at the end)
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
    embedding_projector,
    families,
    files,
    images,
    networks,
    progress,
    summaries,
)
from gan_tf.checkpoint import Checkpointer
from gan_tf.config import Config
from gan_tf.data import sources
from gan_tf.errors import ConfigError, DataError, TrainingError, op_message
from gan_tf.workdir import checkpoint_dir, config_changes, record_config, write_training_state

log = logging.getLogger(__name__)


class TrainResult(NamedTuple):
    """What a call to `train` leaves behind."""

    model: keras.Model  # the family's trained model (for `gan`, the `GAN`)
    step: int
    checkpoint: str | None
    samples_path: str
    export_dir: str | None = None
    start_step: int = 0
    family: families.Family | None = None


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


def validate(config: Config) -> families.Family:
    """Checks values that no single component checks, then the family's own settings.

    Call inside the distribution strategy's scope (families check per-replica sizes).

    Returns:
      The run's model family.

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
        "train.g_adam_epsilon": t.g_adam_epsilon,
        "train.d_adam_epsilon": t.d_adam_epsilon,
        "model.latent_dim": config.model.latent_dim,
        "data.image_size": config.data.image_size,
    }
    for key, value in positive.items():
        if not value > 0:  # NaN too
            raise ConfigError(f"{key} must be positive, got {value}")
    for role in networks.ROLES:
        width = networks.resolved_kwargs(config.model, role).get("width", 1)
        if width <= 0:
            raise ConfigError(f"model.{role}.width must be positive, got {width}")
    if not 0.0 <= t.lr_decay_start <= 1.0:
        raise ConfigError(f"train.lr_decay_start must be in [0, 1], got {t.lr_decay_start}")
    if not 0.0 <= t.ema_decay < 1.0:
        raise ConfigError(f"train.ema_decay must be in [0, 1), got {t.ema_decay}")
    if config.data.num_classes < 0:
        raise ConfigError(f"data.num_classes must be >= 0, got {config.data.num_classes}")
    embedding_projector.validate(config)
    family = families.for_config(config)
    if config.progressive.stage_steps and not family.grows:
        raise ConfigError(
            f"the {family.name} family's step does not grow progressively: "
            f"progressive.stage_steps must be 0, got {config.progressive.stage_steps}"
        )
    family.validate()
    section = family.eval_section
    if section is not None and getattr(config, section).eval_every:
        sources.check_split(config.data, family.labelled_eval_split(), f"{section}.eval_split")
    return family


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


# Words of the useful line of a data error (a decoder's, a shape check's, a label's).
_DATA_HINTS = ("expected", "Unknown image", "label")


def _check_first_batch(dataset: tf.data.Dataset, description: str) -> None:
    try:
        next(iter(dataset.take(1)))
    except tf.errors.OpError as e:
        message = op_message(e, _DATA_HINTS)
        raise DataError(f"bad training data from {description}: {message}") from None


def _fit_error(error: tf.errors.InvalidArgumentError) -> DataError | TrainingError:
    """What a failed `fit` reports: bad training data when the input pipeline failed (the
    error passed through its `IteratorGetNext`), else a failure of the training step."""
    if "IteratorGetNext" in error.message:
        return DataError(f"bad training data: {op_message(error, _DATA_HINTS)}")
    return TrainingError(f"the training step failed: {op_message(error)}")


def train(config: Config, workdir: str, verbose: int | str = "auto") -> TrainResult:
    """Trains (or resumes training) the model described by `config` in `workdir`.

    Args:
      config: the run configuration.
      workdir: directory of the run; created if missing, resumed if it holds checkpoints.
      verbose: Keras progress output (`"auto"`: a bar on a terminal, a line per epoch else).

    Returns:
      The trained model and its family, the step reached, the last checkpoint and the sample
      grid path.

    Raises:
      ConfigError: for bad configuration, or a workdir holding a different run.
      DataError: for missing, empty, corrupt or wrongly shaped data.
      LockedError: when another process is training in `workdir`.
      TrainingError: when a loss becomes NaN/Inf (the last good checkpoint is kept), or the
        workdir's checkpoints are all incomplete.
      Interrupted: on SIGINT/SIGTERM, after saving a checkpoint.
    """
    strategy = distribute.get_strategy(config.train.strategy)
    distribute.check_batch_size(config.train.batch_size, strategy)
    with strategy.scope():
        family = validate(config)
    # Only the chief writes shared outputs; other workers save into a private scratch dir.
    chief = distribute.is_chief(strategy)
    scratch = None if chief else os.path.join(workdir, f".{distribute.task_suffix(strategy)}")
    with (
        files.DirLock(scratch or workdir, "training workdir"),
        callbacks.StopOnSignal() as stop,
    ):
        return _train(family, workdir, strategy, scratch, stop, verbose)


def _train(
    family: families.Family,
    workdir: str,
    strategy: tf.distribute.Strategy,
    scratch: str | None,
    stop: callbacks.StopOnSignal,
    verbose: int | str,
) -> TrainResult:
    config = family.config
    t = config.train
    changes = {} if scratch else config_changes(config, workdir)
    saved_dir = checkpoint_dir(workdir)
    with strategy.scope():
        model = family.build()
        checkpointer = Checkpointer(
            family.checkpoint_items(model),
            family.step_variable(model),
            os.path.join(scratch, "checkpoints") if scratch else saved_dir,
            t.keep_checkpoints,
            restore_dir=saved_dir,
        )
    start = checkpointer.restore()
    if checkpointer.latest is None:  # a first start, not a resume
        with strategy.scope():
            family.initialise(model)
    # Learning rates are settings, not state: a resumed run uses the configured ones. A
    # constant rate is a variable the restore just overwrote; a schedule is built from them.
    for optimizer, rate in family.learning_rates(model):
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
    tensorboard = callbacks.TensorBoardLogger(
        None if scratch else os.path.join(workdir, "tensorboard"),
        t.log_every,
        t.image_every,
        lambda: family.sample_grid(family.inference(model)),
        t.batch_size,
        guard,
    )
    tensorboard.set_model(model)
    summaries.write_run_config(tensorboard.writer, config, start)
    cbs = [
        guard,
        callbacks.CheckpointEvery(checkpointer, t.checkpoint_every, guard, family.finite),
        stop,
        tensorboard,
        progress.StepReporter(t.steps),
        *family.callbacks(model, tensorboard.writer, guard),
    ]
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2

    try:
        for initial_epoch, epochs, steps_per_epoch in fit_plan(start, t.steps, t.steps_per_epoch):
            if stop.received is not None:
                break
            dataset = family.dataset(int(checkpointer.step.numpy()))
            _check_first_batch(dataset, config.data.source)
            model.fit(
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
        raise _fit_error(e) from None

    step = int(checkpointer.step.numpy())
    if guard.failure is None and not family.finite(model):
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
        return TrainResult(model, step, None, "", None, start, family)
    inference = family.inference(model)
    grid = family.sample_grid(inference)
    tensorboard.write_samples(step, grid)
    samples_path = os.path.join(workdir, "samples.png")
    images.write_png(samples_path, grid)
    write_training_state(workdir, step, saved)
    export_dir = None
    if config.export.enabled:
        export_dir = _export(family, inference, workdir, step, saved)
    # Last: the run is complete (checkpoint, state, export) whatever happens here.
    embedding_projector.write_projector(
        family, inference, os.path.join(workdir, "tensorboard"), step
    )
    return TrainResult(model, step, saved, samples_path, export_dir, start, family)


def _save_once(checkpointer: Checkpointer, step: int) -> str:
    """The checkpoint of `step`: the latest one if it holds that step, else a new one."""
    latest = checkpointer.latest
    if latest is not None and checkpoint.checkpoint_step(latest) == step:
        return latest
    return checkpointer.save()


def _export(family, inference, workdir: str, step: int, checkpoint: str) -> str:
    """Exports the family's SavedModel to `<workdir>/export`; the checkpoint is already saved."""
    from gan_tf import export

    try:
        return family.export(
            inference,
            os.path.join(workdir, "export"),
            export.run_metadata(family.config, step),
        )
    except Exception as e:
        raise export.ExportError(
            f"training finished and checkpoint {checkpoint} is kept, but the export failed: "
            f"{e}. Retry with: gan-tf export --workdir {workdir} --out {workdir}/export"
        ) from e
