"""`gan-tf query`: ask a TF Serving (or `gan-tf serve`) endpoint for images, anomaly scores or
classes."""

from __future__ import annotations

import argparse

from gan_tf.commands import deprecated, parse_ints


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "query",
        help="generate, score or classify images through a TF Serving REST or gRPC endpoint",
        description=(
            "Query a served gan_tf model: --status and --metadata print what the server "
            "reports; --seeds writes a PNG grid of the images of those seeds to --out; "
            "--score prints the anomaly score of each image file (an anomaly detector's "
            "export); --classify prints the class of each (a semi-supervised model's export)."
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
    p.add_argument(
        "--score",
        nargs="+",
        metavar="FILE",
        help="image files (PNG, JPEG, ...) of the model's size to score, in one request",
    )
    p.add_argument(
        "--reconstructions",
        metavar="DIR",
        help="with --score: write each file's reconstruction G(E(x)) to DIR/<file name>.png",
    )
    p.add_argument(
        "--classify",
        nargs="+",
        metavar="FILE",
        help="image files of the model's size to classify, in one request: prints "
        "class<TAB>probability<TAB>file",
    )
    p.add_argument("--status", action="store_true", help="print the model's version status")
    p.add_argument("--metadata", action="store_true", help="print the model's signatures")


def run(args: argparse.Namespace) -> int:
    import json

    from gan_tf import images
    from gan_tf.errors import GanTfError
    from gan_tf.serving.client import ServingClient

    if not (args.status or args.metadata or args.seeds or args.score or args.classify):
        raise GanTfError(
            "nothing to do: give --seeds (with --out), --score FILES, --classify FILES, "
            "--status or --metadata"
        )
    if args.seeds and not args.out:
        raise GanTfError("--seeds needs --out (the PNG grid to write)")
    if args.reconstructions and not args.score:
        raise GanTfError("--reconstructions needs --score FILES")
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
        if args.score:
            _score(client, args.score, args.reconstructions)
        if args.classify:
            _classify(client, args.classify)
    return 0


def _score(client, paths: list[str], reconstructions: str | None) -> None:
    """Prints `score<TAB>file` for each image file; writes the reconstructions if asked."""
    import os

    from gan_tf import images
    from gan_tf.errors import GanTfError
    from gan_tf.metrics import sources

    names = [os.path.splitext(os.path.basename(path))[0] + ".png" for path in paths]
    if reconstructions and len(set(names)) < len(names):
        raise GanTfError("--reconstructions names each file by its own name: give distinct names")
    scored = client.score(sources.read_image_files(paths, "--score"))
    for path, score in zip(paths, scored["scores"]):
        print(f"{score:.9g}\t{path}")
    if reconstructions:
        for name, image in zip(names, scored["reconstructions"]):
            images.write_png(os.path.join(reconstructions, name), image)


def _classify(client, paths: list[str]) -> None:
    """Prints `class<TAB>probability<TAB>file` for each image file."""
    from gan_tf.metrics import sources

    result = client.classify(sources.read_image_files(paths, "--classify"))
    for path, label, probabilities in zip(paths, result["labels"], result["probabilities"]):
        print(f"{label}\t{probabilities[label]:.6f}\t{path}")
