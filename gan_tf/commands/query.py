"""`gan-tf query`: ask a TF Serving (or `gan-tf serve`) endpoint for images."""

from __future__ import annotations

import argparse

from gan_tf.commands import deprecated, parse_ints


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "query",
        help="generate images through a TF Serving REST or gRPC endpoint",
        description=(
            "Query a served gan_tf model: --status and --metadata print what the server "
            "reports; --seeds writes a PNG grid of the images of those seeds to --out."
        ),
    )
    p.add_argument(
        "--url",
        required=True,
        help="http://HOST:PORT for REST (8501) or grpc://HOST:PORT for gRPC (8500)",
    )
    p.add_argument(
        "--model-name", default="gan", help="model name, as gan-tf serve --model-name (default gan)"
    )
    p.add_argument(
        "--model",
        dest="model_name",
        action=deprecated("--model", "--model-name"),
        help=argparse.SUPPRESS,
    )
    p.add_argument("--version", type=int, help="model version (default: newest)")
    p.add_argument("--seeds", help="seeds, e.g. 1,2,3 or 0-15")
    p.add_argument("--labels", help="class labels, one per seed (conditional models)")
    p.add_argument("--truncation", type=float, default=1.0, help="psi: z <- psi * z (default 1)")
    p.add_argument("--out", help="output PNG grid (with --seeds)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per call (default 30)")
    p.add_argument("--status", action="store_true", help="print the model's version status")
    p.add_argument("--metadata", action="store_true", help="print the model's signatures")


def run(args: argparse.Namespace) -> int:
    import json

    from gan_tf import images
    from gan_tf.errors import GanTfError
    from gan_tf.serving.client import ServingClient

    if not (args.status or args.metadata or args.seeds):
        raise GanTfError("nothing to do: give --seeds (with --out), --status or --metadata")
    if args.seeds and not args.out:
        raise GanTfError("--seeds needs --out (the PNG grid to write)")
    with ServingClient(args.url, args.model_name, args.version, args.timeout) as client:
        if args.status:
            print(json.dumps(client.status(), indent=2))
        if args.metadata:
            print(json.dumps(client.metadata(), indent=2))
        if args.seeds:
            seeds = parse_ints(args.seeds, "--seeds")
            labels = parse_ints(args.labels, "--labels") if args.labels else None
            x = client.generate(seeds, labels=labels, truncation=args.truncation)
            images.write_png(args.out, images.make_grid(x))
            print(f"wrote {len(seeds)} images to {args.out}")
    return 0
