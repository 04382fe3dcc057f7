"""The delivery rule (inferwire.tcp.delivery) on crafted captures, from both vantage points.

Each scenario is one HTTP/1.1 request and response with a loss, a spurious retransmission or
reordering, captured once on the client's side and once on the server's (the handshake's
timing tells which: SYN -> SYN-ACK is the round trip from the capture point to the server,
SYN-ACK -> ACK the one to the client).  The round trip is 10 ms; a host's own packets are seen
50 us apart.  Every boundary is asserted to the nanosecond.
"""
from __future__ import annotations

import subprocess

import pandas as pd
import pytest

import inferwire
from needs import need_tool
from tests.craft import T0_NS, Conversation, http_request, http_response, write_pcap

US, MS = 1_000, 1_000_000
REQ = http_request(body=b"x" * 2500, request_id="q")          # three segments of 1000 or less
RESP = http_response(b"y" * 2500)
SACK_OK = [("MSS", 1460), ("SAckOK", b"")]


def conv(vantage: str) -> Conversation:
    """A connection whose handshake says where it was captured: 'client' or 'server'."""
    c = Conversation()
    if vantage == "client":
        c.handshake(0, 10 * MS, 10 * MS + 50 * US, syn_options=SACK_OK, synack_options=SACK_OK)
    else:
        c.handshake(0, 50 * US, 10 * MS + 50 * US, syn_options=SACK_OK, synack_options=SACK_OK)
    return c


def analyze(tmp_path, c: Conversation, name="c.pcap", **kw):
    a = inferwire.analyze(write_pcap(tmp_path / name, c.packets), **kw)
    assert len(a.requests) == 1
    return a.requests.iloc[0], a.connections.iloc[0]


def at(ns: int) -> float:
    return (T0_NS + ns) / 1e9


def assert_times(row, start, end, resp_start, resp_end):
    for col, ns in (("request_start", start), ("request_end", end),
                    ("response_start", resp_start), ("response_end", resp_end)):
        assert row[col] == pytest.approx(at(ns), abs=1e-7), col
    assert row["wait_ms"] == pytest.approx((resp_start - end) / 1e6, abs=1e-6)
    assert row["request_ms"] == pytest.approx((end - start) / 1e6, abs=1e-6)
    assert row["response_ms"] == pytest.approx((resp_end - resp_start) / 1e6, abs=1e-6)


def sack(c: Conversation, of_server: bool, left: int, right: int):
    """A SACK option for stream offsets [left, right) of the server's (or client's) bytes."""
    base = (c.isn_s if of_server else c.isn_c) + 1
    return [("NOP", None), ("NOP", None), ("SAck", (base + left, base + right))]


# -- a request's last segment lost ----------------------------------------------------------
def test_lost_last_request_segment_captured_at_the_sender(tmp_path):
    """Client side: the lost copy is captured, then the server ACKs only the first part; the
    request reaches the server with the retransmission 210 ms later: sending, not waiting."""
    c = conv("client")
    c.client(20 * MS, REQ[:1000])
    last = c.seq_c
    c.client(20 * MS + 10 * US, REQ[1000:])                   # lost after the capture point
    c.ack_from_server(30 * MS, ack=last)
    c.client(230 * MS, REQ[1000:], seq=last)                  # retransmission timeout
    c.server(245 * MS, RESP)
    c.ack_from_client(245 * MS + 50 * US)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 20 * MS, 230 * MS, 245 * MS, 245 * MS)
    assert row["request_frame"] == 4 and row["response_frame"] == 8
    assert (row["retrans_segments_to_server"], row["retrans_bytes_to_server"]) == (1, 1622)
    assert row["retrans_ms_to_server"] == pytest.approx(209.99)    # lost copy -> retransmission
    assert (row["retrans_segments_to_client"], row["retrans_ms_to_client"]) == (0, 0)
    assert (row["rtt_server_ms"], row["rtt_client_ms"]) == (pytest.approx(10), pytest.approx(0.05))
    assert row["ack_rtt_client_ms"] == pytest.approx(0.05)      # response -> client's ACK
    assert pd.isna(row["ack_rtt_server_ms"])                    # only ACKed with a reply
    assert pd.isna(row["h2_flow_stall_ms"]) and row["zero_window_ms"] == 0
    assert (conn["retransmissions"], conn["retrans_bytes"], conn["vantage"]) == (1, 1622, "client")
    assert (conn["mss_client"], conn["mss_server"], conn["sack_permitted"]) == (1460, 1460, True)
    assert pd.isna(conn["wscale_client"])                      # not offered
    assert conn["max_in_flight_to_server_bytes"] == len(REQ)   # at the retransmission


