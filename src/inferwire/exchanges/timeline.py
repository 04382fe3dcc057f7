"""Mapping stream offsets back to capture times: the one place where bytes become times.

A parser reports a message as ``[start, end)`` stream offsets.  Its first byte's time is the time of
the packet (for TLS plaintext: of the record) that carried byte ``start`` (given the message's
``end`` too, an earlier capture of a later byte of the message when its first copy was lost
before the capture point: :meth:`~inferwire.tcp.DirectionStream.start_of`); its last byte's time
is the time of the packet that carried byte ``end - 1``.  Unknown (not captured, or carried by a
packet without a time stamp) -> None, never a guess.
"""
from __future__ import annotations

from typing import Protocol

import numpy as np

from ..tcp.stream import UNKNOWN_END, known_time


class Timeline(Protocol):
    def first(self, start: int, end: int | None = None) -> int | None: ...
    def last(self, end: int) -> int | None: ...
    def first_frame(self, start: int) -> int | None: ...
    def last_frame(self, end: int) -> int | None: ...
    def first_packet(self, start: int, end: int | None = None) -> tuple: ...
    def last_packet(self, end: int) -> tuple: ...
    def first_packets(self, starts: list, ends: list | None = None) -> tuple[list, list]: ...
    def last_packets(self, ends: list) -> tuple[list, list]: ...
    def chunks(self): ...
    def read(self, start: int, end: int) -> bytes | None: ...


class TcpTimeline:
    """Offsets of a reassembled TCP direction (:class:`~inferwire.tcp.DirectionStream`)."""

    def __init__(self, stream):
        self.stream = stream

    # The piece holding a request's or response's first byte (``start``) or last byte (``end``
    # exclusive): -1 where no packet carried it.
    def _first(self, start) -> int:
        return -1 if start is None or start < 0 else self.stream.piece_at(start)

    def _last(self, end) -> int:
        return -1 if end is None or end < 1 else self.stream.piece_at(end - 1)

    def _start_time(self, i: int, end) -> int:
        """The start time of a message whose first byte is in piece ``i`` (>= 0) and which ends
        at ``end`` (None: unknown, so every later byte of the direction may be its own: the
        piece's start time as it stands)."""
        if end is None:
            return int(self.stream.start_times[i])
        return self.stream.start_of(i, self.stream.last_piece_before(end))

    def first(self, start, end=None):
        """The capture time of a message's start (``end``: where the message ends, so that
        only its own bytes count when its first copy was lost before the capture point)."""
        i = self._first(start)
        return None if i < 0 else known_time(self._start_time(i, end))

    def last(self, end):
        i = self._last(end)
        return None if i < 0 else known_time(int(self.stream.end_times[i]))

    def first_frame(self, start):
        i = self._first(start)
        return None if i < 0 else self.stream.frames[i]

    def last_frame(self, end):
        i = self._last(end)
        return None if i < 0 else int(self.stream.end_frames[i])

    def first_packet(self, start, end=None) -> tuple:
        """``(first(start, end), first_frame(start))`` in one look-up."""
        i = self._first(start)
        return (None, None) if i < 0 else (known_time(self._start_time(i, end)),
                                           self.stream.frames[i])

    def last_packet(self, end) -> tuple:
        """``(last(end), last_frame(end))`` in one look-up."""
        i = self._last(end)
        s = self.stream
        return (None, None) if i < 0 else (known_time(int(s.end_times[i])), int(s.end_frames[i]))

    def first_packets(self, starts: list, ends: list | None = None) -> tuple[list, list]:
        """:meth:`first_packet` of every offset of ``starts`` (None allowed; with ``ends``,
        each message's end) as two lists, times and frames, in one vectorised look-up."""
        stream = self.stream
        piece = _pieces(stream, starts, False)
        if ends is None or stream.begun is None:
            return _column(stream.start_times, piece), _column(stream.frames, piece)
        times = stream.message_starts(_offsets(starts, -1), _offsets(ends, UNKNOWN_END))
        return ([None if t < 0 else t for t in times.tolist()],
                _column(stream.frames, piece))

    def last_packets(self, ends: list) -> tuple[list, list]:
        """:meth:`last_packet` of every offset of ``ends`` (None allowed) as two lists."""
        piece = _pieces(self.stream, ends, True)
        return _column(self.stream.end_times, piece), _column(self.stream.end_frames, piece)

    def gap_free_end(self) -> int | None:
        """The end of the direction's bytes when every one was captured (no gap, no packet
        cut short), else None."""
        stream = self.stream
        end = stream.contiguous_end()
        return None if stream.end > end or stream.uncaptured else end

    def piece_bytes(self, offset: int) -> tuple | None:
        """``(buffer, at, stop)``: the byte at stream ``offset`` is ``buffer[at]``, and the
        packet piece holding it ends at ``buffer[stop]`` (exclusive); None if no packet
        carried it.  For readers that split a message head in place (no copy)."""
        stream = self.stream
        k = stream.piece_at(offset)
        if k < 0:
            return None
        src = stream.srcs[k] - stream.starts[k]
        return stream.buffer, src + offset, src + stream.ends[k]

    def chunks(self):
        return self.stream.chunks()

    def read(self, start: int, end: int) -> bytes | None:
        """The bytes at [start, end), or None where not all were captured."""
        return self.stream.read(start, end)

    def views(self):
        """:meth:`chunks` with big pieces as views of the capture, not copies
        (:meth:`~inferwire.tcp.DirectionStream.views`)."""
        return self.stream.views()

    def spend_all(self) -> None:
        """Say that the direction's bytes were read some other way than :meth:`chunks` or
        :meth:`views` (a subclass may count them)."""


