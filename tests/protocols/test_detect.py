"""detect(): protocol of a connection from its first bytes."""
from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inferwire.protocols.detect import H2_PREFACE, detect

CLIENT_HELLO_HEAD = bytes([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xFC, 0x03, 0x03])
SERVER_HELLO_HEAD = bytes([0x16, 0x03, 0x03, 0x00, 0x7A, 0x02, 0x00, 0x00, 0x76, 0x03, 0x03])
H2_SERVER_SETTINGS = struct.pack(">I", 12)[1:] + bytes([4, 0]) + b"\0\0\0\0" + \
    struct.pack(">HIHI", 3, 100, 4, 65535)


@pytest.mark.parametrize("client, expected", [
    (H2_PREFACE, "h2"),
    (H2_PREFACE + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00", "h2"),
    (H2_PREFACE[:4], "h2"),              # "PRI " already decides: PRI is reserved for h2
    (H2_PREFACE[:13], "h2"),
    (H2_PREFACE[:3], None),              # "PRI" alone: too short to decide
    (b"PRI * HTTP/1.1\r\n", "http/1.1"),  # not the preface, but a well-formed request line
    (CLIENT_HELLO_HEAD, "tls"),
    (bytes([0x16, 0x03, 0x04, 0, 5, 1]), "tls"),
    (CLIENT_HELLO_HEAD[:5], None),       # record header without handshake type
    (bytes([0x16, 0x03, 0x05, 0, 5, 1]), None),   # version 3.5 does not exist
    (bytes([0x16, 0x03, 0x01, 0, 5, 2]), None),   # a ServerHello from a client
    (bytes([0x17, 0x03, 0x03, 0, 5, 1]), None),   # application data, not a handshake
    (b"GET /v1/models/mnist HTTP/1.1\r\nHost: x\r\n\r\n", "http/1.1"),
    (b"POST /v1/models/mnist:predict HTTP/1.0\r\n", "http/1.1"),
    (b"GET / HTTP/1.1", "http/1.1"),     # line end not needed
    (b"GET / HTTP/2.0\r\n", None),
    (b"GET /\r\n", None),
    (b"G\x00T / HTTP/1.1\r\n", None),
    (b"", None),
    (b"\x00\x00\x12\x04\x00\x00\x00\x00\x00", None),  # h2 frames without preface (mid-connection)
])
def test_client_bytes(client, expected):
    assert detect(client) == expected


@pytest.mark.parametrize("server, expected", [
    (H2_SERVER_SETTINGS, "h2"),
    (SERVER_HELLO_HEAD, "tls"),
    (b"HTTP/1.1 200 OK\r\n", "http/1.1"),
    (b"HTTP/1.0 404", "http/1.1"),
    (b"HTTP/1.1 20", None),
    (H2_SERVER_SETTINGS[:8], None),
    (b"\x00\x00\x05\x04\x00\x00\x00\x00\x00", None),  # SETTINGS length not a multiple of 6
    (b"\x00\x00\x00\x04\x01\x00\x00\x00\x00", None),  # an ACK is not the server preface
    (b"\x00\x00\x00\x04\x00\x00\x00\x00\x01", None),  # SETTINGS on stream 1
])
def test_server_bytes_when_client_bytes_decide_nothing(server, expected):
    assert detect(b"", server) == expected
    assert detect(b"\x00garbage", server) == expected


def test_client_bytes_win_over_server_bytes():
    assert detect(b"GET / HTTP/1.1\r\n", H2_SERVER_SETTINGS) == "http/1.1"
    assert detect(H2_PREFACE, b"HTTP/1.1 400 Bad Request\r\n") == "h2"


def test_accepts_bytearray_and_memoryview():
    assert detect(bytearray(H2_PREFACE), memoryview(b"")) == "h2"
    assert detect(memoryview(CLIENT_HELLO_HEAD)) == "tls"


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=80), st.binary(max_size=80))
def test_never_raises(client, server):
    assert detect(client, server) in ("h2", "tls", "http/1.1", None)
