"""Crafted bad inputs shared by tests/badinput and the fuzz corpus: captures whose one odd
value (a huge status, a bogus length) must cost a warning, never the whole analysis."""
from __future__ import annotations

import struct

from craft import Conversation, http_request, http_response, write_pcap
from h2craft import grpc_msg, grpc_request_headers, h2_setup
from analysis.test_analyze_tls_damaged import CLIENT_FINISHED, SERVER_FLIGHT, _ext, rec

US = 1_000
HUGE = "99999999999999999999999"          # > 2**63: did not fit the int64 column


def grpc_capture(path, status="200", grpc_status="0"):
    """One gRPC call whose response carries ``status`` and ``grpc_status``."""
    c, h = h2_setup()
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


def client_hello(exts: bytes, length: int | None = None) -> bytes:
    """A TLS 1.3 ClientHello handshake message with extensions block ``exts`` (raw);
    ``length`` overrides the handshake header's length field."""
    body = (b"\x03\x03" + b"\x11" * 32 + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
            + struct.pack(">H", len(exts)) + exts)
    return bytes([1]) + (len(body) if length is None else length).to_bytes(3, "big") + body


__all__ = ["HUGE", "US", "BAD_HELLOS", "SERVER_FLIGHT", "CLIENT_FINISHED", "rec",
           "client_hello", "grpc_capture", "http1_capture", "tls_capture"]

SUPPORTED_13 = _ext(43, b"\x04\x03\x04\x03\x03")
BAD_HELLOS = {   # name -> a ClientHello whose one length field lies
    "sni_list_length": client_hello(_ext(0, struct.pack(">H", 500) + b"\x00\x00\x03abc")
                                    + SUPPORTED_13),
    "extension_length": client_hello(struct.pack(">HH", 16, 9000) + b"\x00\x02"),
    "alpn_length": client_hello(_ext(16, struct.pack(">H", 3) + b"\x09h2") + SUPPORTED_13),
    "handshake_length": client_hello(SUPPORTED_13, length=0xFFFFFF),
}


def tls_capture(path, hello: bytes):
    """A keyless TLS 1.3 connection whose first client record carries ``hello``."""
    c = Conversation(server=("10.0.0.2", 8443))
    c.handshake(0, 10 * US, 20 * US)
    c.client(100 * US, rec(22, hello))
    c.server(300 * US, SERVER_FLIGHT)
    c.client(500 * US, CLIENT_FINISHED + rec(23, b"q" * 217))
    c.server(900 * US, rec(23, b"r" * 317))
    c.fin_from_client(2_000 * US)
    c.fin_from_server(2_100 * US)
    return write_pcap(path, c.packets)
