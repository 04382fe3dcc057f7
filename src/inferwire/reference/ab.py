"""ApacheBench (``ab``, apache2-utils): its command line and its three outputs, parsed.

ab speaks HTTP/1.0 (``-k`` adds ``Connection: Keep-Alive``), sends one fixed body and cannot put
a different id on each request, so its requests are joined to the capture by count and time, not
by id.  Its outputs:

* stdout: the report (requests, failures, requests per second, percentiles in whole ms);
* ``-e FILE``: the 0..100th percentiles of the total time, in ms with µs resolution;
* ``-g FILE`` ("gnuplot"): one row per request, whole ms, start time in whole seconds, rows
  sorted by total time (not by start), so rows cannot be paired with captured requests.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..errors import LoadError

#: the -g table's columns, as ab writes them, and ours (units in the names)
GNUPLOT_COLUMNS = {"seconds": "start_s", "ctime": "connect_ms", "dtime": "processing_ms",
                   "ttime": "total_ms", "wait": "wait_ms"}


def ab_command(url: str, *, body_path: str | None = None, content_type: str | None = None,
               concurrency: int = 1, requests: int | None = None,
               duration_s: float | None = None, keepalive: bool = True,
               gnuplot_path: str | None = None, percentiles_path: str | None = None,
               headers: tuple[str, ...] = (), timeout_s: int = 30, variable_length: bool = True,
               ab: str = "ab") -> list[str]:
    """ab's argv.  ``requests`` (``-n``) and/or ``duration_s`` (``-t``, whole seconds, rounded
    up; ab stops at whichever comes first and then caps requests at 50000).
    ``variable_length`` (``-l``): a reply whose length differs from the first is not a failure
    (a model's JSON reply may vary in length)."""
    if requests is None and duration_s is None:
        raise LoadError("ab needs a request count or a duration")
    if requests is not None and requests < concurrency:
        raise LoadError(f"ab cannot make {requests} requests with concurrency {concurrency}: "
                        "it needs at least one request per concurrent client")
    argv = [ab, "-q", "-c", str(concurrency), "-s", str(timeout_s)]
    if variable_length:
        argv.append("-l")
    if duration_s is not None:
        argv += ["-t", str(max(1, math.ceil(duration_s)))]
    if requests is not None:
        argv += ["-n", str(requests)]
    if keepalive:
        argv.append("-k")
    if body_path is not None:
        argv += ["-p", str(body_path), "-T", content_type or "application/octet-stream"]
    for header in headers:
        argv += ["-H", header]
    if gnuplot_path is not None:
        argv += ["-g", str(gnuplot_path)]
    if percentiles_path is not None:
        argv += ["-e", str(percentiles_path)]
    return argv + [url]


@dataclass
class AbReport:
    """ab's printed report.  Times in ms (as ab prints them), ``percentiles_ms`` {50: .., 100: ..}
    in whole ms; ``connection_times_ms`` {"Total": {"min","mean","sd","median","max"}, ...}."""
    complete: int
    failed: int
    non_2xx: int = 0
    keepalive_requests: int | None = None
    time_taken_s: float | None = None
    requests_per_s: float | None = None
    mean_ms: float | None = None
    percentiles_ms: dict = field(default_factory=dict)
    connection_times_ms: dict = field(default_factory=dict)


_FIELDS = {"complete": r"Complete requests:\s+(\d+)", "failed": r"Failed requests:\s+(\d+)",
           "non_2xx": r"Non-2xx responses:\s+(\d+)",
           "keepalive_requests": r"Keep-Alive requests:\s+(\d+)",
           "time_taken_s": r"Time taken for tests:\s+([\d.]+) seconds",
           "requests_per_s": r"Requests per second:\s+([\d.]+)",
           "mean_ms": r"Time per request:\s+([\d.]+) \[ms\] \(mean\)"}


def parse_ab_output(text: str, source: str = "ab output") -> AbReport:
    """ab's stdout as an :class:`AbReport`; LoadError naming ``source`` if it is not a report
    (ab prints only an error line when it cannot connect)."""
    values = {}
    for name, pattern in _FIELDS.items():
        m = re.search(pattern, text)
        if m:
            values[name] = float(m.group(1)) if "." in m.group(1) else int(m.group(1))
    if "complete" not in values or "failed" not in values:
        last = text.strip().splitlines()[-1:] or ["(empty)"]
        raise LoadError(f"{source}: not an ab report (no 'Complete requests' / 'Failed requests' "
                        f"line); it ends with: {last[0]}")
    report = AbReport(**values)
    for m in re.finditer(r"^\s*(\d+)%\s+(\d+)", text, re.M):
        report.percentiles_ms[int(m.group(1))] = float(m.group(2))
    for m in re.finditer(r"^(Connect|Processing|Waiting|Total):\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)"
                         r"\s+([\d.]+)\s+([\d.]+)", text, re.M):
        report.connection_times_ms[m.group(1)] = dict(zip(
            ("min", "mean", "sd", "median", "max"), map(float, m.group(2, 3, 4, 5, 6))))
    return report


def read_ab_percentiles(path) -> pd.DataFrame:
    """ab's ``-e`` file: columns ``percent`` (0..100) and ``total_ms`` (µs resolution)."""
    try:
        frame = pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise LoadError(f"{path}: cannot read ab's -e percentiles: {exc}") from exc
    if list(frame.columns) != ["Percentage served", "Time in ms"]:
        raise LoadError(f"{path}: header {list(frame.columns)} is not ab's -e header "
                        "'Percentage served,Time in ms'")
    return frame.set_axis(["percent", "total_ms"], axis=1)


def read_ab_gnuplot(path) -> pd.DataFrame:
    """ab's ``-g`` file: one row per request, ``start_s`` (whole seconds since the epoch),
    ``connect_ms``, ``processing_ms``, ``total_ms``, ``wait_ms`` (whole ms, as ab rounds them)."""
    try:
        frame = pd.read_csv(path, sep="\t")
    except (OSError, ValueError) as exc:
        raise LoadError(f"{path}: cannot read ab's -g table: {exc}") from exc
    missing = [c for c in ("starttime", *GNUPLOT_COLUMNS) if c not in frame.columns]
    if missing:
        raise LoadError(f"{path}: not ab's -g table, field(s) {missing} missing from the header")
    frame = frame.drop(columns="starttime").rename(columns=GNUPLOT_COLUMNS)
    for column in GNUPLOT_COLUMNS.values():
        values = pd.to_numeric(frame[column], errors="coerce")
        bad = values.isna()
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            raise LoadError(f"{path}: row {row + 2}, field {column}: "
                            f"{frame[column].iloc[row]!r} is not a number")
        frame[column] = values.astype("int64")
    return frame


def ab_percentile_index(n: int, percent: int) -> int:
    """The index ab reads the ``percent``-th percentile at, in the n totals sorted ascending
    (ab.c: 0 -> first, 100 -> last, else int(0.5 + n * percent / 100), here kept in range)."""
    if percent <= 0:
        return 0
    if percent >= 100:
        return n - 1
    return min(n - 1, int(0.5 + n * percent / 100.0))


def ab_percentiles(values_ms, percents=range(101)) -> pd.Series:
    """Percentiles of ``values_ms`` computed the way ab computes its ``-e`` table (ms), indexed
    by percent: the capture's side of a like-for-like comparison with ab."""
    values = np.sort(np.asarray(values_ms, dtype=float))
    if len(values) == 0:
        return pd.Series(dtype=float)
    return pd.Series({p: values[ab_percentile_index(len(values), p)] for p in percents})
