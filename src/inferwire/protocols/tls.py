"""TLS record layer and plaintext handshake (sans-IO), session assembly, keyless inference.

:class:`TlsRecordParser` is fed one direction's reassembled TCP stream bytes with the stream offset
of the first byte and returns every :class:`TlsRecord` when its last byte arrives (``start``
inclusive, ``end`` exclusive, both stream offsets including the 5-byte header).  Only an incomplete
record is buffered, and application-data bytes are not even buffered unless
``keep_application_data=True`` (needed to decrypt).  Plaintext handshake messages (RFC 8446 4,
RFC 5246 7.4) are reassembled across records into :class:`HandshakeMessage` events in
``parser.messages``.

:func:`assemble_tls` turns both directions' records and messages into one :class:`TlsSession`
(version, cipher suite, SNI, ALPN, handshake span, application-data records, alerts).
:func:`infer_exchanges` groups timed application-data records into request/response exchanges
when no keys are available.  Nothing here reads sockets, files or clocks.
"""
from __future__ import annotations

import struct
import warnings
from dataclasses import dataclass, field
from typing import Iterable, Literal, NamedTuple, Sequence

from ..errors import InferwireWarning, ProtocolError

Role = Literal["client", "server"]

RECORD_HEADER = struct.Struct(">BHH")  # content type, legacy record version, length
HEADER_LEN = RECORD_HEADER.size
# RFC 5246 6.2.3: TLSCiphertext.length MUST NOT exceed 2^14 + 2048 (TLS 1.2 and older).
MAX_RECORD_LENGTH = 2 ** 14 + 2048
# RFC 8446 5.2: in TLS 1.3 it MUST NOT exceed 2^14 + 256.
MAX_RECORD_LENGTH_TLS13 = 2 ** 14 + 256
# Longest handshake message we buffer to parse (certificate chains are rarely above 64 KiB);
# longer messages are counted, not kept, and reported with fields {"truncated": True}.
MAX_HANDSHAKE_MESSAGE = 2 ** 18

CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE, APPLICATION_DATA, HEARTBEAT = 20, 21, 22, 23, 24
CONTENT_TYPE_NAMES = {20: "change_cipher_spec", 21: "alert", 22: "handshake",
                      23: "application_data", 24: "heartbeat"}
_KEPT_TYPES = (CHANGE_CIPHER_SPEC, ALERT, HANDSHAKE)

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

VERSION_NAMES = {0x0300: "SSL 3.0", 0x0301: "TLS 1.0", 0x0302: "TLS 1.1", 0x0303: "TLS 1.2",
                 0x0304: "TLS 1.3"}
VERSION_CODES = {name: code for code, name in VERSION_NAMES.items()}

ALERT_NAMES = {
    0: "close_notify", 10: "unexpected_message", 20: "bad_record_mac", 22: "record_overflow",
    40: "handshake_failure", 42: "bad_certificate", 43: "unsupported_certificate",
    44: "certificate_revoked", 45: "certificate_expired", 46: "certificate_unknown",
    47: "illegal_parameter", 48: "unknown_ca", 49: "access_denied", 50: "decode_error",
    51: "decrypt_error", 70: "protocol_version", 71: "insufficient_security",
    80: "internal_error", 86: "inappropriate_fallback", 90: "user_canceled",
    100: "no_renegotiation", 109: "missing_extension", 110: "unsupported_extension",
    112: "unrecognized_name", 113: "bad_certificate_status_response",
    115: "unknown_psk_identity", 116: "certificate_required", 120: "no_application_protocol",
}

EXT_SERVER_NAME, EXT_SUPPORTED_GROUPS, EXT_ALPN, EXT_EXTENDED_MASTER_SECRET = 0, 10, 16, 23
EXT_SESSION_TICKET, EXT_PRE_SHARED_KEY, EXT_EARLY_DATA, EXT_SUPPORTED_VERSIONS = 35, 41, 42, 43
EXT_KEY_SHARE = 51


class CipherSuite(NamedTuple):
    """An IANA cipher suite and the record protection it implies.

    ``aead`` is "AES-GCM", "AES-CCM", "CHACHA20-POLY1305" or None (CBC and others: not
    decryptable here).  ``key_len``/``iv_len`` are bytes (``iv_len``: the fixed IV / salt),
    ``explicit_nonce_len`` the per-record nonce sent in TLS 1.2 records, ``tag_len`` the AEAD tag,
    ``hash`` the PRF/HKDF hash ("sha256" or "sha384").
    """

    code: int
    name: str
    aead: str | None
    key_len: int
    iv_len: int
    explicit_nonce_len: int
    tag_len: int
    hash: str
    tls13: bool