def test_lost_last_request_segment_captured_at_the_receiver(tmp_path):
    """Server side, the copy captured and then dropped inside the server's host (its ACK does
    not cover it): the retransmission is the copy the server got."""
    c = conv("server")
    c.client(25 * MS, REQ[:1000])
    last = c.seq_c
    c.client(25 * MS + 10 * US, REQ[1000:])
    c.ack_from_server(25 * MS + 50 * US, ack=last)
    c.client(235 * MS, REQ[1000:], seq=last)
    c.server(240 * MS, RESP)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 25 * MS, 235 * MS, 240 * MS, 240 * MS)
    assert row["retrans_segments_to_server"] == 1
    assert row["retrans_ms_to_server"] == pytest.approx(209.99)
    assert conn["vantage"] == "server"


# -- a response's first segment lost --------------------------------------------------------
def test_lost_first_response_segment_captured_at_the_sender(tmp_path):
    """Server side: the response began when its first copy was sent; it was complete at the
    client when the (fast) retransmission of that segment arrived, after the SACK."""
    c = conv("server")
    c.client(25 * MS, REQ)
    first = c.seq_s
    c.server(30 * MS, RESP[:1000])                            # lost after the capture point
    c.server(30 * MS + 10 * US, RESP[1000:])
    c.ack_from_client(40 * MS, ack=first, options=sack(c, True, 1000, len(RESP)))
    c.server(40 * MS + 50 * US, RESP[:1000], seq=first)
    c.ack_from_client(50 * MS)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 25 * MS, 25 * MS, 30 * MS, 40 * MS + 50 * US)
    assert row["response_frame"] == 8                          # the retransmission
    assert (row["retrans_segments_to_client"], row["retrans_bytes_to_client"]) == (1, 1000)
    assert row["retrans_ms_to_client"] == pytest.approx(10.05)
    assert conn["dup_acks"] == 1                               # the SACK-carrying ACK


def test_lost_first_response_segment_captured_at_the_receiver(tmp_path):
    """Client side, the first segment lost before the capture point: the response had begun
    by the time its second segment was seen (in-order sending), and was complete when the
    retransmission arrived, two round trips later."""
    c = conv("client")
    c.client(20 * MS, REQ)
    first = c.seq_s
    c.seq_s += 1000                                           # RESP[:1000] lost, never seen
    c.server(35 * MS, RESP[1000:])
    c.ack_from_client(35 * MS + 50 * US, ack=first, options=sack(c, True, 1000, len(RESP)))
    c.server(60 * MS, RESP[:1000], seq=first)
    c.ack_from_client(60 * MS + 50 * US)
    row, _ = analyze(tmp_path, c)
    assert_times(row, 20 * MS, 20 * MS, 35 * MS, 60 * MS)
    # the hole was seen with the second segment at 35 ms and filled at 60 ms
    assert row["retrans_segments_to_client"] == 1
    assert row["retrans_ms_to_client"] == pytest.approx(25)


# -- a middle segment lost ------------------------------------------------------------------
def test_lost_middle_request_segment_captured_at_the_sender(tmp_path):
    c = conv("client")
    c.client(20 * MS, REQ[:1000])
    mid = c.seq_c
    c.client(20 * MS + 10 * US, REQ[1000:2000])               # lost after the capture point
    c.client(20 * MS + 20 * US, REQ[2000:])
    c.ack_from_server(30 * MS, ack=mid, options=sack(c, False, 2000, len(REQ)))
    c.client(30 * MS + 50 * US, REQ[1000:2000], seq=mid)
    c.server(45 * MS, RESP)
    row, _ = analyze(tmp_path, c)
    assert_times(row, 20 * MS, 30 * MS + 50 * US, 45 * MS, 45 * MS)
    assert (row["retrans_segments_to_server"], row["retrans_bytes_to_server"]) == (1, 1000)
    assert row["retrans_ms_to_server"] == pytest.approx(10.04)


def test_lost_middle_request_segment_captured_at_the_receiver(tmp_path):
    """Server side, the middle segment lost before the capture point: the last byte arrived
    at 25.02 ms, but the server could read the request only when the hole was filled."""
    c = conv("server")
    c.client(25 * MS, REQ[:1000])
    mid = c.seq_c
    c.seq_c += 1000
    c.client(25 * MS + 20 * US, REQ[2000:])
    c.ack_from_server(25 * MS + 30 * US, ack=mid, options=sack(c, False, 2000, len(REQ)))
    c.client(45 * MS + 50 * US, REQ[1000:2000], seq=mid)
    c.server(50 * MS, RESP)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 25 * MS, 45 * MS + 50 * US, 50 * MS, 50 * MS)
    # the hole was seen at 25.02 ms and filled 20.03 ms later, two round trips: a
    # retransmission of a copy lost before the capture point, not reordering
    assert row["retrans_segments_to_server"] == 1 and row["retrans_bytes_to_server"] == 1000
    assert row["retrans_ms_to_server"] == pytest.approx(20.03)
    assert (conn["retransmissions"], conn["out_of_order"], conn["dup_acks"]) == (1, 0, 0)


