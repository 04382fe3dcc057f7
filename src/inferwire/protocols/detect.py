"""Guess a connection's application protocol from its first bytes.

``detect(client_bytes, server_bytes)`` returns ``"h2"``, ``"tls"``, ``"http/1.1"`` or ``None``.
Pure: it looks only at the bytes it is given (the first bytes of each direction of one TCP
connection) and never raises on any input.

Decisions:

* ``"h2"`` (prior knowledge / h2c): the client bytes start with the connection preface
  ``PRI * HTTP/2.0\\r\\n\\r\\nSM\\r\\n\\r\\n``.  A *prefix* of the preface counts when at least the
  first 4 bytes (``PRI ``) are present and everything present matches: the method ``PRI`` is
  reserved by RFC 9113 section 3.4 for the preface, so no HTTP/1 request starts that way.
* ``"tls"``: a TLS record header (content type 22 = handshake, version 3.0-3.4) followed by
  handshake type 1 (ClientHello); 6 bytes are needed.
* ``"http/1.1"``: a request line ``token SP target SP HTTP/1.x`` (HTTP/1.0 included).
* When the client bytes decide nothing (empty, too short, or a capture that began mid-connection),
  the server's first bytes are tried: a SETTINGS frame on stream 0 -> ``"h2"``, a TLS record
  carrying a ServerHello -> ``"tls"``, a status line ``HTTP/1.x DDD`` -> ``"http/1.1"``.
* HTTP/2 via HTTP/1.1 ``Upgrade: h2c`` is rare and reported as ``"http/1.1"``: the connection
  starts as HTTP/1.1; :class:`inferwire.protocols.http1.Http1Parser` stops at the 101 response
  (server side) and at the HTTP/2 preface (client side) and reports where in ``upgraded_at``.
"""
from __future__ import annotations

import re

H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
_H2_MIN_PREFIX = 4  # b"PRI "

_TLS_HANDSHAKE = 0x16
_TLS_CLIENT_HELLO = 1
_TLS_SERVER_HELLO = 2
_H2_SETTINGS = 4

# token SP request-target SP HTTP/1.x (RFC 9112 section 3); the line end need not be present yet.
_REQUEST_LINE = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+ [^\s]+ HTTP/1\.[0-9]")
_STATUS_LINE = re.compile(rb"HTTP/1\.[0-9] [0-9]{3}")


def detect(client_bytes: bytes, server_bytes: bytes = b"") -> str | None:
    """Return ``"h2"``, ``"tls"``, ``"http/1.1"`` or ``None`` (unknown or not enough bytes)."""
    found = _detect_client(bytes(client_bytes[:64]))
    if found is None:
        found = _detect_server(bytes(server_bytes[:64]))
    return found


def _detect_client(head: bytes) -> str | None:
    if len(head) >= _H2_MIN_PREFIX and H2_PREFACE.startswith(head[:len(H2_PREFACE)]):
        return "h2"
    if _is_tls_record(head, _TLS_CLIENT_HELLO):
        return "tls"
    if _REQUEST_LINE.match(head):
        return "http/1.1"
    return None


def _detect_server(head: bytes) -> str | None:
    if _is_tls_record(head, _TLS_SERVER_HELLO):
        return "tls"
    if _STATUS_LINE.match(head):
        return "http/1.1"
    if _is_h2_server_settings(head):
        return "h2"
    return None


def _is_tls_record(head: bytes, handshake_type: int) -> bool:
    """A TLS handshake record header (5 bytes) whose first handshake message has the given type."""
    return (len(head) >= 6 and head[0] == _TLS_HANDSHAKE and head[1] == 3 and head[2] <= 4
            and head[5] == handshake_type)


def _is_h2_server_settings(head: bytes) -> bool:
    """The server's connection preface: a non-ACK SETTINGS frame on stream 0 (RFC 9113 3.4)."""
    if len(head) < 9:
        return False
    length = int.from_bytes(head[0:3], "big")
    stream_id = int.from_bytes(head[5:9], "big") & 0x7FFFFFFF
    return head[3] == _H2_SETTINGS and head[4] == 0 and stream_id == 0 and length % 6 == 0
