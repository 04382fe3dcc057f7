"""End to end: a pcapng whose packets are partly or wholly in simple packet blocks (no time
stamp): the tables leave those times empty, never -1 ns or a made-up duration, and keep the
exact times of the timed packets."""
import warnings

import pandas as pd
import pytest
from scapy.compat import raw

import inferwire
from craft import Conversation, http_request, http_response

from . import craft as blocks

US = 1_000  # ns
TIMES = ["request_start", "request_end", "response_start", "response_end"]
PHASES = ["request_ms", "wait_ms", "response_ms", "total_ms", "tcp_handshake_ms"]


def write_pcapng(path, packets, untimed=()) -> str:
    """``packets`` as EPBs with ns time stamps, those at the indices ``untimed`` as SPBs."""
    data = blocks.shb() + blocks.idb(1, tsresol=9)
    for i, p in enumerate(packets):
        data += blocks.spb(raw(p)) if i in untimed else blocks.epb(raw(p), int(p.time * 10**9))
    path.write_bytes(data)
    return str(path)


def one_request() -> Conversation:
    c = Conversation()
    c.handshake(0, 50 * US, 80 * US)                    # packets 0, 1, 2
    c.client(100 * US, http_request(request_id="a"))   # 3
    c.server(1_100 * US, http_response())              # 4
    c.fin_from_client(2_000 * US)                      # 5
    c.fin_from_server(2_100 * US)                      # 6
    return c


def analyze(path):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        a = inferwire.analyze(path, workers=1)
    return a, [str(w.message) for w in caught]


def test_untimed_response_packet_leaves_response_times_empty(tmp_path):
    c = one_request()
    a, said = analyze(write_pcapng(tmp_path / "mix.pcapng", c.packets, untimed={4}))
    [r] = a.requests.to_dict("records")
    assert r["request_start"] == pytest.approx((c.t0 + 100 * US) / 1e9, abs=1e-9)
    assert r["request_end"] == r["request_start"] and r["request_ms"] == 0
    assert r["tcp_handshake_ms"] == pytest.approx(0.08)
    assert all(pd.isna(r[k]) for k in ("response_start", "response_end", "wait_ms",
                                       "response_ms", "total_ms"))
    assert not r["complete"] and r["status"] == 200 and r["response_frame"] == 5
    [conn] = a.connections.to_dict("records")
    assert conn["first_time"] == pytest.approx(c.t0 / 1e9, abs=1e-9)
    assert conn["last_time"] == pytest.approx((c.t0 + 2_100 * US) / 1e9, abs=1e-9)
    assert conn["duration_ms"] == pytest.approx(2.1) and conn["end"] == "fin"
    assert any("1 packet without a usable time stamp: 1 in simple packet blocks" in w
               for w in said)


def test_untimed_syn_leaves_the_handshake_and_syn_time_empty(tmp_path):
    c = one_request()
    a, _ = analyze(write_pcapng(tmp_path / "syn.pcapng", c.packets, untimed={0}))
    [r] = a.requests.to_dict("records")
    assert pd.isna(r["tcp_handshake_ms"]) and r["complete"]
    assert r["total_ms"] == pytest.approx(1.0)
    [conn] = a.connections.to_dict("records")
    assert pd.isna(conn["syn_time"]) and pd.isna(conn["tcp_handshake_ms"])
    assert conn["first_time"] == pytest.approx((c.t0 + 50 * US) / 1e9, abs=1e-9)


def test_all_untimed_connection_has_empty_connection_times(tmp_path):
    c = one_request()
    a, said = analyze(write_pcapng(tmp_path / "spb.pcapng", c.packets, untimed=range(7)))
    [conn] = a.connections.to_dict("records")
    for k in ("syn_time", "first_time", "last_time", "duration_ms", "tcp_handshake_ms"):
        assert pd.isna(conn[k]), k
    assert conn["end"] == "fin" and conn["packets"] == 7
    [r] = a.requests.to_dict("records")
    assert not r["complete"]
    assert all(pd.isna(r[k]) for k in TIMES[1:] + PHASES)
    assert any("7 packets without a usable time stamp" in w for w in said)


def test_all_untimed_request_start_is_empty(tmp_path):
    c = one_request()
    a, _ = analyze(write_pcapng(tmp_path / "spb.pcapng", c.packets, untimed=range(7)))
    assert pd.isna(a.requests.iloc[0]["request_start"])


def test_untimed_h2_request_packet_leaves_its_time_empty(tmp_path):
    from scapy.utils import rdpcap
    from analysis.test_analyze_http2 import build_multiplexed
    packets = rdpcap(build_multiplexed(tmp_path))
    a, _ = analyze(write_pcapng(tmp_path / "h2.pcapng", packets, untimed={6}))
    first = a.requests.sort_values("stream").iloc[0]
    assert pd.isna(first["request_start"]) and not first["complete"]