# -- spurious retransmissions ---------------------------------------------------------------
def test_spurious_retransmission_with_dsack_captured_at_the_sender(tmp_path):
    """Client side: the server's ACK was lost, the client retransmitted after its timeout and
    the server's D-SACK says the copy arrived twice: the first copy got through."""
    c = conv("client")
    start = c.seq_c
    c.client(20 * MS, REQ)
    end = c.seq_c
    c.client(230 * MS, REQ, seq=start)
    c.ack_from_server(240 * MS, ack=end, options=sack(c, False, 0, len(REQ)))    # D-SACK
    c.server(300 * MS, RESP)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 20 * MS, 20 * MS, 300 * MS, 300 * MS)
    # counted on the connection, but it cost the request nothing: not in its phase
    assert conn["retransmissions"] == 1
    assert (row["retrans_segments_to_server"], row["retrans_ms_to_server"]) == (0, 0)


def test_dsack_sooner_than_the_guard_after_a_tail_loss_probe_names_the_probe(tmp_path):
    """Client side, as in a real veth capture: the request's last segment went out at 20 ms,
    the server's ACK for it was lost, the client's tail-loss probe repeated that segment at
    26 ms and the server's D-SACK came 6 us later -- far sooner than the guard (half the 10 ms
    handshake round trip; later round trips are often much shorter).  A first copy is never the
    one that arrived twice, so the D-SACK names the probe and the original is the delivered
    copy: the request ended at 20 ms, not 26 ms."""
    c = conv("client")
    start = c.seq_c
    c.client(20 * MS, REQ[:1000])
    c.client(20 * MS + 10 * US, REQ[1000:2000])
    tail = c.seq_c
    c.client(20 * MS + 20 * US, REQ[2000:])
    end = c.seq_c
    c.ack_from_server(25 * MS + 100 * US, ack=tail)                       # the tail's ACK lost
    c.client(26 * MS, REQ[2000:], seq=tail)                               # the probe
    c.ack_from_server(26 * MS + 6 * US, ack=end,
                      options=sack(c, False, tail - start, end - start))  # D-SACK
    c.server(40 * MS, RESP)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 20 * MS, 20 * MS + 20 * US, 40 * MS, 40 * MS)
    assert conn["retransmissions"] == 1
    assert (row["retrans_segments_to_server"], row["retrans_ms_to_server"]) == (0, 0)


def test_dsack_names_the_repeat_it_followed_by_about_a_round_trip(tmp_path):
    """Client side, as on a lossy veth run: the request's first segment was lost, the server
    SACKed the other two, the client's fast retransmit at 30.1 ms got through but the server's
    ACK for it was lost, so the client's timeout repeated it at 240 ms; the server's D-SACK
    came 3 ms later (sooner than the 5 ms guard: later round trips are shorter than the
    handshake's).  The D-SACK names the timeout's copy (3 ms before it, about a round trip),
    not the fast retransmit 213 ms before: that one is the delivered copy, and the request
    ended at 30.1 ms."""
    c = conv("client")
    start = c.seq_c
    c.seq_c += 1000                                                   # the first segment: lost
    c.client(20 * MS + 10 * US, REQ[1000:2000])
    c.client(20 * MS + 20 * US, REQ[2000:])
    end = c.seq_c
    c.ack_from_server(30 * MS, ack=start, options=sack(c, False, 1000, len(REQ)))
    c.client(30 * MS + 100 * US, REQ[:1000], seq=start)                # the fast retransmit
    c.client(240 * MS, REQ[:1000], seq=start)                          # the timeout's copy
    c.ack_from_server(243 * MS, ack=end, options=sack(c, False, 0, 1000))     # D-SACK
    c.server(300 * MS, RESP)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 20 * MS + 10 * US, 30 * MS + 100 * US, 300 * MS, 300 * MS)
    assert conn["retransmissions"] == 2


