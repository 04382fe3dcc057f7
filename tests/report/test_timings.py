"""Per-request timings on one time line (report.timings), from a crafted capture of known times."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import inferwire
from report.data import ACK, REQ1, REQ2_A, RESP1, RESP2_B, SYN
from craft import T0_NS
from inferwire.report.timings import entry_timings, first_of_connection

T0 = T0_NS / 1e9
US = 1e-3   # ms: the tables hold float seconds since the epoch, good to ~0.2 µs


@pytest.fixture
def analysis(crafted_pcap):
    return inferwire.analyze(crafted_pcap)


def test_first_request_carries_the_handshake(analysis):
    t = entry_timings(analysis.requests, analysis.connections)
    first = t[t["request_id"] == "r1"].iloc[0]
    assert first["setup_start"] == pytest.approx(T0 + SYN / 1e9, abs=1e-9)
    assert first["start"] == first["setup_start"]
    assert first["tcp_ms"] == pytest.approx((ACK - SYN) / 1e6, abs=US)
    assert first["connect_ms"] == pytest.approx((ACK - SYN) / 1e6, abs=US)
    assert np.isnan(first["ssl_ms"])
    # SYN at 0, handshake done at 0.15 ms, request at 1 ms: 0.85 ms before the request
    assert first["blocked_ms"] == pytest.approx((REQ1 - ACK) / 1e6, abs=US)
    assert first["wait_ms"] == pytest.approx((RESP1 - REQ1) / 1e6, abs=US)
    assert first["time_ms"] == pytest.approx((RESP1 - SYN) / 1e6, abs=US)


def test_later_request_has_no_setup_and_nothing_known_before_it(analysis):
    t = entry_timings(analysis.requests, analysis.connections)
    second = t[t["request_id"] == "r2"].iloc[0]
    assert np.isnan(second["setup_start"]) and np.isnan(second["connect_ms"])
    assert np.isnan(second["blocked_ms"])          # no client log: unknown, not zero
    assert second["start"] == pytest.approx(T0 + REQ2_A / 1e9, abs=1e-9)
    assert second["time_ms"] == pytest.approx((RESP2_B - REQ2_A) / 1e6, abs=US)
    assert second["send_ms"] == pytest.approx(0.5, abs=US)
    assert second["receive_ms"] == pytest.approx(0.2, abs=US)


def test_client_start_extends_the_bar(analysis):
    joined = analysis.requests.copy()
    joined["client_started"] = [T0 + (SYN - 2_000_000) / 1e9, T0 + (REQ2_A - 300_000) / 1e9]
    t = entry_timings(joined, analysis.connections).set_index("request_id")
    # the client started 2 ms before the SYN: blocked = everything before the request but connect
    assert t.loc["r1", "start"] == pytest.approx(joined["client_started"][0], abs=1e-9)
    before = REQ1 + 2_000_000 - (ACK - SYN)
    assert t.loc["r1", "blocked_ms"] == pytest.approx(before / 1e6, abs=US)
    assert t.loc["r2", "blocked_ms"] == pytest.approx(0.3, abs=US)
    assert t.loc["r2", "time_ms"] == pytest.approx((RESP2_B - REQ2_A + 300_000) / 1e6, abs=US)


def test_incomplete_requests_are_left_out(analysis):
    req = analysis.requests.copy()
    req.loc[1, "response_end"] = np.nan
    t = entry_timings(req, analysis.connections)
    assert list(t["request_id"]) == ["r1"]


def test_no_syn_seen_means_no_connect(analysis):
    conns = analysis.connections.copy()
    conns["start_seen"] = False
    t = entry_timings(analysis.requests, conns)
    assert t["connect_ms"].isna().all() and t["setup_start"].isna().all()


def test_first_of_connection_orders_by_start():
    df = pd.DataFrame({"connection": [1, 1, 2], "request_start": [5.0, 3.0, 9.0]})
    assert list(first_of_connection(df)) == [False, True, True]
    assert len(first_of_connection(df.iloc[:0])) == 0
