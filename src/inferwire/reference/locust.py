"""locust, seen from inferwire: its CSV and JSON outputs as DataFrames, and running it.

Readers (pure, pandas):

* :func:`read_locust_csvs` - ``PREFIX_stats.csv``, ``_stats_history.csv``, ``_failures.csv``,
  ``_exceptions.csv`` with snake_case columns and units in the names (``p50_ms``,
  ``requests_per_s``); locust's "N/A" cells become NaN.  The stats history goes through the
  one reader of it (:func:`inferwire.runfolder.read_stats_history`), as in run folders.  Locust rewrites these files every second
  and does not write them once more at exit, so ``_stats.csv`` can miss the last second.
* :func:`read_locust_json` / :func:`locust_figures` - the final statistics (``--json-file``):
  every request, with locust's own rounding and percentile rule, so the figures are the ones its
  end-of-run table prints.
* :func:`read_request_logs` - the per-request event log the shipped locustfiles (or the
  ``eventlog_hook`` locustfile) write per process.

Running (the shell): :func:`locust_command` builds argv for a local run, a master or a worker;
:func:`run_locust` runs a local run (optionally ``--processes N``) or a master and N workers as
separate processes, the way several machines would run them.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InferwireError, LoadError
from ..locustfiles.eventlog import COLUMNS as EVENT_LOG_COLUMNS
from ..locustfiles.eventlog import FILE_PREFIX, STREAM_COLUMNS
from ..runfolder.locust import read_stats_history
from .toolrun import run_processes, time_limit_s

CSV_KINDS = ("stats", "stats_history", "failures", "exceptions")
_COMMON = {"Type": "type", "Name": "name", "Requests/s": "requests_per_s",
           "Failures/s": "failures_per_s"}
_RENAMES = {
    "stats": {**_COMMON, "Request Count": "requests", "Failure Count": "failures",
              "Median Response Time": "median_ms", "Average Response Time": "mean_ms",
              "Min Response Time": "min_ms", "Max Response Time": "max_ms",
              "Average Content Size": "mean_content_bytes"},
    "failures": {"Method": "method", "Name": "name", "Error": "error",
                 "Occurrences": "occurrences", "First Seen": "first_seen_s",
                 "Last Seen": "last_seen_s"},
    "exceptions": {"Count": "count", "Message": "message", "Traceback": "traceback",
                   "Nodes": "nodes"},
}
PERCENTILES = (0.5, 0.66, 0.75, 0.8, 0.9, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0)


def _column_name(kind: str, column: str) -> str:
    if column in _RENAMES[kind]:
        return _RENAMES[kind][column]
    if column.endswith("%"):
        return f"p{column[:-1]}_ms"
    return column.strip().lower().replace(" ", "_").replace("/", "_per_")


def read_locust_csv(path, kind: str) -> pd.DataFrame:
    """One of locust's CSV files (``kind``: stats, stats_history, failures, exceptions).  The
    stats history is read by the one reader of it, :func:`inferwire.runfolder.read_stats_history`
    (columns named there: ``time``, ``total_requests``, ``p99_9_ms``, ``aggregated`` ...)."""
    if kind not in CSV_KINDS:
        raise LoadError(f"kind {kind!r}: use one of {CSV_KINDS}")
    if kind == "stats_history":
        try:
            return read_stats_history(path)
        except InferwireError as exc:
            raise LoadError(str(exc)) from exc
    try:
        frame = pd.read_csv(path, na_values=["N/A"], keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise LoadError(f"{path}: cannot read locust's {kind} CSV: {exc}") from exc
    expected = next(iter(_RENAMES[kind]))
    if expected not in frame.columns and kind != "failures":
        raise LoadError(f"{path}: not locust's {kind} CSV: field {expected!r} missing from the "
                        f"header {list(frame.columns)}")
    frame = frame.rename(columns=lambda c: _column_name(kind, c))
    if "type" in frame:
        frame["type"] = frame["type"].replace("", None)
    return frame


@dataclass
class LocustResults:
    """locust's four CSVs of one run (``prefix``: the ``--csv`` value)."""
    prefix: str
    stats: pd.DataFrame
    stats_history: pd.DataFrame
    failures: pd.DataFrame
    exceptions: pd.DataFrame

    def aggregated(self) -> dict:
        """The "Aggregated" row of ``_stats.csv`` as a dict."""
        rows = self.stats[self.stats["name"] == "Aggregated"]
        if rows.empty:
            raise LoadError(f"{self.prefix}_stats.csv has no Aggregated row")
        return rows.iloc[-1].to_dict()