def test_dsack_does_not_name_a_repeat_sent_just_before_it(tmp_path):
    """Client side: the original got through but its ACK was lost; the timeout's copy went out
    at 230 ms, another repeat at 239.9 ms, and the server's D-SACK for the first repeat came at
    240 ms, one round trip after it.  The D-SACK names the copy it followed by a round trip (the
    one at 230 ms), not the latest repeat 100 us before it: the original is the delivered copy
    (taking the latest would leave the 230 ms copy standing as the delivered one)."""
    c = conv("client")
    start = c.seq_c
    c.client(20 * MS, REQ)
    end = c.seq_c
    c.client(230 * MS, REQ, seq=start)
    c.client(239 * MS + 900 * US, REQ, seq=start)
    c.ack_from_server(240 * MS, ack=end, options=sack(c, False, 0, len(REQ)))       # D-SACK
    c.ack_from_server(250 * MS, ack=end, options=sack(c, False, 0, len(REQ)))       # and again
    c.server(300 * MS, RESP)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 20 * MS, 20 * MS, 300 * MS, 300 * MS)
    assert conn["retransmissions"] == 2


def test_retransmission_without_sack_is_taken_as_the_delivered_copy(tmp_path):
    """The same capture without the D-SACK: nothing shows that the first copy arrived, so the
    retransmission is taken (the rule's documented limit without SACK)."""
    c = conv("client")
    start = c.seq_c
    c.client(20 * MS, REQ)
    end = c.seq_c
    c.client(230 * MS, REQ, seq=start)
    c.ack_from_server(240 * MS, ack=end)
    c.server(300 * MS, RESP)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 20 * MS, 230 * MS, 300 * MS, 300 * MS)
    assert row["retrans_segments_to_server"] == 1
    assert row["retrans_ms_to_server"] == pytest.approx(210)
    # and the connection's warnings say the capture cannot tell (where it moves an end)
    assert ("1 segment of the client's sent twice or more with no ACK telling which copy got "
            "through (none between the copies, none naming one): the latest is taken, up to "
            "210 ms after the earliest") in conn["warnings"]


def test_spurious_retransmission_captured_at_the_receiver(tmp_path):
    """Server side: the server ACKed the first copy (the ACK was lost later): that copy is the
    delivered one, whatever the sender repeated after."""
    c = conv("server")
    start = c.seq_c
    c.client(25 * MS, REQ)
    end = c.seq_c
    c.ack_from_server(25 * MS + 50 * US)
    c.client(235 * MS, REQ, seq=start)
    c.ack_from_server(235 * MS + 50 * US, ack=end, options=sack(c, False, 0, len(REQ)))
    c.server(300 * MS, RESP)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 25 * MS, 25 * MS, 300 * MS, 300 * MS)
    assert (conn["retransmissions"], row["retrans_segments_to_server"]) == (1, 0)


def test_early_ack_within_the_guard_is_for_the_earlier_copy(tmp_path):
    """Client side: the retransmission went out 9 ms after the original and the ACK came 2 ms
    after the retransmission, less than half the 10 ms round trip: it answers the original."""
    c = conv("client")
    start = c.seq_c
    c.client(20 * MS, REQ)
    end = c.seq_c
    c.client(29 * MS, REQ, seq=start)
    c.ack_from_server(31 * MS, ack=end)
    c.server(50 * MS, RESP)
    row, _ = analyze(tmp_path, c)
    assert_times(row, 20 * MS, 20 * MS, 50 * MS, 50 * MS)
    # told that the capture is on the server's host (guard 0), the same ACK follows the
    # retransmission, which is then taken
    row, _ = analyze(tmp_path, c, name="s.pcap", vantage="server")
    assert row["request_end"] == pytest.approx(at(29 * MS), abs=1e-7)


# -- different bytes, reordering ------------------------------------------------------------
def test_retransmission_with_different_and_new_bytes(tmp_path):
    """A retransmission that repeats the first 1000 bytes differently and carries the rest: the
    first copy's bytes are kept (with a warning), the new ones appended; one request."""
    c = conv("client")
    start = c.seq_c
    c.client(20 * MS, REQ[:1000])
    c.seq_c = start + len(REQ)
    forged = REQ[:900] + b"Z" * 100 + REQ[1000:]
    c.client(230 * MS, forged, seq=start)
    c.server(245 * MS, RESP)
    with pytest.warns(inferwire.errors.InferwireWarning, match="differ from the first copy"):
        row, conn = analyze(tmp_path, c)
    assert row["request_bytes"] == 2500 and row["request_id"] == "q"
    assert_times(row, 20 * MS, 230 * MS, 245 * MS, 245 * MS)
    assert "1 retransmitted segment" in conn["warnings"]


