"""Decrypt TLS records with secrets from a key log (pure: records and secrets in, plaintext out);
the keys themselves come from :mod:`.keyschedule`.

TLS 1.3: handshake traffic secrets open EncryptedExtensions ... Finished (so ALPN is learned),
then the ``*_TRAFFIC_SECRET_0`` secrets open application data; a KeyUpdate message moves that
direction to the next secret; the inner plaintext ends with the real content type followed by
zero padding.  0-RTT records are opened with ``CLIENT_EARLY_TRAFFIC_SECRET`` when the ClientHello
offered early data, the server accepted it (EncryptedExtensions, known once the server direction
is decrypted) and the key log has it; rejected 0-RTT records are skipped as the server skips them
(RFC 8446 4.2.10).  TLS 1.2 AEAD suites: records after each side's ChangeCipherSpec are
protected.  CBC suites are not supported: a problem says so and that direction stays inferred.

A record that fails to decrypt (wrong key, bad tag) is a problem at its stream offset; that
direction stops there and falls back to inferred results for the rest.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Iterator, NamedTuple, Sequence

from cryptography.exceptions import InvalidTag

from ...errors import InferwireError
from ...problems import Problem
from .handshake import (ENCRYPTED_EXTENSIONS, ENCRYPTED_HANDSHAKE, END_OF_EARLY_DATA, FINISHED,
                        KEY_UPDATE, HandshakeMessage, HandshakeReassembler)
from .keylog import KeyLog
from .keyschedule import Keys13, tls12_keys
from .records import APPLICATION_DATA, CHANGE_CIPHER_SPEC, HANDSHAKE, TlsRecord
from .session import TlsSession, assemble_tls
from .suites import CIPHER_SUITES, cipher_suite_name


def _unpad(inner: bytes) -> tuple[bytes, int] | None:
    """(content, real content type) of a TLS 1.3 inner plaintext; None when all zeros."""
    stripped = inner.rstrip(b"\x00")
    if not stripped:
        return None
    return stripped[:-1], stripped[-1]


# ------------------------------------------------------------------------ plaintext streams

class PlainPiece(NamedTuple):
    """Plaintext bytes ``[plain_start, plain_end)`` came from the record at stream offsets
    ``[record_start, record_end)``."""

    plain_start: int
    plain_end: int
    record_start: int
    record_end: int


class PlaintextStream:
    """One direction's decrypted application data, with the record that carried each byte.

    Plaintext offsets count application-data bytes from 0.  Feed ``chunks()`` to the HTTP/1.1 or
    HTTP/2 parser as ``parser.feed(data, plain_offset)``, then map a message boundary back with
    ``to_record_span(plain_offset)``: the byte's first time is the time of ``record_start``, its
    last time that of ``record_end - 1`` (a record is usable only once complete).
    """

    def __init__(self, direction: str):
        self.direction = direction
        self.pieces: list[PlainPiece] = []
        self._data: list[bytes] = []
        self._starts: list[int] = []
        self.length = 0

    def append(self, data: bytes, record_start: int, record_end: int) -> None:
        """Add one record's application data (empty records add nothing)."""
        if not data:
            return
        self.pieces.append(PlainPiece(self.length, self.length + len(data), record_start,
                                      record_end))
        self._starts.append(self.length)
        self._data.append(data)
        self.length += len(data)

    def __len__(self) -> int:
        return self.length

    def chunks(self) -> Iterator[tuple[int, bytes]]:
        """(plain_offset, bytes) of each record's application data, in order."""
        return zip(self._starts, self._data)

    def data(self) -> bytes:
        """All plaintext bytes."""
        return b"".join(self._data)

    def to_record_span(self, plain_offset: int) -> tuple[int, int]:
        """(record_start, record_end) stream offsets of the record carrying ``plain_offset``."""
        if not 0 <= plain_offset < self.length:
            raise InferwireError(f"{self.direction} plaintext offset {plain_offset} is outside "
                                 f"the {self.length} decrypted bytes")
        piece = self.pieces[bisect.bisect_right(self._starts, plain_offset) - 1]
        return piece.record_start, piece.record_end


