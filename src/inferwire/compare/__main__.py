"""``python -m inferwire.compare``: the comparison of :mod:`inferwire.compare` on existing run
folders, or ``--run rest|grpc`` to make the runs first (one per load tool): the shell."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from .. import compare as _compare
from ..errors import InferwireError
from . import compare_runs, markdown


# -- the shell: make the runs -----------------------------------------------------------------------
DEFAULT_ENGINES = {"rest": ("inferwire", "locust", "ab", "h2load"),
                   "grpc": ("inferwire", "locust", "h2load")}


def run_comparison(protocol: str, out: str, *, engines=None, duration_s: float = 3.0,
                   users: int = 2, batch_size: int = 1, warmup_requests: int = 20,
                   progress: bool = False, **config) -> tuple[pd.DataFrame, list[Path]]:
    """One capture run per engine for the same workload (``protocol``, ``users`` closed-loop
    users, ``duration_s``, ``batch_size``), then :func:`compare_runs`.  Returns (table, run
    folders); a run that did not end "ok" raises InferwireError with its problems."""
    from ..experiment import RunConfig, run_experiment  # deferred: experiment.run imports psutil (optional)
    run_dirs = []
    for engine in engines or DEFAULT_ENGINES[protocol]:
        result = run_experiment(RunConfig(
            out=out, name=f"compare-{protocol}-{engine}", protocols=(protocol,), engine=engine,
            users=users, duration_s=duration_s, batch_size=batch_size,
            warmup_requests=warmup_requests, progress=progress, **config))
        if result.status != "ok":
            raise InferwireError(f"{engine} run {result.run_dir}: {result.status}: "
                                 + "; ".join(result.problems))
        run_dirs.append(result.run_dir)
    return compare_runs(run_dirs), run_dirs


def main(argv=None) -> int:
    """``python -m inferwire.compare RUN_DIR...`` or ``--run rest|grpc --out DIR``."""
    p = argparse.ArgumentParser(prog="python -m inferwire.compare",
                                description=_compare.__doc__.split("\n\n")[0])
    p.add_argument("run_dirs", nargs="*", help="existing run folders to compare")
    p.add_argument("--run", choices=("rest", "grpc"), help="make the runs first (one per tool)")
    p.add_argument("--out", default="results", help="parent folder of the new runs")
    p.add_argument("--engines", help="comma-separated engines (default: all for the protocol)")
    p.add_argument("--duration", type=float, default=3.0)
    p.add_argument("--users", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=1)
    args = p.parse_args(argv)
    try:
        if args.run:
            table, dirs = run_comparison(args.run, args.out, duration_s=args.duration,
                                         users=args.users, batch_size=args.batch_size,
                                         engines=args.engines.split(",") if args.engines
                                         else None)
            print("runs: " + " ".join(str(d) for d in dirs))
        elif args.run_dirs:
            table = compare_runs(args.run_dirs)
        else:
            p.error("give run folders or --run rest|grpc")
    except InferwireError as exc:
        print(f"inferwire compare: {exc}", file=sys.stderr)
        return 1
    print(markdown(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
