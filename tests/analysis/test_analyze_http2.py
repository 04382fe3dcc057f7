"""End to end on crafted pcaps: HTTP/2 + gRPC phases per stream under multiplexing, to the ns.

The HTTP/2 bytes come from python-hyper's ``h2`` (an independent implementation), the timing from
scapy packets at exact times.
"""
import pandas as pd
import pytest

import inferwire
from craft import Conversation, write_pcap
from h2craft import US, H2Pair, grpc_msg, grpc_request_headers, h2_setup


def build_multiplexed(tmp_path):
    c, h = h2_setup()
    h.cli.send_headers(1, grpc_request_headers("s1"))
    c.client(300 * US, h.flush_client())
    h.cli.send_headers(3, grpc_request_headers("s3"))
    c.client(310 * US, h.flush_client())
    h.cli.send_data(1, grpc_msg(b"a" * 100), end_stream=True)
    c.client(320 * US, h.flush_client())
    h.cli.send_data(3, grpc_msg(b"b" * 50), end_stream=True)
    c.client(330 * US, h.flush_client())
    h.srv.send_headers(3, [(":status", "200"), ("content-type", "application/grpc")])
    h.srv.send_data(3, grpc_msg(b"r" * 40))
    c.server(1_000 * US, h.flush_server())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    c.server(1_100 * US, h.flush_server())
    h.srv.send_data(1, grpc_msg(b"q" * 20))
    h.srv.send_headers(1, [("grpc-status", "0")], end_stream=True)
    c.server(1_200 * US, h.flush_server())
    h.srv.send_headers(3, [("grpc-status", "3"), ("grpc-message", "bad")], end_stream=True)
    c.server(1_300 * US, h.flush_server())
    return write_pcap(tmp_path / "h2.pcap", c.packets)


def test_multiplexed_grpc_streams_exact_phases(tmp_path):
    a = inferwire.analyze(build_multiplexed(tmp_path))
    r = a.requests.set_index("stream")
    assert sorted(r.index) == [1, 3]
    assert set(r["protocol"]) == {"grpc"}
    s1, s3 = r.loc[1], r.loc[3]
    assert s1["request_id"] == "s1" and s3["request_id"] == "s3"
    assert (s1["request_ms"], s1["wait_ms"], s1["response_ms"], s1["total_ms"]) == pytest.approx(
        (0.02, 0.78, 0.1, 0.9))
    assert (s3["request_ms"], s3["wait_ms"], s3["response_ms"], s3["total_ms"]) == pytest.approx(
        (0.02, 0.67, 0.3, 0.99))
    assert s1["grpc_status"] == 0 and s3["grpc_status"] == 3 and s1["status"] == 200
    assert s1["request_bytes"] == 105 and s1["response_bytes"] == 25
    assert s3["request_bytes"] == 55 and s3["response_bytes"] == 45
    assert s1["path"] == "/tensorflow.serving.PredictionService/Predict"
    assert s1["method"] == "POST"
    # setup phases only on the connection's first request (stream 1 starts first)
    assert s1["tcp_handshake_ms"] == pytest.approx(0.02)
    assert s1["h2_setup_ms"] == pytest.approx(0.1)
    assert s3[["tcp_handshake_ms", "h2_setup_ms"]].isna().all()
    conn = a.connections.iloc[0]
    assert conn["protocol"] == "grpc" and conn["requests"] == 2
    assert conn["h2_setup_ms"] == pytest.approx(0.1)


def test_sizes_of_a_stream_not_seen_to_its_end_are_empty(tmp_path):
    """A response cut by the capture's end: its DATA so far is not its size (empty, not a count
    of what was seen); the request, seen to END_STREAM, keeps its exact size."""
    c, h = h2_setup()
    h.cli.send_headers(1, grpc_request_headers("cut"))
    h.cli.send_data(1, grpc_msg(b"a" * 100), end_stream=True)
    c.client(300 * US, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    h.srv.send_data(1, grpc_msg(b"r" * 40))                    # no trailers: capture ends
    c.server(900 * US, h.flush_server())
    a = inferwire.analyze(write_pcap(tmp_path / "cut.pcap", c.packets))
    row = a.requests.iloc[0]
    assert row["request_bytes"] == 105 and pd.isna(row["response_bytes"])
    assert not bool(row["complete"]) and pd.isna(row["response_end"])
    assert row["wait_ms"] == pytest.approx(0.6)
    assert any("1 of 1 request not seen to its end (the capture ended before the connection "
               "did)" in w for w in a.warnings)


def test_h2_connection_already_open_gives_no_rows_and_says_why(tmp_path):
    """HPACK state is set up from a connection's start: one whose start (SYN, preface,
    SETTINGS) the capture missed gives no invented rows, and the warning says why."""
    c = Conversation(server=("10.0.0.2", 8500))
    h = H2Pair()
    h.cli.initiate_connection()
    h.flush_client()                                           # before the capture began
    h.srv.initiate_connection()
    h.flush_server()
    h.flush_client()
    h.cli.send_headers(1, grpc_request_headers("m1"), end_stream=True)
    c.client(100 * US, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    c.server(300 * US, h.flush_server())
    a = inferwire.analyze(write_pcap(tmp_path / "mid.pcap", c.packets))
    assert len(a.requests) == 0
    conn = a.connections.iloc[0]
    assert not bool(conn["start_seen"]) and conn["protocol"] == ""
    assert "the capture began in the middle of this connection" in conn["warnings"]
    assert len(a.warnings) == 1 and "start the capture before the connections open" in a.warnings[0]
