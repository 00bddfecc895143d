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


def check_num_and_batch_size(args: argparse.Namespace) -> None:
    """Checks that `--num` (when given) and `--batch-size` are positive.

    Raises:
      GanTfError: naming the option.
    """
    from gan_tf.errors import GanTfError

    if args.num is not None and args.num <= 0:
        raise GanTfError(f"--num must be positive, got {args.num}")
    if args.batch_size <= 0:
        raise GanTfError(f"--batch-size must be positive, got {args.batch_size}")


def family_config(workdir: str, family: str, what: str, preset: str):
    """The config of the run in `workdir`, which must be of model family `family`.

    Raises:
      GanTfError: for a missing workdir, or a run of another family (saying it is not
        `what` and which preset trains one).
    """
    from gan_tf import workdir as workdir_lib
    from gan_tf.errors import GanTfError

    config = workdir_lib.load_config(workdir)
    if config.model.family != family:
        raise GanTfError(
            f"{workdir} holds a {config.model.family!r} model, not {what} "
            f"(train one with model.family={family}, e.g. --preset {preset})"
        )
    return config


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
