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
from ..protocols.http2 import H2_STREAM_FIELDS
from ..protocols.http1 import header_value
from ..protocols.http2.datarows import data_rows
from ..protocols.sse import sse_events, is_event_stream
from .exchange import ExchangeColumns
from .message_columns import (Message, MessageColumns, _after, _percentile, body_columns,
                              many_column_stats, read_span, sse_pieces, timed_spans)
from .timeline import TcpTimeline

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


def chunked_body(headers: tuple, body_start: int, body_end: int) -> tuple | None:
    """:func:`streamed_body` of a chunked response read by the plain path (``headers`` as
    :func:`~inferwire.protocols.http1.split_head` gives them): ``(body start, body end, True,
    sse)``, or None when the body is over :data:`MAX_SPLIT_BYTES`."""
    if body_end - body_start > MAX_SPLIT_BYTES:
        return None
    return body_start, body_end, True, is_event_stream(header_value(headers, "content-type"))


def plain_sse_messages(headers: tuple, body_start: int, body_end: int,
                       down) -> list[Message] | None:
    """The SSE events of a response read by the plain path (``headers`` as
    :func:`~inferwire.protocols.http1.split_head` gives them, a Content-Length body at
    ``[body_start, body_end)`` of ``down``), or None when it is not an event stream."""
    # (several Content-Type fields joined, as the parser's messages give them: not one type)
    if not is_event_stream(header_value(headers, "content-type")) or \
            body_end - body_start > MAX_SPLIT_BYTES:
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
                       server_records: list, up, down, client_data=None,
                       server_data=None) -> None:
    """Set ``messages`` of the exchanges (in ``rows``' order; a list of
    :class:`~inferwire.exchanges.exchange.Exchange` or their :class:`~inferwire.exchanges.
    exchange.ExchangeColumns`) of streamed HTTP/2 streams.
    ``client_data``, ``server_data``: the records' :func:`~inferwire.protocols.http2.datarows.
    data_rows` when already read (else read here)."""
    kinds = streamed_h2(rows)
    if not kinds:
        return
    found = {sid: [] for sid in kinds}
    grpc = [sid for sid, k in kinds.items() if k == "grpc"]
    for direction, records, data, timeline in (
            ("request", client_records, client_data, up),
            ("response", server_records, server_data, down)):
        wanted = grpc if direction == "request" else list(kinds)
        if not wanted:
            continue
        data = data_rows(records) if data is None else data
        for sid, got in _direction_messages(data, wanted, kinds, direction, timeline):
            found[sid] = got if kinds[sid] == "sse" else _plus(found[sid], got)
    if isinstance(exchanges, ExchangeColumns):       # before any object is made of them
        column = exchanges.columns["messages"]
        for i, row in enumerate(rows):
            if row[_SID] in found:
                column[i] = found[row[_SID]]
        return
    for row, ex in zip(rows, exchanges):
        if row[_SID] in found:
            ex.messages = found[row[_SID]]


def _direction_messages(data, wanted: list, kinds: dict, direction: str, timeline):
    """``(stream id, messages)`` of each stream of ``wanted`` in one direction (``data``: its
    :class:`~inferwire.protocols.http2.datarows.DataRows`): an SSE stream's events; a gRPC
    stream's whole messages, then the one cut at the end if any (as :func:`_grpc_timed` and
    :func:`_grpc_cut` give them).  The frames are grouped by stream with one sort and, on a TCP
    direction, every whole message is timed in one look-up."""
    ids = np.array(sorted(wanted), np.int64)
    rows = np.flatnonzero(np.isin(data.stream_id, ids))
    rows = rows[np.argsort(data.stream_id[rows], kind="stable")]       # by stream, in order
    row_cuts = np.searchsorted(data.stream_id[rows], np.append(ids, np.iinfo(np.int64).max))
    grpc = ids[[kinds[sid] == "grpc" for sid in ids.tolist()]]
    msgs = np.flatnonzero(np.isin(data.stream_id[data.msg_row], grpc))
    msg_sid = data.stream_id[data.msg_row[msgs]]
    order = np.argsort(msg_sid, kind="stable")                          # by stream, in order
    msgs, msg_sid = msgs[order], msg_sid[order]
    msg_cuts = np.searchsorted(msg_sid, np.append(ids, np.iinfo(np.int64).max))
    length, start, end = (data.msg_length[msgs], data.msg_start[msgs], data.msg_end[msgs])
    tcp = isinstance(timeline, TcpTimeline)
    timed = None
    if tcp and len(msgs):
        n = len(msgs)
        timed = timed_spans(timeline.stream, direction, np.zeros(n, np.int8), start, end,
                            length, np.ones(n, bool))
    # per stream: its payload bytes and those of its whole messages (prefixes included)
    payload = np.concatenate([[0], np.cumsum(data.data_len[rows])])[row_cuts]
    payload = np.diff(payload).tolist()
    whole = np.concatenate([[0], np.cumsum(length + _PREFIX)])[msg_cuts]
    whole = np.diff(whole).tolist()
    row_cuts, msg_cuts = row_cuts.tolist(), msg_cuts.tolist()

    def flat(k):                        # a stream's payloads: [offset, length, offset, ...]
        offsets, sizes = data.payloads(rows[row_cuts[k]:row_cuts[k + 1]])
        return np.column_stack([offsets, sizes]).ravel().tolist()

    for k, sid in enumerate(ids.tolist()):
        if kinds[sid] == "sse":
            yield sid, _h2_sse(flat(k), timeline)
            continue
        a, b = msg_cuts[k], msg_cuts[k + 1]
        if a == b:
            got = []
        elif timed is not None:
            got = MessageColumns(*(getattr(timed, name)[a:b]
                                   for name in MessageColumns.__slots__))
        else:                           # not a TCP direction: message by message
            got = _grpc_timed(list(zip([False] * (b - a), length[a:b].tolist(),
                                       start[a:b].tolist(), end[a:b].tolist())),
                              direction, timeline)
        cut = [] if payload[k] <= whole[k] else _grpc_cut(flat(k), whole[k], direction,
                                                              timeline)
        yield sid, _plus(got, cut)


def _plus(a, b):
    """``a + b`` (message lists or :class:`MessageColumns`), without the join when one is an
    empty list (the other is the sum, of the same type: the join of nothing)."""
    if isinstance(b, list) and not b:
        return a
    if isinstance(a, list) and not a:
        return b
    return a + b


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
    columns = []                     # (k, grpc, ended) of the requests with MessageColumns
    for k, msgs in enumerate(messages):
        if msgs is None:
            continue
        grpc = protocols is not None and protocols[k] == "grpc"
        ended = grpc_statuses is not None and grpc_statuses[k] is not None
        if isinstance(msgs, MessageColumns):
            columns.append((k, grpc, ended))
            continue
        for name, value in zip(MESSAGE_STAT_COLUMNS, _stats(msgs, req_end_ns[k], grpc, ended)):
            out[name][k] = value
    if columns:                      # all at once: column_stats' values, without its per-call cost
        ks, grpcs, endeds = zip(*columns)
        stats = many_column_stats([messages[k] for k in ks], [req_end_ns[k] for k in ks],
                                  grpcs, endeds)
        for k, values in zip(ks, stats):
            for name, value in zip(MESSAGE_STAT_COLUMNS, values):
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
