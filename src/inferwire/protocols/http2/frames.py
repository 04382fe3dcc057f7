"""HTTP/2 frames for one direction of a connection (sans-IO, RFC 9113): the wire format and
:class:`H2Parser`.

:class:`H2Parser` is fed one direction's contiguous stream bytes with the stream offset of the
first byte and returns frame-level events (:mod:`.events`) carrying exact offsets: ``start`` is
the offset of the first byte of the frame header, ``end`` one past the frame's last byte
(exclusive).  A header block (HEADERS or PUSH_PROMISE plus its CONTINUATIONs) is one event
spanning all its frames.

Only incomplete frame headers and incomplete non-DATA frames are buffered; DATA (and unknown)
frame payloads are walked through without copying, except the 5-byte gRPC length prefixes.
HPACK is decoded by :mod:`inferwire.protocols.hpackdecode` (``hpack``'s tables and semantics,
written for speed), one decoder per direction, seeing every header block in order.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass

from hpack.exceptions import HPACKError

from ...errors import ProtocolError
from ..detect import H2_PREFACE
from ..grpc import WHOLE_MESSAGE, GrpcMessage, GrpcMessageSplitter, is_grpc_content_type
from .. import hpackdecode
from ..hpackdecode import HpackDecoder
from .events import (Data, GoAway, GrpcFramingError, Headers, Ping, Preface, Priority,
                     PushPromise, RstStream, Settings, Truncated, UnknownFrame, WindowUpdate,
                     event_objects)

try:              # the usual whole frames walked in C (_frames.c); same records as _frames_py
    from ._frames import walk as _c_walk
except ImportError:
    _c_walk = None

# A gRPC stream whose splitter is not made yet: none of its DATA needed one (_frames.walk reads
# a payload of whole messages without it).  True, so that C knows it without an import.
_NEW_GRPC = True
_GRPC_CONTENT_TYPE = ("content-type", "application/grpc")

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

# payload fields: WINDOW_UPDATE / RST_STREAM / PUSH_PROMISE u32, PRIORITY, one SETTING, GOAWAY
U32 = struct.Struct(">L")
PRIORITY_FIELDS = struct.Struct(">LB")
SETTING = struct.Struct(">HL")
GOAWAY_FIELDS = struct.Struct(">LL")


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
        # a gRPC stream's splitter; _NEW_GRPC until its first DATA needs one; None: its framing
        # broke, messages are no longer counted
        self._grpc: dict[int, GrpcMessageSplitter | bool | None] = {}
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

        With the C extension (``_frames.walk``) the usual frames are read in C (a header block
        the decoder remembers, or a plain one, decoded there too, others handed to
        :meth:`_whole_headers`) and each frame it leaves (a control frame, padding, a gRPC
        message crossing frames) is read by :meth:`_frames_py`, one at a time, before C goes
        on: same records, same errors (``tests/protocols/http2/test_frames_c.py`` compares
        both)."""
        walk = _c_walk
        if walk is None:
            return self._frames_py(mv, buf, pos, offset, events, False)
        while True:
            pos = walk(mv, pos, offset, self.max_frame_size, self._grpc, events, self,
                       _WALK_KINDS)
            after = self._frames_py(mv, buf, pos, offset, events, True)
            if after == pos or self._block is not None:
                return after
            pos = after

    def _frames_py(self, mv: memoryview, buf, pos: int, offset: int, events: list,
                   one: bool) -> int:
        """:meth:`_whole_frames` in Python (``one``: at most one frame).

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
                                             U32.unpack_from(mv, pos + FRAME_HEADER_LEN)[0]
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
            if one:
                break
        return pos

    def _whole_data(self, mv: memoryview, lo: int, start: int, length: int, flags: int,
                    sid: int, events: list) -> None:
        """A complete, unpadded DATA frame whose payload is ``mv[lo:lo + length]`` (see
        :meth:`_read_data` for the general case)."""
        if sid == 0:
            raise ProtocolError("DATA frame on stream 0", offset=start, field="stream_id")
        messages = ()
        if length:
            splitter = self._splitter(sid)
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
        splitter = self._splitter(fr.stream_id)
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
        promised = U32.unpack_from(payload, lo)[0] & 0x7FFFFFFF
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
        if _GRPC_CONTENT_TYPE in headers:     # the usual value, found in one C-level scan
            self._grpc[stream_id] = _NEW_GRPC
            return
        for name, value in headers:
            if name == "content-type" and is_grpc_content_type(value):
                self._grpc[stream_id] = _NEW_GRPC
                return

    def _splitter(self, stream_id: int) -> GrpcMessageSplitter | None:
        """The stream's gRPC splitter (made on first use), or None: not gRPC, or broken."""
        splitter = self._grpc.get(stream_id)
        if splitter is _NEW_GRPC:
            splitter = self._grpc[stream_id] = GrpcMessageSplitter()
        return splitter

    def _end_grpc(self, stream_id: int, end: int, events: list) -> None:
        """The stream's direction ended: a gRPC message still open there is truncated."""
        splitter = self._grpc.pop(stream_id, None)   # popped: no per-stream state kept after end
        if splitter is not None and splitter is not _NEW_GRPC and splitter.in_message:
            events.append((GrpcFramingError, stream_id, splitter.pending_start,
                                           f"stream ended at offset {end} inside a gRPC message"))

    def _on_priority(self, fr: _Frame, payload: bytes, end: int, events: list) -> None:
        self._need_stream(fr, "PRIORITY")
        self._need_length(fr, 5, "PRIORITY")
        dep, weight = PRIORITY_FIELDS.unpack(payload)
        events.append((Priority, fr.stream_id, fr.start, end, dep & 0x7FFFFFFF, weight + 1,
                               bool(dep >> 31)))

    def _on_rst_stream(self, fr: _Frame, payload: bytes, end: int, events: list) -> None:
        self._need_stream(fr, "RST_STREAM")
        self._need_length(fr, 4, "RST_STREAM")
        events.append((RstStream, fr.stream_id, fr.start, end, U32.unpack(payload)[0]))
        self._grpc.pop(fr.stream_id, None)

    def _on_settings(self, fr: _Frame, payload: bytes, end: int, events: list) -> None:
        self._need_stream_zero(fr, "SETTINGS")
        ack = bool(fr.flags & FLAG_ACK)
        if fr.length % 6 or (ack and fr.length):
            raise ProtocolError(f"SETTINGS payload of {fr.length} bytes (ack={ack})",
                                offset=fr.start, field="SETTINGS.length")
        params = dict(SETTING.iter_unpack(payload))
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
        last, code = GOAWAY_FIELDS.unpack_from(payload)
        events.append((GoAway, fr.start, end, last & 0x7FFFFFFF, code, bytes(payload[8:])))

    def _on_window_update(self, fr: _Frame, payload: bytes, end: int, events: list) -> None:
        self._need_length(fr, 4, "WINDOW_UPDATE")
        events.append((WindowUpdate, fr.stream_id, fr.start, end,
                                   U32.unpack(payload)[0] & 0x7FFFFFFF))

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


# what _frames.walk makes records of and decodes header blocks with, in the order it takes them
_WALK_KINDS = (Data, WindowUpdate, UnknownFrame, GrpcMessage, Headers, hpackdecode._c_plain_text,
               hpackdecode.STATIC_TEXT, hpackdecode.MEMO_LIMIT, _GRPC_CONTENT_TYPE, WHOLE_MESSAGE)

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
