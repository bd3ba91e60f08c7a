"""The `affordhand` command: parses arguments and calls the library. No logic lives here; each subcommand is
a module of affordhand.commands."""

from __future__ import annotations

import argparse
import os
import sys

from affordhand import __version__
from affordhand.errors import AffordhandError


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser with every subcommand."""
    from affordhand.commands import COMMANDS

    parser = argparse.ArgumentParser(
        prog="affordhand",
        description="3D hand reconstruction under occlusion, refined with an affordance-guided diffusion prior.",
    )
    parser.add_argument("--version", action="version", version=f"affordhand {__version__}")
    parser.add_argument("--quiet", action="store_true", help="no progress bars (as AFFORDHAND_QUIET=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (2 for user errors, with a one-line message)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    if args.quiet:
        os.environ["AFFORDHAND_QUIET"] = "1"
    try:
        if getattr(args, "device", None) is not None:
            from affordhand.devices import resolve_device

            args.device = resolve_device(args.device)
        return int(args.func(args) or 0)
    except AffordhandError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into `head` and closed early
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
