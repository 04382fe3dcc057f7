"""The messages inside streamed requests and responses, each with its first and last byte's time.

A *streamed* exchange is one whose body is a sequence of messages a client acts on one by one:

* HTTP/1.1: a response with ``Transfer-Encoding: chunked`` (each chunk with data is a message) or
  a ``text/event-stream`` body (each Server-Sent Event is one, :mod:`inferwire.protocols.sse`,
  across chunks when chunked);
* HTTP/2: a ``text/event-stream`` response (its events, across DATA frames);
* gRPC: a call with more than one length-prefixed message in either direction (every message of
  both directions, :mod:`inferwire.protocols.grpc`).

Anything else (a unary call) is not split: its ``messages`` stay None and the parsers' fast paths
never come here.  The parsers give stream offsets; the times come from the direction's
:class:`~inferwire.exchanges.timeline.Timeline`, the one place offsets become times: a message's
first byte is the capture time of the packet (TLS: record) carrying it, its last byte's likewise.

On a TCP direction the messages come as :class:`~.message_columns.MessageColumns` (arrays: the
fast form, for streams of a million tokens); on TLS plaintext as lists of :class:`Message`, read
one by one by the functions here, which are also the reference the fast form is tested against.
"""
from __future__ import annotations

from bisect import bisect_right

import numpy as np

from ..protocols.chunked import chunk_spans
from ..protocols.grpc import is_grpc_content_type
from ..protocols.http2 import H2_STREAM_FIELDS, Data
from ..protocols.sse import sse_events, is_event_stream
from .message_columns import (Message, MessageColumns, _after, _percentile, body_columns,
                              column_stats, read_span, sse_pieces, timed_spans)
from .timeline import TcpTimeline

#: HTTP/2 DATA frame header bytes before the payload.
_FRAME_HEADER = 9
#: gRPC's length prefix before each message (bytes).
_PREFIX = 5
#: Largest HTTP body split into messages (bytes): a bigger chunked or event-stream body (a file
#: download, say) is left whole rather than read into memory a second time.
MAX_SPLIT_BYTES = 64 << 20


# -- HTTP/1.1 ------------------------------------------------------------------------------------
def http1_response_messages(resp, down) -> list[Message] | None:
    """The messages of HTTP/1.1 response ``resp`` (an :class:`~inferwire.protocols.http1.
    Http1Message`) on timeline ``down``, or None when it is not streamed or its body was not
    all captured."""
    return http1_body_messages(resp, down, "response")


def http1_body_messages(msg, timeline, direction: str, columns: bool = True):
    """The messages of the body of HTTP/1.1 message ``msg`` (request or response, as
    ``direction`` says) on ``timeline``: its chunks, or its SSE events (Content-Length,
    chunked or close-delimited); None when it is neither or its body was not all captured.
    On a TCP direction (and ``columns``) as a :class:`~.message_columns.MessageColumns`, else a
    list of :class:`Message` read one by one (the reference reading: same messages)."""
    spec = streamed_body(msg)
    if spec is None:
        return None
    chunked, sse = spec[2], spec[3]
    if isinstance(timeline, TcpTimeline) and columns:     # the fast form, same messages
        body = read_span(timeline.stream, msg.head_end, msg.end)
        return None if body is None else body_columns(body, msg.head_end, chunked, sse,
                                                      timeline.stream, direction)
    body = timeline.read(msg.head_end, msg.end)
    if body is None:
        return None
    if not chunked:
        return _sse_messages(body, [(0, msg.head_end, len(body))], timeline, direction)
    chunks, _ = chunk_spans(body, msg.head_end)
    if not sse:
        return _timed_all(timeline, direction, [
            ("data", c.start, c.data_end, c.data_end - c.data_start, c.complete)
            for c in chunks])
    base = msg.head_end
    decoded = b"".join(body[c.data_start - base:c.data_end - base] for c in chunks)
    segments, at = [], 0
    for c in chunks:
        segments.append((at, c.data_start, c.data_end - c.data_start))
        at += c.data_end - c.data_start
    return _sse_messages(decoded, segments, timeline, direction)


def streamed_body(msg) -> tuple | None:
    """``(body start, body end, chunked, sse)`` (stream offsets; its framing and type) of the
    HTTP/1.1 message ``msg`` when its body is split into messages (chunked or an event stream,
    head read, at most :data:`MAX_SPLIT_BYTES`), else None."""
    if msg.head_end is None:
        return None
    chunked = "chunked" in (msg.header("transfer-encoding") or "").lower()
    sse = is_event_stream(msg.header("content-type"))
    if not (chunked or sse) or msg.end - msg.head_end > MAX_SPLIT_BYTES:
        return None
    return msg.head_end, msg.end, chunked, sse


