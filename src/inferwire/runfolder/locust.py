"""The one reader of locust's stats history (``--csv PREFIX --csv-full-history`` ->
``PREFIX_stats_history.csv``), for run folders and :func:`inferwire.reference.locust.read_locust_csvs`.

locust appends a row per request name (and one "Aggregated" row) about every second, with the
current user count, the current request and failure rates and response-time percentiles over a
sliding window, and running totals.  This module reads it into a DataFrame with explicit units:

    time (s since epoch), users, type, name, aggregated (bool), requests_per_s, failures_per_s,
    p50_ms ... p100_ms (sliding-window percentiles, ms), total_requests, total_failures,
    total_median_ms, total_mean_ms, total_min_ms, total_max_ms, total_mean_content_bytes

locust writes "N/A" where a percentile has no samples yet; those cells become NaN, never 0.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pandas as pd

from ..errors import InferwireError
from .names import STATS_HISTORY_GLOB

#: locust header -> our column (percentile columns are handled by pattern).
RENAME = {
    "Timestamp": "time", "User Count": "users", "Type": "type", "Name": "name",
    "Requests/s": "requests_per_s", "Failures/s": "failures_per_s",
    "Total Request Count": "total_requests", "Total Failure Count": "total_failures",
    "Total Median Response Time": "total_median_ms",
    "Total Average Response Time": "total_mean_ms",
    "Total Min Response Time": "total_min_ms", "Total Max Response Time": "total_max_ms",
    "Total Average Content Size": "total_mean_content_bytes",
}
REQUIRED = ("Timestamp", "User Count", "Name", "Requests/s")
PERCENTILE = re.compile(r"^(\d+(?:\.\d+)?)%$")


def _percentile_name(header: str) -> str | None:
    m = PERCENTILE.match(header)
    return None if m is None else f"p{m.group(1).replace('.', '_')}_ms"


def read_stats_history(path: str | os.PathLike) -> pd.DataFrame:
    """The stats history at ``path`` as a DataFrame (columns in the module docstring).

    Raises InferwireError naming the file and the missing column when it is not locust's format.
    """
    try:
        raw = pd.read_csv(path, na_values=["N/A"], keep_default_na=True)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise InferwireError(f"{path}: cannot read as a locust stats history CSV: {exc}") from exc
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise InferwireError(f"{path}: not a locust stats history: column {missing[0]!r} missing "
                             "(expected the file locust writes with --csv-full-history)")
    names = {h: RENAME.get(h) or _percentile_name(h) for h in raw.columns}
    out = raw.rename(columns={h: n for h, n in names.items() if n})
    for col in out.columns:
        if col not in ("type", "name"):
            out[col] = pd.to_numeric(out[col], errors="coerce").astype("float64")
    out["name"] = out["name"].astype("string")
    if "type" in out:
        out["type"] = out["type"].astype("string")
    out["aggregated"] = out["name"] == "Aggregated"
    return out.sort_values("time", kind="stable", ignore_index=True)


def read_stats_histories(run_dir) -> pd.DataFrame | None:
    """Every ``*stats_history.csv`` locust left in ``run_dir``, with a ``source`` column (the
    file name); None when there is none."""
    frames = []
    for path in sorted(Path(run_dir).glob(STATS_HISTORY_GLOB)):
        df = read_stats_history(path)
        df["source"] = path.name
        frames.append(df)
    return pd.concat(frames, ignore_index=True) if frames else None
