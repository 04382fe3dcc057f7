"""Server-Sent Events framing (sans-IO): a ``text/event-stream`` body split into events.

The format (https://html.spec.whatwg.org/multipage/server-sent-events.html, "Parsing an event
stream"): lines end with CRLF, LF or CR; a blank line dispatches the event whose lines came
before it.  Each event is reported with its span in the body: from the first byte of its first
line to one past the blank line that ended it (the byte that let a client dispatch it).  Blank
lines between events belong to no event.  Bytes after the last blank line are an event not yet
dispatched (cut by the capture's or the connection's end): reported with ``complete`` False.

Kinds: ``"data"`` (an event with a ``data`` field), ``"done"`` (its data is exactly ``[DONE]``,
OpenAI's end-of-stream marker), ``"other"`` (no data field: comments such as keep-alives,
``retry:`` or ``id:`` only; a client dispatches nothing for them).
"""
from __future__ import annotations

import re
from typing import NamedTuple

import numpy as np

try:              # the usual bodies split where their pieces lie, in C (_sse.c); same events
    from ._sse import split as c_split
    from ._sse import split_chunked as c_split_chunked
except ImportError:
    c_split = c_split_chunked = None

#: One line and its end (CRLF, LF or CR; the last line of the body may have none).
_LINE = re.compile(rb"([^\r\n]*)(\r\n|\n|\r|$)")


class SseEvent(NamedTuple):
    """One event: ``[start, end)`` offsets in the body (bytes), its kind and whether a blank
    line ended it."""
    start: int
    end: int
    kind: str
    complete: bool


def sse_events(body: bytes) -> list[SseEvent]:
    """The events of the event-stream ``body`` (decoded: no chunk framing), in order."""
    if b"\r" not in body:
        return _lf_events(body)
    return _line_events(body)


def _lf_events(body: bytes) -> list[SseEvent]:
    """:func:`sse_events` of a body whose lines all end with LF (what servers send): events
    end at ``\n\n``; a one-line ``data:`` event is read without splitting it into lines."""
    events: list[SseEvent] = []
    pos, n, find = 0, len(body), body.find
    while pos < n:
        while pos < n and body[pos] == 10:         # blank lines between events
            pos += 1
        if pos >= n:
            break
        cut = find(b"\n\n", pos)
        end = n if cut < 0 else cut + 2
        block = body[pos:end if cut < 0 else cut]
        if block.startswith(b"data:") and b"\n" not in block:
            value = block[5:]
            value = value[1:] if value.startswith(b" ") else value
            kind = "done" if value == b"[DONE]" else "data"
        else:
            kind = _line_events(block + b"\n\n")[0].kind
        events.append(SseEvent(pos, end, kind, cut >= 0))
        pos = end
    return events


def _line_events(body: bytes) -> list[SseEvent]:
    """:func:`sse_events` line by line (any line ends, as the format allows)."""
    events: list[SseEvent] = []
    start, data, fields, pos, n = None, [], False, 0, len(body)
    while pos < n:
        m = _LINE.match(body, pos)
        line, end = m.group(1), m.end()
        if line:
            if start is None:
                start = pos
            name, _, value = line.partition(b":")
            if name == b"data":
                data.append(value[1:] if value.startswith(b" ") else value)
                fields = True
        elif start is not None:             # the blank line: dispatch
            events.append(SseEvent(start, end, _kind(fields, data), True))
            start, data, fields = None, [], False
        if not m.group(2):                  # the body's last, unterminated line
            break
        pos = end
    if start is not None:
        events.append(SseEvent(start, n, _kind(fields, data), False))
    return events


def _kind(fields: bool, data: list) -> str:
    if not fields:
        return "other"
    return "done" if data == [b"[DONE]"] else "data"


#: The event kinds in the order of :func:`sse_event_columns`' codes.
KINDS = ("data", "done", "other")
_CODE = {k: i for i, k in enumerate(KINDS)}


class SseColumns(NamedTuple):
    """:func:`sse_events` as arrays: ``start``, ``end`` (int64 body offsets), ``kind`` (int8
    codes into :data:`KINDS`), ``complete`` (bool)."""
    start: np.ndarray
    end: np.ndarray
    kind: np.ndarray
    complete: np.ndarray


def sse_event_columns(body: bytes) -> SseColumns:
    """:func:`sse_events` of ``body`` as columns.  The usual stream (every event one
    ``data:`` line ended by LF LF, no CR, no other blank lines) is split with numpy over the
    body's LF positions; any other is read event by event by :func:`sse_events` (same events)."""
    fast = data_line_columns(body)
    if fast is not None:
        return fast
    events = sse_events(body)
    return SseColumns(np.array([e.start for e in events], np.int64),
                      np.array([e.end for e in events], np.int64),
                      np.array([_CODE[e.kind] for e in events], np.int8),
                      np.array([e.complete for e in events], bool))


def data_line_columns(body: bytes) -> SseColumns | None:
    """The columns of a body made only of one-line ``data:`` events each ended by exactly one
    blank line (LF LF), the last possibly cut (no LF in it), or None for any other body."""
    if b"\r" in body:
        return None
    raw = np.frombuffer(body, np.uint8)
    lf = np.flatnonzero(raw == 10)
    if len(lf) % 2 or (len(lf) and raw[0] == 10):
        return None
    first, second = lf[0::2], lf[1::2]
    if not (second == first + 1).all() or (first[1:] <= second[:-1] + 1).any():
        return None                         # a line of its own, or a run of three LFs
    ends = second + 1
    starts = np.concatenate([[0], ends]).astype(np.int64)
    cut = len(body) > (int(ends[-1]) if len(ends) else 0)
    if not cut:
        starts = starts[:-1]
    ends = np.concatenate([ends, [len(body)]]) if cut else ends
    if not len(starts):
        return SseColumns(starts, ends.astype(np.int64), np.zeros(0, np.int8),
                          np.zeros(0, bool))
    lengths = ends - starts
    if (lengths < 5).any():
        return None
    head = raw[starts[:, None] + np.arange(5)]
    if not (head == np.frombuffer(b"data:", np.uint8)).all():
        return None
    kind = np.zeros(len(starts), np.int8)
    for k in np.flatnonzero((lengths >= 11) & (lengths <= 14)):    # "data:[DONE]" .. " [DONE]\n\n"
        value = body[starts[k] + 5:ends[k]].rstrip(b"\n")
        if (value[1:] if value.startswith(b" ") else value) == b"[DONE]":
            kind[k] = 1
    complete = np.ones(len(starts), bool)
    complete[-1] = not cut
    return SseColumns(starts, ends.astype(np.int64), kind, complete)


def is_event_stream(content_type: str | None) -> bool:
    """True for a ``text/event-stream`` media type (parameters allowed)."""
    return bool(content_type) and content_type.split(";", 1)[0].strip().lower() == \
        "text/event-stream"