def test_reordered_segments_captured_at_the_receiver(tmp_path):
    """Server side: the second segment overtaken by the third (20 us, under the round trip):
    out of order, not a retransmission; the request is whole when the second arrives."""
    c = conv("server")
    c.client(25 * MS, REQ[:1000])
    mid = c.seq_c
    c.seq_c += 1000
    c.client(25 * MS + 10 * US, REQ[2000:])
    c.client(25 * MS + 30 * US, REQ[1000:2000], seq=mid)
    c.server(40 * MS, RESP)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 25 * MS, 25 * MS + 30 * US, 40 * MS, 40 * MS)
    assert (conn["out_of_order"], conn["retransmissions"]) == (1, 0)
    assert (row["retrans_segments_to_server"], row["retrans_ms_to_server"]) == (0, 0)


# -- zero window ----------------------------------------------------------------------------
def test_zero_window_stalls_are_sending_and_receiving_not_waiting(tmp_path):
    """Client side: the server closes its window after the first 1000 request bytes and opens
    it 100 ms later; the client closes its own for 50 ms in the middle of the response.  Each
    stall lies in the phase of the stalled sender and is reported in zero_window_ms."""
    c = conv("client")
    c.client(20 * MS, REQ[:1000])
    c.ack_from_server(30 * MS, window=0)
    c.ack_from_server(130 * MS)                               # window update
    c.client(130 * MS + 10 * US, REQ[1000:])
    c.server(145 * MS, RESP[:1000])
    c.ack_from_client(145 * MS + 50 * US, window=0)
    c.ack_from_client(195 * MS + 50 * US)
    c.server(205 * MS, RESP[1000:])
    c.ack_from_client(205 * MS + 50 * US)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 20 * MS, 130 * MS + 10 * US, 145 * MS, 205 * MS)
    assert row["zero_window_ms"] == pytest.approx(100 + 50)
    assert conn["zero_windows"] == 2
    assert (row["retrans_segments_to_server"], row["retrans_segments_to_client"]) == (0, 0)


def test_zero_window_before_the_response_is_said_not_counted(tmp_path):
    """The client's window closes after the request and reopens 30 ms later, before the
    response begins: the server may still have been computing, so the time stays in wait_ms,
    out of zero_window_ms, and the connection's warnings say so."""
    c = conv("client")
    c.client(20 * MS, REQ)
    c.ack_from_client(21 * MS, window=0)
    c.ack_from_client(51 * MS)
    c.server(60 * MS, RESP)
    with pytest.warns(inferwire.errors.InferwireWarning, match="zero window held back"):
        row, conn = analyze(tmp_path, c)
    assert row["wait_ms"] == pytest.approx(40) and row["zero_window_ms"] == 0
    assert "during the wait of 1 request(s) (stream 1)" in conn["warnings"]


def test_repeated_syn_and_fin_are_retransmissions(tmp_path):
    """As tshark counts them: a SYN sent again (the first was lost) and a FIN sent twice."""
    c = Conversation()
    c._pkt(True, 0, "S", c.isn_c, 0, options=SACK_OK)                  # lost SYN
    c.handshake(1 * MS, 11 * MS, 11 * MS + 50 * US, syn_options=SACK_OK,
                synack_options=SACK_OK)
    c.client(20 * MS, REQ)
    c.server(35 * MS, RESP)
    c.fin_from_client(40 * MS)
    c.seq_c -= 1
    c.fin_from_client(250 * MS)                                         # FIN again
    row, conn = analyze(tmp_path, c)
    assert (conn["retransmissions"], conn["retrans_bytes"]) == (2, 0)
    assert (row["retrans_segments_to_server"], row["retrans_segments_to_client"]) == (0, 0)


def test_copy_reported_missing_is_not_delivered_even_if_the_ack_comes_fast(tmp_path):
    """Server side: the middle segment is captured, then dropped inside the server's host; the
    server's SACK says it is missing; the retransmission is ACKed 5 us after it arrives, less
    than the guard (half the 50 us SYN -> SYN-ACK): the SACK, not the guard, decides."""
    c = conv("server")
    c.client(25 * MS, REQ[:1000])
    mid = c.seq_c
    c.client(25 * MS + 10 * US, REQ[1000:2000])               # captured, then lost
    c.client(25 * MS + 20 * US, REQ[2000:])
    c.ack_from_server(25 * MS + 500 * US, ack=mid, options=sack(c, False, 2000, len(REQ)))
    c.client(235 * MS, REQ[1000:2000], seq=mid)
    c.ack_from_server(235 * MS + 5 * US)
    c.server(240 * MS, RESP)
    row, _ = analyze(tmp_path, c)
    assert_times(row, 25 * MS, 235 * MS, 240 * MS, 240 * MS)
    assert row["retrans_ms_to_server"] == pytest.approx(209.99)


