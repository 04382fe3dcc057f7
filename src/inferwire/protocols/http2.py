"""HTTP/2 frame parser for one direction of a connection (sans-IO, RFC 9113).

:class:`H2Parser` is fed one direction's contiguous stream bytes with the stream offset of the
first byte and returns frame-level events carrying exact offsets: ``start`` is the offset of the
first byte of the frame header, ``end`` one past the frame's last byte (exclusive).  A header
block (HEADERS or PUSH_PROMISE plus its CONTINUATIONs) is one event spanning all its frames.

Only incomplete frame headers and incomplete non-DATA frames are buffered; DATA (and unknown)
frame payloads are walked through without copying, except the 5-byte gRPC length prefixes.
HPACK is decoded by :mod:`inferwire.protocols.hpackdecode` (``hpack``'s tables and semantics,
written for speed), one decoder per direction, seeing every header block in order.

:func:`assemble_h2` (pure) joins both directions' events into an :class:`H2Conversation`: the
connection set-up offsets and one :class:`H2Stream` per stream (request/response headers, the
offsets where each side's part of the exchange starts and ends, byte and gRPC message counts).
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field, fields
from urllib.parse import unquote

from hpack.exceptions import HPACKError

from ..errors import ProtocolError
from .detect import H2_PREFACE
from .grpc import GrpcMessage, GrpcMessageSplitter, is_grpc_content_type
from .hpackdecode import HpackDecoder
from .numbers import GRPC_STATUS_DIGITS, STATUS_DIGITS, ascii_int
from .records import from_fields

# length (24 bits as 8 + 16), type, flags, reserved bit + stream id
FRAME_HEADER = struct.Struct(">BHBBL")
FRAME_HEADER_LEN = FRAME_HEADER.size  # 9

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, \
    CONTINUATION = range(10)
FLAG_END_STREAM = 0x1
FLAG_ACK = 0x1
FLAG_END_HEADERS = 0x4
FLAG_PADDED = 0x8
FLAG_PRIORITY = 0x20

_HEADERS_FLAGS = FLAG_END_HEADERS | FLAG_PADDED | FLAG_PRIORITY

SETTINGS_HEADER_TABLE_SIZE = 0x1
SETTINGS_MAX_FRAME_SIZE = 0x5

# The per-direction parser cannot know the limits the *other* peer announced (its SETTINGS travel
# in the other direction), so the HPACK decoder accepts any table size the encoder signals up to
# 16 MiB, and header lists up to 1 MiB decoded (far above what gRPC/TF Serving allow).
_HPACK_MAX_TABLE = 1 << 24
_HPACK_MAX_HEADER_LIST = 1 << 20

_U32 = struct.Struct(">L")
_PRIORITY = struct.Struct(">LB")
_SETTING = struct.Struct(">HL")
_GOAWAY = struct.Struct(">LL")


# ---------------------------------------------------------------- events (all offsets: stream)

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
    """The event objects of parser records (``(event class, *fields)`` tuples)."""
    return [record[0](*record[1:]) for record in records]


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


# ---------------------------------------------------------------- parser

class _Frame:
    """The frame being read (a plain class: one is made per frame, dataclass init is slower)."""

    __slots__ = ("start", "length", "type", "flags", "stream_id", "remaining", "data_len",
                 "data_left", "messages")

    def __init__(self, start: int, length: int, ftype: int, flags: int, stream_id: int,
                 remaining: int):
        self.start, self.length, self.type, self.flags = start, length, ftype, flags
        self.stream_id, self.remaining = stream_id, remaining
        self.data_len = -1                   # DATA: payload minus padding; -1 until pad len read
        self.data_left = 0                   # DATA: data bytes not yet consumed
        self.messages: list = []


@dataclass
class _Block:
    """A header block waiting for its CONTINUATION frames."""
    kind: int                            # HEADERS or PUSH_PROMISE
    stream_id: int
    start: int
    end_stream: bool
    promised: int
    fragment: bytearray


class H2Parser:
    """Parse one direction of an HTTP/2 connection.

    ``role`` is ``"client"`` for the client->server direction (which starts with the preface) and
    ``"server"`` for server->client.  ``max_frame_size``: a frame header announcing a longer
    payload raises :class:`ProtocolError` (bytes).  Bad bytes raise :class:`ProtocolError`
    (``offset`` = stream offset, ``field``); its ``events`` attribute holds the events the same
    ``feed()`` call completed before the error.  The parser then refuses further input (raises
    again, with ``events == []``).

    ``records=True``: every event is returned as a *record*, the plain tuple ``(event class,
    *its fields in order)`` (``(Headers, stream_id, start, end, headers, end_stream)``), which is
    how the parser makes them: a record costs a fifth of an event object to build and to read.
    :func:`assemble_records` takes them; ``cls(*record[1:])`` is the event.
    """

    def __init__(self, role: str, *, max_frame_size: int = 16 * 1024 * 1024,
                 records: bool = False):
        if role not in ("client", "server"):
            raise ValueError(f"role must be 'client' or 'server', not {role!r}")
        self.role = role
        self.max_frame_size = max_frame_size
        self.records = records
        self._next: int | None = None
        self._preface_seen = 0 if role == "client" else len(H2_PREFACE)
        self._preface_start = 0
        self._hdr = bytearray()          # partial frame header (< 9 bytes)
        self._hdr_start = 0
        self._frame: _Frame | None = None
        self._payload = bytearray()      # partial payload of a buffered (non-DATA) frame
        self._block: _Block | None = None
        self._decoder = HpackDecoder(_HPACK_MAX_HEADER_LIST, _HPACK_MAX_TABLE)
        self._grpc: dict[int, GrpcMessageSplitter | None] = {}  # None: framing broke, stop
        self._failed: ProtocolError | None = None

    # ------------------------------------------------------------ public

    def feed(self, data: bytes | bytearray | memoryview, offset: int) -> list:
        """Consume ``data`` whose first byte is at stream offset ``offset``; return events."""
        if self._failed is not None:
            raise _stopped(self._failed)
        self._check_offset(offset)
        mv = memoryview(data).cast("B") if not isinstance(data, bytes) else memoryview(data)
        buf = data if isinstance(data, bytes) else mv    # header blocks: one slice of bytes
        events: list = []
        try:
            pos = self._feed_preface(mv, 0, offset, events)
            while pos < len(mv):
                if self._frame is None and not self._hdr and self._block is None:
                    pos = self._whole_frames(mv, buf, pos, offset, events)
                    if pos >= len(mv):
                        break
                pos = self._step(mv, pos, offset, events)
        except ProtocolError as exc:
            # the events this chunk completed before the error
            exc.events = events if self.records else event_objects(events)
            self._failed = exc
            raise
        self._next = offset + len(mv)
        return events if self.records else event_objects(events)

    def close(self, offset: int | None = None) -> list:
        """End of this direction (FIN or end of capture): report an unfinished frame, if any."""
        end = self._next if offset is None else offset
        if end is None or self._failed is not None:
            return []
        unfinished = self._unfinished()
        if not unfinished:
            return []
        record = (Truncated, unfinished[0], end, unfinished[1], unfinished[2])
        return [record] if self.records else event_objects([record])

    # ------------------------------------------------------------ plumbing

    def _check_offset(self, offset: int) -> None:
        if self._next is not None and offset != self._next:
            raise ProtocolError(f"bytes fed at offset {offset}, expected {self._next}: the "
                                "parser needs contiguous stream bytes", offset=offset,
                                field="offset")
        if self._next is None:
            self._preface_start = offset

    def _unfinished(self) -> tuple[int, str, int | None] | None:
        if self._preface_seen < len(H2_PREFACE):
            return (self._preface_start, "preface", None) if self._preface_seen else None
        if self._frame is not None:
            name = {DATA: "DATA frame", HEADERS: "HEADERS frame"}.get(self._frame.type, "frame")
            return self._frame.start, name, self._frame.stream_id
        if self._hdr:
            return self._hdr_start, "frame header", None
        if self._block is not None:
            return self._block.start, "header block", self._block.stream_id
        return None

    def _feed_preface(self, mv: memoryview, pos: int, offset: int, events: list) -> int:
        seen = self._preface_seen
        if seen >= len(H2_PREFACE):
            return pos
        take = min(len(H2_PREFACE) - seen, len(mv) - pos)
        got = bytes(mv[pos:pos + take])
        if got != H2_PREFACE[seen:seen + take]:
            bad = next(i for i in range(take) if got[i] != H2_PREFACE[seen + i])
            raise ProtocolError("not the HTTP/2 client preface (PRI * HTTP/2.0 ...)",
                                offset=offset + pos + bad, field="preface")
        self._preface_seen += take
        if self._preface_seen == len(H2_PREFACE):
            events.append((Preface, self._preface_start, self._preface_start + len(H2_PREFACE)))
        return pos + take

    def _whole_frames(self, mv: memoryview, buf, pos: int, offset: int, events: list) -> int:
        """Parse the frames that lie whole in ``mv`` from ``pos`` on; return where the first
        other one starts (cut by the chunk's end, a padded DATA, a CONTINUATION sequence).
        ``buf`` holds the same bytes (``mv`` itself, or the bytes object ``mv`` views).

        The fast path for the common case, written out in one loop because a frame-by-frame
        walk through :meth:`_step` cost more than the rest of the analysis: the checks and
        events are the same as the general path's (tests feed the same bytes both ways).
        """
        n, unpack, max_size = len(mv), FRAME_HEADER.unpack_from, self.max_frame_size
        while n - pos >= FRAME_HEADER_LEN:
            hi, lo, ftype, flags, sid = unpack(mv, pos)
            length = (hi << 16) | lo
            end = pos + FRAME_HEADER_LEN + length
            if end > n or length > max_size:
                return pos                   # the general path buffers it or raises the error
            sid &= 0x7FFFFFFF
            start = offset + pos
            if ftype == DATA:
                if flags & FLAG_PADDED:
                    return pos
                self._whole_data(mv, pos + FRAME_HEADER_LEN, start, length, flags, sid, events)
            elif ftype == HEADERS and flags & _HEADERS_FLAGS == FLAG_END_HEADERS and sid:
                self._whole_headers(bytes(buf[pos + FRAME_HEADER_LEN:end]), start,
                                    offset + end, flags, sid, events)
            elif ftype == WINDOW_UPDATE and length == 4:
                events.append((WindowUpdate, sid, start, offset + end,
                                             _U32.unpack_from(mv, pos + FRAME_HEADER_LEN)[0]
                                             & 0x7FFFFFFF))
            elif ftype == CONTINUATION:
                return pos
            elif ftype > CONTINUATION:
                events.append((UnknownFrame, ftype, sid, flags, start, offset + end))
            else:
                fr = _Frame(start, length, ftype, flags, sid, 0)
                _HANDLERS[ftype](self, fr, bytes(mv[pos + FRAME_HEADER_LEN:end]), offset + end,
                                 events)
                if self._block is not None:  # HEADERS without END_HEADERS: CONTINUATIONs follow
                    return end
            pos = end
        return pos

    def _whole_data(self, mv: memoryview, lo: int, start: int, length: int, flags: int,
                    sid: int, events: list) -> None:
        """A complete, unpadded DATA frame whose payload is ``mv[lo:lo + length]`` (see
        :meth:`_read_data` for the general case)."""
        if sid == 0:
            raise ProtocolError("DATA frame on stream 0", offset=start, field="stream_id")
        messages = ()
        if length:
            splitter = self._grpc.get(sid)
            if splitter is not None:
                try:
                    messages = splitter.feed_frame(mv, lo, lo + length, start + FRAME_HEADER_LEN)
                except ProtocolError as exc:
                    messages = tuple(exc.events)     # those before the broken one still count
                    self._grpc[sid] = None
                    events.append((GrpcFramingError, sid, exc.offset, str(exc)))
        end = start + FRAME_HEADER_LEN + length
        if flags & FLAG_END_STREAM:
            events.append((Data, sid, start, end, length, True, messages))
            self._end_grpc(sid, end, events)
        else:
            events.append((Data, sid, start, end, length, False, messages))

    def _whole_headers(self, fragment: bytes, start: int, end: int, flags: int, sid: int,
                       events: list) -> None:
        """A complete HEADERS frame with END_HEADERS, no padding, no priority fields."""
        try:
            headers = self._decoder.decode_text(fragment)
        except (HPACKError, IndexError, ValueError, OverflowError) as exc:
            raise ProtocolError(f"HPACK decoding failed: {exc}", offset=start,
                                field="header_block") from None
        if sid not in self._grpc:
            self._note_content_type(sid, headers)
        if flags & FLAG_END_STREAM:
            events.append((Headers, sid, start, end, headers, True))
            self._end_grpc(sid, end, events)
        else:
            events.append((Headers, sid, start, end, headers, False))

    def _step(self, mv: memoryview, pos: int, offset: int, events: list) -> int:
        """Consume as much as the current state allows; return the new position."""
        if self._frame is None:
            return self._read_header(mv, pos, offset, events)
        if self._frame.type == DATA:
            return self._read_data(mv, pos, offset, events)
        if self._frame.type > CONTINUATION:
            return self._skip_unknown(mv, pos, offset, events)
        return self._read_buffered(mv, pos, offset, events)

    def _read_header(self, mv: memoryview, pos: int, offset: int, events: list) -> int:
        if not self._hdr and len(mv) - pos >= FRAME_HEADER_LEN:
            fields = FRAME_HEADER.unpack_from(mv, pos)   # whole header in this chunk: no copy
            start, pos = offset + pos, pos + FRAME_HEADER_LEN
        else:
            if not self._hdr:
                self._hdr_start = offset + pos
            take = min(FRAME_HEADER_LEN - len(self._hdr), len(mv) - pos)
            self._hdr += mv[pos:pos + take]
            pos += take
            if len(self._hdr) < FRAME_HEADER_LEN:
                return pos
            fields = FRAME_HEADER.unpack(self._hdr)
            start = self._hdr_start
            self._hdr.clear()
        self._begin_frame(start, fields, events)
        return pos

    def _begin_frame(self, start: int, fields: tuple, events: list) -> None:
        hi, lo, ftype, flags, sid = fields
        length, sid = (hi << 16) | lo, sid & 0x7FFFFFFF
        if length > self.max_frame_size:
            raise ProtocolError(f"frame header announces {length} payload bytes, more than "
                                f"max_frame_size={self.max_frame_size}", offset=start,
                                field="frame.length")
        if self._block is not None and (ftype != CONTINUATION or sid != self._block.stream_id):
            raise ProtocolError(f"expected CONTINUATION of the header block of stream "
                                f"{self._block.stream_id}, got frame type {ftype} on stream {sid}",
                                offset=start, field="frame.type")
        fr = self._frame = _Frame(start, length, ftype, flags, sid, length)
        if ftype == DATA:
            self._begin_data(fr, events)
        elif length == 0:
            self._complete_frame(b"", events)

    def _begin_data(self, fr: _Frame, events: list) -> None:
        if fr.stream_id == 0:
            raise ProtocolError("DATA frame on stream 0", offset=fr.start, field="stream_id")
        if fr.flags & FLAG_PADDED:
            if fr.length == 0:
                raise ProtocolError("PADDED DATA frame without a pad length byte",
                                    offset=fr.start, field="DATA.pad_length")
        else:
            fr.data_len = fr.data_left = fr.length
            if fr.length == 0:
                self._finish_data(fr, fr.start + FRAME_HEADER_LEN, events)

    # ------------------------------------------------------------ DATA: streamed, never buffered

    def _read_data(self, mv: memoryview, pos: int, offset: int, events: list) -> int:
        fr = self._frame
        if fr.data_len < 0:              # PADDED: the pad length byte comes first
            pad = mv[pos]
            if pad > fr.length - 1:
                raise ProtocolError(f"DATA pad length {pad} exceeds payload of {fr.length}",
                                    offset=offset + pos, field="DATA.pad_length")
            fr.data_len = fr.data_left = fr.length - 1 - pad
            fr.remaining -= 1
            pos += 1
        take = min(fr.data_left, len(mv) - pos)
        if take:
            self._split_grpc(fr, mv[pos:pos + take], offset + pos, events)
            fr.data_left -= take
            fr.remaining -= take
            pos += take
        if fr.data_left == 0:            # then the padding, skipped
            take = min(fr.remaining, len(mv) - pos)
            fr.remaining -= take
            pos += take
        if fr.remaining == 0:
            self._finish_data(fr, offset + pos, events)
        return pos

    def _split_grpc(self, fr: _Frame, chunk: memoryview, chunk_offset: int, events: list) -> None:
        splitter = self._grpc.get(fr.stream_id)
        if splitter is None:
            return
        try:
            fr.messages.extend(splitter.feed(chunk, chunk_offset))
        except ProtocolError as exc:
            # Broken gRPC framing spoils only this stream's message counts, not the connection;
            # messages completed before the broken one (same chunk) still count.
            fr.messages.extend(exc.events)
            self._grpc[fr.stream_id] = None
            events.append((GrpcFramingError, fr.stream_id, exc.offset, str(exc)))

    def _finish_data(self, fr: _Frame, end: int, events: list) -> None:
        end_stream = bool(fr.flags & FLAG_END_STREAM)
        events.append((Data, fr.stream_id, fr.start, end, fr.data_len, end_stream,
                           tuple(fr.messages)))
        self._frame = None
        if end_stream:
            self._end_grpc(fr.stream_id, end, events)

    def _skip_unknown(self, mv: memoryview, pos: int, offset: int, events: list) -> int:
        fr = self._frame
        take = min(fr.remaining, len(mv) - pos)
        fr.remaining -= take
        pos += take
        if fr.remaining == 0:
            events.append((UnknownFrame, fr.type, fr.stream_id, fr.flags, fr.start, offset + pos))
            self._frame = None
        return pos

    # ------------------------------------------------------------ buffered frames

    def _read_buffered(self, mv: memoryview, pos: int, offset: int, events: list) -> int:
        fr = self._frame
        take = min(fr.remaining, len(mv) - pos)
        if not self._payload and take == fr.length:
            payload = mv[pos:pos + take]               # whole payload in this chunk
        else:
            self._payload += mv[pos:pos + take]
            payload = self._payload
        fr.remaining -= take
        pos += take
        if fr.remaining == 0:
            self._complete_frame(bytes(payload), events)
            self._payload.clear()
        return pos

    def _complete_frame(self, payload: bytes, events: list) -> None:
        fr = self._frame
        self._frame = None
        end = fr.start + FRAME_HEADER_LEN + fr.length
        if fr.type > CONTINUATION:
            events.append((UnknownFrame, fr.type, fr.stream_id, fr.flags, fr.start, end))
            return
        _HANDLERS[fr.type](self, fr, payload, end, events)

    def _on_headers(self, fr: _Frame, payload: bytes, end: int, events: list) -> None:
        self._need_stream(fr, "HEADERS")
        lo, hi = self._unpad(fr, payload, "HEADERS")
        if fr.flags & FLAG_PRIORITY:
            lo += 5
            if lo > hi:
                raise ProtocolError("HEADERS too short for its priority fields",
                                    offset=fr.start, field="HEADERS.priority")
        self._block = _Block(HEADERS, fr.stream_id, fr.start, bool(fr.flags & FLAG_END_STREAM),
                             0, bytearray(payload[lo:hi]))
        if fr.flags & FLAG_END_HEADERS:
            self._end_block(end, events)

    def _on_push_promise(self, fr: _Frame, payload: bytes, end: int, events: list) -> None:
        self._need_stream(fr, "PUSH_PROMISE")
        lo, hi = self._unpad(fr, payload, "PUSH_PROMISE")
        if hi - lo < 4:
            raise ProtocolError("PUSH_PROMISE too short for its promised stream id",
                                offset=fr.start, field="PUSH_PROMISE.promised_stream_id")
        promised = _U32.unpack_from(payload, lo)[0] & 0x7FFFFFFF
        self._block = _Block(PUSH_PROMISE, fr.stream_id, fr.start, False, promised,
                             bytearray(payload[lo + 4:hi]))
        if fr.flags & FLAG_END_HEADERS:
            self._end_block(end, events)

    def _on_continuation(self, fr: _Frame, payload: bytes, end: int, events: list) -> None:
        if self._block is None:
            raise ProtocolError("CONTINUATION without a preceding HEADERS or PUSH_PROMISE",
                                offset=fr.start, field="frame.type")
        self._block.fragment += payload
        if len(self._block.fragment) > self.max_frame_size:
            raise ProtocolError(f"header block longer than {self.max_frame_size} bytes",
                                offset=self._block.start, field="CONTINUATION")
        if fr.flags & FLAG_END_HEADERS:
            self._end_block(end, events)

    def _end_block(self, end: int, events: list) -> None:
        block, self._block = self._block, None
        headers = self._decode(block)
        if block.kind == PUSH_PROMISE:
            events.append((PushPromise, block.stream_id, block.promised, block.start, end, headers))
            return
        events.append((Headers, block.stream_id, block.start, end, headers, block.end_stream))
        self._note_content_type(block.stream_id, headers)
        if block.end_stream:
            self._end_grpc(block.stream_id, end, events)

    def _decode(self, block: _Block) -> tuple:
        return self._decode_fragment(bytes(block.fragment), block.start)

    def _decode_fragment(self, fragment: bytes, start: int) -> tuple:
        """Decode a whole header block; ``start``: offset of its first frame (for errors)."""
        try:
            return self._decoder.decode_text(fragment)
        except (HPACKError, IndexError, ValueError, OverflowError) as exc:
            raise ProtocolError(f"HPACK decoding failed: {exc}", offset=start,
                                field="header_block") from None

    def _note_content_type(self, stream_id: int, headers: tuple) -> None:
        """Start splitting gRPC messages on a stream whose headers say application/grpc."""
        if stream_id in self._grpc:
            return
        for name, value in headers:
            if name == "content-type" and is_grpc_content_type(value):
                self._grpc[stream_id] = GrpcMessageSplitter()
                return

    def _end_grpc(self, stream_id: int, end: int, events: list) -> None:
        """The stream's direction ended: a gRPC message still open there is truncated."""
        splitter = self._grpc.pop(stream_id, None)   # popped: no per-stream state kept after end
        if splitter is not None and splitter.in_message:
            events.append((GrpcFramingError, stream_id, splitter.pending_start,
                                           f"stream ended at offset {end} inside a gRPC message"))

    def _on_priority(self, fr: _Frame, payload: bytes, end: int, events: list) -> None:
        self._need_stream(fr, "PRIORITY")
        self._need_length(fr, 5, "PRIORITY")
        dep, weight = _PRIORITY.unpack(payload)
        events.append((Priority, fr.stream_id, fr.start, end, dep & 0x7FFFFFFF, weight + 1,
                               bool(dep >> 31)))

    def _on_rst_stream(self, fr: _Frame, payload: bytes, end: int, events: list) -> None:
        self._need_stream(fr, "RST_STREAM")
        self._need_length(fr, 4, "RST_STREAM")
        events.append((RstStream, fr.stream_id, fr.start, end, _U32.unpack(payload)[0]))
        self._grpc.pop(fr.stream_id, None)

    def _on_settings(self, fr: _Frame, payload: bytes, end: int, events: list) -> None:
        self._need_stream_zero(fr, "SETTINGS")
        ack = bool(fr.flags & FLAG_ACK)
        if fr.length % 6 or (ack and fr.length):
            raise ProtocolError(f"SETTINGS payload of {fr.length} bytes (ack={ack})",
                                offset=fr.start, field="SETTINGS.length")
        params = dict(_SETTING.iter_unpack(payload))
        events.append((Settings, fr.start, end, ack, params))

    def _on_ping(self, fr: _Frame, payload: bytes, end: int, events: list) -> None:
        self._need_stream_zero(fr, "PING")
        self._need_length(fr, 8, "PING")
        events.append((Ping, fr.start, end, bool(fr.flags & FLAG_ACK), bytes(payload)))

    def _on_goaway(self, fr: _Frame, payload: bytes, end: int, events: list) -> None:
        self._need_stream_zero(fr, "GOAWAY")
        if fr.length < 8:
            raise ProtocolError(f"GOAWAY payload of {fr.length} bytes, need 8",
                                offset=fr.start, field="GOAWAY.length")
        last, code = _GOAWAY.unpack_from(payload)
        events.append((GoAway, fr.start, end, last & 0x7FFFFFFF, code, bytes(payload[8:])))

    def _on_window_update(self, fr: _Frame, payload: bytes, end: int, events: list) -> None:
        self._need_length(fr, 4, "WINDOW_UPDATE")
        events.append((WindowUpdate, fr.stream_id, fr.start, end,
                                   _U32.unpack(payload)[0] & 0x7FFFFFFF))

    # ------------------------------------------------------------ checks

    @staticmethod
    def _unpad(fr: _Frame, payload: bytes, name: str) -> tuple[int, int]:
        """Return the [lo, hi) slice of ``payload`` left once the padding fields are removed."""
        if not fr.flags & FLAG_PADDED:
            return 0, len(payload)
        if not payload or payload[0] > len(payload) - 1:
            raise ProtocolError(f"{name} pad length exceeds the payload", offset=fr.start,
                                field=f"{name}.pad_length")
        return 1, len(payload) - payload[0]

    @staticmethod
    def _need_stream(fr: _Frame, name: str) -> None:
        if fr.stream_id == 0:
            raise ProtocolError(f"{name} frame on stream 0", offset=fr.start, field="stream_id")

    @staticmethod
    def _need_stream_zero(fr: _Frame, name: str) -> None:
        if fr.stream_id != 0:
            raise ProtocolError(f"{name} frame on stream {fr.stream_id}, must be stream 0",
                                offset=fr.start, field="stream_id")

    @staticmethod
    def _need_length(fr: _Frame, length: int, name: str) -> None:
        if fr.length != length:
            raise ProtocolError(f"{name} payload of {fr.length} bytes, must be {length}",
                                offset=fr.start, field=f"{name}.length")


def _stopped(failed: ProtocolError) -> ProtocolError:
    """A fresh error for input after a failure (the first one's ``events`` are not repeated)."""
    exc = ProtocolError(f"parser stopped by an earlier error: {failed}")
    exc.offset, exc.field, exc.events = failed.offset, failed.field, []
    return exc


_HANDLERS = {
    HEADERS: H2Parser._on_headers,
    PRIORITY: H2Parser._on_priority,
    RST_STREAM: H2Parser._on_rst_stream,
    SETTINGS: H2Parser._on_settings,
    PUSH_PROMISE: H2Parser._on_push_promise,
    PING: H2Parser._on_ping,
    GOAWAY: H2Parser._on_goaway,
    WINDOW_UPDATE: H2Parser._on_window_update,
    CONTINUATION: H2Parser._on_continuation,
}


# ---------------------------------------------------------------- conversation assembler

@dataclass(frozen=True)
class H2Stream:
    """One HTTP/2 stream (one request/response exchange).  Offsets: ``req_*`` are client-direction
    stream offsets, ``resp_*`` server-direction ones; ``*_end`` exclusive; None where not seen."""
    stream_id: int
    pushed: bool                   # server push (even id): request_headers = the PUSH_PROMISE's
    request_headers: tuple
    response_headers: tuple        # the final (non-1xx) response header block
    informational: tuple           # 1xx header blocks, in order
    trailers: tuple                # response trailers (gRPC: grpc-status ...)
    request_trailers: tuple
    method: str | None
    path: str | None
    authority: str | None
    status: int | None
    content_type: str | None
    request_id: str | None         # x-request-id (request headers, else response headers)
    grpc_status: int | None        # from trailers, or from a trailers-only response
    grpc_message: str | None       # percent-decoded
    req_start: int | None          # first byte of the client's first HEADERS/DATA frame
    req_headers_end: int | None    # one past the request header block
    req_end: int | None            # one past the client's frame carrying END_STREAM
    resp_start: int | None         # first byte of the server's first HEADERS/DATA frame (1xx too)
    resp_headers_end: int | None   # one past the final response header block
    resp_end: int | None           # one past the server's frame carrying END_STREAM
    request_bytes: int             # sum of DATA data_len, client -> server (bytes)
    response_bytes: int
    request_messages: int          # gRPC messages (0 when not gRPC)
    response_messages: int
    request_message_bytes: int     # sum of gRPC message lengths, 5-byte prefixes excluded
    response_message_bytes: int
    reset_by: str | None           # "client" | "server" | None
    reset_code: int | None
    complete: bool


H2_STREAM_FIELDS = tuple(f.name for f in fields(H2Stream))


@dataclass
class H2Conversation:
    """Both directions of one HTTP/2 connection, assembled.  Set-up offsets: ``preface_*``,
    ``client_settings_end`` and ``client_ack_end`` are client offsets, ``server_*`` server ones."""
    preface_start: int | None = None
    preface_end: int | None = None
    client_settings_end: int | None = None  # end of the client's first SETTINGS
    server_settings_end: int | None = None  # end of the server's first SETTINGS
    server_ack_end: int | None = None       # end of the server's ACK of the client's SETTINGS
    client_ack_end: int | None = None       # end of the client's ACK of the server's SETTINGS
    client_settings: dict = field(default_factory=dict)
    server_settings: dict = field(default_factory=dict)
    streams: list = field(default_factory=list)
    goaway: GoAway | None = None            # the server's last GOAWAY, else the client's last
    goaway_by: str | None = None
    warnings: list = field(default_factory=list)


class _StreamAcc:
    """Mutable accumulator for one stream while events are walked (a slotted class: one is made
    per stream).  ``req_*`` counts are the client's, ``resp_*`` the server's."""

    __slots__ = ("stream_id", "pushed", "request_headers", "response_headers", "informational",
                 "trailers", "request_trailers", "req_start", "req_headers_end", "req_end",
                 "resp_start", "resp_headers_end", "resp_end", "req_bytes", "resp_bytes",
                 "req_messages", "resp_messages", "req_message_bytes", "resp_message_bytes",
                 "resets", "has_final")

    def __init__(self, stream_id: int, pushed: bool = False):
        self.stream_id, self.pushed = stream_id, pushed
        self.request_headers = self.response_headers = self.trailers = ()
        self.request_trailers = ()
        self.informational: list = []
        self.req_start = self.req_headers_end = self.req_end = None
        self.resp_start = self.resp_headers_end = self.resp_end = None
        self.req_bytes = self.resp_bytes = self.req_messages = self.resp_messages = 0
        self.req_message_bytes = self.resp_message_bytes = 0
        self.resets: dict = {}          # side -> error code
        self.has_final = False


def assemble_h2(client_events: list, server_events: list) -> H2Conversation:
    """Join the events of both directions of one connection into an :class:`H2Conversation`.

    Streams are those with a HEADERS, DATA, RST_STREAM frame or a PUSH_PROMISE (PRIORITY or
    WINDOW_UPDATE alone do not make a stream), listed by stream id.  Anything odd goes to
    ``warnings`` and the certain facts are kept.
    """
    return assemble_records(event_records(client_events), event_records(server_events))


def assemble_records(client_records: list, server_records: list) -> H2Conversation:
    """:func:`assemble_h2` for events as records (``H2Parser(..., records=True)``)."""
    conv, rows = assemble_rows(client_records, server_records)
    conv.streams = [_h2_stream(row) for row in rows]
    return conv


def assemble_rows(client_records: list, server_records: list) -> tuple[H2Conversation, list]:
    """:func:`assemble_records` with each stream left as its *row*: the tuple of its
    :class:`H2Stream` fields in order (``H2Stream(*row)`` is the stream; ``H2_STREAM_FIELDS``
    names them); ``streams`` of the conversation stays empty.  For callers that read a few
    fields of many streams: making an H2Stream costs more than assembling the stream."""
    conv = H2Conversation()
    streams: dict[int, _StreamAcc] = {}
    _walk_client(conv, streams, client_records)
    _walk_server(conv, streams, server_records)
    responses: dict = {}
    return conv, [_stream_row(streams[sid], conv.warnings, responses) for sid in sorted(streams)]


# The two walks handle HEADERS and DATA records inline (a handler call per event cost as much as
# the rest of the assembly) and skip WINDOW_UPDATE; any other record becomes its event object
# for its handler in _ASSEMBLERS.

def _walk_client(conv: H2Conversation, streams: dict, records: list) -> None:
    """Fold the client direction's records into ``streams`` (request side) and ``conv``."""
    warnings, assemblers, get = conv.warnings, _ASSEMBLERS, streams.get
    for record in records:
        kind = record[0]
        if kind is Headers:
            _, sid, start, end, headers, end_stream = record
            acc = get(sid) or _acc(streams, sid)
            if acc.req_end is not None:
                warnings.append(f"stream {sid}: client HEADERS at offset {start} after "
                                "END_STREAM")
            if acc.req_start is None:
                acc.req_start, acc.req_headers_end, acc.request_headers = start, end, headers
            else:
                acc.request_trailers = headers
            if end_stream and acc.req_end is None:
                acc.req_end = end
        elif kind is Data:
            _, sid, start, end, data_len, end_stream, messages = record
            acc = get(sid) or _acc(streams, sid)
            if acc.req_end is not None:
                warnings.append(f"stream {sid}: client DATA at offset {start} after END_STREAM")
            if acc.req_start is None:
                warnings.append(f"stream {sid}: client DATA before HEADERS")
                acc.req_start = start
            if end_stream and acc.req_end is None:
                acc.req_end = end
            acc.req_bytes += data_len
            if messages:
                acc.req_messages += len(messages)
                acc.req_message_bytes += _message_bytes(messages)
        elif kind is not WindowUpdate:
            fn = assemblers.get(kind)
            if fn is not None:          # others (PING, PRIORITY ...) play no part
                fn(conv, streams, "client", kind(*record[1:]))


def _walk_server(conv: H2Conversation, streams: dict, records: list) -> None:
    """Fold the server direction's records into ``streams`` (response side) and ``conv``."""
    warnings, assemblers, get = conv.warnings, _ASSEMBLERS, streams.get
    for record in records:
        kind = record[0]
        if kind is Headers:
            _, sid, start, end, headers, end_stream = record
            acc = get(sid) or _acc(streams, sid)
            if acc.resp_end is not None:
                warnings.append(f"stream {sid}: server HEADERS at offset {start} after "
                                "END_STREAM")
            _server_headers(acc, start, end, headers, end_stream)
        elif kind is Data:
            _, sid, start, end, data_len, end_stream, messages = record
            acc = get(sid) or _acc(streams, sid)
            if acc.resp_end is not None:
                warnings.append(f"stream {sid}: server DATA at offset {start} after END_STREAM")
            if not acc.has_final:
                warnings.append(f"stream {sid}: server DATA before response HEADERS")
            if acc.resp_start is None:
                acc.resp_start = start
            if end_stream and acc.resp_end is None:
                acc.resp_end = end
            acc.resp_bytes += data_len
            if messages:
                acc.resp_messages += len(messages)
                acc.resp_message_bytes += _message_bytes(messages)
        elif kind is not WindowUpdate:
            fn = assemblers.get(kind)
            if fn is not None:
                fn(conv, streams, "server", kind(*record[1:]))


def _message_bytes(messages: tuple) -> int:
    """Sum of the gRPC message lengths (bytes, prefixes excluded)."""
    if len(messages) == 1:
        return messages[0].length
    return sum(m.length for m in messages)


def _acc(streams: dict, sid: int) -> _StreamAcc:
    acc = streams.get(sid)
    if acc is None:
        acc = streams[sid] = _StreamAcc(sid, pushed=sid % 2 == 0)
    return acc


def _on_preface(conv, streams, side, ev: Preface) -> None:
    if conv.preface_start is None:
        conv.preface_start, conv.preface_end = ev.start, ev.end


def _on_settings(conv, streams, side, ev: Settings) -> None:
    if ev.ack:
        attr = "client_ack_end" if side == "client" else "server_ack_end"
    else:
        attr = "client_settings_end" if side == "client" else "server_settings_end"
        if getattr(conv, attr) is None:
            setattr(conv, side + "_settings", dict(ev.params))
    if getattr(conv, attr) is None:
        setattr(conv, attr, ev.end)


def _on_goaway(conv, streams, side, ev: GoAway) -> None:
    if side == "server" or conv.goaway_by != "server":
        conv.goaway, conv.goaway_by = ev, side


def _on_push_promise(conv, streams, side, ev: PushPromise) -> None:
    acc = _acc(streams, ev.promised_stream_id)
    acc.pushed, acc.request_headers = True, ev.headers


def _server_headers(acc: _StreamAcc, start: int, end: int, headers: tuple,
                    end_stream: bool) -> None:
    if acc.resp_start is None:
        acc.resp_start = start
    status = _status(headers)
    if not acc.has_final and status is not None and 100 <= status < 200:
        acc.informational.append(headers)
    elif not acc.has_final:
        acc.has_final, acc.response_headers, acc.resp_headers_end = True, headers, end
    else:
        acc.trailers = headers
    if end_stream and acc.resp_end is None:
        acc.resp_end = end


def _on_rst_stream(conv, streams, side, ev: RstStream) -> None:
    _acc(streams, ev.stream_id).resets.setdefault(side, ev.error_code)


def _on_grpc_error(conv, streams, side, ev: GrpcFramingError) -> None:
    conv.warnings.append(f"stream {ev.stream_id}: {side} gRPC framing at offset {ev.offset}: "
                         f"{ev.message}; message counts of this direction are partial")


def _on_truncated(conv, streams, side, ev: Truncated) -> None:
    conv.warnings.append(f"{side} direction ended inside a {ev.what} starting at offset "
                         f"{ev.start}" + (f" (stream {ev.stream_id})" if ev.stream_id else ""))


# HEADERS and DATA are handled by the walks themselves
_ASSEMBLERS = {
    Preface: _on_preface, Settings: _on_settings, GoAway: _on_goaway, PushPromise: _on_push_promise,
    RstStream: _on_rst_stream, GrpcFramingError: _on_grpc_error, Truncated: _on_truncated,
}


def _status(headers: tuple) -> int | None:
    """The ``:status`` of a header block: three ASCII digits, else None."""
    return ascii_int(_get(headers, ":status"), STATUS_DIGITS)


def _get(headers: tuple, name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _stream_row(acc: _StreamAcc, warnings: list, responses: dict) -> tuple:
    """The stream's :class:`H2Stream` fields, in order.  ``responses`` remembers
    :func:`_first_values` of response header tuples by identity (the HPACK decoder hands out
    one tuple for a repeated block, as every response of a gRPC server is): id -> (the tuple,
    kept alive so that its id stays its own, its values)."""
    req_headers, resp_headers = acc.request_headers, acc.response_headers
    req = _first_values(req_headers)
    seen = responses.get(id(resp_headers))
    if seen is not None and seen[0] is resp_headers:
        resp = seen[1]
    else:
        resp = _first_values(resp_headers)
        responses[id(resp_headers)] = (resp_headers, resp)
    grpc_status, grpc_message = _grpc_result(acc, warnings)
    reset_by, reset_code = _reset(acc) if acc.resets else (None, None)
    request_done = acc.req_end is not None or acc.pushed or (reset_by == "server"
                                                            and reset_code == 0)
    # a reset after both END_STREAMs (grpc-core's deadline race) cannot undo bytes already seen
    complete = ((acc.req_end is not None and acc.resp_end is not None)
                or (acc.resp_end is not None and request_done and reset_code in (None, 0)))
    status = resp.get(":status")
    code = ascii_int(status, STATUS_DIGITS)
    if status is not None and code is None:
        warnings.append(f"stream {acc.stream_id}: :status {status[:40]!r} is not a 3-digit "
                        "status code; status left empty")
    return (acc.stream_id, acc.pushed, req_headers, resp_headers, tuple(acc.informational),
            acc.trailers, acc.request_trailers, req.get(":method"), req.get(":path"),
            req.get(":authority"),
            code,
            req.get("content-type") or resp.get("content-type"),
            req.get("x-request-id") or resp.get("x-request-id"),
            grpc_status, grpc_message, acc.req_start, acc.req_headers_end, acc.req_end,
            acc.resp_start, acc.resp_headers_end, acc.resp_end, acc.req_bytes, acc.resp_bytes,
            acc.req_messages, acc.resp_messages, acc.req_message_bytes,
            acc.resp_message_bytes, reset_by, reset_code, complete)


def _h2_stream(row: tuple) -> H2Stream:
    """``H2Stream(*row)``, its instance dict filled in one step (the generated __init__ sets
    the 31 fields one object.__setattr__ call at a time)."""
    return from_fields(H2Stream, dict(zip(H2_STREAM_FIELDS, row, strict=True)))


def _first_values(headers: tuple) -> dict:
    """name -> value of its first occurrence (a dict built in C: faster than several scans)."""
    return dict(reversed(headers))


def _grpc_result(acc: _StreamAcc, warnings: list) -> tuple[int | None, str | None]:
    """grpc-status/grpc-message from the trailers, else from a trailers-only response."""
    source = acc.trailers or acc.response_headers
    raw_status = message = None
    for name, value in source:          # one pass for both: the first of each counts
        if name == "grpc-status":
            if raw_status is None:
                raw_status = value
        elif name == "grpc-message" and message is None:
            message = value
    status = None
    if raw_status is not None:
        status = ascii_int(raw_status, GRPC_STATUS_DIGITS)
        if status is None:
            warnings.append(f"stream {acc.stream_id}: grpc-status {raw_status[:40]!r} is not a "
                            "number of at most 10 ASCII digits; grpc_status left empty")
    # unquote() returns a string without "%" as it is
    return status, (unquote(message) if message is not None and "%" in message else message)


def _reset(acc: _StreamAcc) -> tuple[str | None, int | None]:
    """Who reset the stream.  Directions are parsed apart, so when both sides sent RST_STREAM
    their order is unknown here: the one with an error code wins, the client on a tie."""
    if not acc.resets:
        return None, None
    if len(acc.resets) == 2 and acc.resets["client"] == 0 and acc.resets["server"] != 0:
        return "server", acc.resets["server"]
    side = "client" if "client" in acc.resets else "server"
    return side, acc.resets[side]