def read_locust_csvs(prefix) -> LocustResults:
    """All four CSV files written by ``locust --csv PREFIX``."""
    frames = {kind: read_locust_csv(f"{prefix}_{kind}.csv", kind) for kind in CSV_KINDS}
    return LocustResults(str(prefix), **frames)


# -- final statistics (--json-file) -------------------------------------------------------------
def read_locust_json(path) -> pd.DataFrame:
    """locust's ``--json-file`` output: one row per (method, name) entry with locust's own
    fields (``num_requests``, ``num_failures``, ``response_times`` {rounded ms: count}, ...)."""
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except (OSError, ValueError) as exc:
        raise LoadError(f"{path}: cannot read locust's JSON statistics: {exc}") from exc
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise LoadError(f"{path}: locust's JSON statistics are a list of entries")
    for i, e in enumerate(entries):
        for key in ("name", "num_requests", "num_failures", "response_times"):
            if key not in e:
                raise LoadError(f"{path}: entry {i}, field {key} missing")
    return pd.DataFrame(entries)


def locust_percentile(response_times: dict, num_requests: int, percent: float) -> float:
    """locust's percentile rule (``stats.calculate_response_time_percentile``) on its
    {rounded ms: count} histogram: the largest bucket with enough requests at or above it."""
    wanted = int(num_requests * percent)
    seen = 0
    for value in sorted(response_times, reverse=True):
        seen += response_times[value]
        if num_requests - seen <= wanted:
            return float(value)
    return float("nan")


def locust_figures(entries: pd.DataFrame) -> dict:
    """locust's end-of-run "Aggregated" figures from :func:`read_locust_json` entries: counts,
    ``requests_per_s`` (requests / first start to last request), ``mean_ms``, ``max_ms`` and
    ``p50``..``p100`` in ms as locust computes them (response times rounded to whole ms below
    100 ms, to 2 significant digits above)."""
    if entries.empty:
        return {"requests": 0, "failures": 0, "requests_per_s": None, "mean_ms": None,
                "max_ms": None, **{f"p{p * 100:g}": None for p in PERCENTILES}}
    merged: dict[int, int] = {}
    for hist in entries["response_times"]:
        for key, count in hist.items():
            merged[int(float(key))] = merged.get(int(float(key)), 0) + int(count)
    n = int(entries["num_requests"].sum())
    out = {"requests": n, "failures": int(entries["num_failures"].sum())}
    timed = n - int(entries.get("num_none_requests", pd.Series([0])).fillna(0).sum())
    span = (entries["last_request_timestamp"].max() - entries["start_time"].min()
            if "last_request_timestamp" in entries else np.nan)
    out["requests_per_s"] = n / span if span and span > 0 else None
    out["mean_ms"] = (float(entries["total_response_time"].sum()) / timed
                      if timed and "total_response_time" in entries else None)
    out["max_ms"] = float(entries["max_response_time"].max()) if "max_response_time" in entries \
        else None
    for p in PERCENTILES:
        out[f"p{p * 100:g}"] = locust_percentile(merged, timed, p) if timed else None
    return out


# -- the per-request event log ------------------------------------------------------------------
def read_request_logs(paths) -> pd.DataFrame:
    """The per-process request logs (files, or a folder of ``requests_<pid>.csv``) as one table
    sorted by start: ns columns nullable Int64, ``ok`` bool, empty ids None."""
    if isinstance(paths, (str, os.PathLike)) and Path(paths).is_dir():
        paths = sorted(Path(paths).glob(f"{FILE_PREFIX}*.csv"))
    frames = []
    for path in paths:
        try:
            frame = pd.read_csv(path, dtype={"request_id": str, "status": str, "error": str},
                                keep_default_na=False, na_values={
                                    c: [""] for c in ("started_ns", "finished_ns",
                                                      "response_time_ms", "request_bytes",
                                                      "response_bytes") + STREAM_COLUMNS})
        except (OSError, ValueError) as exc:
            raise LoadError(f"{path}: cannot read the locust request log: {exc}") from exc
        if tuple(frame.columns) == EVENT_LOG_COLUMNS[:-len(STREAM_COLUMNS)]:
            frame = frame.reindex(columns=EVENT_LOG_COLUMNS)   # written before streaming's
        if tuple(frame.columns) != EVENT_LOG_COLUMNS:
            raise LoadError(f"{path}: header {list(frame.columns)} is not the request log's "
                            f"{list(EVENT_LOG_COLUMNS)}")
        frames.append(frame)
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_LOG_COLUMNS})
    out = pd.concat(frames, ignore_index=True)
    for column in ("started_ns", "finished_ns", "request_bytes", "response_bytes",
                   "first_token_ns", "last_token_ns", "tokens"):
        out[column] = pd.to_numeric(out[column], errors="coerce").astype("Int64")
    for column in ("itl_p50_ms", "itl_max_ms"):
        out[column] = pd.to_numeric(out[column], errors="coerce")
    out["ok"] = out["ok"].map({"true": True, "false": False, True: True, False: False})
    for column in ("request_id", "status", "error"):
        out[column] = out[column].astype(object).where(out[column] != "", None)
    return out.sort_values("started_ns", ignore_index=True)


