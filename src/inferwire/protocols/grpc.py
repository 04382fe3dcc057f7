"""gRPC message framing inside HTTP/2 DATA payloads (sans-IO).

A gRPC stream's DATA payloads, concatenated, are a sequence of length-prefixed messages::

    compressed flag (1 byte: 0 or 1) | length (4 bytes, big-endian) | message (length bytes)

(https://github.com/grpc/grpc/blob/master/doc/PROTOCOL-HTTP2.md, "Length-Prefixed-Message").
Messages may span DATA frames and one frame may hold several messages.
:class:`GrpcMessageSplitter` is fed the DATA payload bytes of one stream and one direction, each
chunk with the stream offset (of that TCP direction) of its first byte, and reports every message
when its last byte arrives.  It keeps only the 5-byte prefix: message bytes are counted, not kept.
"""
from __future__ import annotations

from functools import lru_cache

import struct
from typing import NamedTuple

from ..errors import ProtocolError

PREFIX = struct.Struct(">BI")  # compressed flag, message length
PREFIX_LEN = PREFIX.size  # 5


class GrpcMessage(NamedTuple):
    """One gRPC message: ``length`` excludes the 5-byte prefix; ``start`` is the stream offset of
    the prefix's first byte, ``end`` one past the message's last byte (exclusive).  When the
    message spans DATA frames, ``end - start`` also includes the frame headers in between."""

    compressed: bool
    length: int
    start: int
    end: int


class WholeMessage:
    """What an HTTP/2 parser record gives for the gRPC messages of an unpadded DATA frame whose
    payload is exactly one whole message (the usual gRPC frame): the message is known from the
    frame, so the record holds one of the two instances :data:`WHOLE_MESSAGE` (by compressed
    flag) instead of a tuple of one :class:`GrpcMessage` (a streamed call's capture holds a
    million such frames; each tuple and its numbers were five objects made and freed).
    :func:`frame_messages` gives the tuple back."""

    __slots__ = ("compressed",)

    def __init__(self, compressed: bool) -> None:
        self.compressed = compressed

    def message(self, payload_start: int, end: int) -> GrpcMessage:
        """The message of a frame whose payload begins at stream offset ``payload_start`` and
        which ends at ``end`` (exclusive)."""
        return GrpcMessage(self.compressed, end - payload_start - PREFIX_LEN, payload_start, end)

    def __reduce__(self):                    # (one instance per flag, also after a copy)
        return _whole_message, (self.compressed,)

    def __repr__(self) -> str:
        return f"WHOLE_MESSAGE[{int(self.compressed)}]"


#: The two :class:`WholeMessage` markers, by compressed flag (0, 1).
WHOLE_MESSAGE = (WholeMessage(False), WholeMessage(True))


def _whole_message(compressed: bool) -> WholeMessage:
    return WHOLE_MESSAGE[bool(compressed)]


def frame_messages(messages, payload_start: int, end: int) -> tuple:
    """A DATA record's gRPC messages as a tuple of :class:`GrpcMessage` (``messages``: the
    record's, a tuple or a :data:`WHOLE_MESSAGE` marker; ``payload_start``, ``end``: the
    frame's payload start and end, stream offsets), or None as given."""
    if isinstance(messages, WholeMessage):
        return (messages.message(payload_start, end),)
    return messages


def message_count_bytes(messages, data_len: int) -> tuple[int, int]:
    """(How many, their lengths summed: bytes, prefixes excluded) of a DATA record's gRPC
    messages (a tuple, a :data:`WHOLE_MESSAGE` marker or None; ``data_len``: its payload
    length)."""
    if isinstance(messages, WholeMessage):
        return 1, data_len - PREFIX_LEN
    if not messages:
        return 0, 0
    return len(messages), sum(m[1] for m in messages)


@lru_cache(maxsize=256)          # a capture has few distinct content types, each seen per stream
def is_grpc_content_type(value: str | None) -> bool:
    """True for ``application/grpc`` and its ``+proto``/``;params`` variants, not grpc-web."""
    if not value:
        return False
    value = value.strip().lower()
    return value == "application/grpc" or value.startswith(("application/grpc+",
                                                             "application/grpc;"))