def _suites() -> dict[int, CipherSuite]:
    t13 = [(0x1301, "TLS_AES_128_GCM_SHA256", "AES-GCM", 16, 16, "sha256"),
           (0x1302, "TLS_AES_256_GCM_SHA384", "AES-GCM", 32, 16, "sha384"),
           (0x1303, "TLS_CHACHA20_POLY1305_SHA256", "CHACHA20-POLY1305", 32, 16, "sha256"),
           (0x1304, "TLS_AES_128_CCM_SHA256", "AES-CCM", 16, 16, "sha256"),
           (0x1305, "TLS_AES_128_CCM_8_SHA256", "AES-CCM", 16, 8, "sha256")]
    out = {c: CipherSuite(c, n, a, k, 12, 0, t, h, True) for c, n, a, k, t, h in t13}
    aead12 = [
        (0x009C, "TLS_RSA_WITH_AES_128_GCM_SHA256", "AES-GCM", 16, 16, "sha256"),
        (0x009D, "TLS_RSA_WITH_AES_256_GCM_SHA384", "AES-GCM", 32, 16, "sha384"),
        (0x009E, "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "AES-GCM", 16, 16, "sha256"),
        (0x009F, "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "AES-GCM", 32, 16, "sha384"),
        (0xC02B, "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "AES-GCM", 16, 16, "sha256"),
        (0xC02C, "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "AES-GCM", 32, 16, "sha384"),
        (0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "AES-GCM", 16, 16, "sha256"),
        (0xC030, "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "AES-GCM", 32, 16, "sha384"),
        (0xC09C, "TLS_RSA_WITH_AES_128_CCM", "AES-CCM", 16, 16, "sha256"),
        (0xC09D, "TLS_RSA_WITH_AES_256_CCM", "AES-CCM", 32, 16, "sha256"),
        (0xC09E, "TLS_DHE_RSA_WITH_AES_128_CCM", "AES-CCM", 16, 16, "sha256"),
        (0xC09F, "TLS_DHE_RSA_WITH_AES_256_CCM", "AES-CCM", 32, 16, "sha256"),
        (0xC0A0, "TLS_RSA_WITH_AES_128_CCM_8", "AES-CCM", 16, 8, "sha256"),
        (0xC0A1, "TLS_RSA_WITH_AES_256_CCM_8", "AES-CCM", 32, 8, "sha256"),
        (0xC0AC, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM", "AES-CCM", 16, 16, "sha256"),
        (0xC0AD, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM", "AES-CCM", 32, 16, "sha256"),
        (0xC0AE, "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", "AES-CCM", 16, 8, "sha256"),
        (0xC0AF, "TLS_ECDHE_ECDSA_WITH_AES_256_CCM_8", "AES-CCM", 32, 8, "sha256"),
    ]
    out.update({c: CipherSuite(c, n, a, k, 4, 8, t, h, False) for c, n, a, k, t, h in aead12})
    chacha12 = [(0xCCA8, "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256"),
                (0xCCA9, "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256"),
                (0xCCAA, "TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256")]
    out.update({c: CipherSuite(c, n, "CHACHA20-POLY1305", 32, 12, 0, 16, "sha256", False)
                for c, n in chacha12})
    cbc = [(0x002F, "TLS_RSA_WITH_AES_128_CBC_SHA"), (0x0035, "TLS_RSA_WITH_AES_256_CBC_SHA"),
           (0x003C, "TLS_RSA_WITH_AES_128_CBC_SHA256"),
           (0x003D, "TLS_RSA_WITH_AES_256_CBC_SHA256"),
           (0x000A, "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
           (0x0033, "TLS_DHE_RSA_WITH_AES_128_CBC_SHA"),
           (0x0039, "TLS_DHE_RSA_WITH_AES_256_CBC_SHA"),
           (0xC009, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA"),
           (0xC00A, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA"),
           (0xC013, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"),
           (0xC014, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"),
           (0xC023, "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256"),
           (0xC024, "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384"),
           (0xC027, "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256"),
           (0xC028, "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384")]
    out.update({c: CipherSuite(c, n, None, 0, 0, 0, 0, "sha256", False) for c, n in cbc})
    return out


CIPHER_SUITES: dict[int, CipherSuite] = _suites()


def cipher_suite_name(code: int | None) -> str | None:
    """IANA name of a cipher suite code, ``"0x...."`` when unknown, None for None."""
    if code is None:
        return None
    suite = CIPHER_SUITES.get(code)
    return suite.name if suite else f"0x{code:04X}"


def record_overhead(version: str | int | None, cipher_suite: int | None) -> int | None:
    """Bytes each protected record adds to its plaintext, or None when unknown (CBC, no cipher).

    TLS 1.3: AEAD tag + 1 byte inner content type (padding is assumed absent: most stacks send
    none).  TLS 1.2: explicit nonce (8 for AES-GCM/CCM, 0 for ChaCha20-Poly1305) + tag.
    """
    suite = CIPHER_SUITES.get(cipher_suite) if cipher_suite is not None else None
    if suite is None or suite.aead is None:
        return None
    code = VERSION_CODES.get(version, version) if isinstance(version, str) else version
    if suite.tls13 or code == 0x0304:
        return suite.tag_len + 1
    return suite.explicit_nonce_len + suite.tag_len


# ----------------------------------------------------------------------------------- events

class TlsRecord(NamedTuple):
    """One TLS record: ``start``/``end`` are stream offsets of its header's first byte and one past
    its last byte; ``length`` the header's length field (bytes after the 5-byte header).

    ``payload`` holds the record's bytes after the header for handshake, change_cipher_spec and
    alert records, and for application_data when the parser keeps them; else None.  After
    decryption (:mod:`inferwire.protocols.tlsdecrypt`) ``inner_type`` is the real content type
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


class TlsAlert(NamedTuple):
    """An alert record seen in ``direction``; ``level`` (1 warning, 2 fatal) and ``description``
    are None when it was encrypted and not decrypted.  ``inferred``: a TLS 1.3 record taken for
    an alert by its size alone (see :func:`assemble_tls`)."""

    direction: str
    start: int
    end: int
    level: int | None
    description: int | None
    encrypted: bool
    inferred: bool = False

    @property
    def name(self) -> str | None:
        if self.description is None:
            return None
        return ALERT_NAMES.get(self.description, f"alert_{self.description}")


# ------------------------------------------------------------------------------ body parsing

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


# ----------------------------------------------------------------------- handshake reassembly

class HandshakeReassembler:
    """Cuts the content of consecutive handshake records into handshake messages.

    ``feed(content, record_start, record_end)`` takes one record's (plaintext) handshake content
    and returns the messages completed in it.  Messages may span records and a record may hold
    several.  A message whose body does not parse is returned with
    ``fields = {"length": n, "malformed": reason}`` and an :class:`InferwireWarning`.  Used on
    plaintext records by :class:`TlsRecordParser` and on decrypted records by the decryptor
    (``tls13=True``).
    """

    __slots__ = ("tls13", "_buf", "_first_start", "_skip", "_skip_msg")

    def __init__(self, *, tls13: bool = False):
        self.tls13 = tls13
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
        # A malformed message body leaves the record layer intact: warn, keep going.
        try:
            return parse_handshake_body(msg_type, body, offset=self._first_start,
                                        tls13=self.tls13)
        except ProtocolError as exc:
            warnings.warn(InferwireWarning(f"malformed TLS handshake message: {exc}; the "
                                           "fields of this message are left empty"),
                          stacklevel=4)
            return {"length": len(body), "malformed": str(exc)}

    def _start_skip(self, msg_type: int, length: int, record_end: int,
                    out: list[HandshakeMessage]) -> None:
        # Too long to keep: count its bytes and report it without fields.
        name = HANDSHAKE_NAMES.get(msg_type, f"handshake_{msg_type}")
        warnings.warn(InferwireWarning(
            f"TLS {name} at stream offset {self._first_start} declares {length} bytes, more "
            f"than the {MAX_HANDSHAKE_MESSAGE} kept: its fields are not read"), stacklevel=3)
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


def _looks_like_plain_hello(payload: bytes) -> bool:
    """A ClientHello/ServerHello that fills its record exactly with a TLS 1.x legacy version.

    After ChangeCipherSpec, TLS 1.2 handshake records are encrypted while TLS 1.3's middlebox-
    compatibility CCS may precede a plaintext second ClientHello or ServerHello (RFC 8446 D.4).
    Random ciphertext passes these checks with probability about 2^-39.
    """
    if len(payload) < 6 or payload[0] not in (CLIENT_HELLO, SERVER_HELLO):
        return False
    return int.from_bytes(payload[1:4], "big") == len(payload) - 4 and payload[4] == 3 \
        and payload[5] <= 4


# ------------------------------------------------------------------------------ record parser

class TlsRecordParser:
    """Incremental TLS record parser for one direction of one TCP connection.

    ``feed(data, offset)`` takes the next contiguous stream bytes (``offset`` = stream offset of
    ``data[0]``, the byte after the previous chunk) and returns the records completed in them.
    Plaintext handshake messages accumulate in ``messages``.  A malformed header (unknown content
    type, version not 3.x, length above ``max_length``) or a non-contiguous offset raises
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
        self._handshake = HandshakeReassembler()
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
        if self._after_ccs and not self._handshake.pending and not _looks_like_plain_hello(payload):
            self.messages.append(HandshakeMessage(ENCRYPTED_HANDSHAKE, start, end,
                                                  {"length": len(payload)}))
            return
        new = self._handshake.feed(payload, start, end)
        self.messages.extend(new)
        for m in new:
            if (m.msg_type == SERVER_HELLO and m.fields.get("selected_version") == 0x0304
                    and not m.fields.get("hello_retry_request")):
                self.limit_to(MAX_RECORD_LENGTH_TLS13)


# ------------------------------------------------------------------------------ the session

@dataclass
class TlsSession:
    """What the two directions' records say about one TLS connection.

    Offsets are stream offsets of the direction named (``handshake_start`` is a client offset;
    ``handshake_end`` belongs to ``handshake_end_dir``).  ``app_records_*`` are
    ``(start, end, length)`` of application-data records after the handshake; ``length`` is the
    record's ciphertext length (header excluded).
    """

    version: str | None = None
    version_code: int | None = None
    cipher_suite: int | None = None
    cipher_suite_name: str | None = None
    sni: str | None = None
    alpn: str | None = None
    alpn_offered: tuple[str, ...] = ()
    alpn_inferred: bool = False
    client_random: bytes | None = None
    server_random: bytes | None = None
    resumed: bool | None = None
    hello_retry: bool = False
    early_data_offered: bool = False
    handshake_start: int | None = None
    handshake_end: int | None = None
    handshake_end_dir: Role | None = None
    handshake_end_inferred: bool = False
    app_records_client: list[tuple[int, int, int]] = field(default_factory=list)
    app_records_server: list[tuple[int, int, int]] = field(default_factory=list)
    app_records_server_inferred: bool = False
    alerts: list[TlsAlert] = field(default_factory=list)
    decrypted: bool = False


def _first(messages: Iterable[HandshakeMessage], msg_type: int, hrr: bool | None = None):
    for m in messages:
        if m.msg_type == msg_type and (hrr is None or
                                       bool(m.fields.get("hello_retry_request")) == hrr):
            return m
    return None


def _first_record_after(records: Sequence[TlsRecord], ctype: int) -> TlsRecord | None:
    """The record right after the first record of type ``ctype``."""
    for i, r in enumerate(records):
        if r.content_type == ctype:
            return records[i + 1] if i + 1 < len(records) else None
    return None


def _resumed_tls12(server_records: Sequence[TlsRecord],
                   server_messages: Sequence[HandshakeMessage]) -> bool | None:
    """Abbreviated handshake: the server's ChangeCipherSpec comes with no ServerHelloDone before
    it.  None while neither has been seen."""
    ccs = next((r.start for r in server_records if r.content_type == CHANGE_CIPHER_SPEC), None)
    done = _first(server_messages, SERVER_HELLO_DONE)
    if done is not None and (ccs is None or done.start < ccs):
        return False
    return True if ccs is not None else None


def _handshake_end_tls12(s: TlsSession, client_records, server_records) -> None:
    # RFC 5246 7.3: the Finished is the first record a side sends after its ChangeCipherSpec;
    # the last Finished is the server's in a full handshake, the client's in an abbreviated one.
    if s.resumed is None:
        return
    side, records = ("client", client_records) if s.resumed else ("server", server_records)
    finished = _first_record_after(records, CHANGE_CIPHER_SPEC)
    if finished is not None:
        s.handshake_end, s.handshake_end_dir = finished.end, side


def _handshake_end_tls13(s: TlsSession, client_records, client_messages) -> None:
    finished = [m for m in client_messages if m.msg_type == FINISHED]
    if finished:  # decrypted: exact
        s.handshake_end, s.handshake_end_dir = finished[0].end, "client"
        return
    # Without keys: the client's first protected record.  Its encrypted handshake flight
    # (Certificate/CertificateVerify when the server asked for them, Finished) and 0-RTT data
    # make this a guess, hence the flag.
    first = next((r for r in client_records if r.content_type == APPLICATION_DATA), None)
    if first is not None:
        s.handshake_end, s.handshake_end_dir = first.end, "client"
        s.handshake_end_inferred = True
        if s.early_data_offered:
            warnings.warn(InferwireWarning(
                f"TLS 1.3 ClientHello offered 0-RTT early data: the client Finished record at "
                f"offset {first.start} is a guess (early data may precede it)"), stacklevel=3)


def _is_app(r: TlsRecord) -> bool:
    return r.content_type == APPLICATION_DATA and r.inner_type in (None, APPLICATION_DATA)


def _app_records(s: TlsSession, client_records, server_records) -> list[TlsAlert]:
    """Fill ``app_records_*``; return TLS 1.3 alerts recognised by size (see below)."""
    client_from = 0
    if s.version_code == 0x0304:
        # Before the client Finished (or with no Finished seen yet) nothing is application data.
        client_from = s.handshake_end if s.handshake_end is not None else float("inf")
        s.app_records_server_inferred = not _decrypted(server_records)
    s.app_records_client = [(r.start, r.end, r.length) for r in client_records
                            if _is_app(r) and r.start >= client_from]
    s.app_records_server = [(r.start, r.end, r.length) for r in server_records if _is_app(r)]
    if s.version_code != 0x0304:
        return []
    return [alert for alert in (
        _final_alert_by_size(s, "client", s.app_records_client, client_records),
        _final_alert_by_size(s, "server", s.app_records_server, server_records)) if alert]


def _decrypted(records: Sequence[TlsRecord]) -> bool:
    return any(r.inner_type is not None for r in records)


def _final_alert_by_size(s: TlsSession, direction: str, app: list, records) -> TlsAlert | None:
    # TLS 1.3 hides alerts in type-23 records.  Without keys, a direction's LAST record whose
    # plaintext would be exactly 2 bytes (an alert's size) is taken for the closing alert
    # (close_notify or fatal): no HTTP/1.1 or HTTP/2 message is 2 bytes long.
    overhead = record_overhead(0x0304, s.cipher_suite)
    if not app or overhead is None or _decrypted(records) or app[-1][2] != overhead + 2:
        return None
    start, end, _ = app.pop()
    return TlsAlert(direction, start, end, None, None, True, inferred=True)


def _alerts(direction: str, records: Sequence[TlsRecord]) -> list[TlsAlert]:
    out = []
    for r in records:
        if r.inner_type == ALERT and r.plaintext is not None:  # decrypted
            body, encrypted = r.plaintext, True
        elif r.content_type == ALERT and r.inner_type is None:
            # A plaintext alert is exactly 2 bytes; a protected one carries at least a tag.
            body = r.payload or b""
            encrypted = len(body) != 2
            body = None if encrypted else body
        else:
            continue
        level, desc = (body[0], body[1]) if body is not None and len(body) == 2 else (None, None)
        out.append(TlsAlert(direction, r.start, r.end, level, desc, encrypted))
    return out


def _hello_fields(s: TlsSession, client_messages, server_messages) -> None:
    hellos = [m for m in client_messages if m.msg_type == CLIENT_HELLO]
    if hellos:
        ch = hellos[0].fields
        s.handshake_start = hellos[0].start
        s.client_random, s.sni = ch.get("random"), ch.get("sni")
        s.alpn_offered = tuple(hellos[-1].fields.get("alpn", ()))
        s.early_data_offered = bool(hellos[-1].fields.get("early_data"))
    s.hello_retry = _first(server_messages, SERVER_HELLO, hrr=True) is not None
    sh = _first(server_messages, SERVER_HELLO, hrr=False)
    if sh is None or "selected_version" not in sh.fields:
        return
    f = sh.fields
    s.server_random = f["random"]
    s.version_code = f["selected_version"]
    s.version = VERSION_NAMES.get(s.version_code, f"0x{s.version_code:04x}")
    s.cipher_suite, s.cipher_suite_name = f["cipher_suite"], cipher_suite_name(f["cipher_suite"])
    s.alpn = f["alpn"]
    if s.version_code == 0x0304:
        s.resumed = bool(f["psk_selected"])


def _alpn_tls13(s: TlsSession, server_messages) -> None:
    ee = _first(server_messages, ENCRYPTED_EXTENSIONS)
    if ee is not None:
        s.alpn, s.alpn_inferred = ee.fields.get("alpn"), False
    elif len(s.alpn_offered) == 1 and s.handshake_end is not None:
        # A server either selects the only offer or ignores ALPN: an inference, flagged.
        s.alpn, s.alpn_inferred = s.alpn_offered[0], True


def assemble_tls(client_records: Sequence[TlsRecord], server_records: Sequence[TlsRecord],
                 client_messages: Sequence[HandshakeMessage],
                 server_messages: Sequence[HandshakeMessage]) -> TlsSession:
    """Combine both directions into a :class:`TlsSession` (pure; see the README for the rules).

    Pass decrypted records and messages (from :mod:`.tlsdecrypt`) to get exact TLS 1.3 handshake
    end, ALPN and application records; with plaintext-only input those are inferred and flagged.
    """
    s = TlsSession()
    _hello_fields(s, client_messages, server_messages)
    if s.version_code is not None and s.version_code < 0x0304:
        s.resumed = _resumed_tls12(server_records, server_messages)
        _handshake_end_tls12(s, client_records, server_records)
    elif s.version_code == 0x0304:
        _handshake_end_tls13(s, client_records, client_messages)
        _alpn_tls13(s, server_messages)
    guessed = _app_records(s, client_records, server_records)
    s.alerts = sorted(_alerts("client", client_records) + _alerts("server", server_records) +
                      guessed, key=lambda a: (a.direction, a.start))
    s.decrypted = any(r.inner_type is not None for r in (*client_records, *server_records))
    return s


# ------------------------------------------------------------------------- keyless inference

class InferredExchange(NamedTuple):
    """One request/response pair guessed from record timing (no keys).

    ``req_*`` are client stream offsets and times of the request burst's first and last record,
    ``resp_*`` the server's (None when no response burst followed).  Times are int nanoseconds:
    ``*_t_first_ns`` when the burst's first byte was seen, ``*_t_last_ns`` its last byte.
    ``request_bytes``/``response_bytes`` estimate plaintext when ``plaintext_sizes`` (record length
    minus the cipher's per-record overhead), else they are ciphertext lengths.
    """

    req_start: int
    req_end: int
    req_t_first_ns: int
    req_t_last_ns: int
    resp_start: int | None
    resp_end: int | None
    resp_t_first_ns: int | None
    resp_t_last_ns: int | None
    request_bytes: int
    response_bytes: int | None
    request_records: int
    response_records: int
    plaintext_sizes: bool
    inferred: bool = True


TimedRecord = tuple[int, int, int, int, int]  # start, end, length, t_first_ns, t_last_ns


def _bursts(client: Sequence[TimedRecord], server: Sequence[TimedRecord]):
    """Consecutive same-direction records in time order, as (direction, [records])."""
    # On equal times the client sorts first: a request precedes the response it causes.
    merged = sorted([(r[3], 0, i) for i, r in enumerate(client)] +
                    [(r[3], 1, i) for i, r in enumerate(server)])
    bursts: list[tuple[int, list]] = []
    for _, side, i in merged:
        rec = (client if side == 0 else server)[i]
        if bursts and bursts[-1][0] == side:
            bursts[-1][1].append(rec)
        else:
            bursts.append((side, [rec]))
    return bursts


def infer_exchanges(client_records: Sequence[TimedRecord], server_records: Sequence[TimedRecord],
                    *, version: str | int | None = None,
                    cipher_suite: int | None = None) -> list[InferredExchange]:
    """Pair client bursts with the server bursts that follow them (see README, "without keys").

    Inputs are application-data records ``(start, end, length, t_first_ns, t_last_ns)`` of each
    direction.  Server bursts before the first client burst (TLS 1.3 encrypted handshake flight,
    session tickets) are dropped.  Everything returned is inferred.
    """
    overhead = record_overhead(version, cipher_suite)
    sizes = overhead is not None

    def size(records) -> int:
        return sum(max(r[2] - (overhead or 0), 0) for r in records)

    out: list[InferredExchange] = []
    bursts = _bursts(client_records, server_records)
    for k, (side, recs) in enumerate(bursts):
        if side != 0:
            continue
        resp = bursts[k + 1][1] if k + 1 < len(bursts) else None
        out.append(InferredExchange(
            recs[0][0], recs[-1][1], recs[0][3], recs[-1][4],
            resp[0][0] if resp else None, resp[-1][1] if resp else None,
            resp[0][3] if resp else None, resp[-1][4] if resp else None,
            size(recs), size(resp) if resp else None, len(recs), len(resp) if resp else 0, sizes))
    return out