# -- running locust -----------------------------------------------------------------------------
def locust_command(locustfiles, *, host: str | None = None, users: int = 1,
                   spawn_rate: float | None = None, run_time_s: float | None = None,
                   csv_prefix: str | None = None, json_prefix: str | None = None,
                   role: str = "local", processes: int | None = None,
                   master_host: str = "127.0.0.1", master_port: int | None = None,
                   expect_workers: int | None = None, stop_timeout_s: float = 10.0,
                   loglevel: str = "INFO") -> list[str]:
    """argv of ``python -m locust``.  ``role``: "local", "master" or "worker"; workers take only
    the locustfiles and the master's address (the master drives users, time and outputs)."""
    if role not in ("local", "master", "worker"):
        raise LoadError(f"role must be local, master or worker, not {role!r}")
    files = [str(f) for f in (locustfiles if isinstance(locustfiles, (list, tuple))
                              else [locustfiles])]
    argv = [sys.executable, "-m", "locust", "-f", ",".join(files), "--loglevel", loglevel]
    if role == "worker":
        return argv + ["--worker", "--master-host", master_host,
                       "--master-port", str(master_port or 5557)]
    argv += ["--headless", "-u", str(users), "-r", f"{spawn_rate or users:g}",
             "-s", f"{stop_timeout_s:g}", "--only-summary"]
    if run_time_s is not None:
        argv += ["-t", f"{max(1, round(run_time_s))}s"]
    if host:
        argv += ["--host", host]
    if csv_prefix:
        argv += ["--csv", str(csv_prefix)]
    if json_prefix:
        argv += ["--json-file", str(json_prefix)]
    if role == "master":
        argv += ["--master", "--master-bind-host", master_host,
                 "--master-bind-port", str(master_port or 5557),
                 "--expect-workers", str(expect_workers or 1)]
    elif processes:
        argv += ["--processes", str(processes)]
    return argv


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (for the master's bind port)."""
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@dataclass
class LocustRunResult:
    """What :func:`run_locust` did: the processes' exit codes (master or local first), the
    window, the files it wrote."""
    run: object
    argv: list
    outputs: dict


def run_locust(locustfiles, out_dir, name: str, *, stop, env: dict | None = None,
               workers: int = 0, processes: int | None = None, **options) -> LocustRunResult:
    """Run locust headless into ``out_dir`` with CSV prefix ``name`` (outputs are never
    overwritten).  ``workers`` > 0: a master and that many worker processes on 127.0.0.1;
    ``processes``: locust's own ``--processes`` forking on this machine; neither: one process.
    ``options`` go to :func:`locust_command`."""
    out_dir = Path(out_dir)
    outputs = {kind: f"{name}_{kind}.csv" for kind in CSV_KINDS}
    outputs.update(final_json=f"{name}_final.json", output=f"{name}_output.txt")
    taken = [n for n in outputs.values() if (out_dir / n).exists()]
    if taken:
        raise LoadError(f"{out_dir}: {taken} already exist: locust outputs are never "
                        "overwritten; choose another name")
    common = dict(csv_prefix=str(out_dir / name), json_prefix=str(out_dir / f"{name}_final"),
                  **options)
    if workers:
        port = free_port()
        commands = [(locust_command(locustfiles, role="master", master_port=port,
                                    expect_workers=workers, **common), out_dir / outputs["output"])]
        for k in range(workers):
            outputs[f"worker_{k}_output"] = f"{name}_worker{k}_output.txt"
            commands.append((locust_command(locustfiles, role="worker", master_port=port),
                             out_dir / outputs[f"worker_{k}_output"]))
    else:
        commands = [(locust_command(locustfiles, processes=processes, **common),
                     out_dir / outputs["output"])]
    run = run_processes(commands, stop=stop, env=env, stop_signal=signal.SIGTERM,
                        timeout_s=time_limit_s(options.get("run_time_s"), None) + 30,
                        start_gap_s=0.2 if workers else 0.0)
    return LocustRunResult(run, [argv for argv, _ in commands], outputs)
