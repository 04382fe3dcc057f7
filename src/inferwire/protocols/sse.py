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


def is_event_stream(content_type: str | None) -> bool:
    """True for a ``text/event-stream`` media type (parameters allowed)."""
    return bool(content_type) and content_type.split(";", 1)[0].strip().lower() == \
        "text/event-stream"
