"""The ``inferwire`` command line: one sub-command per area, each registered by its own module.

Each module named in :data:`COMMAND_MODULES` exposes ``register(subparsers)``, which adds its
sub-command(s) and sets ``func`` (called with the parsed namespace, returning an exit code).
Modules must not import heavy libraries (TensorFlow, pandas) at import time: ``inferwire --help``
stays fast.
"""
from __future__ import annotations

import argparse
import atexit
import importlib
import os
import sys
import threading

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


#: The module of each sub-command: a command given on the line imports only its own module
#: (the others cost 15 ms of every ``inferwire analyze``); help and unknown commands import
#: all of :data:`COMMAND_MODULES` (tests/cli/test_commands.py holds this to what they register).
COMMANDS = {"analyze": "inferwire.analysis.cli", "model": "inferwire.serving.cli",
            "serve": "inferwire.serving.cli", "run": "inferwire.experiment.cli",
            "runs": "inferwire.experiment.cli", "report": "inferwire.report.cli",
            "sweep": "inferwire.sweep.cli", "findings": "inferwire.sweep.cli"}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: with every sub-command, or with ``command``'s only when it
    is one of :data:`COMMANDS` (the first word of the line)."""
    parser = argparse.ArgumentParser(
        prog="inferwire",
        description="Where each ML inference request's time goes, read from the packets.")
    parser.add_argument("--version", action="version", version=f"inferwire {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    names = (COMMANDS[command],) if command in COMMANDS else COMMAND_MODULES
    for name in names:
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
    line = sys.argv[1:] if argv is None else argv
    parser = build_parser(line[0] if line else None)
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


#: Commands that end with :func:`exit_now`: ``analyze`` closes every file it writes before it
#: returns (tests/analysis/test_cli.py reads them back).  The others (servers, capture runs,
#: sweeps, reports) keep Python's own exit, which also closes what a module left open.
QUICK_EXIT_COMMANDS = ("analyze",)


#: Arrow's memory pool in the command's processes unless ``ARROW_DEFAULT_MEMORY_POOL`` is set:
#: the C library's ``malloc``.  Arrow's default, mimalloc, backed the tables' few large buffers
#: with more huge pages, each 2 MiB zeroed at its first touch: on the 1 M-message streaming
#: capture the command took 0.89x the time with ``system`` (2.34 s against 2.60 s, medians of 10
#: interleaved runs; system CPU 0.82 s against 1.06 s), 0.93x on the unary one
#: (docs/bench-analyze.md, "Arrow's memory pool").  The library itself leaves the pool alone: a
#: program that imports inferwire keeps its own.
ARROW_POOL = "system"


def use_arrow_pool(environ=os.environ) -> str:
    """Set ``ARROW_DEFAULT_MEMORY_POOL`` to :data:`ARROW_POOL` in ``environ`` unless it is set
    (a user's choice wins); return the pool that applies.  Arrow reads it when the pool is
    first used, so this runs before the command does anything (forked workers inherit it)."""
    return environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", ARROW_POOL)


#: Commands whose processes use no BLAS (no matrix product in the analysis): numpy's OpenBLAS
#: is told to start no thread pool of its own, unless ``OPENBLAS_NUM_THREADS`` is set.
#: OpenBLAS starts one thread per CPU when numpy is imported, which spin a while before they
#: sleep: the h2load + ab capture's command took 0.905x the CPU and 0.98x the time with one
#: (1.26 s against 1.39 s CPU, 0.836 s against 0.866 s wall; `farm-bench`, 10 interleaved pairs).
NO_BLAS_COMMANDS = ("analyze",)


def no_blas_threads(environ=os.environ) -> str:
    """Set ``OPENBLAS_NUM_THREADS`` to 1 in ``environ`` unless it is set (a user's choice
    wins); return what applies.  OpenBLAS reads it when numpy is imported: this runs before."""
    return environ.setdefault("OPENBLAS_NUM_THREADS", "1")


def run() -> None:
    """The ``inferwire`` command (``python -m inferwire`` too): :func:`main`, then its exit
    status (by :func:`exit_now` for :data:`QUICK_EXIT_COMMANDS`).  Arrow's pool is chosen
    first (:func:`use_arrow_pool`), and for :data:`NO_BLAS_COMMANDS` numpy's BLAS threads
    are left out (:func:`no_blas_threads`)."""
    use_arrow_pool()
    if sys.argv[1:2] and sys.argv[1] in NO_BLAS_COMMANDS:
        no_blas_threads()
    code = main()
    if sys.argv[1:2] and sys.argv[1] in QUICK_EXIT_COMMANDS:
        exit_now(code)
    sys.exit(code)


def exit_now(code: int) -> None:
    """End the process with ``code`` without tearing the interpreter down object by object
    (0.15 to 0.25 s after analyzing a 1 M-message capture: 5 % of the command, 10 % on a
    unary one).  The standard streams are flushed and the exit handlers run (``atexit``:
    logging, multiprocessing, temporary folders, Dask), as at a normal exit; a process whose
    streams cannot be flushed, or with another thread still running, exits the normal way."""
    if threading.active_count() > 1:
        sys.exit(code)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (OSError, ValueError):    # a closed pipe: Python's own exit reports it
        sys.exit(code)
    atexit._run_exitfuncs()  # noqa: SLF001 -- what a normal exit runs, then nothing else
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
