"""The comparison's pure parts on a small crafted run folder: which captured requests belong to
the tool (port and window), ab-style percentiles, idle gaps, clear errors for broken folders."""
import json

import numpy as np
import pandas as pd
import pytest

from inferwire.compare import (compare_protocol, connection_gaps_ms, markdown,
                               window_requests)
from inferwire.runfolder import read_run_tables
from inferwire.errors import InferwireError

T0 = 1_795_000_000.0      # s


def make_run(tmp_path):
    # connection 1: the tool's 4 requests on :8501 inside its window; a warm-up request before
    # the window and a request to another port are not the tool's
    rows = [(0, "127.0.0.1:8501", -1.0, 0.010, "rest-warmup-0")]
    for k in range(4):
        start = T0 + 0.1 * k
        rows.append((1, "127.0.0.1:8501", start - T0, 0.002 * (k + 1), None))
    rows.append((2, "127.0.0.1:9999", 0.05, 0.001, None))
    frame = pd.DataFrame(rows, columns=["connection", "server", "offset", "dur", "request_id"])
    frame["request_start"] = T0 + frame["offset"]
    frame["response_end"] = frame["request_start"] + frame["dur"]
    frame["total_ms"] = frame["dur"] * 1e3
    frame.drop(columns=["offset", "dur"]).to_csv(tmp_path / "requests.csv", index=False)
    manifest = {"server": {"rest_port": 8501, "grpc_port": 8500},
                "loads": {"rest": {"tool": "ab", "join": "count", "requests": 4, "ok": 4,
                                   "started_ns": int(T0 * 1e9) - 1_000_000,
                                   "finished_ns": int((T0 + 1) * 1e9),
                                   "throughput_per_s": 9.0,
                                   "latency_ms": {"p50": 5.5, "p90": 8.1, "p99": 8.2}}}}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    return tmp_path


def test_the_tools_requests_are_its_port_and_window(tmp_path):
    tables = read_run_tables(make_run(tmp_path))
    wire = window_requests(tables, "rest")
    assert wire["connection"].tolist() == [1, 1, 1, 1]
    gaps = connection_gaps_ms(wire)
    np.testing.assert_allclose(gaps, [98, 96, 94], atol=1e-3)


def test_count_join_row(tmp_path):
    row = compare_protocol(read_run_tables(make_run(tmp_path)), "rest")
    assert row["tool"] == "ab" and row["requests_tool"] == row["requests_wire"] == 4
    assert row["missing_in_capture"] == 0
    # ab's rule: sorted [2,4,6,8] ms, p50 at int(0.5 + 4*0.5) = 2 -> 6 ms
    assert row["p50_wire_ms"] == pytest.approx(6.0)
    assert row["overhead_ms"] == pytest.approx(5.5 - 6.0)
    assert row["overhead_from"] == "p50 difference"
    assert row["throughput_wire_per_s"] == pytest.approx(4 / 0.308)
    assert "| ab | rest | 4 / 4 |" in markdown(pd.DataFrame([row]))


def test_broken_run_folders_are_clear_errors(tmp_path):
    with pytest.raises(InferwireError, match="no readable manifest.json"):
        read_run_tables(tmp_path)
    (tmp_path / "manifest.json").write_text("{}")
    with pytest.raises(InferwireError, match="no requests table"):
        read_run_tables(tmp_path)