def test_vantage_must_be_known(tmp_path):
    c = conv("client")
    c.client(20 * MS, REQ)
    c.server(30 * MS, RESP)
    path = write_pcap(tmp_path / "v.pcap", c.packets)
    with pytest.raises(inferwire.errors.InferwireError, match="vantage 'near'"):
        inferwire.analyze(path, vantage="near")


def test_tables_written_before_the_network_columns_are_read_with_them_empty(tmp_path):
    """A run folder saved by an earlier version (no TCP columns) still loads; the new columns
    are empty, any other missing column is still an error."""
    from inferwire.columns import LATER_COLUMNS, REQUEST_COLUMNS
    from inferwire.report.run import read_table
    c = conv("client")
    c.client(20 * MS, REQ)
    c.server(30 * MS, RESP)
    a = inferwire.analyze(write_pcap(tmp_path / "o.pcap", c.packets))
    a.requests.drop(columns=sorted(LATER_COLUMNS & set(a.requests.columns))).to_csv(
        tmp_path / "requests.csv", index=False)
    old = read_table(tmp_path, "requests", REQUEST_COLUMNS)
    assert old["rtt_server_ms"].isna().all() and old["retrans_segments_to_server"].isna().all()
    assert old.loc[0, "wait_ms"] == pytest.approx(10)
    a.requests.drop(columns=["wait_ms"]).to_csv(tmp_path / "requests.csv", index=False)
    with pytest.raises(inferwire.errors.InferwireError, match="'wait_ms' missing"):
        read_table(tmp_path, "requests", REQUEST_COLUMNS)


@pytest.mark.tshark
def test_a_fin_first_captured_after_the_ack_past_it_is_a_retransmission(tmp_path):
    """As tshark counts it (seen on a lossy veth, the server's side: inferwire 173, tshark
    174): the client's FIN was lost before the capture point, the client's ACK sent after it
    (at the FIN's sequence number + 1) was captured, then the FIN again: a retransmission."""
    c = Conversation()
    c.handshake(1 * MS, 1 * MS + 50 * US, 1 * MS + 60 * US, syn_options=SACK_OK,
                synack_options=SACK_OK)
    c.client(20 * MS, REQ)
    c.server(35 * MS, RESP)
    c.seq_c += 1                                             # the FIN, lost
    c.ack_from_client(240 * MS)
    c.seq_c -= 1
    c.fin_from_client(244 * MS)                              # the FIN again
    c.fin_from_server(248 * MS)
    c.ack_from_client(248 * MS + 30 * US)
    row, conn = analyze(tmp_path, c)
    assert conn["retransmissions"] == 1
    tshark = subprocess.run([need_tool("tshark", "tshark"), "-r", str(tmp_path / "c.pcap"), "-Y",
                             "tcp.analysis.retransmission", "-T", "fields", "-e",
                             "frame.number"], capture_output=True, text=True, check=True)
    assert tshark.stdout.split() == ["7"]                   # the FIN again, tshark says too


def test_a_lost_syn_does_not_stretch_the_guard(tmp_path):
    """Client side, as on a lossy veth run: the first SYN was lost and repeated a second
    later; the SYN-ACK answered the repeat 60 us after it.  The round trip is those 60 us, not
    the second since the first SYN (which made the guard half a second, so that every copy
    looked too soon before its ACK).  Then: the request's last copy got through, its ACK was
    lost (the server's response carrying it too), the client's timeout repeated it 207 ms
    later and the server's D-SACK came 52 us after that: the request ended with its first copy."""
    c = Conversation()
    c._pkt(True, 0, "S", c.isn_c, 0, options=SACK_OK)                 # lost: no SYN-ACK
    c.handshake(1_000 * MS, 1_000 * MS + 60 * US, 1_000 * MS + 120 * US,
                syn_options=SACK_OK, synack_options=SACK_OK)
    start = c.seq_c
    c.client(1_010 * MS, REQ)
    end = c.seq_c
    c.client(1_217 * MS, REQ, seq=start)                                # the timeout's copy
    c.ack_from_server(1_217 * MS + 52 * US, ack=end, options=sack(c, False, 0, len(REQ)))
    c.server(1_225 * MS, RESP)
    row, conn = analyze(tmp_path, c)
    assert_times(row, 1_010 * MS, 1_010 * MS, 1_225 * MS, 1_225 * MS)
    assert conn["tcp_handshake_ms"] == pytest.approx(1_000.12)          # from the first SYN
    assert conn["rtt_server_ms"] == pytest.approx(0.06)                 # from the answered SYN
    assert row["rtt_server_ms"] == pytest.approx(0.06)


