"""The delivery rule with TCP timestamps (RFC 7323) on crafted captures: an ACK's TSecr names
the copy that caused it, where the guard (half the handshake's round trip) can only guess.

The connections are captured on the client's side of a veth-like link: the handshake's round
trip to the server is 50 us, so the guard for the request's direction is 25 us.  Every segment
carries the timestamp option laid out as Linux sends it (NOP, NOP, kind 8) and the client's
TSval ticks in milliseconds, as Linux's does.
"""
from __future__ import annotations

import pytest

from tests.craft import Conversation
from tests.tcp.test_delivery import REQ, RESP, US, MS, analyze, assert_times, sack


def ts(tsval: int, tsecr: int = 0) -> list:
    return [("NOP", None), ("NOP", None), ("Timestamp", (tsval, tsecr))]


def conv(sack_ok: bool = True) -> Conversation:
    """Captured on the client's side: 50 us to the server and back, 12 us to the client."""
    c = Conversation()
    opts = [("MSS", 1460)] + ([("SAckOK", b"")] if sack_ok else []) + ts(90)
    c.handshake(0, 50 * US, 62 * US, syn_options=opts, synack_options=opts)
    return c


def test_lost_fast_retransmit_then_rto_retransmission_acked_sooner_than_the_guard(tmp_path):
    """The real pattern (a REST request on a 3 % lossy veth, client's capture): the request's
    middle segment is lost, its fast retransmit (same millisecond, same TSval as the original)
    is lost too, and the retransmission after the timeout is acknowledged 14 us later -- sooner
    than the 25 us guard.  The ACK echoes the RTO copy's TSval: that copy is the delivered one,
    so the request ends at 211.1 ms, and the timeout is sending (request_ms), not wait_ms.
    (With the guard alone, the lost fast retransmit at 1.1 ms was taken.)"""
    c = conv()
    start = c.seq_c
    c.client(1 * MS, REQ[:1000], options=ts(100, 90))
    middle = c.seq_c
    c.client(1 * MS + 10 * US, REQ[1000:2000], options=ts(100, 90))       # lost
    tail = c.seq_c
    c.client(1 * MS + 20 * US, REQ[2000:], options=ts(100, 90))
    end = c.seq_c
    c.ack_from_server(1 * MS + 80 * US, ack=middle,
                      options=ts(95, 100) + sack(c, False, tail - start, end - start))
    c.client(1 * MS + 100 * US, REQ[1000:2000], seq=middle, options=ts(100, 95))  # lost too
    c.client(211 * MS + 100 * US, REQ[1000:2000], seq=middle, options=ts(310, 95))
    c.ack_from_server(211 * MS + 114 * US, ack=end, options=ts(305, 310))
    c.server(221 * MS, RESP, options=ts(315, 310))
    c.ack_from_client(221 * MS + 40 * US, options=ts(320, 315))
    row, conn = analyze(tmp_path, c)
    assert_times(row, 1 * MS, 211 * MS + 100 * US, 221 * MS, 221 * MS)
    assert conn["retransmissions"] == 2 and conn["vantage"] == "client"
    assert row["retrans_segments_to_server"] == 2
    assert row["wait_ms"] == pytest.approx(9.9)


@pytest.mark.parametrize("ack_after_probe_us", [5, 30_000])
@pytest.mark.parametrize("echoed", ["original", "probe"])
def test_the_echoed_tsval_decides_between_original_and_probe(tmp_path, echoed,
                                                             ack_after_probe_us):
    """A tail-loss probe repeats the request's last segment 10 ms after it; no SACK, so no
    D-SACK.  The server acknowledged the first segment before the second could reach it (its
    ACK is captured 30 us after the second, within the 50 us round trip), so the second's TSval
    was the one to echo if it arrived.  The ACK covering it echoes the original's TSval (the
    original arrived: the probe was spurious, the server's ACK was just slow) or the probe's
    (the original was lost, the probe delivered).  The echo decides, however soon (5 us, inside
    the guard) or late (30 ms) after the probe the ACK is captured; the guard alone gets one of
    the two timings wrong for each echo."""
    c = conv(sack_ok=False)
    c.client(1 * MS, REQ[:1000], options=ts(100, 90))
    tail = c.seq_c
    c.client(1 * MS + 10 * US, REQ[1000:], options=ts(100, 90))
    c.ack_from_server(1 * MS + 40 * US, ack=tail, options=ts(195, 100))
    probe_ns = 11 * MS + 10 * US
    c.client(probe_ns, REQ[1000:], seq=tail, options=ts(110, 90))
    tsecr = 100 if echoed == "original" else 110
    ack_ns = probe_ns + ack_after_probe_us * US
    c.ack_from_server(ack_ns, options=ts(200, tsecr))
    c.server(ack_ns + 5 * MS, RESP, options=ts(205, tsecr))
    row, conn = analyze(tmp_path, c)
    end = 1 * MS + 10 * US if echoed == "original" else probe_ns
    assert_times(row, 1 * MS, end, ack_ns + 5 * MS, ack_ns + 5 * MS)
    assert conn["retransmissions"] == 1
    assert row["retrans_segments_to_server"] == (echoed == "probe")


