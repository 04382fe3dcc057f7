"""The ``inferwire`` command line: one sub-command per area, each registered by its own module.

Each module named in :data:`COMMAND_MODULES` exposes ``register(subparsers)``, which adds its
sub-command(s) and sets ``func`` (called with the parsed namespace, returning an exit code).
Modules must not import heavy libraries (TensorFlow, pandas) at import time: ``inferwire --help``
stays fast.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys

from . import __version__
from .errors import InferwireError
from .extras import missing_extra

COMMAND_MODULES = (
    "inferwire.analysis.cli",
    "inferwire.serving.cli",
    "inferwire.experiment.cli",
    "inferwire.report.cli",
    "inferwire.sweep.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="inferwire",
        description="Where each ML inference request's time goes, read from the packets.")
    parser.add_argument("--version", action="version", version=f"inferwire {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
                # that area is not built in this checkout
                continue
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except InferwireError as exc:
        print(f"inferwire: error: {exc}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as exc:      # an optional dependency: say which extra has it
        error = missing_extra(exc, f"'inferwire {args.command}'")
        if error is None:
            raise
        print(f"inferwire: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("inferwire: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug, not bad input: say so in one line, traceback on request
        if os.environ.get("INFERWIRE_DEBUG"):
            raise
        print(f"inferwire: internal error: {type(exc).__name__}: {exc} (this is a bug; run with "
              "INFERWIRE_DEBUG=1 for the traceback and please report it)", file=sys.stderr)
        return 70


if __name__ == "__main__":
    sys.exit(main())