def test_a_lost_syn_is_not_the_round_trip_of_a_clean_connection(tmp_path):
    """The lost SYN alone (the connection's rows then come from the columns, not from
    objects): the server's round trip is the 60 us from the SYN the SYN-ACK answered to it, not
    the second since the first; the handshake still took that second."""
    c = Conversation()
    c._pkt(True, 0, "S", c.isn_c, 0, options=SACK_OK)                 # lost: no SYN-ACK
    c.handshake(1_000 * MS, 1_000 * MS + 60 * US, 1_000 * MS + 120 * US,
                syn_options=SACK_OK, synack_options=SACK_OK)
    c.client(1_010 * MS, REQ)
    c.ack_from_server(1_010 * MS + 60 * US)
    c.server(1_020 * MS, RESP)
    c.ack_from_client(1_020 * MS + 60 * US)
    row, conn = analyze(tmp_path, c)
    assert conn["tcp_handshake_ms"] == pytest.approx(1_000.12)
    assert conn["rtt_server_ms"] == pytest.approx(0.06) == row["rtt_server_ms"]
    assert conn["rtt_client_ms"] == pytest.approx(0.06) and conn["vantage"] == ""


def first_segment_lost_and_its_acks(c: Conversation, t0: int, rto_ms: int,
                                    dsack_us: int) -> int:
    """The request at ``t0``; the response's first segment lost (the client's SACKs report it
    missing), its fast retransmit got through but the client's ACK of it was lost, the
    timeout's copy ``rto_ms`` later and the client's ACK ``dsack_us`` after that, with a
    D-SACK of it.  Returns the fast retransmit's time (ns), where the response ends."""
    c.client(t0, REQ)
    c.ack_from_server(t0 + 40 * US)
    start = c.seq_s
    c.server(t0 + 1 * MS, RESP[:1000])                                  # lost
    c.server(t0 + 3 * MS, RESP[1000:2000])
    c.ack_from_client(t0 + 3 * MS + 30 * US, ack=start, options=sack(c, True, 1000, 2000))
    c.server(t0 + 5 * MS, RESP[2000:])
    end = c.seq_s
    c.ack_from_client(t0 + 5 * MS + 25 * US, ack=start, options=sack(c, True, 1000, 2500))
    fast = t0 + 5 * MS + 35 * US
    c.server(fast, RESP[:1000], seq=start)                              # got through; ACK lost
    rto = fast + rto_ms * MS
    c.server(rto, RESP[:1000], seq=start)
    c.ack_from_client(rto + dsack_us * US, ack=end, options=sack(c, True, 0, 1000))  # D-SACK
    return fast


def test_a_lost_synack_does_not_stretch_the_guard(tmp_path):
    """Server side, from a real lossy veth run (SSE tokens): the first SYN-ACK was lost; the
    server repeated it a second later and answered the client's repeated SYN, and the client's
    ACK came 6 us after that.  The client's round trip is those 6 us, not the second since the
    first SYN-ACK (which made the guard half a second).  Then: the response's first segment
    was lost (the client's SACKs report it missing), its fast retransmit got through but the
    client's ACK of it was lost, the timeout's copy went out 209 ms later and the ACK after it
    carries a D-SACK 55 us later: it names the timeout's copy, and the response ends with the
    fast retransmit.  (With the second-long round trip the D-SACK named the fast retransmit,
    and the response ended 209 ms late.)"""
    c = Conversation()
    c.handshake(0, 8 * US, 1_027 * MS + 40 * US, syn_options=SACK_OK, synack_options=SACK_OK)
    c.packets.pop()                                                     # the ACK: later
    c._pkt(False, 1_027 * MS, "SA", c.isn_s, c.isn_c + 1, options=SACK_OK)   # repeated
    c._pkt(True, 1_027 * MS + 30 * US, "S", c.isn_c, 0, options=SACK_OK)     # the client's
    c._pkt(False, 1_027 * MS + 34 * US, "SA", c.isn_s, c.isn_c + 1, options=SACK_OK)
    c._pkt(True, 1_027 * MS + 40 * US, "A", c.seq_c, c.seq_s)
    t0 = 1_030 * MS
    fast = first_segment_lost_and_its_acks(c, t0, rto_ms=209, dsack_us=55)
    row, conn = analyze(tmp_path, c)
    assert conn["rtt_client_ms"] == pytest.approx(0.006) == row["rtt_client_ms"]
    assert conn["rtt_server_ms"] == pytest.approx(0.004)
    assert conn["vantage"] == "server"
    assert_times(row, t0, t0, t0 + 1 * MS, fast)
    assert "no ACK telling" not in conn["warnings"]     # the SACKs and the D-SACK told


