"""exchanges.http2: HTTP/2 and gRPC exchanges of one connection, from crafted captures at exact
time stamps.  The vectorised path of a plain TCP connection (``_tcp_exchanges``: every stream's
offsets mapped to times in one look-up per direction) gives the same exchanges as the general
path through any Timeline (``_exchange``, taken for TLS plaintext), field for field."""
from __future__ import annotations

import dataclasses

from analysis.test_analyze_http2 import H2Pair, build_multiplexed, grpc_msg, grpc_request_headers
from craft import T0_NS, Conversation, write_pcap
from inferwire.exchanges.http2 import http2_exchanges
from inferwire.exchanges.timeline import TcpTimeline
from inferwire.packets import read_packets
from inferwire.tcp import build_connections

US = 1_000


class _AnyTimeline:
    """A Timeline that is not a TcpTimeline: http2_exchanges takes its general path."""

    def __init__(self, stream):
        self._tcp = TcpTimeline(stream)

    def __getattr__(self, name):
        return getattr(self._tcp, name)


def _connection(path):
    with read_packets(path) as table:
        (conn,) = build_connections(table)
        yield conn


def _both_paths(path):
    """(exchanges, setup ns, warnings) by the vectorised path and by the general one."""
    out = []
    for timeline in (TcpTimeline, _AnyTimeline):
        for conn in _connection(path):
            warnings: list = []
            exchanges, setup, _ = http2_exchanges(timeline(conn.to_server),
                                                  timeline(conn.to_client), warnings)
            out.append(([dataclasses.asdict(e) for e in exchanges], setup, warnings))
    return out


def test_multiplexed_grpc_streams_at_exact_times(tmp_path):
    (fast, setup, warnings), general = _both_paths(build_multiplexed(tmp_path))
    assert (fast, setup, warnings) == general
    s1, s3 = sorted(fast, key=lambda e: e["stream"])
    assert s1["protocol"] == s3["protocol"] == "grpc"
    assert (s1["req_start_ns"], s1["req_end_ns"], s1["resp_start_ns"], s1["resp_end_ns"]) == (
        T0_NS + 300 * US, T0_NS + 320 * US, T0_NS + 1_100 * US, T0_NS + 1_200 * US)
    assert (s3["req_start_ns"], s3["req_end_ns"], s3["resp_start_ns"], s3["resp_end_ns"]) == (
        T0_NS + 310 * US, T0_NS + 330 * US, T0_NS + 1_000 * US, T0_NS + 1_300 * US)
    assert setup == 100 * US            # preface at 100 us to the client's SETTINGS ACK at 200
    assert (s1["grpc_status"], s1["error"], s3["grpc_status"], s3["error"]) == (0, None, 3, "bad")
    assert (s1["request_bytes"], s1["response_bytes"]) == (105, 25)
    assert s1["complete"] and s3["complete"] and s1["request_id"] == "s1"
    assert s1["request_frame"] is not None and s3["response_frame"] > s3["request_frame"]
    assert warnings == []


def _cut_stream(tmp_path):
    """A gRPC call whose response never ends, and an h2 (not gRPC) GET answered in full."""
    c = Conversation(server=("10.0.0.2", 8500))
    c.handshake(0, 10 * US, 20 * US)
    h = H2Pair()
    h.cli.initiate_connection()
    c.client(100 * US, h.flush_client())
    h.srv.initiate_connection()
    c.server(150 * US, h.flush_server())
    c.client(200 * US, h.flush_client())
    h.cli.send_headers(1, grpc_request_headers("cut"))
    h.cli.send_data(1, grpc_msg(b"a" * 10), end_stream=True)
    c.client(300 * US, h.flush_client())
    h.cli.send_headers(3, [(":method", "GET"), (":scheme", "http"), (":path", "/v1/models/m"),
                           (":authority", "x"), ("x-request-id", "get")], end_stream=True)
    c.client(400 * US, h.flush_client())
    h.srv.send_headers(1, [(":status", "200"), ("content-type", "application/grpc")])
    c.server(500 * US, h.flush_server())
    h.srv.send_headers(3, [(":status", "200"), ("content-type", "application/json")])
    h.srv.send_data(3, b"{}", end_stream=True)
    c.server(600 * US, h.flush_server())
    return write_pcap(tmp_path / "cut.pcap", c.packets)


def test_a_stream_not_seen_to_its_end_keeps_only_what_was_seen(tmp_path):
    (fast, setup, warnings), general = _both_paths(_cut_stream(tmp_path))
    assert (fast, setup, warnings) == general
    cut, get = sorted(fast, key=lambda e: e["stream"])
    assert cut["protocol"] == "grpc" and not cut["complete"]
    assert cut["resp_start_ns"] == T0_NS + 500 * US and cut["resp_end_ns"] is None
    assert cut["response_bytes"] is None and cut["request_bytes"] == 15
    assert get["protocol"] == "h2" and get["complete"] and get["method"] == "GET"
    assert (get["req_start_ns"], get["req_end_ns"], get["resp_end_ns"]) == (
        T0_NS + 400 * US, T0_NS + 400 * US, T0_NS + 600 * US)
    assert get["status"] == 200 and get["response_bytes"] == 2 and get["request_bytes"] == 0
