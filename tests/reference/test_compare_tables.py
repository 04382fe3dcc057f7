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


def test_the_wire_percentiles_follow_the_tools_rule(tmp_path):
    """inferwire's load summary takes nearest-rank percentiles: the wire's beside it are taken
    the same way.  Every request below lasted 0.1 ms longer at the client than on the wire, so
    no percentile of the tool may be below the wire's; numpy's interpolated p50 of the wire
    (25 ms) was above the tool's nearest-rank p50 (20.1 ms) and read as "LESS than the wire"."""
    from inferwire.compare import disagreements
    from inferwire.load.histogram import LatencyHistogram
    wire = np.array([10.0, 20.0, 30.0, 40.0])
    pd.DataFrame({"workload": "rest", "client_phase": "measure", "in_client_log": True,
                  "in_capture": True, "client_ms": wire + 0.1, "total_ms": wire,
                  "request_start": T0 + np.arange(4), "response_end": T0 + np.arange(4) + wire / 1e3,
                  "server": "127.0.0.1:8501",
                  "connection": 1}).to_csv(tmp_path / "joined.csv", index=False)
    pd.read_csv(tmp_path / "joined.csv").to_csv(tmp_path / "requests.csv", index=False)
    hist = LatencyHistogram()
    for ms in wire + 0.1:
        hist.add(int(ms * 1e6))
    p50, p90, p99 = (v / 1e6 for v in hist.percentiles([50, 90, 99]))
    (tmp_path / "manifest.json").write_text(json.dumps({
        "server": {"rest_port": 8501}, "loads": {"rest": {
            "requests": 4, "started_ns": 0, "finished_ns": int(2e18), "throughput_per_s": 1.0,
            "latency_ms": {"p50": p50, "p90": p90, "p99": p99}}}}))
    row = compare_protocol(read_run_tables(tmp_path), "rest")
    assert row["tool"] == "inferwire" and row["join"] == "id"
    assert row["p50_tool_ms"] == pytest.approx(20.1, abs=0.02)
    assert row["p50_wire_ms"] == pytest.approx(20.0)
    assert not any("LESS" in line for line in disagreements(row))