class GrpcMessageSplitter:
    """Incremental splitter of one stream direction's DATA payload into gRPC messages.

    ``feed(data, offset)`` takes payload bytes (padding already removed) and the stream offset of
    ``data[0]``; returns the messages completed inside this chunk.  A compressed flag other than
    0 or 1 raises :class:`ProtocolError` at the flag's offset (its ``events``: the messages the
    same call completed before it); the splitter then refuses input.
    """

    __slots__ = ("_prefix", "_prefix_start", "_remaining", "_current", "_failed", "messages",
                 "message_bytes")

    def __init__(self) -> None:
        self._prefix = bytearray()   # the partial 5-byte prefix, the only bytes ever kept
        self._prefix_start = 0
        self._remaining = 0          # message bytes still to come for the current message
        self._current: tuple[bool, int, int] | None = None  # (compressed, length, start)
        self._failed: ProtocolError | None = None
        self.messages = 0            # messages completed so far
        self.message_bytes = 0       # sum of their lengths (bytes, prefixes excluded)

    @property
    def in_message(self) -> bool:
        """True when a message has begun (some prefix bytes seen) but has not ended."""
        return bool(self._prefix) or self._current is not None

    @property
    def pending_start(self) -> int | None:
        """Stream offset of the unfinished message's first prefix byte, or None."""
        if self._current is not None:
            return self._current[2]
        return self._prefix_start if self._prefix else None

    def feed(self, data: bytes | memoryview, offset: int) -> list[GrpcMessage]:
        """Consume ``data`` (DATA payload bytes starting at stream offset ``offset``)."""
        if self._failed is not None:
            raise self._failed
        out: list[GrpcMessage] = []
        pos, n = 0, len(data)
        try:
            while pos < n:
                if self._current is not None:
                    pos = self._consume_body(n, pos, offset, out)
                else:
                    whole = pos
                    if not self._prefix and n - pos >= PREFIX_LEN:
                        whole = self._whole_messages(data, pos, offset, out)
                    pos = whole if whole > pos else self._consume_prefix(data, pos, offset, out)
        except ProtocolError as exc:
            exc.events = out                 # the messages this call completed before the error
            raise
        return out

    def feed_frame(self, buf, lo: int, hi: int, offset: int) -> tuple[GrpcMessage, ...] | \
            WholeMessage:
        """As ``tuple(feed(buf[lo:hi], offset))`` (``buf[lo]`` is at stream offset ``offset``),
        but a :data:`WHOLE_MESSAGE` marker for a payload that is exactly one whole message
        begun here (the usual gRPC frame), read without a slice, a loop or a list: the HTTP/2
        parser calls this once per unpadded DATA frame."""
        if hi - lo >= PREFIX_LEN and self._current is None and not self._prefix \
                and self._failed is None:
            flag, length = PREFIX.unpack_from(buf, lo)
            if flag <= 1 and lo + PREFIX_LEN + length == hi:
                self.messages += 1
                self.message_bytes += length
                return WHOLE_MESSAGE[flag]
        return tuple(self.feed(buf[lo:hi], offset))

    def _whole_messages(self, data, pos: int, offset: int, out: list[GrpcMessage]) -> int:
        """Messages lying whole in ``data`` from ``pos`` (the usual case: one per DATA frame),
        without the byte-wise prefix buffer; return where the first other one starts."""
        n, unpack = len(data), PREFIX.unpack_from
        while n - pos >= PREFIX_LEN:
            flag, length = unpack(data, pos)
            end = pos + PREFIX_LEN + length
            if flag > 1 or end > n:
                break                        # the general path reports / buffers it
            out.append(GrpcMessage(flag == 1, length, offset + pos, offset + end))
            self.messages += 1
            self.message_bytes += length
            pos = end
        return pos

    def _consume_body(self, n: int, pos: int, offset: int, out: list[GrpcMessage]) -> int:
        # Message bytes are only counted: nothing is copied.
        take = min(self._remaining, n - pos)
        self._remaining -= take
        pos += take
        if self._remaining == 0:
            self._finish(offset + pos, out)
        return pos

    def _consume_prefix(self, data, pos: int, offset: int, out: list[GrpcMessage]) -> int:
        if not self._prefix:
            self._prefix_start = offset + pos
        take = min(PREFIX_LEN - len(self._prefix), len(data) - pos)
        self._prefix += data[pos:pos + take]
        pos += take
        if len(self._prefix) < PREFIX_LEN:
            return pos
        flag, length = PREFIX.unpack(self._prefix)
        self._prefix.clear()
        if flag > 1:
            self._failed = ProtocolError(f"gRPC compressed flag is {flag}, expected 0 or 1",
                                         offset=self._prefix_start, field="grpc.compressed_flag")
            raise self._failed
        self._current = (bool(flag), length, self._prefix_start)
        self._remaining = length
        if length == 0:
            self._finish(offset + pos, out)
        return pos

    def _finish(self, end: int, out: list[GrpcMessage]) -> None:
        compressed, length, start = self._current
        out.append(GrpcMessage(compressed, length, start, end))
        self._current = None
        self.messages += 1
        self.message_bytes += length
