"""The TLS record layer (RFC 8446 5, RFC 5246 6.2), sans-IO: :class:`TlsRecordParser` is fed one
direction's reassembled TCP stream bytes with the stream offset of the first byte and returns
every :class:`TlsRecord` when its last byte arrives (``start`` inclusive, ``end`` exclusive, both
stream offsets including the 5-byte header).  Only an incomplete record is buffered, and
application-data bytes are not even buffered unless ``keep_application_data=True`` (needed to
decrypt).  Plaintext handshake messages are reassembled across records (:mod:`.handshake`) into
``parser.messages``.
"""
from __future__ import annotations

import struct
from typing import Literal, NamedTuple

from ...errors import ProtocolError
from ...problems import Problem
from .handshake import (ENCRYPTED_HANDSHAKE, SERVER_HELLO, HandshakeMessage, HandshakeReassembler,
                        looks_like_plain_hello)

Role = Literal["client", "server"]

RECORD_HEADER = struct.Struct(">BHH")  # content type, legacy record version, length
HEADER_LEN = RECORD_HEADER.size
# RFC 5246 6.2.3: TLSCiphertext.length MUST NOT exceed 2^14 + 2048 (TLS 1.2 and older).
MAX_RECORD_LENGTH = 2 ** 14 + 2048
# RFC 8446 5.2: in TLS 1.3 it MUST NOT exceed 2^14 + 256.
MAX_RECORD_LENGTH_TLS13 = 2 ** 14 + 256

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT = 20, 21, 22, 23, 24
CONTENT_TYPE_NAMES = {20: "change_cipher_spec", 21: "alert", 22: "handshake",
                      23: "application_data", 24: "heartbeat"}
_KEPT_TYPES = (CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE)


VERSION_NAMES = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2",
                 0x0304: "TLS 1.3"}
VERSION_CODES = {name: code for code, name in VERSION_NAMES.items()}


class TlsRecord(NamedTuple):
    """One TLS record: ``start``/``end`` are stream offsets of its header's first byte and one past
    its last byte; ``length`` the header's length field (bytes after the 5-byte header).

    ``payload`` holds the record's bytes after the header for handshake, change_cipher_spec and
    alert records, and for application_data when the parser keeps them; else None.  After
    decryption (:mod:`inferwire.protocols.tls.decrypt`) ``inner_type`` is the real content type
    (TLS 1.3 hides it inside type-23 records) and ``plaintext`` the decrypted content of
    handshake and alert records.
    """

    start: int
    end: int
    content_type: int
    version: int
    length: int
    payload: bytes | None
    inner_type: int | None = None
    plaintext: bytes | None = None


