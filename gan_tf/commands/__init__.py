"""Sub-commands of the `gan-tf` CLI: one module each, with `add_parser` and `run`."""

from __future__ import annotations

import argparse


def add_overrides(parser: argparse.ArgumentParser, what: str) -> None:
    """`--set KEY=VALUE` (repeatable) into `args.overrides`; `what` starts its help."""
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"{what}, e.g. --set train.steps=1000 (repeatable)",
    )
