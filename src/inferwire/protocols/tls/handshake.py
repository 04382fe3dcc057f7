"""TLS handshake messages (RFC 8446 4, RFC 5246 7.4), plaintext or decrypted: the message types,
:class:`HandshakeMessage`, body parsing (:func:`parse_handshake_body`) and
:class:`HandshakeReassembler`, which cuts consecutive handshake records' content into messages.
"""
from __future__ import annotations

from typing import NamedTuple

from ...errors import ProtocolError
from ...problems import Problem

# Longest handshake message we buffer to parse (certificate chains are rarely above 64 KiB);
# longer messages are counted, not kept, and reported with fields {"truncated": True}.
MAX_HANDSHAKE_MESSAGE = 2 ** 18


CLIENT_HELLO, SERVER_HELLO, NEW_SESSION_TICKET, END_OF_EARLY_DATA = 1, 2, 4, 5
ENCRYPTED_EXTENSIONS, CERTIFICATE, SERVER_KEY_EXCHANGE, CERTIFICATE_REQUEST = 8, 11, 12, 13
SERVER_HELLO_DONE, CERTIFICATE_VERIFY, CLIENT_KEY_EXCHANGE, FINISHED = 14, 15, 16, 20
KEY_UPDATE = 24
# Not a wire value: a type-22 record sent after ChangeCipherSpec whose content is encrypted
# (the TLS 1.2 Finished, or a renegotiation); it cannot be parsed without keys.
ENCRYPTED_HANDSHAKE = -1
HANDSHAKE_NAMES = {
    0: "hello_request", 1: "client_hello", 2: "server_hello", 4: "new_session_ticket",
    5: "end_of_early_data", 8: "encrypted_extensions", 11: "certificate",
    12: "server_key_exchange", 13: "certificate_request", 14: "server_hello_done",
    15: "certificate_verify", 16: "client_key_exchange", 20: "finished",
    22: "certificate_status", 24: "key_update", 254: "message_hash",
    ENCRYPTED_HANDSHAKE: "encrypted_handshake",
}
# RFC 8446 4.1.3: a ServerHello with this random is a HelloRetryRequest.
HRR_RANDOM = bytes.fromhex("cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c")


EXT_SERVER_NAME, EXT_SUPPORTED_GROUPS, EXT_ALPN, EXT_EXTENDED_MASTER_SECRET = 0, 10, 16, 23
EXT_SESSION_TICKET, EXT_PRE_SHARED_KEY, EXT_EARLY_DATA, EXT_SUPPORTED_VERSIONS = 35, 41, 42, 43
EXT_KEY_SHARE = 51


class HandshakeMessage(NamedTuple):
    """One handshake message; ``start`` is the stream offset of the record carrying its first byte,
    ``end`` the end (exclusive) of the record carrying its last byte.  ``fields`` holds what was
    parsed (see the module README).  ``msg_type`` is :data:`ENCRYPTED_HANDSHAKE` (-1) for an
    encrypted type-22 record that could not be read."""

    msg_type: int
    start: int
    end: int
    fields: dict

    @property
    def name(self) -> str:
        if self.msg_type == SERVER_HELLO and self.fields.get("hello_retry_request"):
            return "hello_retry_request"
        return HANDSHAKE_NAMES.get(self.msg_type, f"handshake_{self.msg_type}")


class _Reader:
    """Cursor over one handshake message body; every short read is a ProtocolError naming the
    field and the stream offset of the record that carried the message."""

    __slots__ = ("data", "pos", "offset", "msg")

    def __init__(self, data: bytes, offset: int, msg: str):
        self.data, self.pos, self.offset, self.msg = data, 0, offset, msg

    def take(self, n: int, name: str) -> bytes:
        if self.pos + n > len(self.data):
            raise ProtocolError(f"{self.msg} is truncated in {name}: needs {n} bytes, "
                                f"{len(self.data) - self.pos} left",
                                offset=self.offset, field=f"{self.msg}.{name}")
        out = self.data[self.pos:self.pos + n]
        self.pos += n
        return out

    def uint(self, n: int, name: str) -> int:
        return int.from_bytes(self.take(n, name), "big")

    def vector(self, len_bytes: int, name: str) -> bytes:
        return self.take(self.uint(len_bytes, name + "_length"), name)

    def left(self) -> int:
        return len(self.data) - self.pos


