"""The `gan-tf` command line. Sub-commands live in `gan_tf.commands`, one module each."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from gan_tf import console

# Sub-command modules, in the order `--help` lists them.
COMMANDS = (
    "train",
    "generate",
    "interpolate",
    "project",
    "embed",
    "synthesize",
    "evaluate",
    "anomaly",
    "classify",
    "translate",
    "export",
    "serve",
    "query",
    "pipeline",
)
VERBOSE_HELP = "show every log line live: debug logs, TensorFlow's start-up, TFX and Beam output"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gan-tf",
        description="Train, evaluate, export and serve GANs with TensorFlow.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help=VERBOSE_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name in COMMANDS:
        module = importlib.import_module(f"gan_tf.commands.{name}")
        module.add_parser(sub)
    _add_verbose(sub)
    return parser


def _add_verbose(subparsers: argparse._SubParsersAction) -> None:
    """`-v/--verbose` after any (nested) sub-command too, as after `gan-tf`."""
    for parser in subparsers.choices.values():
        # SUPPRESS: an absent flag leaves a `gan-tf -v` given before the sub-command alone.
        parser.add_argument(
            "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=VERBOSE_HELP
        )
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                _add_verbose(action)


def main(argv: list[str] | None = None) -> int:
    """Runs the CLI; returns the exit status (2 for bad input, 130 when interrupted)."""
    # oneDNN's CPU kernels train the DCGAN presets ~1.5x faster and extract Inception features
    # ~35% faster per CPU-second on these machines, where TensorFlow leaves them off (it turns
    # them on by itself only on some Intel CPUs). Results move by float rounding (~1e-6
    # relative). TensorFlow reads the variable once, at import: an explicit setting wins.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    args = build_parser().parse_args(argv)
    console.quiet_startup(args.verbose)
    from gan_tf.errors import GanTfError

    module = importlib.import_module(f"gan_tf.commands.{args.command}")
    try:
        return module.run(args)
    except GanTfError as e:
        print(f"gan-tf {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gan-tf {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
