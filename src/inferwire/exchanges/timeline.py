"""Mapping stream offsets back to capture times: the one place where bytes become times.

A parser reports a message as ``[start, end)`` stream offsets.  Its first byte's time is the time of
the packet (for TLS plaintext: of the record) that carried byte ``start``; its last byte's time is
the time of the packet that carried byte ``end - 1``.  Unknown (not captured, or carried by a
packet without a time stamp) -> None, never a guess.
"""
from __future__ import annotations

from typing import Protocol

from ..tcp.stream import known_time


class Timeline(Protocol):
    def first(self, start: int) -> int | None: ...
    def last(self, end: int) -> int | None: ...
    def first_frame(self, start: int) -> int | None: ...
    def last_frame(self, end: int) -> int | None: ...
    def first_packet(self, start: int) -> tuple: ...
    def last_packet(self, end: int) -> tuple: ...
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

    def first(self, start):
        i = self._first(start)
        return None if i < 0 else known_time(self.stream.times[i])

    def last(self, end):
        i = self._last(end)
        return None if i < 0 else known_time(self.stream.times[i])

    def first_frame(self, start):
        i = self._first(start)
        return None if i < 0 else self.stream.frames[i]

    def last_frame(self, end):
        i = self._last(end)
        return None if i < 0 else self.stream.frames[i]

    def first_packet(self, start) -> tuple:
        """``(first(start), first_frame(start))`` in one look-up."""
        i = self._first(start)
        return (None, None) if i < 0 else (known_time(self.stream.times[i]), self.stream.frames[i])

    def last_packet(self, end) -> tuple:
        """``(last(end), last_frame(end))`` in one look-up."""
        i = self._last(end)
        return (None, None) if i < 0 else (known_time(self.stream.times[i]), self.stream.frames[i])

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

    def first(self, start):
        span = self._span(start)
        return None if span is None else self.tcp.first(span[0])

    def last(self, end):
        span = None if end is None else self._span(end - 1)
        return None if span is None else self.tcp.last(span[1])

    def first_frame(self, start):
        span = self._span(start)
        return None if span is None else self.tcp.first_frame(span[0])

    def last_frame(self, end):
        span = None if end is None else self._span(end - 1)
        return None if span is None else self.tcp.last_frame(span[1])

    def first_packet(self, start) -> tuple:
        """``(first(start), first_frame(start))``."""
        return self.first(start), self.first_frame(start)

    def last_packet(self, end) -> tuple:
        """``(last(end), last_frame(end))``."""
        return self.last(end), self.last_frame(end)

    def chunks(self):
        return self.plain.chunks()

    def read(self, start: int, end: int) -> bytes | None:
        """The plaintext at [start, end), or None where not all of it was decrypted (a walk
        over the chunks: for the rare error body, not per request)."""
        parts = [data[max(start - o, 0):end - o] for o, data in self.chunks()
                 if o < end and o + len(data) > start]
        got = b"".join(bytes(p) for p in parts)
        return got if len(got) == end - start else None
