"""`gan-tf train`: train a preset (or resume it) in a workdir."""

from __future__ import annotations

import argparse
import sys

from gan_tf import presets
from gan_tf.commands import add_overrides

HELP = "train a GAN from a preset; rerun the same command to resume"


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "train",
        help=HELP,
        description=(
            "Train the GAN described by a preset, refined with --set overrides. The resolved "
            "config, checkpoints, TensorBoard logs and a sample grid go to --workdir; "
            "rerunning the same command resumes from the last checkpoint (the learning rates "
            "and the run's length may change). SIGINT (Ctrl-C) and SIGTERM stop after the "
            "current step with a checkpoint saved, exiting with 128 + the signal number."
        ),
        epilog="presets: "
        + "; ".join(
            f"{name}: {fn.__doc__.splitlines()[0]}" for name, fn in presets.PRESETS.items()
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--preset",
        default="dcgan_mnist",
        choices=sorted(presets.PRESETS),
        help="base configuration (default: dcgan_mnist)",
    )
    p.add_argument("--workdir", required=True, help="run directory (created or resumed)")
    add_overrides(p, "override a config field")
    p.add_argument("--strategy", help="distribution strategy (same as --set train.strategy=...)")
    p.add_argument(
        "--print-config", action="store_true", help="print the resolved config as JSON and exit"
    )


def run(args: argparse.Namespace) -> int:
    from gan_tf import train

    overrides = list(args.overrides)
    if args.strategy:
        overrides.append(f"train.strategy={args.strategy}")
    config = presets.get(args.preset).override(overrides)
    if args.print_config:
        print(config.to_json())
        return 0
    try:
        result = train.train(config, args.workdir)
    except train.Interrupted as e:
        print(f"gan-tf train: {e}", file=sys.stderr)
        return 128 + e.signum
    print(f"trained to step {result.step}; checkpoint {result.checkpoint}")
    print(f"samples: {result.samples_path}")
    print(f"TensorBoard: tensorboard --logdir {args.workdir}/tensorboard")
    return 0