@dataclass
class DecryptedDirection:
    """Result of decrypting one direction.

    ``records``: the input records, decrypted ones annotated with ``inner_type`` (and
    ``plaintext`` for handshake and alert content).  ``messages``: handshake messages read from
    decrypted records.  ``key_updates``: stream offsets of records carrying a KeyUpdate.
    ``ok`` is False when nothing or not everything could be decrypted; ``failed_at`` is the
    offset of the first record that failed (None when the whole direction was skipped).
    ``problems``: why it was not (or not wholly) decrypted, and malformed decrypted handshake
    messages, in the order met.
    """

    direction: str
    plaintext: PlaintextStream
    records: list[TlsRecord] = field(default_factory=list)
    messages: list[HandshakeMessage] = field(default_factory=list)
    key_updates: list[int] = field(default_factory=list)
    ok: bool = True
    failed_at: int | None = None
    problem: str | None = None
    problems: list[Problem] = field(default_factory=list)


# ------------------------------------------------------------------------ the decryptor

class TlsDecryptor:
    """Decrypts both directions of one TLS connection with a key log.

    Build it from a :class:`TlsSession` (``TlsDecryptor(session, keylog)``) or from parameters
    (``TlsDecryptor(None, keylog, server_random, client_random=..., version=..., cipher_suite=...)``
    with ``version`` a code like 0x0304 or a name like "TLS 1.3").  ``decrypt(records, direction)``
    needs records parsed with ``keep_application_data=True``.
    """

    def __init__(self, session: TlsSession | None, keylog: KeyLog,
                 server_random: bytes | None = None, *, client_random: bytes | None = None,
                 version: int | str | None = None, cipher_suite: int | None = None,
                 early_data_offered: bool | None = None):
        if session is not None:
            client_random = client_random or session.client_random
            version = version or session.version_code
            cipher_suite = cipher_suite if cipher_suite is not None else session.cipher_suite
            server_random = server_random or session.server_random
            if early_data_offered is None:
                early_data_offered = session.early_data_offered
        if isinstance(version, str):
            version = {"TLS 1.2": 0x0303, "TLS 1.3": 0x0304}.get(version, 0)
        self.keylog, self.client_random, self.server_random = keylog, client_random, server_random
        self.version, self.cipher_suite = version, cipher_suite
        self.suite = CIPHER_SUITES.get(cipher_suite) if cipher_suite is not None else None
        self.early_data_offered = bool(early_data_offered)
        # From the server's EncryptedExtensions: True/False once known, None while unknown.
        self.early_data_accepted: bool | None = None

    def problem(self, direction: str) -> str | None:
        """Why ``direction`` cannot be decrypted, or None."""
        if self.client_random is None or self.version is None:
            return "no ClientHello/ServerHello seen"
        if self.suite is None:
            return f"cipher suite {cipher_suite_name(self.cipher_suite)} is unknown"
        if self.suite.aead is None:
            return (f"cipher suite {self.suite.name} (CBC) is not supported; only AEAD suites "
                    "(AES-GCM, AES-CCM, ChaCha20-Poly1305) are decrypted")
        if self.version not in (0x0303, 0x0304):
            return f"TLS version 0x{self.version:04x} is not supported (TLS 1.2 and 1.3 are)"
        needed = self._labels(direction)
        secrets = self.keylog.secrets(self.client_random) if self.keylog is not None else {}
        missing = [label for label in needed if label not in secrets]
        if missing:
            return (f"the key log has no {', '.join(missing)} for client random "
                    f"{self.client_random.hex()}")
        if self.version == 0x0303 and self.server_random is None:
            return "no ServerHello random (needed for the TLS 1.2 key block)"
        return None

    def _labels(self, direction: str) -> list[str]:
        if self.version == 0x0303:
            return ["CLIENT_RANDOM"]
        side = "CLIENT" if direction == "client" else "SERVER"
        return [f"{side}_HANDSHAKE_TRAFFIC_SECRET", f"{side}_TRAFFIC_SECRET_0"]

    def decrypt(self, records: Sequence[TlsRecord], direction: str) -> DecryptedDirection:
        """Decrypt one direction's records (in stream order); never raises on bad records."""
        if direction not in ("client", "server"):
            raise InferwireError(f"direction must be 'client' or 'server', not {direction!r}")
        out = DecryptedDirection(direction, PlaintextStream(direction))
        out.problem = self.problem(direction)
        if out.problem is not None:
            out.problems.append(Problem(f"TLS {direction} direction not decrypted: "
                                        f"{out.problem}; its rows stay inferred",
                                        direction=direction))
            out.ok, out.records = False, list(records)
            return out
        if self.version == 0x0304:
            _Direction13(self, direction, out).run(records)
        else:
            _Direction12(self, direction, out).run(records)
        return out


