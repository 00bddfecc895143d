"""The Trainer's module file: a thin `run_fn` around `gan_tf.train.train`.

`custom_config` carries the preset name and its `section.field=value` overrides; the
training split of each domain (`train`, and `train_b` for CycleGAN) is copied beside the
run and read by its data section (`data`, `data_b`), and for a family with a labelled
evaluation (anomaly AUROC, semi-supervised test error) the eval split too, as the held-out
split that evaluation reads (one sub-directory per split, `data.path=<section>/{split}/*`,
so training never scores the model on its own training images); the run's
workdir is the Trainer's `model_run_dir` (so TensorBoard logs, checkpoints and the resolved
`config.json` land in the `ModelRun` artifact), and the model family's inference object is
exported to `serving_model_dir` (the `Model` artifact): the EMA generator, or for an anomaly
detector the generator's signatures and `score`.
"""

from __future__ import annotations

import logging
import os
from typing import Any

log = logging.getLogger(__name__)

# Keys of the Trainer's custom_config.
PRESET = "preset"
OVERRIDES = "overrides"
MODEL_NAME = "model_name"
PIPELINE = "pipeline"


def preset_config(custom_config: dict[str, Any]):
    """The preset with the pipeline's overrides (and its serving model name)."""
    from gan_tf import presets

    overrides = list(custom_config.get(OVERRIDES) or [])
    if custom_config.get(MODEL_NAME):  # the name TF Serving serves it under (warmup requests)
        overrides.append(f"export.model_name={custom_config[MODEL_NAME]}")
    return presets.get(custom_config.get(PRESET, "dcgan_mnist")).override(overrides)


def make_config(custom_config: dict[str, Any], section_dirs: dict[str, str]):
    """The run config: preset + overrides, each data section reading the examples copied
    under its directory, one sub-directory per split (`gan_tf.data.sources.split_path`).

    Args:
      custom_config: the Trainer's custom_config.
      section_dirs: data section (`data`, and `data_b` for two-domain families) -> directory
        holding a sub-directory of TFRecords per split.
    """
    from gan_tf.data.sources import SPLIT_FIELD

    reads = [
        f"{section}.{key}"
        for section, root in section_dirs.items()
        for key in ("source=tfrecord", f"path={os.path.join(root, SPLIT_FIELD, '*')}", "data_dir=")
    ]
    # The run_fn exports to serving_model_dir itself.
    return preset_config(custom_config).override([*reads, "export.enabled=false"])


def copy_examples(patterns: list[str], out_dir: str) -> str:
    """Copies ExampleGen's (gzipped) TFRecord files, as they are, into `out_dir`.

    Returns:
      A file pattern matching the copies (`gan_tf` reads gzipped TFRecords).
    """
    import tensorflow as tf

    files = sorted(f for p in patterns for f in tf.io.gfile.glob(p))
    tf.io.gfile.makedirs(out_dir)
    for i, path in enumerate(files):
        # Indexed names: shards of different splits may share a basename.
        tf.io.gfile.copy(path, os.path.join(out_dir, f"{i:05d}-{os.path.basename(path)}"), True)
    return os.path.join(out_dir, "*")


def run_fn(fn_args) -> None:
    """Trains with `gan_tf.train.train` and exports the model for serving.

    Args:
      fn_args: TFX `FnArgs`: `train_files`, `eval_files`, `model_run_dir`, `serving_model_dir` and
        `custom_config` (`preset`, `overrides`, `model_name`, `pipeline`) are used.
    """
    from gan_tf import train
    from gan_tf.errors import GanTfError

    try:
        from gan_tf import export
    except ImportError as e:
        raise GanTfError(
            f"gan_tf.export is not available ({e}); the Trainer cannot write a serving model"
        ) from e

    from gan_tf import families
    from pipelines.pipeline import domain_splits

    custom = dict(fn_args.custom_config or {})
    preset = preset_config(custom)
    sections = list(domain_splits(preset))
    train_files, eval_files = list(fn_args.train_files), list(fn_args.eval_files or [])
    if len(train_files) != len(sections) or len(eval_files) != len(sections):
        raise GanTfError(
            f"the Trainer was given {len(train_files)} training and {len(eval_files)} eval "
            f"splits for the data sections {', '.join(sections)}; the pipeline passes one "
            "of each per section"
        )
    heldout = families.for_config(preset).labelled_eval_split()
    # The training data stays beside the run, so `gan-tf train --workdir <model_run_dir>`
    # can resume it and `gan-tf evaluate <model_run_dir>` can read it.
    section_dirs = {}
    for section, train_pattern, eval_pattern in zip(sections, train_files, eval_files):
        root = section_dirs[section] = os.path.join(fn_args.model_run_dir, section)
        split = getattr(preset, section).split
        copy_examples([train_pattern], os.path.join(root, split))
        if heldout is not None:
            if heldout == split:
                raise GanTfError(
                    f"the held-out split of the run's labelled evaluation is {heldout!r}, "
                    f"the split {section} trains on; name it otherwise"
                )
            copy_examples([eval_pattern], os.path.join(root, heldout))
    config = make_config(custom, section_dirs)
    log.info("Training preset %s in %s", custom.get(PRESET), fn_args.model_run_dir)
    result = train.train(config, fn_args.model_run_dir, verbose=2)
    metadata = export.run_metadata(config, result.step)
    metadata["preset"] = custom.get(PRESET)
    metadata["pipeline"] = custom.get(PIPELINE, {})
    metadata["tensorboard"] = os.path.join(fn_args.model_run_dir, "tensorboard")
    family = result.family
    family.export(family.inference(result.model), fn_args.serving_model_dir, metadata)
