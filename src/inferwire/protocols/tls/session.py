"""One TLS connection's session (pure): :func:`assemble_tls` turns both directions' records and
handshake messages into a :class:`TlsSession` (version, cipher suite, SNI, ALPN, handshake span,
application-data records, alerts)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable, NamedTuple, Sequence

from ...problems import Problem
from .handshake import (CLIENT_HELLO, ENCRYPTED_EXTENSIONS, FINISHED, SERVER_HELLO,
                        SERVER_HELLO_DONE, HandshakeMessage)
from .records import (ALERT, APPLICATION_DATA, CHANGE_CIPHER_SPEC, VERSION_NAMES, Role,
                      TlsRecord)
from .suites import cipher_suite_name, record_overhead

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


@dataclass
class TlsSession:
    """What the two directions' records say about one TLS connection.

    Offsets are stream offsets of the direction named (``handshake_start`` is a client offset;
    ``handshake_end`` belongs to ``handshake_end_dir``).  ``app_records_*`` are
    ``(start, end, length)`` of application-data records after the handshake; ``length`` is the
    record's ciphertext length (header excluded).  ``problems``: what the assembly could only
    guess (a TLS 1.3 client Finished when 0-RTT data was offered).
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
    problems: list[Problem] = field(default_factory=list)


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
            s.problems.append(Problem(
                f"TLS 1.3 ClientHello offered 0-RTT early data: the client Finished record at "
                f"offset {first.start} is a guess (early data may precede it)",
                direction="client", offset=first.start, field="finished"))


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

    Pass decrypted records and messages (from :mod:`.decrypt`) to get exact TLS 1.3 handshake
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
