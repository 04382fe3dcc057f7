"""locust's stats history in reports: the Aggregated rows and the steps of a ramp.

The file is read by :func:`inferwire.runfolder.read_stats_history` (columns in
:mod:`inferwire.runfolder.locust`); it is re-exported here for reports.
"""
from __future__ import annotations

import pandas as pd

from ..runfolder.locust import read_stats_history

__all__ = ["read_stats_history", "aggregated", "per_user_count"]


def aggregated(history: pd.DataFrame) -> pd.DataFrame:
    """Only the "Aggregated" rows (all request names together), one per locust tick."""
    return history[history["aggregated"]].reset_index(drop=True)


def per_user_count(history: pd.DataFrame) -> pd.DataFrame:
    """Per user count (the steps of a ramp): ``samples`` (rows at that count; locust writes one
    about every second), mean requests/s, median of the sliding-window p50 and p95 (ms), from the
    Aggregated rows with traffic."""
    agg = aggregated(history)
    agg = agg[agg["requests_per_s"] > 0]
    cols = {"samples": ("time", "count"), "requests_per_s": ("requests_per_s", "mean")}
    for q in ("p50_ms", "p95_ms"):
        if q in agg:
            cols[q] = (q, "median")
    return agg.groupby("users").agg(**cols).reset_index()