def _pieces(stream, offsets: list, ends: bool) -> np.ndarray:
    """Index of the piece of ``stream`` that carried each first byte (``offsets``) or, with
    ``ends``, each last byte (the offsets are exclusive ends): -1 where the offset is None,
    negative or not captured."""
    shift = 1 if ends else 0
    at = _offsets(offsets, -1 + shift) - shift
    piece = np.full(len(at), -1, dtype=np.int64)
    if len(stream.starts):
        piece_starts = np.asarray(stream.starts, dtype=np.int64)
        piece_ends = np.asarray(stream.ends, dtype=np.int64)
        i = np.searchsorted(piece_starts, at, side="right") - 1
        ok = (at >= 0) & (i >= 0) & (at < piece_ends[np.maximum(i, 0)])
        piece[ok] = i[ok]
    return piece


def _offsets(offsets, missing: int) -> np.ndarray:
    """``offsets`` (a sequence of ints and None) as int64, ``missing`` where None."""
    try:                                # none missing: the usual case, converted in C
        return np.array(offsets, dtype=np.int64)
    except TypeError:
        return np.array([missing if o is None else o for o in offsets], dtype=np.int64)


def _column(values, piece: np.ndarray) -> list:
    """``values[piece]`` for each piece index as Python ints, None where the index is -1 or
    the value is negative (a packet time :data:`~inferwire.tcp.stream.NO_TIME`: unknown)."""
    if not len(values):
        return [None] * len(piece)
    picked = np.asarray(values, dtype=np.int64)[np.maximum(piece, 0)]
    unknown = (piece < 0) | (picked < 0)
    if not unknown.any():                       # every offset captured and timed: the usual case
        return picked.tolist()
    return [None if u else v for v, u in zip(picked.tolist(), unknown.tolist())]


class PlaintextTimeline:
    """Offsets of decrypted TLS application data.

    A plaintext byte becomes usable when its whole record has arrived, but it started to arrive with
    the record's first byte: a message's first byte maps to the time of its record's first TCP byte,
    its last byte to the time of its record's last TCP byte.
    """

    def __init__(self, plaintext, tcp_stream):
        self.plain = plaintext          # has to_record_span(plain_offset) -> (rec_start, rec_end)
        self.tcp = TcpTimeline(tcp_stream)

    def _span(self, offset):
        if offset is None or offset < 0:
            return None
        try:
            return self.plain.to_record_span(offset)
        except (KeyError, IndexError, ValueError):
            return None

    def first(self, start, end=None):
        span = self._span(start)
        if span is None:
            return None
        last = None if end is None else self._span(end - 1)
        return self.tcp.first(span[0], None if last is None else last[1])

    def last(self, end):
        span = None if end is None else self._span(end - 1)
        return None if span is None else self.tcp.last(span[1])

    def first_frame(self, start):
        span = self._span(start)
        return None if span is None else self.tcp.first_frame(span[0])

    def last_frame(self, end):
        span = None if end is None else self._span(end - 1)
        return None if span is None else self.tcp.last_frame(span[1])

    def first_packet(self, start, end=None) -> tuple:
        """``(first(start, end), first_frame(start))``."""
        return self.first(start, end), self.first_frame(start)

    def last_packet(self, end) -> tuple:
        """``(last(end), last_frame(end))``."""
        return self.last(end), self.last_frame(end)

    def first_packets(self, starts: list, ends: list | None = None) -> tuple[list, list]:
        """:meth:`first_packet` of each of ``starts`` (and ``ends``), as two lists."""
        pairs = [self.first_packet(s, e) for s, e in zip(starts, ends or [None] * len(starts))]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def last_packets(self, ends: list) -> tuple[list, list]:
        """:meth:`last_packet` of each of ``ends``, as two lists (times, frames)."""
        pairs = [self.last_packet(e) for e in ends]
        return [p[0] for p in pairs], [p[1] for p in pairs]

    def chunks(self):
        return self.plain.chunks()

    def read(self, start: int, end: int) -> bytes | None:
        """The plaintext at [start, end), or None where not all of it was decrypted (a walk
        over the chunks: for the rare error body, not per request)."""
        parts = [data[max(start - o, 0):end - o] for o, data in self.chunks()
                 if o < end and o + len(data) > start]
        got = b"".join(bytes(p) for p in parts)
        return got if len(got) == end - start else None
