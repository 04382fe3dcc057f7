"""End to end on crafted pcaps: HTTP/1.1 phases to the nanosecond."""
import pandas as pd
import pytest

import inferwire
from craft import Conversation, http_request, http_response, write_pcap

US = 1_000  # ns


def ms(ns):
    return ns / 1e6


def test_keepalive_two_requests_exact_phases(tmp_path):
    c = Conversation()
    c.handshake(0, 50 * US, 80 * US)
    req1 = http_request(body=b'{"instances": [1]}', request_id="a")
    c.client(100 * US, req1[:20])                 # request line split across segments
    c.client(130 * US, req1[20:])
    c.server(1_130 * US, http_response(b'{"predictions": [9]}')[:10])
    c.server(1_200 * US, http_response(b'{"predictions": [9]}')[10:])
    c.ack_from_client(1_250 * US)
    c.client(2_000 * US, http_request(body=b"{}", request_id="b"))
    c.server(2_500 * US, http_response())
    c.fin_from_client(3_000 * US)
    c.fin_from_server(3_100 * US)
    a = inferwire.analyze(write_pcap(tmp_path / "k.pcap", c.packets))
    r = a.requests
    assert list(r["request_id"]) == ["a", "b"]
    first, second = r.iloc[0], r.iloc[1]
    assert first["tcp_handshake_ms"] == pytest.approx(ms(80 * US))
    assert first["request_ms"] == pytest.approx(ms(30 * US))
    assert first["wait_ms"] == pytest.approx(ms(1_000 * US))
    assert first["response_ms"] == pytest.approx(ms(70 * US))
    assert first["total_ms"] == pytest.approx(ms(1_100 * US))
    assert first["request_start"] == pytest.approx((c.t0 + 100 * US) / 1e9, abs=1e-9)
    assert pd.isna(second["tcp_handshake_ms"])
    assert second["request_ms"] == 0 and second["wait_ms"] == pytest.approx(0.5)
    assert list(r["stream"]) == [1, 2]
    assert list(r["status"]) == [200, 200]
    assert first["request_bytes"] == len(b'{"instances": [1]}')
    assert first["response_bytes"] == len(b'{"predictions": [9]}')
    assert first["protocol"] == "http/1.1" and not first["tls"] and not first["inferred"]
    assert first["client"] == "10.0.0.1:40000" and first["server"] == "10.0.0.2:8501"
    assert bool(r["complete"].all())
    assert first["request_frame"] == 4 and first["response_frame"] == 7
    conn = a.connections.iloc[0]
    assert conn["requests"] == 2 and conn["end"] == "fin" and bool(conn["start_seen"])
    assert conn["retransmissions"] == 0 and conn["missing_bytes"] == 0


def test_retransmitted_and_reordered_segments(tmp_path):
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    req = http_request(body=b"x" * 100, request_id="rt")
    p1 = c.client(100 * US, req[:60])
    c.client(150 * US, req[60:])
    # The server's ACK of the whole request before the retransmission shows the first copies got
    # through: the retransmission is spurious and moves nothing.  (Before the delivery rule this
    # test had no such ACK and relied on "the first captured copy always counts"; without any
    # ACK in between the retransmission would now be taken as the copy the server got.)
    c.ack_from_server(200 * US)
    c.client(400 * US, req[:60], seq=c.isn_c + 1)   # spurious retransmission of the first part
    resp = http_response(b"y" * 50)
    seq0 = c.seq_s
    c.server(900 * US, resp[:30])
    late = c.server(1_000 * US, resp[30:])
    packets = list(c.packets)
    # loopback captures are not in strict time order: write the last response packet first
    packets.remove(late)
    packets.insert(packets.index(p1), late)
    a = inferwire.analyze(write_pcap(tmp_path / "r.pcap", packets))
    row = a.requests.iloc[0]
    assert row["request_ms"] == pytest.approx(0.05)      # the retransmission does not move it
    assert row["wait_ms"] == pytest.approx(0.75)
    assert row["response_ms"] == pytest.approx(0.1)
    assert a.connections.iloc[0]["retransmissions"] == 1
    assert seq0 == c.isn_s + 1


