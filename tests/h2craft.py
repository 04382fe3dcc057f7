"""Crafted HTTP/2 and gRPC conversations for the analyzer's tests.

The HTTP/2 bytes come from python-hyper's ``h2`` (an independent implementation), the timing from
:class:`craft.Conversation` packets at exact times.
"""
import struct

import h2.config
import h2.connection

from craft import Conversation

US = 1_000


def grpc_msg(payload: bytes) -> bytes:
    """One gRPC length-prefixed message (not compressed)."""
    return b"\x00" + struct.pack(">I", len(payload)) + payload


class H2Pair:
    """A client and a server h2 connection; ``flush_*`` returns the bytes one side has to send."""

    def __init__(self):
        self.cli = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        self.srv = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False))

    def flush_client(self) -> bytes:
        data = self.cli.data_to_send()
        self.srv.receive_data(data)
        return data

    def flush_server(self) -> bytes:
        data = self.srv.data_to_send()
        self.cli.receive_data(data)
        return data


def grpc_request_headers(rid):
    return [(":method", "POST"), (":scheme", "http"), (":path",
            "/tensorflow.serving.PredictionService/Predict"), (":authority", "localhost:8500"),
            ("content-type", "application/grpc"), ("te", "trailers"), ("x-request-id", rid)]


def h2_setup(port=8500) -> tuple[Conversation, H2Pair]:
    """A prior-knowledge HTTP/2 connection to 10.0.0.2:``port``, set up: TCP handshake at 0, 10
    and 20 us, the client's preface + SETTINGS at 100 us, the server's SETTINGS + ACK at 150 us,
    the client's ACK at 200 us (``h2_setup_ms`` 0.1)."""
    c = Conversation(server=("10.0.0.2", port))
    c.handshake(0, 10 * US, 20 * US)
    h = H2Pair()
    h.cli.initiate_connection()
    c.client(100 * US, h.flush_client())                       # preface + SETTINGS
    h.srv.initiate_connection()
    c.server(150 * US, h.flush_server())                       # SETTINGS + ACK
    c.client(200 * US, h.flush_client())                       # client's ACK
    return c, h