def _need_payload(r: TlsRecord) -> None:
    if r.payload is None:
        raise InferwireError(f"TLS record at stream offset {r.start} has no payload bytes: parse "
                             "with TlsRecordParser(..., keep_application_data=True) to decrypt")


class _DirectionBase:
    """Shared bookkeeping of one direction's decryption run."""

    def __init__(self, decryptor: TlsDecryptor, direction: str, out: DecryptedDirection):
        self.d, self.direction, self.out = decryptor, direction, out

    def fail(self, r: TlsRecord, reason: str) -> None:
        self.out.problems.append(Problem(
            f"TLS {self.direction} record at stream offset {r.start}: {reason}; the "
            f"{self.direction} direction falls back to inferred from here",
            direction=self.direction, offset=r.start, field="record"))
        self.out.ok, self.out.failed_at = False, r.start
        self.out.problem = reason

    def deliver(self, r: TlsRecord, inner_type: int, content: bytes,
                reassembler: HandshakeReassembler) -> list[HandshakeMessage]:
        """Record the decrypted content of ``r``; return handshake messages it completed."""
        self.out.records.append(r._replace(
            inner_type=inner_type, plaintext=None if inner_type == APPLICATION_DATA else content))
        if inner_type == APPLICATION_DATA:
            self.out.plaintext.append(content, r.start, r.end)
            return []
        if inner_type != HANDSHAKE:
            return []
        messages = reassembler.feed(content, r.start, r.end)
        self.out.messages.extend(messages)
        return messages


class _Direction13(_DirectionBase):
    def run(self, records: Sequence[TlsRecord]) -> None:
        d, side = self.d, "CLIENT" if self.direction == "client" else "SERVER"
        secrets = d.keylog.secrets(d.client_random)
        early = secrets.get("CLIENT_EARLY_TRAFFIC_SECRET") if self.direction == "client" else None
        offered = self.direction == "client" and d.early_data_offered
        self.stage = "early" if offered and early and d.early_data_accepted is not False \
            else "handshake"
        # 0-RTT records we cannot or need not open (rejected, or no early secret) come before
        # the first record the handshake keys open: skip them.
        self.skip_early = offered and self.stage == "handshake"
        if self.skip_early and d.early_data_accepted is not False:
            self.out.problems.append(Problem(
                "TLS client offered 0-RTT early data but the key log has no "
                "CLIENT_EARLY_TRAFFIC_SECRET: early data records are skipped",
                direction="client", field="CLIENT_EARLY_TRAFFIC_SECRET"))
        self.keys = Keys13(d.suite, early if self.stage == "early" else
                            secrets[f"{side}_HANDSHAKE_TRAFFIC_SECRET"])
        self.handshake_secret = secrets[f"{side}_HANDSHAKE_TRAFFIC_SECRET"]
        self.app_secret = secrets[f"{side}_TRAFFIC_SECRET_0"]
        reassembler = HandshakeReassembler(tls13=True, problems=self.out.problems,
                                           direction=self.direction)
        for r in records:
            # Only type-23 records are protected; CCS and plaintext hellos pass through.
            if r.content_type != APPLICATION_DATA or self.out.failed_at is not None:
                self.out.records.append(r)
                continue
            _need_payload(r)
            opened = self._open(r)
            if opened is None:
                self.out.records.append(r)
                continue
            self.skip_early = False
            content, inner_type = opened
            for m in self.deliver(r, inner_type, content, reassembler):
                self._after_message(m, r)

    def _open(self, r: TlsRecord) -> tuple[bytes, int] | None:
        inner = self._try(self.keys, r)
        if inner is None and self.stage == "early":
            # The server may have rejected 0-RTT; the client's handshake flight then follows.
            self.stage, self.keys = "handshake", Keys13(self.d.suite, self.handshake_secret)
            inner = self._try(self.keys, r)
        if inner is None and self.skip_early:
            return None  # an unreadable 0-RTT record (see run)
        if inner is None:
            self.fail(r, f"decryption failed with the {self.stage} traffic secret "
                         "(wrong key or damaged record)")
            return None
        opened = _unpad(inner)
        if opened is None:
            self.fail(r, "decrypted record has no content type (all zero bytes)")
        return opened

    @staticmethod
    def _try(keys: Keys13, r: TlsRecord) -> bytes | None:
        try:
            return keys.open(r)
        except (InvalidTag, ValueError):
            return None

    def _after_message(self, m: HandshakeMessage, r: TlsRecord) -> None:
        # Keys change only at record boundaries, after the message that announces it.
        if m.msg_type == FINISHED and self.stage == "handshake":
            self.stage, self.keys = "application", Keys13(self.d.suite, self.app_secret)
        elif m.msg_type == END_OF_EARLY_DATA and self.stage == "early":
            self.stage, self.keys = "handshake", Keys13(self.d.suite, self.handshake_secret)
        elif m.msg_type == KEY_UPDATE and self.stage == "application":
            self.keys = self.keys.updated()
            self.out.key_updates.append(r.start)


