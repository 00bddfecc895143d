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


def parse_ints(text: str, what: str) -> list[int]:
    """Parses `1,2,3` and ranges `0-7` into integers."""
    from gan_tf.errors import GanTfError

    values: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            first, sep, last = part.partition("-") if not part.startswith("-") else (part, "", "")
            if sep:
                values.extend(range(int(first), int(last) + 1))
            else:
                values.append(int(part))
        except ValueError:
            raise GanTfError(f"{what} {text!r}: expected integers like 1,2,3 or 0-7") from None
    if not values:
        raise GanTfError(f"{what} is empty")
    return values


def check_labels(labels, num_classes: int, option: str) -> None:
    """Checks class labels given with `option` against a model's classes.

    Raises:
      GanTfError: naming the first label outside `0..num_classes-1` (any, if unconditional).
    """
    from gan_tf.errors import GanTfError

    for label in labels:
        if not 0 <= label < max(num_classes, 0):
            raise GanTfError(
                f"{option} {label} is invalid: the model has "
                + (f"classes 0..{num_classes - 1}" if num_classes else "no classes")
            )