@pytest.mark.parametrize("vantage", ["auto", "server"])
def test_a_synack_repeated_by_the_servers_timer_is_no_round_trip(tmp_path, vantage):
    """Server side, from a real lossy veth run (SSE tokens): the first SYN-ACK was lost, and
    so was the client's repeated SYN; the server's timer repeated the SYN-ACK a second later
    and the client's ACK answered that.  The server's round trip is SYN to the SYN-ACK that
    answered it (8 us), not to the timer's repeat (a second: the guard at the server's vantage
    was half of that).  Then a token's segment was lost, its fast retransmit got through, the
    client's ACK of it was lost, the timeout's copy went 207 ms later and the ACK after it
    carries a D-SACK: it names the timeout's copy, and the response ends with the fast
    retransmit (it ended 207 ms late)."""
    c = Conversation()
    c.handshake(0, 8 * US, 1_030 * MS + 40 * US, syn_options=SACK_OK, synack_options=SACK_OK)
    c.packets.pop()                                                     # the ACK: later
    c._pkt(False, 1_030 * MS, "SA", c.isn_s, c.isn_c + 1, options=SACK_OK)   # the timer's
    c._pkt(True, 1_030 * MS + 40 * US, "A", c.seq_c, c.seq_s)
    t0 = 1_040 * MS
    fast = first_segment_lost_and_its_acks(c, t0, rto_ms=207, dsack_us=18)
    row, conn = analyze(tmp_path, c, vantage=vantage)
    assert conn["rtt_server_ms"] == pytest.approx(0.008) == row["rtt_server_ms"]
    assert conn["rtt_client_ms"] == pytest.approx(0.04) == row["rtt_client_ms"]
    assert conn["tcp_handshake_ms"] == pytest.approx(1_030.04)          # from the first SYN
    assert_times(row, t0, t0, t0 + 1 * MS, fast)


def test_the_guard_is_no_longer_than_half_the_shortest_round_trip_seen(tmp_path):
    """Server side, from a real lossy Triton run (SSE tokens): the handshake's round trip was
    100 us (a guard of 50 us), later ones 30 us.  The response's last segment was lost and its
    repeat 10 ms later got through: the client's ACK came 30 us after the repeat, sooner than
    the handshake's guard.  The guard is half the shortest round trip the server's bytes show
    (an ACK 30 us after a segment sent once: 15 us), so the repeat is the copy that got
    through, and the response ends with it (it ended with the lost first copy, 10 ms early)."""
    c = conv("server")
    c.packets.pop()                                                     # the ACK: 100 us
    c._pkt(True, 50 * US + 100 * US, "A", c.seq_c, c.seq_s)
    t0 = 1 * MS
    c.client(t0, REQ)
    c.ack_from_server(t0 + 40 * US)
    c.server(t0 + 1 * MS, RESP[:1000])
    c.ack_from_client(t0 + 1 * MS + 30 * US)                           # 30 us: the shortest
    c.server(t0 + 2 * MS, RESP[1000:2000])
    c.ack_from_client(t0 + 2 * MS + 45 * US)
    lost = c.seq_s
    c.server(t0 + 3 * MS, RESP[2000:])                                  # lost
    repeat = t0 + 13 * MS
    c.server(repeat, RESP[2000:], seq=lost)
    c.ack_from_client(repeat + 30 * US)
    row, conn = analyze(tmp_path, c, vantage="server")
    assert conn["rtt_client_ms"] == pytest.approx(0.1)
    assert_times(row, t0, t0, t0 + 1 * MS, repeat)
    # the ACK 10 us after the repeat, under half the shortest round trip: the first copy
    c.packets[-1].time = (T0_NS + repeat + 10 * US) / 1e9
    row, _ = analyze(tmp_path, c, name="sooner.pcap", vantage="server")
    assert_times(row, t0, t0, t0 + 1 * MS, t0 + 3 * MS)


def test_a_dsack_counts_when_the_guard_rules_every_copy_out(tmp_path):
    """The same D-SACK when even the first copy is not the guard before its ACK (a handshake
    round trip of 500 ms, every later one far shorter): the copy the D-SACK names is still not
    the delivered one."""
    c = Conversation()
    c.handshake(0, 500 * MS, 500 * MS + 60 * US, syn_options=SACK_OK, synack_options=SACK_OK)
    start = c.seq_c
    c.client(510 * MS, REQ)
    end = c.seq_c
    c.client(717 * MS, REQ, seq=start)
    c.ack_from_server(717 * MS + 52 * US, ack=end, options=sack(c, False, 0, len(REQ)))
    c.server(725 * MS, RESP)
    row, _ = analyze(tmp_path, c)
    assert_times(row, 510 * MS, 510 * MS, 725 * MS, 725 * MS)