def plain_sse_messages(headers: tuple, body_start: int, body_end: int,
                       down) -> list[Message] | None:
    """The SSE events of a response read by the plain path (``headers`` as
    :func:`~inferwire.protocols.http1.split_head` gives them, a Content-Length body at
    ``[body_start, body_end)`` of ``down``), or None when it is not an event stream."""
    for name, value in headers:
        if name == "content-type":
            break
    else:
        return None
    if not is_event_stream(value) or body_end - body_start > MAX_SPLIT_BYTES:
        return None
    tcp = isinstance(down, TcpTimeline)
    body = read_span(down.stream, body_start, body_end) if tcp else \
        down.read(body_start, body_end)
    if body is None:
        return None
    if tcp:
        return body_columns(body, body_start, False, True, down.stream, "response")
    return _sse_messages(body, [(0, body_start, len(body))], down, "response")


# -- HTTP/2 and gRPC -----------------------------------------------------------------------------
_SID, _CT, _RESP_HEADERS, _REQ_MSGS, _RESP_MSGS = (H2_STREAM_FIELDS.index(n) for n in (
    "stream_id", "content_type", "response_headers", "request_messages", "response_messages"))


def streamed_h2(rows: list) -> dict:
    """stream id -> "grpc" or "sse" for the streamed streams among ``rows`` (H2Stream rows)."""
    out = {}
    for row in rows:
        if is_grpc_content_type(row[_CT]):
            if row[_REQ_MSGS] > 1 or row[_RESP_MSGS] > 1:
                out[row[_SID]] = "grpc"
        elif any(name == "content-type" and is_event_stream(value)
                 for name, value in row[_RESP_HEADERS]):
            out[row[_SID]] = "sse"
    return out


def attach_h2_messages(rows: list, exchanges: list, client_records: list,
                       server_records: list, up, down) -> None:
    """Set ``messages`` of the exchanges (in ``rows``' order) of streamed HTTP/2 streams."""
    kinds = streamed_h2(rows)
    if not kinds:
        return
    found = {sid: [] for sid in kinds}
    for direction, records, timeline in (("request", client_records, up),
                                         ("response", server_records, down)):
        payloads = {sid: [] for sid, k in kinds.items()
                    if k == "grpc" or direction == "response"}
        spans = {sid: [] for sid, k in kinds.items() if k == "grpc"}
        for record in records:
            if record[0] is not Data or record[1] not in kinds:
                continue
            _, sid, start, end, data_len, _, grpc_messages = record
            if grpc_messages and sid in spans:
                spans[sid] += grpc_messages
            if data_len and sid in payloads:
                padded = end - start - _FRAME_HEADER != data_len
                payloads[sid].append(start + _FRAME_HEADER + padded)
                payloads[sid].append(data_len)
        for sid, flat in payloads.items():
            if kinds[sid] == "sse":
                found[sid] = _h2_sse(flat, timeline)       # an SSE stream has no other
            else:
                whole = sum(_PREFIX + m[1] for m in spans[sid])
                found[sid] = found[sid] + _grpc_timed(spans[sid], direction, timeline) + \
                    _grpc_cut(flat, whole, direction, timeline)
    for row, ex in zip(rows, exchanges):
        if row[_SID] in found:
            ex.messages = found[row[_SID]]


def _grpc_timed(msgs: list, direction: str, timeline):
    """The gRPC messages ``msgs`` (:class:`~inferwire.protocols.grpc.GrpcMessage`) of one
    direction with their times: columns on a TCP direction, else a list."""
    if isinstance(timeline, TcpTimeline) and msgs:
        n = len(msgs)
        return timed_spans(timeline.stream, direction, np.zeros(n, np.int8),
                           np.array([m[2] for m in msgs], np.int64),
                           np.array([m[3] for m in msgs], np.int64),
                           np.array([m[1] for m in msgs], np.int64), np.ones(n, bool))
    return [_timed(timeline, direction, "data", m[2], m[3], m[1], True) for m in msgs]


def _grpc_cut(flat: list, whole: int, direction: str, timeline) -> list[Message]:
    """The gRPC message of ``direction`` begun but not ended (cut by the capture's or the
    stream's end) as a one-item list (complete False, bytes: its bytes that arrived after the
    5-byte prefix), or [] when the DATA payloads (``flat``: offset, length, ...) end with a
    whole message (``whole``: the payload bytes of the whole messages, prefixes included)."""
    at = whole
    for k in range(0, len(flat), 2):
        if at < flat[k + 1]:
            start = flat[k] + at
            rest = sum(flat[1::2]) - whole
            return [_timed(timeline, direction, "data", start, start + rest,
                           max(rest - _PREFIX, 0), False)]
        at -= flat[k + 1]
    return []


def _h2_sse(flat: list, timeline) -> list[Message]:
    """The SSE messages of a stream's DATA payloads (``flat``: offset, length, offset, ...)."""
    segments, parts, at = [], [], 0
    if sum(flat[1::2]) > MAX_SPLIT_BYTES:
        return []
    for k in range(0, len(flat), 2):
        offset, length = flat[k], flat[k + 1]
        data = timeline.read(offset, offset + length)
        if data is None:
            break                            # not captured: the events before it stand
        segments.append((at, offset, length))
        parts.append(data)
        at += length
    if isinstance(timeline, TcpTimeline):                # the fast form, same messages
        return sse_pieces(b"".join(parts), np.array([s[1] for s in segments], np.int64),
                          np.array([s[2] for s in segments], np.int64), timeline.stream,
                          "response")
    return _sse_messages(b"".join(parts), segments, timeline, "response")


