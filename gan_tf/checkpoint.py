"""Checkpoints of a whole training state, as named items chosen by the model family.

A family's `checkpoint_items` names what a checkpoint holds (for the `gan` family: generator,
discriminator, ema_generator, step, g_optimizer, d_optimizer). A network is saved as its
variables in construction order (fixed by its code; Keras' automatic layer names are not
stable across processes, and tracking misses layers held in lists); a variable as itself;
an optimizer brings its iteration count, slots, learning rate and, under mixed precision,
its loss-scale state. The random state needs no saving: every draw is a stateless function
of `(seed, step)`, and so is the data order.

A save is durable before it is announced: the checkpoint's files are fsynced before the
`checkpoint` pointer file names them, and the pointer is fsynced in turn. Restoring takes the
newest *complete* checkpoint in the directory that reads (the pointer may name one whose files
were lost or damaged), and refuses to start over a directory whose checkpoints are all
incomplete.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from gan_tf import files
from gan_tf.errors import TrainingError

log = logging.getLogger(__name__)

# The pointer file `tf.train.CheckpointManager` keeps beside the checkpoints.
STATE_FILE = "checkpoint"


class _Variables(tf.Module):
    def __init__(self, variables):
        super().__init__()
        self.variables_list = [getattr(v, "value", v) for v in variables]


def _trackable(item):
    """What `tf.train.Checkpoint` saves for an item: optimizers as they are, networks and
    variables as ordered variable lists."""
    if isinstance(item, keras.optimizers.Optimizer):
        return item
    if isinstance(item, keras.layers.Layer):
        return _Variables(item.variables)
    return _Variables([item])


def checkpoint_step(prefix: str) -> int:
    """The step a checkpoint was saved at, from its name (`.../ckpt-<step>`)."""
    return int(prefix.rsplit("-", 1)[-1])


def _data_shards(prefix: str) -> dict[int, int]:
    """`{shard: total}` for the data files of the checkpoint `prefix` that exist."""
    shards = {}
    for path in tf.io.gfile.glob(prefix + ".data-*-of-*"):
        match = re.fullmatch(r".*\.data-(\d{5})-of-(\d{5})", path)
        if match:
            shards[int(match.group(1))] = int(match.group(2))
    return shards


def missing_files(prefix: str) -> list[str]:
    """Names of the files that the checkpoint `prefix` lacks (empty if it is complete)."""
    name = os.path.basename(prefix)
    missing = [] if tf.io.gfile.exists(prefix + ".index") else [f"{name}.index"]
    shards = _data_shards(prefix)
    if not shards:
        return [*missing, f"{name}.data-*"]
    total = max(shards.values())
    missing += [f"{name}.data-{i:05d}-of-{total:05d}" for i in range(total) if i not in shards]
    return missing


def candidates(directory: str) -> list[str]:
    """Checkpoint prefixes the directory names or holds files of, newest first."""
    prefixes = set()
    state = tf.train.get_checkpoint_state(directory)
    if state is not None:
        for path in [*state.all_model_checkpoint_paths, state.model_checkpoint_path]:
            if path:
                prefixes.add(os.path.join(directory, os.path.basename(path)))
    for path in tf.io.gfile.glob(os.path.join(directory, "ckpt-*.*")):
        match = re.fullmatch(r"(.*/ckpt-\d+)\.(index|data-\d{5}-of-\d{5})", path)
        if match:
            prefixes.add(match.group(1))
    return sorted(prefixes, key=checkpoint_step, reverse=True)


def has_checkpoints(directory: str) -> bool:
    """Whether the directory holds any trace of a checkpoint, complete or not."""
    return bool(candidates(directory))


def complete_checkpoints(directory: str) -> list[str]:
    """The complete checkpoints of the directory, newest first.

    Incomplete checkpoints newer than the newest complete one are logged as skipped.

    Raises:
      TrainingError: if the directory holds checkpoints but none is complete.
    """
    complete, incomplete = [], {}
    for prefix in candidates(directory):
        missing = missing_files(prefix)
        if missing:
            incomplete[prefix] = f"{os.path.basename(prefix)} (missing {', '.join(missing)})"
        else:
            complete.append(prefix)
    if incomplete and not complete:
        raise TrainingError(
            f"{directory} holds checkpoints but none is complete: "
            f"{'; '.join(incomplete.values())}. Refusing to train over them: restore the "
            "missing files, or move the directory away to train from step 0"
        )
    newer = [
        text
        for prefix, text in incomplete.items()
        if checkpoint_step(prefix) > checkpoint_step(complete[0])
    ]
    if newer:
        log.warning("Skipping incomplete checkpoints %s; using %s", "; ".join(newer), complete[0])
    return complete


def _fsync_checkpoint(prefix: str) -> None:
    """Flushes a checkpoint's files to disk (object stores need nothing: a write is final)."""
    if "://" in prefix:
        return
    for shard, total in _data_shards(prefix).items():
        files.fsync_file(f"{prefix}.data-{shard:05d}-of-{total:05d}")
    files.fsync_file(prefix + ".index")
    files.fsync_dir(os.path.dirname(prefix))


