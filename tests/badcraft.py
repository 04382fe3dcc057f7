"""Crafted bad inputs shared by tests/badinput and the fuzz corpus: captures whose one odd
value (a huge status, a bogus length) must cost a warning, never the whole analysis."""
from __future__ import annotations

from craft import Conversation, http_request, http_response, write_pcap
from test_analyze_http2 import H2Pair, grpc_msg, grpc_request_headers

US = 1_000
HUGE = "99999999999999999999999"          # > 2**63: did not fit the int64 column


def grpc_capture(path, status="200", grpc_status="0"):
    """One gRPC call whose response carries ``status`` and ``grpc_status``."""
    c = Conversation(server=("10.0.0.2", 8500))
    c.handshake(0, 10 * US, 20 * US)
    h = H2Pair()
    h.cli.initiate_connection()
    c.client(100 * US, h.flush_client())
    h.srv.initiate_connection()
    c.server(150 * US, h.flush_server())
    c.client(200 * US, h.flush_client())
    h.cli.send_headers(1, grpc_request_headers("s1"))
    h.cli.send_data(1, grpc_msg(b"a"), end_stream=True)
    c.client(300 * US, h.flush_client())
    h.srv.send_headers(1, [(":status", status), ("content-type", "application/grpc")])
    h.srv.send_data(1, grpc_msg(b"r"))
    h.srv.send_headers(1, [("grpc-status", grpc_status)], end_stream=True)
    c.server(1_000 * US, h.flush_server())
    return write_pcap(path, c.packets)


def http1_capture(path, content_length: bytes):
    c = Conversation()
    c.handshake(0, 10 * US, 20 * US)
    c.client(100 * US, http_request().replace(b"Content-Length: 2", b"Content-Length: "
                                              + content_length))
    c.server(200 * US, http_response())
    c.client(300 * US, http_request(request_id="r2"))
    return write_pcap(path, c.packets)