def _u16_list(data: bytes) -> list[int]:
    return [int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data) - 1, 2)]


def _extensions(r: _Reader) -> dict[int, bytes]:
    """Extensions block (absent in old hellos = empty); type -> raw data."""
    if r.left() == 0:
        return {}
    block = _Reader(r.vector(2, "extensions"), r.offset, r.msg)
    out: dict[int, bytes] = {}
    while block.left():
        ext_type = block.uint(2, "extension_type")
        out[ext_type] = block.vector(2, f"extension_{ext_type}")
    return out


def _sni(data: bytes, r: _Reader) -> str | None:
    names = _Reader(_Reader(data, r.offset, r.msg).vector(2, "server_name_list"), r.offset, r.msg)
    while names.left():
        kind = names.uint(1, "server_name.type")
        name = names.vector(2, "server_name.host_name")
        if kind == 0:
            return name.decode("ascii", "replace")
    return None


def _alpn(data: bytes, r: _Reader) -> list[str]:
    protos = _Reader(_Reader(data, r.offset, r.msg).vector(2, "alpn_list"), r.offset, r.msg)
    out = []
    while protos.left():
        out.append(protos.vector(1, "alpn_protocol").decode("ascii", "replace"))
    return out


def _key_share_groups(data: bytes, r: _Reader) -> list[int]:
    shares = _Reader(_Reader(data, r.offset, r.msg).vector(2, "client_shares"), r.offset, r.msg)
    out = []
    while shares.left():
        out.append(shares.uint(2, "key_share.group"))
        shares.vector(2, "key_share.key_exchange")
    return out


def _parse_client_hello(r: _Reader) -> dict:
    f = {"legacy_version": r.uint(2, "legacy_version"), "random": r.take(32, "random"),
         "session_id": r.vector(1, "session_id"),
         "cipher_suites": _u16_list(r.vector(2, "cipher_suites")),
         "compression_methods": list(r.vector(1, "compression_methods"))}
    ext = _extensions(r)
    f["extensions"] = list(ext)
    f["sni"] = _sni(ext[EXT_SERVER_NAME], r) if ext.get(EXT_SERVER_NAME) else None
    f["alpn"] = _alpn(ext[EXT_ALPN], r) if EXT_ALPN in ext else []
    versions = ext.get(EXT_SUPPORTED_VERSIONS, b"")
    f["supported_versions"] = _u16_list(versions[1:1 + versions[0]]) if versions else []
    f["key_share_groups"] = _key_share_groups(ext[EXT_KEY_SHARE], r) if ext.get(EXT_KEY_SHARE) \
        else []
    f["psk"] = EXT_PRE_SHARED_KEY in ext
    f["early_data"] = EXT_EARLY_DATA in ext
    f["session_ticket"] = bool(ext.get(EXT_SESSION_TICKET))  # non-empty = ticket offered
    return f


def _parse_server_hello(r: _Reader) -> dict:
    f = {"legacy_version": r.uint(2, "legacy_version"), "random": r.take(32, "random"),
         "session_id": r.vector(1, "session_id"), "cipher_suite": r.uint(2, "cipher_suite"),
         "compression_method": r.uint(1, "compression_method")}
    ext = _extensions(r)
    f["extensions"] = list(ext)
    f["hello_retry_request"] = f["random"] == HRR_RANDOM
    chosen = ext.get(EXT_SUPPORTED_VERSIONS)
    f["selected_version"] = int.from_bytes(chosen[:2], "big") if chosen and len(chosen) >= 2 \
        else f["legacy_version"]
    alpn = _alpn(ext[EXT_ALPN], r) if EXT_ALPN in ext else []
    f["alpn"] = alpn[0] if alpn else None
    share = ext.get(EXT_KEY_SHARE)
    f["key_share_group"] = int.from_bytes(share[:2], "big") if share and len(share) >= 2 else None
    f["psk_selected"] = EXT_PRE_SHARED_KEY in ext
    f["extended_master_secret"] = EXT_EXTENDED_MASTER_SECRET in ext
    return f