class Checkpointer:
    """Saves named training state under `directory`; restores from `restore_dir`.

    The two differ for the non-chief workers of a multi-worker run: every worker must take
    part in a save, but only the chief's checkpoints are kept, and every worker resumes from
    them.

    Args:
      items: name -> network, variable or optimizer (a family's `checkpoint_items`).
      step: the variable counting train steps (checkpoints are numbered by it).
      directory: where checkpoints are written.
      max_to_keep: checkpoints kept.
      restore_dir: where they are read (default `directory`).
    """

    def __init__(
        self,
        items: Mapping[str, Any],
        step: tf.Variable,
        directory: str,
        max_to_keep: int = 3,
        restore_dir: str | None = None,
    ):
        self.step = step
        self.checkpoint = tf.train.Checkpoint(
            **{name: _trackable(item) for name, item in items.items()}
        )
        self.directory = directory
        self.manager = tf.train.CheckpointManager(self.checkpoint, directory, max_to_keep)
        self.restore_dir = restore_dir or directory
        self.latest: str | None = None

    def restore(self) -> int:
        """Restores the newest complete, readable checkpoint, if any; returns the step reached.

        Raises:
          TrainingError: if checkpoints exist but none is complete or readable.
        """
        self.latest = restore_newest(self.checkpoint, self.restore_dir) or self.latest
        return int(self.step.numpy())

    def save(self) -> str:
        """Saves the current state, numbered by the current step, durably."""
        options = tf.train.CheckpointOptions(experimental_write_callbacks=[_fsync_checkpoint])
        path = self.manager.save(checkpoint_number=int(self.step.numpy()), options=options)
        if "://" not in self.directory:
            files.fsync_file(os.path.join(self.directory, STATE_FILE))
            files.fsync_dir(self.directory)
        self.latest = path
        return path


def restore_newest(
    checkpoint: tf.train.Checkpoint, directory: str, partial: bool = False
) -> str | None:
    """Restores `checkpoint` from the newest complete checkpoint in `directory` that reads.

    A checkpoint that fails to restore (a damaged file) is logged and the next older one is
    tried.

    Args:
      checkpoint: what to restore.
      directory: the checkpoint directory.
      partial: whether `checkpoint` holds only part of what was saved.

    Returns:
      The prefix restored from, or None if the directory holds no checkpoint.

    Raises:
      TrainingError: if checkpoints exist but none is complete or readable.
    """
    complete = complete_checkpoints(directory)
    for prefix in complete:
        try:
            status = checkpoint.restore(prefix)
            if partial:  # values of items not asked for stay unread, without warnings
                status.expect_partial()
            # Every item asked for must have been in the checkpoint.
            status.assert_existing_objects_matched()
        except Exception as e:  # A damaged file raises OpError, IndexError, ValueError...
            log.warning("Cannot restore %s (%r); trying an older checkpoint", prefix, e)
            continue
        return prefix
    if complete:
        raise TrainingError(
            f"no checkpoint in {directory} can be restored (tried "
            f"{', '.join(os.path.basename(p) for p in complete)}); see the log above"
        )
    return None


def restore_items(items: Mapping[str, Any], directory: str) -> int:
    """Loads some named items of the newest complete checkpoint (e.g. the EMA generator).

    Args:
      items: name -> built network, variable or optimizer, as the family checkpoints it.
      directory: the run's checkpoint directory.

    Returns:
      The step of the checkpoint.

    Raises:
      FileNotFoundError: if the directory holds no checkpoint.
      TrainingError: if it holds checkpoints but none is complete or readable.
    """
    wanted = tf.train.Checkpoint(**{name: _trackable(item) for name, item in items.items()})
    prefix = restore_newest(wanted, directory, partial=True)
    if prefix is None:
        raise FileNotFoundError(f"no checkpoint in {directory}")
    return checkpoint_step(prefix)
