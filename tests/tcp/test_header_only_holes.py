"""Holes that only a header-only segment reveals (a pure ACK or a FIN whose sequence number is
past bytes never captured: Wireshark's "previous segment not captured" on a frame of length
0): the copy that later fills the hole is a retransmission, as tshark counts it, although the
direction's data segments alone come in order without overlap.

Crafted at exact times; each capture is also read by tshark, whose retransmission count
(tcp.analysis.retransmission, fast, spurious, or out of order) must equal inferwire's
``retransmissions + out_of_order``.
"""
from __future__ import annotations

import subprocess

import pytest

from needs import need_tool
from tests.craft import write_pcap
from tests.tcp.test_delivery import REQ, RESP, US, MS, analyze, assert_times, conv

REPEATS = ("tcp.analysis.retransmission or tcp.analysis.fast_retransmission or "
           "tcp.analysis.spurious_retransmission or tcp.analysis.out_of_order")


def tshark_frames(path, display: str) -> list[int]:
    out = subprocess.run([need_tool("tshark", "tshark"), "-r", str(path), "-Y", display,
                          "-T", "fields", "-e", "frame.number"],
                         capture_output=True, text=True, check=True)
    return [int(f) for f in out.stdout.split()]


def test_pure_ack_past_a_lost_last_request_segment(tmp_path):
    """Server side: the request's last segment was lost before the capture point; the client's
    window update (a pure ACK) carries the sequence number past it, then the retransmission
    arrives 210 ms later.  The retransmission is counted (tshark: the window update is frame 6,
    "previous segment not captured"; frame 8 a retransmission) and the request ends with it."""
    c = conv("server")
    c.client(20 * MS, REQ[:1000])
    c.client(20 * MS + 10 * US, REQ[1000:2000])
    tail = c.seq_c
    c.seq_c += len(REQ) - 2000                                  # lost before the capture
    c.ack_from_client(20 * MS + 30 * US, window=60000)          # window update past it
    c.ack_from_server(20 * MS + 60 * US, ack=tail)
    c.client(230 * MS, REQ[2000:], seq=tail)
    c.server(240 * MS, RESP)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 20 * MS, 230 * MS, 240 * MS, 240 * MS)
    assert (conn["retransmissions"], conn["out_of_order"]) == (1, 0)
    assert row["retrans_segments_to_server"] == 1
    path = tmp_path / "c.pcap"
    assert tshark_frames(path, "tcp.analysis.lost_segment and tcp.len == 0") == [6]
    assert tshark_frames(path, REPEATS) == [8]


def test_fin_past_a_lost_last_response_segment(tmp_path):
    """Client side: the response's last segment was lost before the capture point (captured at
    the receiver), the server's FIN right after it shows the hole, the client's duplicate ACK
    asks again, and the retransmission comes 200 ms later: the response ends with it."""
    c = conv("client")
    c.client(20 * MS, REQ)
    c.ack_from_server(30 * MS)
    c.server(35 * MS, RESP[:1000])
    tail = c.seq_s
    c.seq_s += len(RESP) - 1000                                 # lost before the capture
    c.fin_from_server(35 * MS + 20 * US)
    c.ack_from_client(35 * MS + 40 * US, ack=tail)
    c.ack_from_client(35 * MS + 50 * US, ack=tail)
    c.server(235 * MS, RESP[1000:], seq=tail)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 20 * MS, 20 * MS, 35 * MS, 235 * MS)
    assert (conn["retransmissions"], conn["out_of_order"]) == (1, 0)
    assert row["retrans_segments_to_client"] == 1
    path = tmp_path / "c.pcap"
    fin_frame = 7
    assert tshark_frames(path, "tcp.analysis.lost_segment and tcp.len == 0") == [fin_frame]
    assert tshark_frames(path, REPEATS) == [10]


@pytest.mark.parametrize("gap_us", [500, 5_000])
def test_a_hole_filled_soon_after_the_header_is_out_of_order(tmp_path, gap_us):
    """Server side, the same loss filled sooner: within the out-of-order threshold (the
    handshake's round trip, 10 ms here) after the pure ACK that revealed the hole, the fill is
    out of order (``out_of_order``), as tshark calls it within its own 3 ms threshold; both
    count it once either way."""
    c = conv("server")
    c.client(20 * MS, REQ[:2000])
    tail = c.seq_c
    c.seq_c += len(REQ) - 2000
    c.ack_from_client(20 * MS + 30 * US, window=60000)
    c.client(20 * MS + 30 * US + gap_us * US, REQ[2000:], seq=tail)
    c.server(240 * MS, RESP)
    row, conn = analyze(tmp_path, c)
    assert conn["retransmissions"] + conn["out_of_order"] == 1
    assert conn["out_of_order"] == 1
    assert len(tshark_frames(tmp_path / "c.pcap", REPEATS)) == 1