def _parse_encrypted_extensions(r: _Reader) -> dict:
    ext = _extensions(r)
    alpn = _alpn(ext[EXT_ALPN], r) if EXT_ALPN in ext else []
    return {"extensions": list(ext), "alpn": alpn[0] if alpn else None,
            "early_data": EXT_EARLY_DATA in ext}


def _parse_certificate(r: _Reader, tls13: bool) -> dict:
    if tls13:
        r.vector(1, "certificate_request_context")
    certs = _Reader(r.vector(3, "certificate_list"), r.offset, r.msg)
    lengths = []
    while certs.left():
        lengths.append(len(certs.vector(3, "cert_data")))
        if tls13:
            certs.vector(2, "cert_extensions")
    return {"cert_count": len(lengths), "cert_lengths": lengths}


def _parse_new_session_ticket(r: _Reader, tls13: bool) -> dict:
    lifetime = r.uint(4, "ticket_lifetime")
    if tls13:
        r.uint(4, "ticket_age_add")
        r.vector(1, "ticket_nonce")
    return {"lifetime_s": lifetime, "ticket_length": len(r.vector(2, "ticket"))}


def _parse_key_update(r: _Reader) -> dict:
    request = r.uint(1, "request_update")
    return {"request_update": bool(request)}


def parse_handshake_body(msg_type: int, body: bytes, *, offset: int, tls13: bool = False) -> dict:
    """Fields of one handshake message body (the bytes after its 4-byte header).

    ``offset`` is the stream offset reported in errors (the record carrying the message);
    ``tls13`` selects the TLS 1.3 layouts of Certificate and NewSessionTicket.  Raises
    :class:`ProtocolError` when a ClientHello/ServerHello/... is malformed.
    """
    r = _Reader(body, offset, HANDSHAKE_NAMES.get(msg_type, f"handshake_{msg_type}"))
    fields: dict = {"length": len(body)}
    if msg_type == CLIENT_HELLO:
        fields.update(_parse_client_hello(r))
    elif msg_type == SERVER_HELLO:
        fields.update(_parse_server_hello(r))
    elif msg_type == ENCRYPTED_EXTENSIONS:
        fields.update(_parse_encrypted_extensions(r))
    elif msg_type == CERTIFICATE:
        fields.update(_parse_certificate(r, tls13))
    elif msg_type == NEW_SESSION_TICKET:
        fields.update(_parse_new_session_ticket(r, tls13))
    elif msg_type == KEY_UPDATE:
        fields.update(_parse_key_update(r))
    elif msg_type == FINISHED:
        fields["verify_data_length"] = len(body)
    return fields


