"""What a run shows in TensorBoard besides its training curves: hparams, config, gate report.

A run's event files (`<workdir>/tensorboard`) hold:

    hparams dashboard   one session per run: every config field (`train.g_lr`, ...) as an
                        hparam; its metrics are the run's scalars, among them `eval/*`
                        (training-time quality) and, for pipeline runs, `gate/*`
    config (text)       the resolved configuration as JSON
    gate/report (text)  pipeline runs: the sample-quality gate's report, as markdown
    gate/samples        pipeline runs: the sample grid the gate judged
    gate/<score>        pipeline runs: the gate's scores and `gate/blessed` (1 or 0), at the
                        training step the model was exported at

so that `tensorboard --logdir runs/` compares CLI and pipeline runs side by side.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf
from tensorboard.plugins.hparams import api as hp

HParam = bool | int | float | str


def flat_hparams(values: Mapping[str, Any], prefix: str = "") -> dict[str, HParam]:
    """Nested config dicts as `section.field` hparams; other values than scalars as text."""
    out: dict[str, HParam] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_hparams(value, prefix=f"{name}."))
        elif isinstance(value, (bool, int, float, str)):
            out[name] = value
        else:
            out[name] = json.dumps(value)
    return out


def code_block(text: str, language: str = "") -> str:
    """Markdown for `text` shown verbatim (TensorBoard's text dashboard renders markdown)."""
    return f"```{language}\n{text}\n```"


def write_run_config(writer: tf.summary.SummaryWriter, config, step: int) -> None:
    """The run's hparams session and its resolved config as text.

    Args:
      writer: the run's summary writer (a no-op writer on non-chief workers).
      config: a `gan_tf.config.Config`.
      step: the step training starts (or resumes) from.
    """
    with writer.as_default(step=step):
        hp.hparams(flat_hparams(config.to_dict()))
        tf.summary.text("config", code_block(config.to_json(), "json"))
    writer.flush()


def write_gate_report(
    logdir: str,
    step: int,
    markdown: str,
    scores: Mapping[str, float],
    blessed: bool,
    grid: np.ndarray | None,
) -> None:
    """Adds a gate's verdict to a training run's TensorBoard log.

    Args:
      logdir: the run's TensorBoard directory (the Trainer's `<model_run>/tensorboard`).
      step: the step of the judged model.
      markdown: the report (`pipelines.gate.to_markdown`).
      scores: result key -> value; written as `gate/<key>`.
      blessed: the verdict, written as `gate/blessed` (1 or 0).
      grid: the judged samples as one uint8 HWC grid, or None.
    """
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default(step=step):
        tf.summary.text("gate/report", markdown)
        for key, value in sorted(scores.items()):
            tf.summary.scalar(f"gate/{key}", float(value))
        tf.summary.scalar("gate/blessed", float(blessed))
        if grid is not None:
            tf.summary.image("gate/samples", np.asarray(grid, np.uint8)[None])
    writer.close()
