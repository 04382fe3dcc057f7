"""locust's stats history (report.locust)."""
from __future__ import annotations

import numpy as np
import pytest

from inferwire.errors import InferwireError
from inferwire.report.locust import aggregated, per_user_count, read_stats_history
from report.data import CAPTURES

HEADER = ("Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,"
          "99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,"
          "Total Average Response Time,Total Min Response Time,Total Max Response Time,"
          "Total Average Content Size\n")


def test_sample_history():
    h = read_stats_history(CAPTURES / "locust_stats_history.csv")
    agg = aggregated(h)
    assert len(agg) >= 15 and agg["aggregated"].all()
    assert agg["users"].max() == 8
    assert agg["time"].is_monotonic_increasing
    assert {"p50_ms", "p95_ms", "p99_9_ms", "p100_ms", "total_requests"} <= set(h.columns)
    assert agg["total_requests"].is_monotonic_increasing


def test_na_is_nan_not_zero(tmp_path):
    p = tmp_path / "h.csv"
    p.write_text(HEADER
                 + "100,0,,Aggregated,0.0,0.0" + ",N/A" * 11 + ",0,0,0,0.0,0,0,0\n"
                 + "101,2,POST,predict,5.0,0.0,7,8,9,9,10,12,13,14,15,15,15,5,0,7,7.5,3,15,162\n"
                 + "101,2,,Aggregated,5.0,0.0,7,8,9,9,10,12,13,14,15,15,15,5,0,7,7.5,3,15,162\n")
    h = read_stats_history(p)
    assert np.isnan(h.loc[0, "p50_ms"]) and h.loc[1, "p50_ms"] == 7
    steps = per_user_count(h)
    assert list(steps["users"]) == [2] and steps.loc[0, "requests_per_s"] == 5.0
    assert steps.loc[0, "p95_ms"] == 12


def test_not_a_history_is_a_clear_error(tmp_path):
    p = tmp_path / "x.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(InferwireError, match="column 'Timestamp' missing"):
        read_stats_history(p)
    with pytest.raises(InferwireError, match="cannot read"):
        read_stats_history(tmp_path / "absent.csv")