# -- shared --------------------------------------------------------------------------------------
def _sse_messages(body: bytes, segments: list, timeline, direction: str) -> list[Message]:
    """The events of ``body`` (decoded), their body offsets mapped to stream offsets through
    ``segments`` ((body offset, stream offset, length) of each contiguous piece, in order)."""
    starts = [s[0] for s in segments]

    def stream_offset(pos: int) -> int:
        k = bisect_right(starts, pos) - 1
        return segments[k][1] + pos - segments[k][0]

    events = sse_events(body)
    if len(segments) == 1:                      # one contiguous piece: a constant shift
        shift = segments[0][1] - segments[0][0]
        spans = [(e.kind, e.start + shift, e.end + shift, e.end - e.start, e.complete)
                 for e in events]
    else:
        spans = [(e.kind, stream_offset(e.start), stream_offset(e.end - 1) + 1, e.end - e.start,
                  e.complete) for e in events]
    return _timed_all(timeline, direction, spans)


def _timed_all(timeline, direction: str, spans: list) -> list[Message]:
    """:func:`_timed` of each ``(kind, start, end, bytes, complete)``; a TCP direction's
    pieces looked up in place (the same rule as :class:`~.timeline.TcpTimeline`'s, without
    two method calls per message)."""
    if not isinstance(timeline, TcpTimeline):
        return [_timed(timeline, direction, *span) for span in spans]
    stream = timeline.stream
    starts, ends = stream.starts, stream.ends
    start_times, end_times = stream.start_times, stream.end_times
    out = []
    for kind, start, end, nbytes, complete in spans:
        i = bisect_right(starts, start) - 1
        first = int(start_times[i]) if i >= 0 and start < ends[i] else -1
        j = bisect_right(starts, end - 1) - 1
        if first >= 0 and stream.begun is not None:    # only the message's own bytes count
            first = stream.start_of(i, j)
        last = -1
        if complete:
            last = int(end_times[j]) if j >= 0 and end - 1 < ends[j] else -1
        out.append(Message(direction, kind, first if first >= 0 else None,
                           last if last >= 0 else None, nbytes, complete))
    return out


def _timed(timeline, direction: str, kind: str, start: int, end: int, nbytes: int,
           complete: bool) -> Message:
    """A message at stream offsets ``[start, end)`` of ``timeline``, with its times."""
    return Message(direction, kind, timeline.first(start, end),
                   timeline.last(end) if complete else None, nbytes, complete)


# -- per-request columns and the messages table (pure: lists in, arrays out) ---------------------
#: The requests table's message columns (:data:`inferwire.columns.REQUEST_COLUMNS`), in order.
MESSAGE_STAT_COLUMNS = ("request_messages", "response_messages", "ttft_ms", "last_message_ms",
                        "message_gap_p50_ms", "message_gap_p90_ms", "message_gap_max_ms",
                        "stream_done")


def message_stats(messages: list, req_end_ns: list, protocols: list | None = None,
                  grpc_statuses: list | None = None) -> dict:
    """The message columns of each request (``messages``: each request's message list or None,
    ``req_end_ns``: its request_end in ns or None, ``protocols``: its protocol, ``grpc_statuses``:
    its grpc_status, None when no trailers came): name -> list (None where empty)."""
    out = {name: [None] * len(messages) for name in MESSAGE_STAT_COLUMNS}
    for k, msgs in enumerate(messages):
        if msgs is None:
            continue
        grpc = protocols is not None and protocols[k] == "grpc"
        ended = grpc_statuses is not None and grpc_statuses[k] is not None
        stats = (column_stats if isinstance(msgs, MessageColumns) else _stats)(
            msgs, req_end_ns[k], grpc, ended)
        for name, value in zip(MESSAGE_STAT_COLUMNS, stats):
            out[name][k] = value
    return out


def _stats(msgs: list, req_end: int | None, grpc: bool = False, ended: bool = False) -> tuple:
    """One request's message columns.  ``grpc``: a gRPC call (times from its first request
    message's last byte, as a bidirectional call's request stream may stay open; done when its
    trailers came, ``ended``); else HTTP (from request_end; done at an SSE ``[DONE]``)."""
    requests = [m for m in msgs if m.direction == "request"]
    data = [m for m in msgs if m.direction == "response" and m.kind == "data" and m.complete]
    done = ended if grpc else any(m.kind == "done" for m in msgs)
    ref = requests[0].end_ns if grpc and requests else req_end
    first = data[0].start_ns if data else None
    ends = [m.end_ns for m in data if m.end_ns is not None]
    gaps = sorted((b - a) / 1e6 for a, b in zip(ends, ends[1:]))
    sent = sum(m.complete for m in requests)
    return (sent if requests else None, len(data), _after(ref, first),
            _after(ref, ends[-1] if ends else None),
            *((None,) * 3 if not gaps else (_percentile(gaps, 50), _percentile(gaps, 90),
                                            gaps[-1])),
            done)
