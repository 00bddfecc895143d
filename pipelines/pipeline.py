"""`create_pipeline(...)`: the gan_tf TFX pipeline, the same for every orchestrator.

    ImportExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator
                                     (stops the run on anomalies)
                                                  |
    Trainer (run_fn -> gan_tf.train.train) -------+
        |                 baseline_resolver (last pushed model, not the candidate)
        v                                  |
    SampleQualityGate (KID/FID, a detector's AUROC, a translator's class accuracy or a
        classifier's test error, on the eval split(s); vs the baseline)
        -> AtomicPusher

See docs/pipeline.md for what each component writes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from tfx import v1 as tfx

from pipelines.components.atomic_pusher import AtomicPusher, filesystem_destination
from pipelines.components.image_validator import ImageExampleValidator
from pipelines.components.pushed_baseline import baseline_resolver
from pipelines.components.sample_quality import SampleQualityGate
from pipelines.gate import GateSettings

TRAINER_RUN_FN = "pipelines.trainer_module.run_fn"
# Component ids, in execution order (the Kubeflow V2 spec names tasks after them).
COMPONENT_IDS = (
    "ImportExampleGen",
    "StatisticsGen",
    "SchemaGen",
    "ExampleValidator",
    "Trainer",
    "baseline_resolver",
    "SampleQualityGate",
    "Pusher",
)


# The (train, eval) pipeline splits holding each data section of a run.
SECTION_SPLITS = {"data": ("train", "eval"), "data_b": ("train_b", "eval_b")}


def domain_splits(config) -> dict[str, tuple[str, str]]:
    """Data section -> its (train, eval) pipeline splits, for each domain the run's family
    trains on: `{"data": ("train", "eval")}`, plus `"data_b": ("train_b", "eval_b")` for a
    two-domain family (CycleGAN)."""
    from gan_tf import families

    return {s: SECTION_SPLITS[s] for s in families.for_config(config).data_sections}


def input_config(
    data_root: str, split_dirs: bool | None = None, splits: Sequence[str] = ("train", "eval")
):
    """ImportExampleGen's input: one sub-directory per split, or one hashed pool.

    Args:
      data_root: directory of TFRecord files of `tf.Example`.
      split_dirs: use `<split>/*` for each split (True, not checked: the root may be remote
        and filled later), split all files 9:1 by hash into `train` and `eval` (False), or
        decide from what `data_root` holds (None).
      splits: the pipeline splits; other than `train` and `eval` (a second domain's), they
        must be sub-directories.

    Returns:
      `(input_config, output_config)` protos for ImportExampleGen (`output_config` None
      when the input is already split).

    Raises:
      DataError: when splits other than `train` and `eval` are not sub-directories (or
        are to be hashed).
    """
    import tensorflow as tf

    from gan_tf.errors import DataError

    hashable = tuple(splits) == ("train", "eval")
    if split_dirs is None:
        present = [s for s in splits if tf.io.gfile.isdir(os.path.join(data_root, s))]
        split_dirs = len(present) == len(splits)
        if not split_dirs and not hashable:
            missing = [f"{s}/" for s in splits if s not in present]
            raise DataError(
                f"{data_root} must hold one directory of TFRecords per split "
                f"({', '.join(f'{s}/' for s in splits)}); missing: {', '.join(missing)}"
            )
    elif not split_dirs and not hashable:
        raise DataError(
            f"splits {', '.join(splits)} cannot be hashed from one pool of files; give one "
            "directory per split"
        )
    if split_dirs:
        return (
            tfx.proto.Input(
                splits=[tfx.proto.Input.Split(name=s, pattern=f"{s}/*") for s in splits]
            ),
            None,
        )
    output = tfx.proto.Output(
        split_config=tfx.proto.SplitConfig(
            splits=[
                tfx.proto.SplitConfig.Split(name="train", hash_buckets=9),
                tfx.proto.SplitConfig.Split(name="eval", hash_buckets=1),
            ]
        )
    )
    return tfx.proto.Input(splits=[tfx.proto.Input.Split(name="single", pattern="*")]), output


def create_pipeline(
    pipeline_name: str,
    pipeline_root: str,
    data_root: str,
    module_file: str | None,
    serving_root: str,
    preset: str = "dcgan_mnist",
    overrides: Sequence[str] = (),
    gate: GateSettings | None = None,
    model_name: str = "gan",
    beam_pipeline_args: Sequence[str] = (),
    metadata_connection_config=None,
    enable_cache: bool = True,
    split_dirs: bool | None = None,
    max_checked_images: int = 0,
    baseline: str = "pushed",
) -> tfx.dsl.Pipeline:
    """Builds the pipeline.

    Args:
      pipeline_name: name recorded in ML Metadata (and the Kubeflow pipeline name).
      pipeline_root: where component outputs go (local directory or `gs://...`).
      data_root: TFRecords of `tf.Example` (`image` bytes, optional int64 `label`), either
        in `train/` and `eval/` sub-directories or all together (split 9:1 by hash); a
        two-domain family (CycleGAN) reads domain B from `train_b/` and `eval_b/` beside
        them (`domain_splits`).
      module_file: the Trainer module file (`pipelines/trainer_module.py`), packaged by
        TFX for the run; None refers to `pipelines.trainer_module.run_fn` by import path
        instead (container images that have the package installed, e.g. Kubeflow).
      serving_root: versions are pushed to `<serving_root>/<model_name>/<version>/`.
      preset: gan_tf preset trained by the Trainer.
      overrides: `section.field=value` overrides of the preset.
      gate: quality gate settings (default: `GateSettings()`, no thresholds); `detection`
        features judge an anomaly detector's `score` signature.
      model_name: model name under the serving root (TF Serving's `--model_name`).
      beam_pipeline_args: Beam options for ExampleGen/StatisticsGen (see `pipelines.beam`).
      metadata_connection_config: ML Metadata connection (the local runner's sqlite store);
        None for orchestrators that bring their own.
      enable_cache: reuse outputs of components whose inputs did not change.
      split_dirs: see `input_config`.
      max_checked_images: images decoded per split by the validator (0 = all).
      baseline: how the gate's baseline is resolved: `pushed` or `blessed` (see
        `pipelines.components.pushed_baseline.baseline_resolver`).

    Returns:
      The `tfx.dsl.Pipeline`.
    """
    import tensorflow_data_validation as tfdv

    from gan_tf import presets

    config = presets.get(preset).override(list(overrides))  # fails early on bad overrides
    gate = gate or GateSettings()
    gate.validate()
    sections = domain_splits(config)
    image_shapes = {
        split: (data.image_size, data.image_size, data.channels)
        for data, splits in ((getattr(config, s), splits) for s, splits in sections.items())
        for split in splits
    }

    in_config, out_config = input_config(data_root, split_dirs, list(image_shapes))
    example_gen = tfx.components.ImportExampleGen(
        input_base=data_root, input_config=in_config, output_config=out_config
    )
    statistics_gen = tfx.components.StatisticsGen(
        examples=example_gen.outputs["examples"],
        stats_options=tfdv.StatsOptions(enable_semantic_domain_stats=True),
    )
    schema_gen = tfx.components.SchemaGen(
        statistics=statistics_gen.outputs["statistics"], infer_feature_shape=True
    )
    example_validator = ImageExampleValidator(
        statistics=statistics_gen.outputs["statistics"],
        schema=schema_gen.outputs["schema"],
        examples=example_gen.outputs["examples"],
        image_shape=image_shapes,
        image_key="image",
        max_checked_images=max_checked_images,
    ).with_id("ExampleValidator")
    code = {"module_file": module_file} if module_file else {"run_fn": TRAINER_RUN_FN}
    trainer = tfx.components.Trainer(
        **code,
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        # One training split per domain, in `domain_splits` order (the run_fn relies on it).
        train_args=tfx.proto.TrainArgs(
            splits=[train for train, _ in sections.values()], num_steps=config.train.steps
        ),
        # And one eval split per domain: a family with a labelled evaluation reads it as
        # its held-out split (the run_fn copies it beside the training split).
        eval_args=tfx.proto.EvalArgs(
            splits=[held_out for _, held_out in sections.values()], num_steps=0
        ),
        custom_config={
            "preset": preset,
            "overrides": list(overrides),
            "model_name": model_name,
            "pipeline": {"name": pipeline_name, "root": pipeline_root},
        },
    )
    trainer.add_upstream_node(example_validator)  # no training on data that failed checks
    model_resolver = baseline_resolver(baseline, trainer.outputs["model"])
    quality_gate = SampleQualityGate(
        model=trainer.outputs["model"],
        examples=example_gen.outputs["examples"],
        baseline_model=model_resolver.outputs["model"],
        baseline_blessing=model_resolver.outputs["model_blessing"],
        settings_json=gate.to_json(),
        # A translator's samples (its translations of domain A) are compared with domain B.
        reference_split=sections.get("data_b", ("", ""))[1],
    ).with_id("SampleQualityGate")
    pusher = AtomicPusher(
        model=trainer.outputs["model"],
        model_blessing=quality_gate.outputs["blessing"],
        push_destination=filesystem_destination(os.path.join(serving_root, model_name)),
    ).with_id("Pusher")

    return tfx.dsl.Pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        components=[
            example_gen,
            statistics_gen,
            schema_gen,
            example_validator,
            trainer,
            model_resolver,
            quality_gate,
            pusher,
        ],
        enable_cache=enable_cache,
        metadata_connection_config=metadata_connection_config,
        beam_pipeline_args=list(beam_pipeline_args),
    )