@pytest.mark.parametrize("ack_after_probe_us", [52, 30_000])
def test_an_echo_a_copy_could_not_have_set_leaves_the_guard_to_decide(tmp_path,
                                                                       ack_after_probe_us):
    """The real pattern (SSE tokens on a 3 % lossy veth, server's capture): the server sends a
    segment and, in the same millisecond (same TSval), the next one, which is lost; the client
    has acknowledged neither (its ACK is delayed), so the second could not have set the echo
    (RFC 7323: only a segment at or below the last ACK sent does).  A tail-loss probe repeats
    it 12 ms later and the ACK covering it echoes the first segment's TSval -- the original's
    too.  The echo names no copy: the guard decides, and the probe is the delivered copy.  (The
    echo once took the lost original: the response ended 11.9 ms early.)"""
    c = Conversation()
    opts = [("MSS", 1460), ("SAckOK", b"")] + ts(90)
    c.handshake(0, 5 * US, 22 * US, syn_options=opts, synack_options=opts)   # server side
    c.client(1 * MS, REQ, options=ts(100, 90))
    c.ack_from_server(1 * MS + 40 * US, options=ts(200, 100))
    c.server(2 * MS, RESP[:1000], options=ts(201, 100))
    tail = c.seq_s
    c.server(2 * MS + 25 * US, RESP[1000:], options=ts(201, 100))            # lost
    probe_ns = 14 * MS
    c.server(probe_ns, RESP[1000:], seq=tail, options=ts(213, 100))
    c.ack_from_client(probe_ns + ack_after_probe_us * US, options=ts(150, 201))
    row, conn = analyze(tmp_path, c)
    assert conn["vantage"] == "server"
    assert_times(row, 1 * MS, 1 * MS, 2 * MS, probe_ns)
    assert row["retrans_segments_to_client"] == 1


def test_an_echo_of_an_earlier_segment_leaves_the_guard_to_decide(tmp_path):
    """The ACK covering the repeated bytes echoes the TSval of none of their copies (it
    acknowledges a run begun by an earlier segment): the timestamps say nothing about which
    copy arrived, and the guard decides as without them -- here the ACK comes 2 ms after the
    repeat, past the guard, so the repeat is taken."""
    c = conv(sack_ok=False)
    c.client(1 * MS, REQ[:1000], options=ts(100, 90))
    tail = c.seq_c
    c.client(2 * MS, REQ[1000:], options=ts(101, 90))
    c.client(12 * MS, REQ[1000:], seq=tail, options=ts(111, 90))
    c.ack_from_server(14 * MS, options=ts(200, 100))
    c.server(20 * MS, RESP, options=ts(205, 111))
    row, _ = analyze(tmp_path, c)
    assert_times(row, 1 * MS, 12 * MS, 20 * MS, 20 * MS)


def test_echo_outweighs_a_missing_report_sent_before_the_retransmission_arrived(tmp_path):
    """Server side, from a real gRPC capture on a lossy veth: the response's segment went out
    at 182 ms and was lost; the server's next segment (128 ms later) showed the hole; the
    client's SACKs reporting the bytes missing keep arriving until 24 us after the
    retransmission -- sent before it reached the client, on a round trip longer than the
    handshake's (the guard is 9 us) -- and the ACK covering them echoes the retransmission's
    TSval.  The retransmission is the delivered copy: the response ends with it.  (With the
    guard alone both copies were rejected and the lost original was kept: here the response
    ended at the later segment, 185 us early; in the real capture, whose gRPC response lay
    whole in the lost segment, 128 ms early.)"""
    c = Conversation()
    opts = [("MSS", 1460), ("SAckOK", b"")] + ts(90)
    c.handshake(0, 5 * US, 22 * US, syn_options=opts, synack_options=opts)   # server side
    start = c.seq_s
    c.client(1 * MS, REQ, options=ts(100, 90))
    c.ack_from_server(1 * MS + 40 * US, options=ts(200, 100))
    first = c.seq_s
    c.server(2 * MS, RESP[:1000], options=ts(201, 100))                       # lost
    c.server(130 * MS, RESP[1000:], options=ts(329, 100))
    end = c.seq_s
    hole = sack(c, True, first - start + 1000, end - start)
    c.ack_from_client(130 * MS + 100 * US, ack=first, options=ts(150, 201) + hole)
    c.server(130 * MS + 185 * US, RESP[:1000], seq=first, options=ts(330, 150))
    c.ack_from_client(130 * MS + 209 * US, ack=first, options=ts(150, 201) + hole)
    c.ack_from_client(130 * MS + 218 * US, ack=end, options=ts(151, 330))
    row, conn = analyze(tmp_path, c)
    assert conn["vantage"] == "server"
    assert_times(row, 1 * MS, 1 * MS, 2 * MS, 130 * MS + 185 * US)
    assert row["retrans_segments_to_client"] == 1
