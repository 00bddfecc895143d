"""Sub-commands of the `gan-tf` CLI: one module each, with `add_parser` and `run`."""

from __future__ import annotations

import argparse
import sys


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


def deprecated(option: str, replacement: str) -> type[argparse.Action]:
    """An argparse action storing like `replacement` and noting on stderr that `option` is old."""

    class Deprecated(argparse.Action):
        def __call__(self, parser, namespace, values, option_string=None):
            print(
                f"{parser.prog}: {option} is deprecated; use {replacement}",
                file=sys.stderr,
            )
            setattr(namespace, self.dest, values)

    return Deprecated
