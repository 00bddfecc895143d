"""`gan-tf pipeline`: run the TFX pipeline locally, or compile it for Kubeflow / Vertex AI."""

from __future__ import annotations

import argparse

from gan_tf import presets
from gan_tf.commands import add_overrides

TARGETS = ("kubeflow_v2",)


def _add_common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preset",
        default="dcgan_mnist",
        choices=sorted(presets.PRESETS),
        help="gan_tf preset the Trainer trains (default: dcgan_mnist)",
    )
    add_overrides(p, "override a config field of the preset the Trainer trains")
    p.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="gate threshold, e.g. --threshold kid=0.05 (lower-is-better metrics: <=) or "
        "--threshold auroc=0.9 for an anomaly preset (>=)",
    )
    p.add_argument(
        "--margin",
        action="append",
        default=[],
        metavar="METRIC=VALUE",
        help="largest allowed worsening against the last pushed model, e.g. --margin kid=0.01",
    )
    p.add_argument("--model-name", default="gan", help="model name for serving (default gan)")
    p.add_argument(
        "--pipeline-name",
        default="gan-tf",
        help="pipeline name: lowercase letters, digits, dashes (default gan-tf)",
    )
    p.add_argument(
        "--beam-runner", default="direct", choices=("direct", "dataflow", "flink", "spark")
    )
    p.add_argument(
        "--beam-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Beam runner option, e.g. project=P, flink_master=HOST:PORT (repeatable)",
    )


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "pipeline",
        help="run the TFX pipeline (ingest, validate, train, gate, push) or compile it",
        description=(
            "The product's main job as a TFX pipeline: ImportExampleGen, StatisticsGen, "
            "SchemaGen, ExampleValidator, Trainer (gan_tf.train.train), a sample-quality gate "
            "(KID/FID) and a Pusher to <serving-root>/<model-name>/<version>/. "
            "See docs/pipeline.md."
        ),
    )
    sub = p.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    run = sub.add_parser("run", help="run the pipeline here with LocalDagRunner")
    _add_common(run)
    run.add_argument("--root", required=True, help="directory for data, outputs and metadata")
    run.add_argument(
        "--data-root",
        default="",
        help="TFRecords of tf.Example (image bytes, optional int64 label), in train/ and eval/ "
        "(and train_b/ eval_b/ for two-domain presets) or split 9:1 by hash; default: write "
        "--tfds to <root>/data",
    )
    run.add_argument(
        "--tfds",
        default="mnist",
        help="TFDS dataset of the default route (a two-domain preset writes its data.name as "
        "train/ eval/ and data_b.name as train_b/ eval_b/)",
    )
    run.add_argument(
        "--tfds-limit", type=int, default=0, help="examples per split from TFDS (0 = all)"
    )
    run.add_argument("--serving-root", default="", help="push destination (default <root>/serving)")
    run.add_argument("--beam-workers", type=int, default=2, help="DirectRunner processes")
    run.add_argument("--no-cache", action="store_true", help="rerun every component")

    comp = sub.add_parser("compile", help="compile the pipeline to a Kubeflow V2 / Vertex spec")
    _add_common(comp)
    comp.add_argument("--target", default="kubeflow_v2", choices=TARGETS)
    comp.add_argument("--out", required=True, help="pipeline spec JSON to write")
    comp.add_argument(
        "--pipeline-root", required=True, help="pipeline root, e.g. gs://BUCKET/gan_tf"
    )
    comp.add_argument("--data-root", required=True, help="TFRecords, e.g. gs://BUCKET/data/mnist")
    comp.add_argument("--serving-root", required=True, help="push destination base directory")
    comp.add_argument(
        "--image",
        default="gcr.io/PROJECT/gan-tf:latest",
        help="container image with gan_tf and pipelines installed",
    )


def _gate(args: argparse.Namespace):
    from pipelines import presets as gate_presets

    settings = gate_presets.gate_settings(args.preset)
    settings = settings.with_overrides(args.threshold, "threshold")
    return settings.with_overrides(args.margin, "margin")


def run(args: argparse.Namespace) -> int:
    # Fail on bad overrides before TFX is imported.
    presets.get(args.preset).override(args.overrides)
    # The pipeline's definition, the same whichever runner takes it.
    definition = {
        "preset": args.preset,
        "overrides": tuple(args.overrides),
        "data_root": args.data_root,
        "serving_root": args.serving_root,
        "model_name": args.model_name,
        "pipeline_name": args.pipeline_name,
        "gate": _gate(args),
        "beam_runner": args.beam_runner,
        "beam_options": tuple(args.beam_option),
    }
    if args.action == "compile":
        from pipelines import kubeflow_v2_runner

        path = kubeflow_v2_runner.compile_pipeline(
            args.out, pipeline_root=args.pipeline_root, image=args.image, **definition
        )
        print(f"wrote the Kubeflow V2 / Vertex AI pipeline spec to {path}")
        return 0

    from pipelines import local_runner, progress

    run = local_runner.LocalRun(
        root=args.root,
        tfds=args.tfds,
        tfds_limit=args.tfds_limit,
        beam_workers=args.beam_workers,
        enable_cache=not args.no_cache,
        **definition,
    )
    with progress.component_lines(run.root, run.metadata_path, run.pipeline_name, args.verbose):
        summary = local_runner.run_pipeline(run)
    print(summary.text())
    return 0
