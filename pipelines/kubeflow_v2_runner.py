"""Compiles the pipeline to a Kubeflow Pipelines (v2) / Vertex AI Pipelines spec (JSON).

The same `create_pipeline` as the local run; only the orchestrator changes. The spec names
a container image that must hold gan_tf and pipelines (e.g. built from this repository on
top of `gcr.io/tfx-oss-public/tfx:1.16.0`), and paths should be on shared storage
(`gs://...`). Kubeflow V2 compiles only TFX's stock resolvers, so the gate's baseline is the
latest *blessed* model there (`create_pipeline(baseline="blessed")`), not the latest pushed
one; the gate still never takes the candidate as its own baseline. Submit the spec with the
KFP client or Vertex AI:

    gan-tf pipeline compile --target kubeflow_v2 --out spec.json \\
        --pipeline-root gs://B/gan_tf --data-root gs://B/data/mnist \\
        --serving-root gs://B/serving --image gcr.io/P/gan-tf:1.0
    # Vertex AI: google.cloud.aiplatform.PipelineJob(template_path="spec.json",
    #            display_name="gan_tf").submit()
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from pipelines import beam
from pipelines.gate import GateSettings


def compile_pipeline(
    out: str,
    pipeline_root: str,
    data_root: str,
    serving_root: str,
    image: str,
    preset: str = "dcgan_mnist",
    overrides: Sequence[str] = (),
    gate: GateSettings | None = None,
    model_name: str = "gan",
    pipeline_name: str = "gan-tf",
    beam_runner: str = "direct",
    beam_options: Sequence[str] = (),
) -> str:
    """Writes the Kubeflow V2 pipeline spec JSON to `out`; returns `out`.

    Args:
      out: the JSON file to write.
      pipeline_root: pipeline root on shared storage (`gs://...`).
      data_root: TFRecords in `train/` and `eval/` (write them with
        `pipelines.tfds_data.write_tfds` and copy them there).
      serving_root: push destination base directory.
      image: container image holding gan_tf, pipelines and TFX 1.16.
      preset, overrides, gate, model_name, pipeline_name: as for `create_pipeline`.
      beam_runner, beam_options: Beam runner for ExampleGen/StatisticsGen in the cluster.
    """
    from tfx import v1 as tfx
    from tfx.orchestration.kubeflow.v2 import kubeflow_v2_dag_runner

    from pipelines import local_runner, presets
    from pipelines.pipeline import create_pipeline

    pipeline = create_pipeline(
        pipeline_name=pipeline_name,
        pipeline_root=pipeline_root,
        data_root=data_root,
        module_file=None,  # the image has `pipelines` installed: run_fn by import path
        serving_root=serving_root,
        preset=preset,
        overrides=overrides,
        gate=gate or presets.gate_settings(preset),
        model_name=model_name,
        beam_pipeline_args=beam.beam_args(beam_runner, 0, local_runner.parse_options(beam_options)),
        metadata_connection_config=None,
        split_dirs=True,
        baseline="blessed",  # the only model resolver the Kubeflow V2 compiler supports
    )
    directory = os.path.dirname(os.path.abspath(out))
    os.makedirs(directory, exist_ok=True)
    runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
        config=kubeflow_v2_dag_runner.KubeflowV2DagRunnerConfig(default_image=image),
        output_dir=directory,
        output_filename=os.path.basename(out),
    )
    runner.run(pipeline, write_out=True)
    return out