class _Direction12(_DirectionBase):
    def run(self, records: Sequence[TlsRecord]) -> None:
        d = self.d
        client_keys, server_keys = tls12_keys(d.suite, d.keylog.get(d.client_random,
                                                                    "CLIENT_RANDOM"),
                                              d.client_random, d.server_random)
        keys = None
        reassembler = HandshakeReassembler(problems=self.out.problems, direction=self.direction)
        for r in records:
            if self.out.failed_at is not None or (keys is None and
                                                  r.content_type != CHANGE_CIPHER_SPEC):
                self.out.records.append(r)
                continue
            if r.content_type == CHANGE_CIPHER_SPEC:
                self.out.records.append(r)
                if keys is not None:  # a second CCS: renegotiation, new keys we cannot derive
                    self.fail(r, "renegotiation (second ChangeCipherSpec) is not supported")
                keys = client_keys if self.direction == "client" else server_keys
                continue
            _need_payload(r)
            try:
                content = keys.open(r)
            except (InvalidTag, ValueError):
                self.fail(r, "decryption failed with the TLS 1.2 master secret (wrong key or "
                             "damaged record)")
                self.out.records.append(r)
                continue
            self.deliver(r, r.content_type, content, reassembler)


# ------------------------------------------------------------------------ whole connection

@dataclass
class DecryptedConnection:
    """A session re-assembled from decrypted records, and each direction's decryption."""

    session: TlsSession
    client: DecryptedDirection
    server: DecryptedDirection


def _merge_messages(plain: Sequence[HandshakeMessage],
                    decrypted: Sequence[HandshakeMessage]) -> list[HandshakeMessage]:
    # A decrypted message replaces the "encrypted_handshake" placeholder of its record.
    opened = {m.start for m in decrypted}
    kept = [m for m in plain if not (m.msg_type == ENCRYPTED_HANDSHAKE and m.start in opened)]
    return sorted([*kept, *decrypted], key=lambda m: m.start)


def decrypt_connection(client_records: Sequence[TlsRecord], server_records: Sequence[TlsRecord],
                       client_messages: Sequence[HandshakeMessage],
                       server_messages: Sequence[HandshakeMessage],
                       keylog: KeyLog) -> DecryptedConnection:
    """Assemble, decrypt both directions, and re-assemble with what decryption revealed (exact
    TLS 1.3 handshake end, ALPN from EncryptedExtensions, application records by inner type).
    The problems met are the server's, then the client's (``.server.problems``,
    ``.client.problems``: decrypted in that order), then the new session's."""
    # a first look only: its guesses (and their problems) are replaced below
    first = assemble_tls(client_records, server_records, client_messages, server_messages)
    decryptor = TlsDecryptor(first, keylog)
    # The server first: its EncryptedExtensions say whether 0-RTT data was accepted.
    server = decryptor.decrypt(server_records, "server")
    ee = next((m for m in server.messages if m.msg_type == ENCRYPTED_EXTENSIONS), None)
    if ee is not None:
        decryptor.early_data_accepted = bool(ee.fields.get("early_data"))
    client = decryptor.decrypt(client_records, "client")
    session = assemble_tls(client.records, server.records,
                           _merge_messages(client_messages, client.messages),
                           _merge_messages(server_messages, server.messages))
    return DecryptedConnection(session, client, server)


__all__ = ["TlsDecryptor", "PlaintextStream", "PlainPiece", "DecryptedDirection",
           "DecryptedConnection", "decrypt_connection"]
