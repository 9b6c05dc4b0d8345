"""The `mmnet` command line: the parser, built from one module per group of verbs (each verb a thin call into the
library, importing its world only when it runs, so that `mmnet matte` never loads torch), and `main`, which turns
a user's mistake into one line on stderr."""
from __future__ import annotations

import argparse
import sys

from mmnet import __version__
from mmnet.cli import bench, cache, data, export, matte, serve, train
from mmnet.errors import MmnetError
from mmnet.extras import missing_extra

GROUPS = (train, export, data, matte, serve, bench, cache)  # each registers its verbs, in this order


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    """The parser and its subcommands' parsers by name."""
    parser = argparse.ArgumentParser(prog="mmnet", description="Real-time automatic portrait matting.")
    parser.add_argument("--version", action="version", version=f"mmnet {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser, sub.choices


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Parse twice: a `--preset` sets the defaults, and flags given on the command line still win."""
    from mmnet.training.flags import gather_loss, preset_defaults  # plain data, no torch
    parser, commands = build_parser()
    args = parser.parse_args(argv)
    preset = getattr(args, "preset", None)
    if preset:
        commands[args.command].set_defaults(**{k: v for k, v in preset_defaults(preset).items() if k in vars(args)})
        args = parser.parse_args(argv)
    return gather_loss(args)


def main(argv: list[str] | None = None) -> int:
    """Run one verb; its exit status."""
    args = parse_args(argv)
    try:
        args.handler(args)
    except (MmnetError, FileNotFoundError) as error:  # DatasetError, ImageReadError, CheckpointError, ...
        print(f"mmnet {args.command}: error: {error}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as error:  # an optional extra that is not installed: say which one
        hint = missing_extra(error)
        if hint is None:
            raise
        print(f"mmnet {args.command}: error: this needs the {error.name.split('.')[0]} package, which is not "
              f"installed: {hint}", file=sys.stderr)
        return 1
    except ImportError as error:  # our own messages: what is missing and how to install it
        print(f"mmnet {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