def test_chunked_response_and_100_continue(tmp_path):
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    head = (b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
            b"x-request-id: cont\r\nContent-Length: 5\r\n\r\n")
    c.client(100 * US, head)
    c.server(200 * US, b"HTTP/1.1 100 Continue\r\n\r\n")
    c.client(300 * US, b"hello")
    c.server(700 * US, b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=1\r\nabcd\r\n")
    c.server(800 * US, b"2\r\nef\r\n0\r\nTrailer: t\r\n\r\n")
    a = inferwire.analyze(write_pcap(tmp_path / "ch.pcap", c.packets))
    row = a.requests.iloc[0]
    assert row["interim_responses"] == 1
    assert row["request_ms"] == pytest.approx(0.2)
    assert row["wait_ms"] == pytest.approx(0.4)       # from the body's end to the final response
    assert row["response_ms"] == pytest.approx(0.1)
    assert row["response_bytes"] == 6 and row["request_bytes"] == 5


def test_connection_already_open_and_response_cut_at_end(tmp_path):
    c = Conversation()
    c.client(100 * US, http_request(request_id="p1"))
    c.server(300 * US, http_response())
    c.client(400 * US, http_request(request_id="p2"))
    c.server(600 * US, http_response(b"z" * 100)[:40])    # capture ends mid-response
    a = inferwire.analyze(write_pcap(tmp_path / "p.pcap", c.packets))
    r = a.requests
    assert list(r["request_id"]) == ["p1", "p2"]
    assert pd.isna(r.iloc[0]["tcp_handshake_ms"])
    assert r.iloc[0]["wait_ms"] == pytest.approx(0.2)
    assert not bool(r.iloc[1]["complete"]) and pd.isna(r.iloc[1]["response_end"])
    assert pd.isna(r.iloc[1]["total_ms"]) and r.iloc[1]["wait_ms"] == pytest.approx(0.2)
    conn = a.connections.iloc[0]
    assert not bool(conn["start_seen"]) and conn["end"] == "open"
    # what is missing is said, in the warnings and in the connection's row
    said = ["connection already open when the capture began (no SYN): no handshake times, "
            "and requests sent before the capture are not in the table",
            "1 of 2 requests not seen to its end (the capture ended before the connection "
            "did): times and sizes not seen are left empty"]
    assert a.warnings == [f"connection 0 (10.0.0.1:40000 -> 10.0.0.2:8501): {w}" for w in said]
    assert conn["warnings"] == "; ".join(said)


def test_capture_begun_mid_conversation_pairs_responses_with_their_requests(tmp_path):
    """The first captured response answers a request sent before the capture began: it is
    left out (it began before any captured request), and every later response pairs with its
    own request instead of the one before."""
    c, _, _ = _conversation_with_big_first_exchange()
    a = inferwire.analyze(write_pcap(tmp_path / "mid.pcap", c.packets[5:]))  # from a1's answer
    r = a.requests
    assert list(r["request_id"]) == ["a2", "a3"]
    assert list(r["response_bytes"]) == [10, 7]
    assert list(r["wait_ms"]) == pytest.approx([0.2, 0.25])
    assert r["complete"].all()
    assert ("connection 0 (10.0.0.1:40000 -> 10.0.0.2:8501): 1 HTTP/1.1 response at the start "
            "answer requests sent before the capture began: left out") in a.warnings


def test_time_stamps_out_of_causal_order_leave_negative_durations_empty(tmp_path):
    """A response stamped 0.5 ms before its request (a clock step, or a merge of captures):
    the times stay as captured, the durations that would be negative are empty and it is said.
    An early response (begun after the request began, before its last byte) is real: its
    negative wait_ms stays."""
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    c.client(3_000 * US, http_request(request_id="inv"))
    c.server(2_500 * US, http_response(b"k" * 10))
    req = http_request(body=b"x" * 200, request_id="early")
    c.client(4_000 * US, req[:100])
    c.server(4_100 * US, http_response(b"e" * 5, status=b"413 Payload Too Large"))
    c.client(4_300 * US, req[100:])
    packets = sorted(c.packets, key=lambda p: p.time)
    a = inferwire.analyze(write_pcap(tmp_path / "inv.pcap", packets))
    inv, early = a.requests.iloc[0], a.requests.iloc[1]
    assert inv["request_id"] == "inv"
    assert inv["response_start"] - inv["request_start"] == pytest.approx(-0.0005, abs=1e-6)
    assert pd.isna(inv["wait_ms"]) and pd.isna(inv["total_ms"])
    assert inv["request_ms"] == 0 and inv["response_ms"] == 0
    assert early["request_id"] == "early" and early["status"] == 413
    assert early["wait_ms"] == pytest.approx(-0.2) and early["total_ms"] == pytest.approx(0.1)
    assert a.warnings == ["connection 0 (10.0.0.1:40000 -> 10.0.0.2:8501): 1 request (stream 1) "
                          "with packet time stamps out of order (a response stamped before its "
                          "request, or an end before its start): the durations that would be "
                          "negative are left empty"]


def test_port_reuse_makes_two_connections(tmp_path):
    a1 = Conversation(isn_client=100)
    a1.handshake(0, 10 * US, 20 * US)
    a1.client(30 * US, http_request(request_id="one"))
    a1.server(60 * US, http_response())
    a1.fin_from_client(70 * US)
    a1.fin_from_server(80 * US)
    a2 = Conversation(isn_client=900_000, t0_ns=a1.t0 + 1_000 * US)
    a2.handshake(0, 10 * US, 25 * US)
    a2.client(30 * US, http_request(request_id="two"))
    a2.server(90 * US, http_response())
    a = inferwire.analyze(write_pcap(tmp_path / "reuse.pcap", a1.packets + a2.packets))
    assert len(a.connections) == 2
    assert list(a.requests["request_id"]) == ["one", "two"]
    assert list(a.requests["connection"]) == [0, 1]
    assert a.requests.iloc[1]["tcp_handshake_ms"] == pytest.approx(0.025)
    assert a.requests.iloc[1]["wait_ms"] == pytest.approx(0.06)


def test_ipv6_connection(tmp_path):
    c = Conversation(client=("2001:db8::1", 50000), server=("2001:db8::2", 8501), ipv6=True)
    c.handshake(0, 10 * US, 20 * US)
    c.client(100 * US, http_request(request_id="v6"))
    c.server(250 * US, http_response())
    a = inferwire.analyze(write_pcap(tmp_path / "v6.pcap", c.packets))
    row = a.requests.iloc[0]
    assert row["client"] == "[2001:db8::1]:50000" and row["wait_ms"] == pytest.approx(0.15)


def test_unrecognised_protocol_gives_warning_not_rows(tmp_path):
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    c.client(100 * US, b"\x00\x01binary protocol")
    c.server(200 * US, b"\x02reply")
    with pytest.warns(inferwire.InferwireWarning, match="not recognised"):
        a = inferwire.analyze(write_pcap(tmp_path / "u.pcap", c.packets))
    assert len(a.requests) == 0 and len(a.connections) == 1
    assert "not recognised" in a.connections.iloc[0]["warnings"]


def test_decode_as_and_ignore_ports(tmp_path):
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    c.client(100 * US, http_request(request_id="x"))
    c.server(200 * US, http_response())
    path = write_pcap(tmp_path / "d.pcap", c.packets)
    assert len(inferwire.analyze(path, ignore_ports=(8501,)).connections) == 0
    assert len(inferwire.analyze(path, decode_as={8501: "http/1.1"}).requests) == 1


def test_a_runs_capture_probe_is_left_out(tmp_path):
    import json

    from inferwire.runfolder import with_run_probe
    probe = Conversation(server=("10.0.0.2", 40001), client=("10.0.0.1", 40002))
    probe.handshake(0, 5 * US, 6 * US)
    probe.rst_from_client(7 * US)
    c = Conversation()
    c.handshake(10 * US, 20 * US, 30 * US)
    c.client(100 * US, http_request(request_id="real"))
    c.server(200 * US, http_response())
    path = write_pcap(tmp_path / "capture.pcap", probe.packets + c.packets)
    assert len(inferwire.analyze(path).connections) == 2
    (tmp_path / "manifest.json").write_text(json.dumps(
        {"capture": {"probe_port": 40001, "path": str(path)}}))
    # The core reads no run folder; the shell (CLI, load_run, analyze_many) asks it for the
    # probe port and passes it on.
    assert len(inferwire.analyze(path).connections) == 2
    for target in (path, tmp_path):
        options = with_run_probe(target, {"ignore_ports": (9,)})
        assert options == {"ignore_ports": (9, 40001)}
        a = inferwire.analyze(target, **options)
        assert list(a.connections["server"]) == ["10.0.0.2:8501"]
        assert list(a.requests["request_id"]) == ["real"]
    run = inferwire.load_run(path)
    assert list(run.connections["server"]) == ["10.0.0.2:8501"]


def _conversation_with_big_first_exchange():
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    req = http_request(request_id="a1", body=b"x" * 3000)
    c.client(100 * US, req[:1500])
    c.client(110 * US, req[1500:])
    r = http_response(b"z" * 3000)
    c.server(300 * US, r[:1500])
    c.server(310 * US, r[1500:])
    c.client(400 * US, http_request(request_id="a2"))
    c.server(600 * US, http_response(b"k" * 10))
    c.client(700 * US, http_request(request_id="a3"))
    c.server(950 * US, http_response(b"m" * 7))
    return c, len(req) - 1500, len(r) - 1500


@pytest.mark.parametrize("left_out", [(0, 1, 2, 3), (0, 1, 2, 3, 5)], ids=["requests", "both"])
def test_capture_begun_inside_messages_reads_from_the_next_message_start(tmp_path, left_out):
    """A capture begun inside a keep-alive exchange: the direction(s) that begin inside a body
    are read from the next request / status line (a packet's start), the bytes before said;
    the protocol is still found from the bytes (neither direction begins with a message when
    both are cut), and every later request pairs with its own response, to the ns."""
    c, req_tail, resp_tail = _conversation_with_big_first_exchange()
    packets = [p for i, p in enumerate(c.packets) if i not in left_out]   # no SYN, a1 cut
    a = inferwire.analyze(write_pcap(tmp_path / "mid.pcap", packets))
    r = a.requests
    assert list(r["request_id"]) == ["a2", "a3"]
    assert list(r["status"]) == [200, 200] and list(r["response_bytes"]) == [10, 7]
    assert list(r["wait_ms"]) == pytest.approx([0.2, 0.25]) and r["complete"].all()
    said = [w.split(": ", 1)[1] for w in a.warnings]
    assert (f"client->server: the capture began inside a message: its first {req_tail} bytes "
            f"(the end of a message sent before) skipped, read from the request line at stream "
            f"offset {req_tail}") in said
    if 5 not in left_out:      # the server's side begins with a1's whole response: left out
        assert ("1 HTTP/1.1 response at the start answer requests sent before the capture "
                "began: left out") in said
    else:                      # it begins inside a1's response: skipped to a2's
        assert (f"server->client: the capture began inside a message: its first {resp_tail} "
                f"bytes (the end of a message sent before) skipped, read from the status line "
                f"at stream offset {resp_tail}") in said


def test_message_start_is_a_registered_method_at_a_packet_or_line_start():
    from inferwire.exchanges.http1 import _message_start
    body_tail = b'0.5]]}' + b"POST /v1/models/m:predict HTTP/1.1\r\nHost: x\r\n\r\n"
    assert _message_start(body_tail, True) is None             # not at a packet or line start
    assert _message_start(body_tail, True, [6]) == 6           # ... unless a packet starts there
    assert _message_start(b"xxPOST / HTTP/1.1\r\n", True, [0]) is None
    assert _message_start(b"abc\r\nGET / HTTP/1.0\r\n", True) == 5
    assert _message_start(b'{"a": 1}HTTP/1.1 200 OK\r\n', False, [8]) == 8
    assert _message_start(b"HTTP/1.1 200 OK\r\n", False) == 0
