"""Reading a finished or running training workdir back: its config and EMA generator."""

from __future__ import annotations

import os

from gan_tf import checkpoint, networks
from gan_tf.config import Config
from gan_tf.errors import GanTfError
from gan_tf.networks.base import Generator


def load_config(workdir: str) -> Config:
    """Reads `<workdir>/config.json`.

    Raises:
      GanTfError: if the directory is not a training workdir.
    """
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        raise GanTfError(f"{workdir} is not a gan_tf workdir (no config.json); train into it first")
    return Config.from_json_file(path)


def load_generator(
    workdir: str, recompute_statistics: bool = True
) -> tuple[Generator, Config, int]:
    """Builds the run's generator and loads the EMA weights of its latest checkpoint.

    Args:
      workdir: the training workdir.
      recompute_statistics: recompute batch-norm statistics for the EMA weights (see
        `Generator.recompute_statistics`), as training does before every output.

    Returns:
      The EMA generator, the run's config and the checkpoint step.
    """
    config = load_config(workdir)
    generator, _ = networks.build(config)
    generator(generator.dummy_inputs())
    try:
        step = checkpoint.restore_ema_generator(generator, os.path.join(workdir, "checkpoints"))
    except FileNotFoundError:
        raise GanTfError(f"{workdir} holds no checkpoint yet") from None
    if recompute_statistics:
        generator.recompute_statistics()
    return generator, config, step
