"""The files of a training workdir: its config and their changes, run state, EMA generator.

Besides TensorBoard logs, samples and the export (see `gan_tf.train`), a workdir holds:

    config.json           the resolved configuration of the run's latest invocation
    config_history.json   settings changed on resume: step, time, old and new values
    training_state.json   step and checkpoint reached by the last finished invocation
    checkpoints/          training state (see `gan_tf.checkpoint`)
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from gan_tf import checkpoint, files
from gan_tf.config import Config
from gan_tf.errors import ConfigError, GanTfError
from gan_tf.networks.base import Generator

# Settings that may change when a run is resumed: lengths, periods and placement, and the
# learning rates (lowering them is the way on after a NaN/Inf stop).
RESUMABLE_CHANGES = {
    "train.steps",
    "train.steps_per_epoch",
    "train.log_every",
    "train.image_every",
    "train.checkpoint_every",
    "train.keep_checkpoints",
    "train.embed_samples",
    "train.embed_labels",
    "train.strategy",
    "train.g_lr",
    "train.d_lr",
    "eval.every",
    "export.enabled",
}


def checkpoint_dir(workdir: str) -> str:
    """The checkpoint directory of a workdir."""
    return os.path.join(workdir, "checkpoints")


def _settings(config: Config) -> dict[str, Any]:
    """`section.key` -> value of every setting, with each network's settings resolved
    (`model.generator.width`, class defaults included), so that a setting left at its default
    equals the same value written out, as in a config.json of the earlier flat layout."""
    from gan_tf import networks

    out = {}
    for section, values in config.to_dict().items():
        for key, value in values.items():
            if section == "model" and key in networks.ROLES:
                resolved = networks.resolved_kwargs(config.model, key)
                out.update({f"model.{key}.{k}": v for k, v in resolved.items()})
            else:
                out[f"{section}.{key}"] = value
    return out


def config_changes(config: Config, workdir: str) -> dict[str, tuple[Any, Any]]:
    """Settings of `config` that differ from the run saved in `workdir`, as `(old, new)`.

    A workdir without a checkpoint holds nothing to resume, so any configuration may
    replace its own (a failed start, e.g. a mistyped data path, can be retried in place).

    Raises:
      ConfigError: if the workdir holds checkpoints of a run whose settings differ in a key
        outside `RESUMABLE_CHANGES`.
    """
    path = os.path.join(workdir, "config.json")
    if not os.path.exists(path) or not checkpoint.has_checkpoints(checkpoint_dir(workdir)):
        return {}
    previous = _settings(Config.from_json_file(path))
    changes = {
        key: (previous.get(key), value)
        for key, value in _settings(config).items()
        if previous.get(key) != value
    }
    fixed = [key for key in changes if key not in RESUMABLE_CHANGES]
    if fixed:
        raise ConfigError(
            f"{workdir} holds a run with a different configuration ({', '.join(fixed)}); "
            "use a new --workdir, or the same settings to resume (only "
            f"{', '.join(sorted(RESUMABLE_CHANGES))} may change)"
        )
    return changes


def record_config(
    config: Config, workdir: str, changes: dict[str, tuple[Any, Any]], step: int
) -> None:
    """Writes `config.json`, after appending `changes` made at `step` to the history."""
    if changes:
        path = os.path.join(workdir, "config_history.json")
        history = read_json(path, default=[])
        history.append(
            {
                "step": step,
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "changes": {key: {"from": a, "to": b} for key, (a, b) in changes.items()},
            }
        )
        files.atomic_write_json(path, history)
    files.atomic_write(os.path.join(workdir, "config.json"), config.to_json())


def write_training_state(workdir: str, step: int, checkpoint_path: str) -> None:
    """Records the step and checkpoint a finished invocation reached."""
    files.atomic_write_json(
        os.path.join(workdir, "training_state.json"),
        {"step": step, "checkpoint": checkpoint_path},
    )


def read_json(path: str, default: Any = None) -> Any:
    """The JSON value stored at `path`, or `default` if there is no such file."""
    if not os.path.exists(path):
        return default
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_config(workdir: str) -> Config:
    """Reads `<workdir>/config.json`.

    Raises:
      GanTfError: if the directory is not a training workdir.
    """
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise GanTfError(f"{workdir} is not a gan_tf workdir (no config.json); train into it first")
    return Config.from_json_file(path)


def load_run(workdir: str) -> tuple[Any, Any, int]:
    """The run's model family, the inference object of its newest checkpoint, and its step.

    Raises:
      GanTfError: if the directory is not a workdir or holds no checkpoint.
    """
    from gan_tf import families

    family = families.for_config(load_config(workdir))
    inference, step = family.load(workdir)
    return family, inference, step


def load_generator(
    workdir: str, recompute_statistics: bool = True
) -> tuple[Generator, Config, int]:
    """The EMA generator of the newest checkpoint of a run whose inference object is that
    generator (the `gan` family and its kin, e.g. `stylegan`).

    Args:
      workdir: the training workdir.
      recompute_statistics: recompute batch-norm statistics for the EMA weights (see
        `Generator.recompute_statistics`), as training does before every output.

    Returns:
      The EMA generator, the run's config and the checkpoint step.

    Raises:
      GanTfError: if the directory is not a workdir, holds no checkpoint, or its model
        has no generator.
    """
    from gan_tf import families
    from gan_tf.families import gan

    config = load_config(workdir)
    if families.get(config.model.family).load is not gan.GANFamily.load:
        raise GanTfError(
            f"{workdir} holds a {config.model.family!r} model, which has no generator to sample"
        )
    generator, step = gan.load_ema_generator(config, workdir, recompute_statistics)
    return generator, config, step
