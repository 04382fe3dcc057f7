"""HTTP/2 events: what :class:`~inferwire.protocols.http2.frames.H2Parser` reports, in two forms.

Each event is a small frozen dataclass carrying stream offsets (``start`` inclusive, ``end``
exclusive).  The parser builds them as *records*, plain tuples ``(event class, *fields in
declaration order)``, which cost a fifth of an object to build and to read;
:func:`event_objects` and :func:`event_records` convert between the two forms.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..grpc import GrpcMessage, frame_messages


@dataclass(frozen=True)
class Preface:
    """The client connection preface (24 bytes)."""
    start: int
    end: int


@dataclass(frozen=True)
class Settings:
    """A SETTINGS frame; ``params`` maps setting id (int) to value, last one wins."""
    start: int
    end: int
    ack: bool
    params: dict = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Headers:
    """One header block: HEADERS + CONTINUATIONs; ``end`` is one past the last CONTINUATION."""
    stream_id: int
    start: int
    end: int
    headers: tuple
    end_stream: bool


@dataclass(frozen=True)
class Data:
    """A DATA frame; ``data_len`` excludes the pad length byte and padding (bytes).

    ``grpc_messages`` lists the gRPC messages of a gRPC stream whose last byte is in this frame
    (a message spanning frames is reported once, in the frame where it ends)."""
    stream_id: int
    start: int
    end: int
    data_len: int
    end_stream: bool
    grpc_messages: tuple[GrpcMessage, ...] = ()


@dataclass(frozen=True)
class RstStream:
    stream_id: int
    start: int
    end: int
    error_code: int


@dataclass(frozen=True)
class WindowUpdate:
    stream_id: int
    start: int
    end: int
    increment: int


@dataclass(frozen=True)
class Ping:
    start: int
    end: int
    ack: bool
    opaque: bytes = b""


@dataclass(frozen=True)
class GoAway:
    start: int
    end: int
    last_stream_id: int
    error_code: int
    debug: bytes = b""


@dataclass(frozen=True)
class Priority:
    """A PRIORITY frame (the priority fields inside HEADERS are skipped, not reported)."""
    stream_id: int
    start: int
    end: int
    depends_on: int
    weight: int        # 1..256
    exclusive: bool


@dataclass(frozen=True)
class PushPromise:
    """A PUSH_PROMISE header block (+ CONTINUATIONs) on ``stream_id`` promising a new stream."""
    stream_id: int
    promised_stream_id: int
    start: int
    end: int
    headers: tuple


@dataclass(frozen=True)
class UnknownFrame:
    """A frame of a type this parser does not know (RFC 9113 says: ignore it)."""
    type: int
    stream_id: int
    flags: int
    start: int
    end: int


@dataclass(frozen=True)
class GrpcFramingError:
    """The gRPC framing of one stream was broken (bad flag, or the stream ended inside a message).

    Only that stream's message counting stops; the HTTP/2 parse goes on."""
    stream_id: int
    offset: int
    message: str


@dataclass(frozen=True)
class Truncated:
    """Emitted by :meth:`H2Parser.close` when the stream ended inside a frame or header block."""
    start: int         # offset of the first byte of the unfinished frame (or preface / block)
    end: int           # the close offset
    what: str          # e.g. "DATA frame", "header block", "frame header", "preface"
    stream_id: int | None


def event_objects(records: list) -> list:
    """The event objects of parser records (``(event class, *fields)`` tuples); a DATA
    record's :data:`~inferwire.protocols.grpc.WHOLE_MESSAGE` marker becomes its one
    :class:`GrpcMessage` (``Data.grpc_messages`` is always a tuple)."""
    return [Data(*record[1:6], frame_messages(record[6], record[3] - record[4], record[3]))
            if record[0] is Data else record[0](*record[1:]) for record in records]


def event_records(events: list) -> list:
    """The records of event objects: ``(event class, *fields in declaration order)``; an object
    of another class becomes ``(its class,)``, which the assembler ignores as it ignores the
    object."""
    names = _FIELD_NAMES
    return [(ev.__class__, *[getattr(ev, name) for name in names.get(ev.__class__, ())])
            for ev in events]


_FIELD_NAMES = {cls: tuple(f.name for f in fields(cls)) for cls in (
    Preface, Settings, Headers, Data, RstStream, WindowUpdate, Ping, GoAway, Priority,
    PushPromise, UnknownFrame, GrpcFramingError, Truncated)}
