"""`gan-tf evaluate`: FID, KID, IS and precision/recall between two image sources."""

from __future__ import annotations

import argparse
import sys

SOURCES_HELP = (
    "a trained workdir or exported model (N samples from seeds 0..N-1), a dataset split "
    "(mnist:test), a folder of images, or an .npz with a uint8 NHWC array 'images'"
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate",
        help="score samples against a reference (FID, KID, IS, precision/recall)",
        description=(
            "Compare SOURCE with REFERENCE using --num images of each. Each is "
            + SOURCES_HELP
            + ". With the default Inception features the protocol is the published one "
            "(TF inception-2015-12-05 pool features, TF1 bilinear resize to 299, grayscale "
            "tiled to RGB); --features domain uses the project's MNIST classifier and labels "
            "its scores *_domain. Results, with the protocol, go to stdout and --json; "
            "--panel draws samples beside their nearest references."
        ),
    )
    p.add_argument(
        "--source",
        "--workdir",
        dest="source",
        help="images to score (--workdir for a training run): " + SOURCES_HELP,
    )
    p.add_argument("--reference", help="reference images (same forms), e.g. mnist:test")
    # The old spelling `gan-tf evaluate SOURCE REFERENCE`, kept with a deprecation note.
    p.add_argument("positional", nargs="*", help=argparse.SUPPRESS)
    p.add_argument(
        "--metrics", default="fid,kid", help="comma-separated: fid,kid,is,pr (default fid,kid)"
    )
    p.add_argument("--num", type=int, default=10_000, help="images per source (default 10000)")
    p.add_argument(
        "--features", default="inception", choices=("inception", "domain"), help="feature network"
    )
    p.add_argument("--batch-size", type=int, default=50, help="images per forward pass")
    p.add_argument("--json", dest="json_out", help="write the results as JSON to this path")
    p.add_argument(
        "--panel",
        help="also write a PNG: the first samples beside their nearest references (pixel "
        "distance) and, with --features domain, the class histograms",
    )
    p.add_argument(
        "--train-domain-classifier",
        action="store_true",
        help="(re)train the domain classifier into the user cache and exit",
    )


def run(args: argparse.Namespace) -> int:
    import json

    from gan_tf.errors import GanTfError

    if args.train_domain_classifier:
        from gan_tf.metrics import domain

        path = domain.train_classifier()
        print(f"domain classifier weights: {path}")
        return 0
    _take_positional(args)
    if not args.source or not args.reference:
        raise GanTfError("evaluate needs --source (or --workdir) and --reference")
    if args.batch_size <= 0:
        raise GanTfError(f"--batch-size must be positive, got {args.batch_size}")

    from gan_tf import files
    from gan_tf.metrics import api

    result = api.score_sources(
        args.source,
        args.reference,
        args.num,
        metrics=args.metrics,
        features=args.features,
        batch_size=args.batch_size,
    )
    text = json.dumps(result, indent=2, sort_keys=True)
    if args.json_out:
        files.atomic_write(args.json_out, text + "\n")
    print(text)
    if args.panel:
        from gan_tf import images, panel

        images.write_png(
            args.panel,
            panel.evaluation_panel(
                args.source, args.reference, args.num, args.features, args.batch_size
            ),
        )
        print(f"panel: {args.panel}", file=sys.stderr)
    return 0


def _take_positional(args: argparse.Namespace) -> None:
    """Fills --source/--reference from the deprecated positional SOURCE REFERENCE."""
    from gan_tf.errors import GanTfError

    if not args.positional:
        return
    print(
        "gan-tf evaluate: SOURCE REFERENCE as positional arguments is deprecated; "
        "use --source (or --workdir) and --reference",
        file=sys.stderr,
    )
    given = [args.source, args.reference]
    missing = [i for i, value in enumerate(given) if not value]
    if len(args.positional) > len(missing):
        raise GanTfError(f"unexpected arguments: {' '.join(args.positional)}")
    for i, value in zip(missing, args.positional):
        given[i] = value
    args.source, args.reference = given
