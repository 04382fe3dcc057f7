"""Two vantage points on crafted captures with known clock offset, delays and server time."""
from __future__ import annotations

import json
from decimal import Decimal
import warnings

import numpy as np
import pytest

import inferwire
from craft import write_pcap
from inferwire.errors import InferwireError
from inferwire.packets import read_packets
from inferwire.analysis.vantage import (TWO_POINT_COLUMN_NAMES, analyze_two, estimate_offset, join_two,
                               match_segments)
from .twopoint import MS, TwoPoints

OFFSET = 1_500_000_000       # the server clock runs 1.5 s ahead


def quiet(fn, *a, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", inferwire.InferwireWarning)
        return fn(*a, **kw)


def test_offset_bounds_are_the_fastest_segments_each_way(tmp_path):
    tp = TwoPoints(offset_ns=OFFSET, cs_ns=300_000, sc_ns=100_000)
    c, s = tp.captures(tmp_path)
    with read_packets(c) as ct, read_packets(s) as st:
        m = match_segments(ct, st)
    assert len(m) == len(tp.conv.packets) == 12
    assert m.sort_values("client_row")["to_server"].tolist() == tp.from_client
    est = estimate_offset(m)
    assert (est.lower_ns, est.upper_ns) == (OFFSET - 100_000, OFFSET + 300_000)
    assert est.offset_ns == OFFSET + 100_000 and est.uncertainty_ns == 200_000
    assert abs(est.offset_ns - OFFSET) <= est.uncertainty_ns
    assert est.consistent and not est.warnings
    assert (est.to_server_segments, est.to_client_segments) == (8, 4)
    assert est.fastest_to_server_ns == est.fastest_to_client_ns == 200_000
    assert "± 0.200 ms" in est.describe()


def test_each_request_splits_into_server_time_and_network_each_way(tmp_path):
    tp = TwoPoints(offset_ns=OFFSET, cs_ns=300_000, sc_ns=100_000, server_ns=20 * MS)
    result = quiet(analyze_two, *tp.captures(tmp_path))
    r = result.requests
    assert tuple(r.columns) == TWO_POINT_COLUMN_NAMES
    assert r["request_id"].tolist() == ["r0", "r1", "r2"]
    assert (r["matched_by"] == "request_id").all() and (r["seen_at"] == "both").all()
    np.testing.assert_allclose(r["server_own_ms"], 20.0, atol=1e-6)           # offset-free
    np.testing.assert_allclose(r["c_wait_ms"], 20.4, atol=1e-6)
    np.testing.assert_allclose(r["network_ms"], 0.4, atol=1e-6)            # offset-free
    # one-way shares come from float seconds since the epoch: ~0.25 us rounding
    np.testing.assert_allclose(r["request_network_ms"] + r["response_network_ms"],
                               r["network_ms"], atol=1e-3)
    u_ms = result.offset.uncertainty_ns / 1e6
    assert (abs(r["request_network_ms"] - 0.3) <= u_ms + 1e-3).all()      # true 0.3 ms
    assert (abs(r["response_network_ms"] - 0.1) <= u_ms + 1e-3).all()     # true 0.1 ms
    # server times land on the client clock: after the client sent, before it received
    assert (r["s_request_end"] >= r["c_request_end"]).all()
    assert (r["s_response_start"] <= r["c_response_start"]).all()
    np.testing.assert_allclose(r["c_tcp_handshake_ms"].iloc[0], 0.4, atol=1e-6)
    assert r["complete"].all()
    assert "server's own time" in result.summary_text()


def test_saved_results(tmp_path):
    tp = TwoPoints(offset_ns=-OFFSET)
    result = quiet(analyze_two, *tp.captures(tmp_path))
    paths = result.save(tmp_path / "out")
    saved = json.loads(paths["clock_offset.json"].read_text())
    assert saved["lower_ns"] <= -OFFSET <= saved["upper_ns"]
    assert saved["matched_segments"] == 12
    assert paths["two_point.csv"].exists() and paths["client/requests.csv"].exists()
    assert paths["server/connections.parquet"].exists()


def test_retransmissions_are_not_matched(tmp_path):
    """A segment sent twice has two times at each point: which pairs with which is not
    certain, so neither copy is used for the offset."""
    tp = TwoPoints(offset_ns=OFFSET)
    c, s = tp.captures(tmp_path)
    again = tp.conv.packets[3].copy()          # the first request, retransmitted 50 ms later
    again.time = again.time + Decimal("0.05")
    write_pcap(tmp_path / "client2.pcap", [*read_scapy(c), again])
    with read_packets(tmp_path / "client2.pcap") as ct, read_packets(s) as st:
        m = match_segments(ct, st)
    assert len(m) == 11 and 3 not in m["client_row"].tolist()


def read_scapy(path):
    from scapy.utils import rdpcap
    return list(rdpcap(str(path)))


def test_only_one_direction_cannot_bound_the_offset(tmp_path):
    tp = TwoPoints(offset_ns=OFFSET)
    server_side = [k for k, up in enumerate(tp.from_client) if not up]
    c, s = tp.captures(tmp_path, drop_server=server_side)
    with read_packets(c) as ct, read_packets(s) as st:
        m = match_segments(ct, st)
    with pytest.raises(InferwireError, match="both directions are needed"):
        estimate_offset(m)


def test_unrelated_captures_are_refused(tmp_path):
    a = TwoPoints(offset_ns=0).captures(tmp_path)[0]
    (tmp_path / "other").mkdir()
    b = TwoPoints(offset_ns=0, client=("10.9.9.9", 41000)).captures(tmp_path / "other")[1]
    with pytest.raises(InferwireError, match="not captures of the same traffic"):
        quiet(analyze_two, a, b)


def test_drifting_clock_is_reported_not_hidden(tmp_path):
    """The server clock jumps 5 ms between requests: no single offset fits every segment."""
    tp = TwoPoints(offset_ns=OFFSET, n=4)
    c, s = tp.captures(tmp_path)
    pkts = read_scapy(s)
    for p in pkts[len(pkts) // 2:]:
        p.time = p.time + Decimal("0.005")
    write_pcap(tmp_path / "drift.pcap", pkts)
    with read_packets(c) as ct, read_packets(tmp_path / "drift.pcap") as st:
        est = estimate_offset(match_segments(ct, st))
    assert not est.consistent
    assert any("bounds cross" in w for w in est.warnings)
    assert any("drift" in w for w in est.warnings)
    assert "UNCERTAIN" in est.describe()


def test_nat_rewritten_endpoints_match_with_nat_true(tmp_path):
    """Behind NAT the server capture sees other addresses/ports: nat=True matches on sequence
    numbers, ack, length, IP ID and flags alone."""
    tp = TwoPoints(offset_ns=OFFSET)
    c, s = tp.captures(tmp_path)
    from scapy.layers.inet import IP, TCP
    pkts = read_scapy(s)
    for p in pkts:
        for field in ("src", "dst"):
            if getattr(p[IP], field) == "10.0.0.1":
                setattr(p[IP], field, "172.17.0.1")
        if p[TCP].sport == 40000:
            p[TCP].sport = 50000
        if p[TCP].dport == 40000:
            p[TCP].dport = 50000
    write_pcap(tmp_path / "natted.pcap", pkts)
    with pytest.raises(InferwireError, match="same traffic"):
        quiet(analyze_two, c, tmp_path / "natted.pcap")
    result = quiet(analyze_two, c, tmp_path / "natted.pcap", nat=True)
    assert result.matched_segments == 12
    assert abs(result.offset.offset_ns - OFFSET) <= result.offset.uncertainty_ns
    assert (result.requests["matched_by"] == "request_id").all()
    np.testing.assert_allclose(result.requests["server_own_ms"], 20.0, atol=1e-6)


def test_without_request_ids_rows_join_by_connection_and_stream(tmp_path):
    tp = TwoPoints(offset_ns=OFFSET, ids=False)
    r = quiet(analyze_two, *tp.captures(tmp_path)).requests
    assert r["request_id"].isna().all() and (r["matched_by"] == "connection").all()
    assert r["stream"].tolist() == [1, 2, 3] and (r["seen_at"] == "both").all()
    np.testing.assert_allclose(r["server_own_ms"], 20.0, atol=1e-6)


def test_a_request_missing_at_the_server_stays_a_client_only_row(tmp_path):
    tp = TwoPoints(offset_ns=OFFSET, n=3)
    # the last request and its answer never made it into the server capture
    c, s = tp.captures(tmp_path, drop_server=(9, 10, 11))
    r = quiet(analyze_two, c, s).requests
    assert r["seen_at"].tolist() == ["both", "both", "client"]
    assert r["server_own_ms"].isna().tolist() == [False, False, True]
    assert not r["complete"].iloc[2]


def test_roles_without_a_syn_follow_the_higher_port(tmp_path):
    """Captures that start mid-connection: the client is the side with the higher port."""
    tp = TwoPoints(offset_ns=OFFSET)
    c, s = tp.captures(tmp_path)
    for name in ("client", "server"):
        pkts = read_scapy(tmp_path / f"{name}.pcap")[3:]       # no handshake
        write_pcap(tmp_path / f"{name}_mid.pcap", pkts)
    with read_packets(tmp_path / "client_mid.pcap") as ct, \
            read_packets(tmp_path / "server_mid.pcap") as st:
        m = match_segments(ct, st)
    assert m.sort_values("client_row")["to_server"].tolist() == tp.from_client[3:]


def test_join_two_is_pure(tmp_path):
    tp = TwoPoints(offset_ns=OFFSET)
    c, s = tp.captures(tmp_path)
    a, b = quiet(inferwire.analyze, c), quiet(inferwire.analyze, s)
    r = join_two(a.requests, b.requests, OFFSET)
    # float seconds since the epoch step by ~0.24 us
    np.testing.assert_allclose(r["s_request_end"] - r["c_request_end"], 0.0003, atol=1e-6)
    assert len(join_two(a.requests, b.requests.iloc[0:0], OFFSET)) == 3