class TlsRecordParser:
    """Incremental TLS record parser for one direction of one TCP connection.

    ``feed(data, offset)`` takes the next contiguous stream bytes (``offset`` = stream offset of
    ``data[0]``, the byte after the previous chunk) and returns the records completed in them.
    Plaintext handshake messages accumulate in ``messages``, and the problems met in them (a
    malformed or over-long message: the records stay valid) in ``problems``.  A malformed header
    (unknown content type, version not 3.x, length above ``max_length``) or a non-contiguous
    offset raises
    :class:`ProtocolError` with its offset; its ``events`` attribute holds the records that the
    same call completed before it.  The parser then stays failed (``failure``): every later feed
    raises a new error with the same offset and field (and ``events == []``).

    ``max_length`` (bytes after the header) starts at 2^14+2048 (RFC 5246 6.2.3) and drops to
    2^14+256 (RFC 8446 5.2) once a TLS 1.3 ServerHello has been read in this direction; the
    caller sets it on the client direction from the server's (see :meth:`limit_to`).  When the
    stream ends, ``pending_record`` names a record whose length ran past the bytes fed.
    """

    def __init__(self, role: Role, *, keep_application_data: bool = False):
        if role not in ("client", "server"):
            raise ValueError(f"role must be 'client' or 'server', not {role!r}")
        self.role = role
        self.keep_application_data = keep_application_data
        self.messages: list[HandshakeMessage] = []
        self.problems: list[Problem] = []   # malformed or over-long handshake messages
        self._handshake = HandshakeReassembler(problems=self.problems, direction=role)
        self._next = None          # stream offset expected next; None before the first feed
        self._header = bytearray()  # partial record header
        self._current: tuple[int, int, int, int] | None = None  # start, type, version, length
        self._body: bytearray | None = None  # kept bytes of the current record
        self._remaining = 0
        self._after_ccs = False
        self._failed: ProtocolError | None = None
        self.max_length = MAX_RECORD_LENGTH

    def limit_to(self, max_length: int) -> None:
        """Refuse records longer than ``max_length`` bytes from now on (never raises the limit)."""
        self.max_length = min(self.max_length, max_length)

    @property
    def failure(self) -> ProtocolError | None:
        """The error that stopped the parser, or None."""
        return self._failed

    @property
    def pending_record(self) -> tuple[int, int, int] | None:
        """``(start, content_type, length)`` of the record whose body the bytes fed so far end
        inside (its header was read), or None."""
        if self._current is None:
            return None
        start, ctype, _, length = self._current
        return start, ctype, length

    @property
    def incomplete(self) -> bool:
        """True when the bytes fed so far end inside a record."""
        return bool(self._header) or self._current is not None

    @property
    def pending_start(self) -> int | None:
        """Stream offset of the incomplete record's first byte, or None."""
        if self._current is not None:
            return self._current[0]
        return self._next - len(self._header) if self._header else None

    def feed(self, data: bytes | memoryview, offset: int) -> list[TlsRecord]:
        """Consume ``data`` starting at stream ``offset``; return the records it completed."""
        out: list[TlsRecord] = []
        try:
            self._feed(data, offset, out)
        except ProtocolError as exc:
            # As the other parsers of this package: the records completed before the bad byte
            # in this call ride on the error; later calls raise it again with none.
            exc.events = out
            raise
        return out

    def _feed(self, data, offset: int, out: list[TlsRecord]) -> None:
        if self._failed is not None:
            failed = self._failed
            stopped = ProtocolError(f"TLS parser stopped by an earlier error: {failed}")
            stopped.offset, stopped.field = failed.offset, failed.field
            raise stopped
        if self._next is not None and offset != self._next:
            self._fail(f"stream bytes are not contiguous: expected offset {self._next}, got "
                       f"{offset}", offset, "offset")
        self._next = offset + len(data)
        view = memoryview(data)
        pos, n = 0, len(view)
        while pos < n:
            if self._current is None:
                pos = self._read_header(view, pos, offset, out)
            else:
                pos = self._read_body(view, pos, offset, out)

    def _fail(self, message: str, offset: int, field_name: str) -> None:
        self._failed = ProtocolError(message, offset=offset, field=field_name)
        raise self._failed

    def _read_header(self, view: memoryview, pos: int, offset: int,
                     out: list[TlsRecord]) -> int:
        take = min(HEADER_LEN - len(self._header), len(view) - pos)
        self._header += view[pos:pos + take]
        pos += take
        if len(self._header) < HEADER_LEN:
            return pos
        start = offset + pos - HEADER_LEN
        ctype, version, length = RECORD_HEADER.unpack(self._header)
        self._header.clear()
        self._check_header(start, ctype, version, length)
        self._current = (start, ctype, version, length)
        self._remaining = length
        keep = ctype in _KEPT_TYPES or (ctype == APPLICATION_DATA and self.keep_application_data)
        self._body = bytearray() if keep else None
        if length == 0:  # complete with its header (empty records are legal in TLS 1.2)
            self._finish_record(offset + pos, out)
        return pos

    def _check_header(self, start: int, ctype: int, version: int, length: int) -> None:
        if ctype not in CONTENT_TYPE_NAMES:
            hint = " (an SSLv2 ClientHello?)" if ctype & 0x80 else ""
            self._fail(f"not a TLS record: content type {ctype}{hint}", start, "content_type")
        if version >> 8 != 3 or version & 0xFF > 4:
            self._fail(f"not a TLS record: version 0x{version:04x}", start, "version")
        if length > self.max_length:
            limit = ("2^14+256 (TLS 1.3, RFC 8446 5.2)" if self.max_length == MAX_RECORD_LENGTH_TLS13
                     else "2^14+2048 (RFC 5246 6.2.3)" if self.max_length == MAX_RECORD_LENGTH
                     else str(self.max_length))
            self._fail(f"record length {length} exceeds the maximum {limit}", start, "length")

    def _read_body(self, view: memoryview, pos: int, offset: int, out: list[TlsRecord]) -> int:
        take = min(self._remaining, len(view) - pos)
        if self._body is not None:
            self._body += view[pos:pos + take]
        pos += take
        self._remaining -= take
        if self._remaining == 0:
            self._finish_record(offset + pos, out)
        return pos

    def _finish_record(self, end: int, out: list[TlsRecord]) -> None:
        start, ctype, version, length = self._current
        payload = bytes(self._body) if self._body is not None else None
        self._current, self._body = None, None
        out.append(TlsRecord(start, end, ctype, version, length, payload))
        if ctype == HANDSHAKE:
            self._on_handshake(start, end, payload)
        elif ctype == CHANGE_CIPHER_SPEC:
            self._after_ccs = True

    def _on_handshake(self, start: int, end: int, payload: bytes) -> None:
        if self._after_ccs and not self._handshake.pending and not looks_like_plain_hello(payload):
            self.messages.append(HandshakeMessage(ENCRYPTED_HANDSHAKE, start, end,
                                                  {"length": len(payload)}))
            return
        new = self._handshake.feed(payload, start, end)
        self.messages.extend(new)
        for m in new:
            if (m.msg_type == SERVER_HELLO and m.fields.get("selected_version") == 0x0304
                    and not m.fields.get("hello_retry_request")):
                self.limit_to(MAX_RECORD_LENGTH_TLS13)
