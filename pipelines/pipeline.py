"""`create_pipeline(...)`: the gan_tf TFX pipeline, the same for every orchestrator.

    ImportExampleGen -> StatisticsGen -> SchemaGen -> ExampleValidator
                                     (stops the run on anomalies)
                                                  |
    Trainer (run_fn -> gan_tf.train.train) -------+
        |                 baseline_resolver (last pushed model, not the candidate)
        v                                  |
    SampleQualityGate (KID/FID, or a detector's AUROC, on the eval split; vs the baseline)
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


def input_config(data_root: str, split_dirs: bool | None = None):
    """ImportExampleGen's input: `train/` and `eval/` sub-directories, or one hashed pool.

    Args:
      data_root: directory of TFRecord files of `tf.Example`.
      split_dirs: use `train/*` and `eval/*` (True), split all files 9:1 by hash (False),
        or decide from what `data_root` holds (None).

    Returns:
      `(input_config, output_config)` protos for ImportExampleGen (`output_config` None
      when the input is already split).
    """
    import tensorflow as tf

    if split_dirs is None:
        split_dirs = all(tf.io.gfile.isdir(os.path.join(data_root, s)) for s in ("train", "eval"))
    if split_dirs:
        return (
            tfx.proto.Input(
                splits=[
                    tfx.proto.Input.Split(name="train", pattern="train/*"),
                    tfx.proto.Input.Split(name="eval", pattern="eval/*"),
                ]
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
        in `train/` and `eval/` sub-directories or all together (split 9:1 by hash).
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
    data = config.data
    image_shape = (data.image_size, data.image_size, data.channels)

    in_config, out_config = input_config(data_root, split_dirs)
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
        image_shape=image_shape,
        image_key="image",
        max_checked_images=max_checked_images,
    ).with_id("ExampleValidator")
    code = {"module_file": module_file} if module_file else {"run_fn": TRAINER_RUN_FN}
    trainer = tfx.components.Trainer(
        **code,
        examples=example_gen.outputs["examples"],
        schema=schema_gen.outputs["schema"],
        train_args=tfx.proto.TrainArgs(num_steps=config.train.steps),
        eval_args=tfx.proto.EvalArgs(num_steps=0),
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