class HandshakeReassembler:
    """Cuts the content of consecutive handshake records into handshake messages.

    ``feed(content, record_start, record_end)`` takes one record's (plaintext) handshake content
    and returns the messages completed in it.  Messages may span records and a record may hold
    several.  A message whose body does not parse is returned with
    ``fields = {"length": n, "malformed": reason}``, and a message too long to keep with
    ``{"length": n, "truncated": True}``; each adds a :class:`~inferwire.problems.Problem` to
    ``problems`` (the list given, else a new one) naming ``direction``.  Used on plaintext
    records by :class:`~inferwire.protocols.tls.records.TlsRecordParser` and on decrypted records
    by the decryptor (``tls13=True``).
    """

    __slots__ = ("tls13", "problems", "direction", "_buf", "_first_start", "_skip", "_skip_msg")

    def __init__(self, *, tls13: bool = False, problems: list | None = None,
                 direction: str | None = None):
        self.tls13 = tls13
        self.problems: list[Problem] = [] if problems is None else problems
        self.direction = direction
        self._buf = bytearray()   # bytes of the unfinished message (header included)
        self._first_start = 0     # record start where _buf[0] arrived
        self._skip = 0            # bytes of an over-long message still to be counted
        self._skip_msg: tuple[int, int, int] | None = None  # (type, length, start)

    @property
    def pending(self) -> bool:
        """True while a message has begun but not ended."""
        return bool(self._buf) or self._skip_msg is not None

    def feed(self, content: bytes, record_start: int, record_end: int) -> list[HandshakeMessage]:
        out: list[HandshakeMessage] = []
        pos = 0
        if self._skip_msg is not None:
            pos = self._skip_over(content, record_end, out)
        if pos < len(content) and not self._buf:
            self._first_start = record_start
        self._buf += content[pos:]
        while len(self._buf) >= 4:
            msg_type, length = self._buf[0], int.from_bytes(self._buf[1:4], "big")
            if length > MAX_HANDSHAKE_MESSAGE:
                self._start_skip(msg_type, length, record_end, out)
                break
            if len(self._buf) < 4 + length:
                break
            body = bytes(self._buf[4:4 + length])
            del self._buf[:4 + length]
            out.append(HandshakeMessage(msg_type, self._first_start, record_end,
                                        self._fields(msg_type, body)))
            self._first_start = record_start  # the rest of _buf came in this record
        return out

    def _fields(self, msg_type: int, body: bytes) -> dict:
        # A malformed message body leaves the record layer intact: say so, keep going.
        try:
            return parse_handshake_body(msg_type, body, offset=self._first_start,
                                        tls13=self.tls13)
        except ProtocolError as exc:
            self.problems.append(Problem(
                f"malformed TLS handshake message: {exc}; the fields of this message are left "
                "empty", direction=self.direction, offset=exc.offset, field=exc.field))
            return {"length": len(body), "malformed": str(exc)}

    def _start_skip(self, msg_type: int, length: int, record_end: int,
                    out: list[HandshakeMessage]) -> None:
        # Too long to keep: count its bytes and report it without fields.
        name = HANDSHAKE_NAMES.get(msg_type, f"handshake_{msg_type}")
        self.problems.append(Problem(
            f"TLS {name} at stream offset {self._first_start} declares {length} bytes, more "
            f"than the {MAX_HANDSHAKE_MESSAGE} kept: its fields are not read",
            direction=self.direction, offset=self._first_start, field=f"{name}.length"))
        self._skip_msg = (msg_type, length, self._first_start)
        have = len(self._buf) - 4
        self._buf.clear()
        self._skip = length - have
        if self._skip <= 0:  # cannot happen (length > buffered), kept for safety
            self._skip = 0
            self._finish_skip(record_end, out)

    def _skip_over(self, content: bytes, record_end: int, out: list[HandshakeMessage]) -> int:
        take = min(self._skip, len(content))
        self._skip -= take
        if self._skip == 0:
            self._finish_skip(record_end, out)
        return take

    def _finish_skip(self, record_end: int, out: list[HandshakeMessage]) -> None:
        msg_type, length, start = self._skip_msg
        out.append(HandshakeMessage(msg_type, start, record_end,
                                    {"length": length, "truncated": True}))
        self._skip_msg = None


def looks_like_plain_hello(payload: bytes) -> bool:
    """A ClientHello/ServerHello that fills its record exactly with a TLS 1.x legacy version.

    After ChangeCipherSpec, TLS 1.2 handshake records are encrypted while TLS 1.3's middlebox-
    compatibility CCS may precede a plaintext second ClientHello or ServerHello (RFC 8446 D.4).
    Random ciphertext passes these checks with probability about 2^-39.
    """
    if len(payload) < 6 or payload[0] not in (CLIENT_HELLO, SERVER_HELLO):
        return False
    return int.from_bytes(payload[1:4], "big") == len(payload) - 4 and payload[4] == 3 \
        and payload[5] <= 4
