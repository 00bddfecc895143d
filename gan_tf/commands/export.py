"""`gan-tf export`: write a trained workdir's EMA generator as a SavedModel for TF Serving."""

from __future__ import annotations

import argparse


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "export",
        help="export the EMA generator of a run as a TF Serving SavedModel",
        description=(
            "Export the EMA generator of the latest checkpoint in --workdir to --out, "
            "atomically, with signatures serving_default, generate and generate_png (and "
            "score for an anomaly run: images -> anomaly scores), the "
            "metadata in assets/gan_metadata.json and a TF Serving warmup file. To serve it, "
            "export into a numbered version directory: --out MODEL_BASE_PATH/VERSION."
        ),
    )
    p.add_argument("--workdir", required=True, help="training workdir")
    p.add_argument("--out", required=True, help="SavedModel directory to write (replaced)")
    p.add_argument(
        "--warmup-requests",
        type=int,
        help="number of warmup requests (default: the run's export.warmup_requests)",
    )
    p.add_argument(
        "--metadata",
        help="JSON file of extra metadata (e.g. gate scores) to store with the export",
    )


def run(args: argparse.Namespace) -> int:
    import json

    from gan_tf import export, workdir
    from gan_tf.errors import GanTfError

    extra = {}
    if args.metadata:
        try:
            with open(args.metadata, encoding="utf-8") as f:
                extra = json.load(f)
        except (OSError, ValueError) as e:
            raise GanTfError(f"cannot read --metadata {args.metadata}: {e}") from None
        if not isinstance(extra, dict):
            raise GanTfError(f"--metadata {args.metadata} must hold a JSON object")
    family, inference, step = workdir.load_run(args.workdir)
    if args.warmup_requests is not None:
        family = type(family)(
            family.config.override([f"export.warmup_requests={args.warmup_requests}"])
        )
    metadata = export.run_metadata(family.config, step)
    metadata.update(extra)
    path = family.export(inference, args.out, metadata)
    print(f"exported the {family.name} model (step {step}) to {path}")
    return 0
