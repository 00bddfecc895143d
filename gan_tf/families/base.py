"""`Family`: what a kind of model owns, so that a new kind is a new module.

`gan_tf.train.train`, the CLI, the TFX Trainer and the exporter know models only through this
interface. A family owns:

* its networks and its training step: `build` returns a compiled `keras.Model` whose
  `train_step` does the family's updates, built in the current distribution strategy scope;
* its data: `dataset` (by default the configured source, positioned at a step), and
  initial weights that depend on data: `initialise` (a run's first start only);
* what it checkpoints, by name: `checkpoint_items`;
* its inference object: what outputs are made from, from a live model (`inference`) or from
  a workdir's newest checkpoint (`load`), e.g. the EMA generator of a GAN;
* its outputs, made from the inference object: `sample_grid` (TensorBoard and
  `samples.png`), `export` (the SavedModel and its serving signatures) and, for generative
  families, `generate` for sample-quality metrics;
* its evaluation hooks: `callbacks` (e.g. sample quality, AUROC).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from gan_tf.config import Config
from gan_tf.errors import ConfigError


class Family:
    """Base class of model families; see the module docstring for the contract.

    Args:
      config: the run configuration (`config.model.family` names this family).
    """

    name: ClassVar[str] = ""
    # Architectures the family accepts (`model.arch`), for messages and validation.
    architectures: ClassVar[tuple[str, ...]] = ()
    # Whether the family's step sets the level of detail of progressive growing
    # (`progressive.stage_steps`; `gan_tf.networks.progressive`).
    grows: ClassVar[bool] = False
    # The config's data sections the family trains on, one per domain (`data`, `data_b`).
    data_sections: ClassVar[tuple[str, ...]] = ("data",)
    # The config section of the family's labelled evaluation, read from a held-out split
    # (`<section>.eval_split`, every `<section>.eval_every` steps); None when it has none.
    eval_section: ClassVar[str | None] = None

    def __init__(self, config: Config):
        self.config = config

    # -- configuration -----------------------------------------------------------------

    def validate(self) -> None:
        """Checks settings only this family reads (here: that it trains `model.arch`).

        Raises:
          ConfigError: naming the first bad key.
        """
        arch = self.config.model.arch
        if arch not in self.architectures:
            raise ConfigError(
                f"model.arch={arch!r} is not an architecture of the {self.name} family; "
                f"expected one of {', '.join(self.architectures)}"
            )

    # -- training ----------------------------------------------------------------------

    def build(self) -> keras.Model:
        """The compiled model with the family's `train_step`, built in the current scope."""
        raise NotImplementedError

    def dataset(self, start_step: int) -> tf.data.Dataset:
        """Training batches positioned at `start_step` (global batches, infinite)."""
        from gan_tf.data import pipeline

        return pipeline.train_dataset(self.config, start_step)

    def checkpoint_items(self, model: keras.Model) -> Mapping[str, Any]:
        """What a checkpoint holds, by name: networks (saved as their variables in
        construction order), optimizers and variables."""
        raise NotImplementedError

    def initialise(self, model: keras.Model) -> None:
        """Sets initial weights that depend on data; called once, on a run's first start
        (never on a resume, whose weights come from the checkpoint)."""

    def step_variable(self, model: keras.Model) -> tf.Variable:
        """The variable counting the model's train steps."""
        return model.step_counter

    def finite(self, model: keras.Model) -> bool:
        """Whether every trained float variable is finite (checked before each checkpoint)."""
        return all(
            bool(tf.reduce_all(tf.math.is_finite(v)))
            for v in model.trainable_variables
            if "float" in str(v.dtype)
        )

    def learning_rates(self, model: keras.Model) -> list[tuple[keras.optimizers.Optimizer, float]]:
        """Each optimizer with its configured learning rate, applied again after a restore."""
        return []

    def callbacks(self, model: keras.Model, writer: tf.summary.SummaryWriter, guard) -> list:
        """The family's training-time evaluation hooks."""
        return []

    def labelled_eval_split(self) -> str | None:
        """The held-out split the family's labelled evaluation reads, in training and from
        the CLI (`data.split` is the one it trains on); None when it has none."""
        if self.eval_section is None:
            return None
        return getattr(self.config, self.eval_section).eval_split

    # -- the inference object and its outputs ---------------------------------------------

    def inference(self, model: keras.Model) -> Any:
        """The inference object of a live model (what its outputs are made from)."""
        raise NotImplementedError

    def load(self, workdir: str) -> tuple[Any, int]:
        """The inference object of a workdir's newest checkpoint, and that checkpoint's step.

        Raises:
          GanTfError: if the workdir holds no checkpoint.
        """
        raise NotImplementedError

    def sample_grid(self, inference: Any) -> np.ndarray:
        """A uint8 HWC picture of what the model does (TensorBoard, `samples.png`)."""
        raise NotImplementedError

    def generate(self, inference: Any) -> Callable[[np.ndarray], np.ndarray] | None:
        """`seeds -> uint8 images` for sample-quality metrics; None if not generative."""
        return None

    def generated_classes(self) -> int:
        """K when `generate` asks for class `seed % K` (`gan_tf.sampling`), 0 when it does not
        condition on a class."""
        return self.config.data.num_classes

    def export(self, inference: Any, export_dir: str, metadata: dict[str, Any]) -> str:
        """Writes the SavedModel with the family's serving signatures; returns the path."""
        raise NotImplementedError
