"""The `tfsearch` command line: one module per command group, each parsing, calling the library and printing.

Each command module has `add_parser(subparsers)`, which registers its
sub-command(s) with a `func(args) -> exit code`. Errors the user can fix
(bad data, a missing file, a wrong flag value) become one line on stderr and
exit code 2.
"""

import argparse
import sys

from tfsearch.cli import (data, encode, evaluate, export, index, quickstart, recommend, search, serve,
                          train)

# In the order `tfsearch --help` lists them.
COMMANDS = (quickstart, data, encode, evaluate, index, train, export, serve, search, recommend)

__all__ = ["COMMANDS", "build_parser", "main"]


def build_parser():
    """The `tfsearch` parser with every command group's sub-commands."""
    parser = argparse.ArgumentParser(
        prog="tfsearch",
        description="TensorFlow semantic search: BERT towers, exact and ScaNN retrieval, evaluation.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for command in COMMANDS:
        command.add_parser(subparsers)
    return parser


def main(argv=None):
    """Runs `tfsearch ARGV...`; returns the exit code (2 for errors the user can fix, 130 when interrupted)."""
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not hasattr(args, "pipeline_args"):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    if unknown:
        args.pipeline_args = unknown  # a command that passes options on (`tfsearch encode`: Beam's)
    from tfsearch.cli.common import quiet_tensorflow

    quiet_tensorflow()
    import tfsearch  # noqa: F401  (routes tf.keras to Keras 2 first)
    from tfsearch.data.beir import BeirFormatError
    from tfsearch.models.presets import CheckpointNotFoundError

    try:
        return args.func(args)
    except (BeirFormatError, CheckpointNotFoundError, FileExistsError, FileNotFoundError, ImportError,
            ValueError) as e:
        print(f"tfsearch {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; nothing was half-written.", file=sys.stderr)
        return 130
