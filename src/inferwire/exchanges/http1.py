"""HTTP/1.x exchanges of one connection (or of one TLS session's plaintext)."""
from __future__ import annotations

import dataclasses
import re
from bisect import bisect_left

from ..errors import ProtocolError
from ..protocols.http1 import (MAX_HEADER_BYTES, Http1Parser, chunked_framing, header_value,
                               plain_framing, split_head, whole_chunked_body)
from ..protocols.sse import is_event_stream
from ..protocols.errorbody import MAX_ERROR_BODY, error_message
from .exchange import Exchange, feed_chunks
from .kept import KeptBodies
from .message_columns import bodies_columns, read_span
from .messages import chunked_body, http1_body_messages, plain_sse_messages, streamed_body
from .timeline import TcpTimeline


def http1_exchanges(up, down, warnings: list, *, up_fin: bool, down_fin: bool,
                    resync: bool = False) -> list[Exchange]:
    """Pair requests (``up`` timeline) with responses (``down``) in order (pipelining-safe).

    ``*_fin`` says whether that direction's end (FIN) was captured: only then does the end of the
    data complete a close-delimited body; otherwise a message cut at the end stays incomplete.
    ``resync``: the capture began in the middle of the connection (no SYN), so a direction may
    begin inside a message: it is read from its first request / status line
    (:func:`_message_start`), the bytes before said in ``warnings``.
    """
    if type(up) is type(down) and isinstance(up, TcpTimeline):
        plain = plain_exchanges(up, down)
        if plain is not None:
            return plain
    up_from = down_from = 0
    if resync and isinstance(up, TcpTimeline) and isinstance(down, TcpTimeline):
        up_from = _resync(up, True, "client->server", warnings)
        down_from = _resync(down, False, "server->client", warnings)
    requests = _messages(Http1Parser("client"), up, up_fin, warnings, "HTTP/1.1 requests",
                         up_from)
    resp_parser = Http1Parser("server")
    for r in requests:
        if r.method:
            resp_parser.expect(r.method)
    kept = KeptBodies(resp_parser) if isinstance(down, TcpTimeline) else None
    responses = _messages(kept or resp_parser, down, down_fin, warnings, "HTTP/1.1 responses",
                          down_from)

    finals, interim_counts, pending = [], [], 0
    for m in responses:
        if m.interim:
            pending += 1
            continue
        finals.append(m)
        interim_counts.append(pending)
        pending = 0
    early = _answers_to_uncaptured(requests, finals, up, down)
    if early:
        finals, interim_counts = finals[early:], interim_counts[early:]
        warnings.append(f"{early} HTTP/1.1 response{'s' if early > 1 else ''} at the start "
                        "answer requests sent before the capture began: left out")
    out, streamed = [], []
    for i, req in enumerate(requests):
        resp = finals[i] if i < len(finals) else None
        out.append(_exchange(i + 1, req, resp, interim_counts[i] if resp else pending, up, down,
                             streamed))
    _attach_streamed(streamed, down, kept)
    if len(finals) > len(requests):
        warnings.append(f"{len(finals) - len(requests)} HTTP/1.1 responses without a captured request")
    return out


def _answers_to_uncaptured(requests: list, finals: list, up, down) -> int:
    """How many final responses at the front answer requests the capture does not hold.

    Responses pair with requests in order, so a capture that began in the middle of a
    keep-alive conversation (its first response answering a request sent before) would shift
    every pair by one.  Only when there are more final responses than requests, those at the
    front that began before the first captured request began are taken out (a response cannot
    start before any byte of its request was sent), at most the surplus."""
    surplus = len(finals) - len(requests)
    if surplus <= 0 or not requests:
        return 0
    first_request = up.first(requests[0].start, requests[0].end)
    if first_request is None:
        return 0
    early = 0
    while early < surplus:
        started = down.first(finals[early].start, finals[early].end)
        if started is None or started >= first_request:
            break
        early += 1
    return early


#: How far into a direction whose start was not captured a message start is looked for (bytes).
RESYNC_WINDOW = 1 << 20

_LINE_START = {
    # a method as registered (upper-case, short), so that a body's tail ("...xxPOST") is not
    # taken for one
    True: re.compile(rb"[A-Z][A-Z-]{2,19} [^\s]+ HTTP/1\.[0-9]\r\n"),
    False: re.compile(rb"HTTP/1\.[0-9] [0-9]{3}[ \r]"),
}


def _message_start(data: bytes, client: bool, packet_starts=()) -> int | None:
    """Offset in ``data`` of the first request line (``client``) or status line that begins
    ``data``, a packet's payload (``packet_starts``: offsets) or a line (right after a CRLF),
    or None.  (A body seldom ends with CRLF: the next message begins where the body ends,
    usually at the start of a packet.)"""
    line = _LINE_START[client]
    if line.match(data):
        return 0
    at_packet = next((p for p in packet_starts if p < len(data) and line.match(data, p)), None)
    pos = data.find(b"\r\n")                 # a line start before that packet's?
    while pos >= 0 and (at_packet is None or pos + 2 < at_packet):
        if line.match(data, pos + 2):
            return pos + 2
        pos = data.find(b"\r\n", pos + 2)
    return at_packet


def begins_mid_http1(to_server, to_client) -> bool:
    """Whether a connection whose start the capture missed (each direction a
    :class:`~inferwire.tcp.DirectionStream`) carries HTTP/1.x: a request line in the client's
    first bytes or a status line in the server's, each at a line start (:func:`_message_start`),
    when neither direction begins with one (which :func:`~inferwire.protocols.detect.detect`
    would have found)."""
    return (_head_message_start(to_server, True) is not None
            or _head_message_start(to_client, False) is not None)


def _head_message_start(stream, client: bool) -> int | None:
    """:func:`_message_start` in the first :data:`RESYNC_WINDOW` bytes of ``stream``."""
    starts = stream.starts[:bisect_left(stream.starts, RESYNC_WINDOW)]
    return _message_start(stream.head(RESYNC_WINDOW), client, starts)


def _resync(timeline: TcpTimeline, client: bool, label: str, warnings: list) -> int:
    """Where to start reading a direction whose start the capture missed: 0 when it begins
    with a message, else the first message start found (the bytes before are the end of a
    message begun before the capture, said in ``warnings``); 0 when none is found (the parser
    then names what it could not read)."""
    start = _head_message_start(timeline.stream, client)
    if not start:
        return 0
    warnings.append(f"{label}: the capture began inside a message: its first {start} bytes "
                    f"(the end of a message sent before) skipped, read from the "
                    f"{'request' if client else 'status'} line at stream offset {start}")
    return start


def _from(chunks, start: int):
    """``chunks`` without the bytes before stream offset ``start``."""
    for offset, data in chunks:
        end = offset + len(data)
        if end <= start:
            continue
        if offset < start:
            data, offset = data[start - offset:], start
        yield offset, data


def _messages(parser, timeline, fin: bool, warnings: list, label: str, start: int = 0) -> list:
    # From a TCP direction, big pieces come as views of the capture: the parser counts the
    # bodies of known length in them without reading, so they are never copied.
    chunks = timeline.views() if isinstance(timeline, TcpTimeline) else timeline.chunks()
    if start:
        chunks = _from(chunks, start)
    messages, end = feed_chunks(parser, chunks, warnings, label)
    if end is None:
        return messages
    try:
        tail = parser.close(end)
    except ProtocolError as exc:
        warnings.append(f"{label}: {exc}")
        return messages
    if not fin:  # the capture ended, not the connection: nothing at the end is complete
        tail = [dataclasses.replace(m, complete=False) for m in tail]
    return messages + tail


def _exchange(position, req, resp, interim, up, down, streamed: list) -> Exchange:
    """The Exchange of request ``req`` and response ``resp`` (or None).  A streamed response
    of a TCP direction is appended to ``streamed`` as (exchange, its body's
    :func:`~.messages.streamed_body`), its messages attached by :func:`_attach_streamed`."""
    req_start_ns, request_frame = up.first_packet(req.start, req.end)
    req_end_ns = up.last(req.end) if req.complete else None
    status = resp_start_ns = resp_end_ns = response_frame = response_bytes = None
    if resp is not None:
        status = resp.status
        resp_start_ns = down.first(resp.start, resp.end)
        if resp.complete:
            response_bytes = resp.body_bytes
            resp_end_ns, response_frame = down.last_packet(resp.end)
    complete = bool(req.complete and resp is not None and resp.complete
                    and None not in (req_start_ns, req_end_ns, resp_start_ns, resp_end_ns))
    error = None
    if status is not None and status >= 400 and resp.complete and resp.head_end is not None:
        chunked = "chunked" in (resp.header("transfer-encoding") or "").lower()
        error = _error(down, resp.head_end, resp.end, chunked)
    # The messages of a streamed exchange: a chunked request body's chunks, then the
    # response's chunks or SSE events (:mod:`.messages`); None when neither streamed.  A TCP
    # direction's responses are split later, all together (:func:`_attach_streamed`).
    sent = http1_body_messages(req, up, "request") if req.complete else None
    tcp = isinstance(down, TcpTimeline)
    later = streamed_body(resp) if resp is not None and tcp else None
    got = None if resp is None or tcp else http1_body_messages(resp, down, "response")
    # Positional, in field order: a third of the cost of keywords for an 18-field dataclass.
    exchange = Exchange("http/1.1", position, req.method, req.target, status, None,
                        req.header("x-request-id"), req.body_bytes if req.complete else None,
                        response_bytes, req_start_ns, req_end_ns, resp_start_ns, resp_end_ns,
                        request_frame, response_frame, interim, False, complete, error,
                        _both(sent, got))
    if later is not None:
        streamed.append((exchange, later))
    return exchange


def _both(sent, got):
    """A request's messages then its response's (each None when not streamed)."""
    return got if sent is None else sent + (got if got is not None else [])


def _attach_streamed(streamed: list, down: TcpTimeline, kept=None) -> None:
    """The responses' messages of the ``streamed`` exchanges ((exchange, body), from
    :func:`_exchange`), found for all of them at once
    (:func:`~.message_columns.bodies_columns`: the same as
    :func:`~.messages.http1_body_messages` of each) and added after their requests' own.
    ``kept``: the bodies the parser's :class:`~.kept.KeptBodies` kept, if any."""
    if not streamed:
        return
    found = bodies_columns(down.stream, "response", [body for _, body in streamed],
                           None if kept is None else kept.pop)
    for (exchange, _), got in zip(streamed, found):
        exchange.messages = _both(exchange.messages, got)


def _error(down, body_start: int, body_end: int, chunked: bool = False) -> str | None:
    """The error message of the response body at [body_start, body_end) of ``down`` (its first
    :data:`~inferwire.protocols.errorbody.MAX_ERROR_BODY` bytes), None if not captured."""
    cut = body_end - body_start > MAX_ERROR_BODY
    body = down.read(body_start, min(body_end, body_start + MAX_ERROR_BODY))
    return None if body is None else error_message(body, chunked=chunked and not cut, cut=cut)


# -- the plain connection, without the parsers' generality ---------------------------------------
def plain_exchanges(up, down) -> list[Exchange] | None:
    """:func:`http1_exchanges` of the usual connection, or None for any other.

    The usual connection: both directions captured without a gap, every message a plain head
    (:data:`~inferwire.protocols.http1.split_head`) framed as
    :func:`~inferwire.protocols.http1.plain_framing` says (the parser's fast path reads such
    messages by the same function), or a response whose body is plainly chunked
    (:func:`~inferwire.protocols.http1.chunked_framing`, :func:`~inferwire.protocols.http1.
    whole_chunked_body`: a keep-alive connection of streamed completions), each direction
    ending right after its last message, no more responses than requests, no request that is
    itself an event stream.  Requests' heads lie within one packet's payload; so do responses'
    unless a chunked one is among them (the response direction is then read whole, up to
    :data:`PLAIN_DIRECTION_BYTES`).  The rules are the parser's, and so are the exchanges
    (tests compare both ways); this walk only skips the parsers' bookkeeping, which cost as much
    as the rest of a REST request's analysis.  Anything else returns None for the general path.
    """
    requests = _plain_messages(up, True, None)
    if requests is None:
        return None
    methods = [r[4] for r in requests]
    responses, data = _plain_messages(down, False, methods), None
    if responses is None:
        read = _chunked_responses(down, methods)
        if read is None:
            return None
        responses, data = read
    if len(responses) > len(requests):
        return None
    up.spend_all()
    down.spend_all()
    out, streamed = [], []
    for i, (start, end, _, target, method, headers, length) in enumerate(requests):
        request_id = header_value(headers, "x-request-id")
        (req_start, request_frame), req_end = up.first_packet(start, end), up.last(end)
        status = resp_start = resp_end = response_frame = response_bytes = error = None
        messages = None
        if i < len(responses):
            r_start, r_end, status, _, _, r_headers, response_bytes, body_start, chunked = \
                responses[i]
            resp_start = down.first(r_start, r_end)
            resp_end, response_frame = down.last_packet(r_end)
            if status >= 400:
                error = _error(down, body_start, r_end, chunked)
            if not chunked:
                messages = plain_sse_messages(r_headers, body_start, r_end, down)
            else:
                body = chunked_body(r_headers, body_start, r_end)
                if body is not None:
                    streamed.append((i, body))
        complete = resp_end is not None and None not in (req_start, req_end, resp_start)
        out.append(Exchange("http/1.1", i + 1, method, target, status, None, request_id, length,
                            response_bytes, req_start, req_end, resp_start, resp_end,
                            request_frame, response_frame, 0, False, complete, error, messages))
    if streamed:            # the chunked responses' messages, all at once, from the bytes read
        ends = {body[0]: body[1] for _, body in streamed}
        with memoryview(data) as view:          # (an event stream's body is split where it is)
            found = bodies_columns(down.stream, "response", [body for _, body in streamed],
                                   lambda at: view[at:ends[at]])
        for (i, _), got in zip(streamed, found):
            out[i].messages = got
    return out


#: The longest response direction :func:`plain_exchanges` reads whole for its chunked responses
#: (bytes); a longer one goes the general way, which holds a window of it at a time.
PLAIN_DIRECTION_BYTES = 64 << 20


def _chunked_responses(down: TcpTimeline, methods: list) -> tuple[list, bytes] | None:
    """:func:`_plain_messages` of a response direction with chunked responses among its plain
    ones, read from the direction's bytes gathered once (a chunked body spans many packets),
    and those bytes; None when it is not plain (see :func:`plain_exchanges`)."""
    stop = down.gap_free_end()
    if stop is None or stop > PLAIN_DIRECTION_BYTES:
        return None
    data = read_span(down.stream, 0, stop)
    responses = None if data is None else _plain_messages(down, False, methods, data)
    return None if responses is None else (responses, data)


def _plain_messages(timeline: TcpTimeline, client: bool, methods: list | None,
                    data: bytes | None = None) -> list | None:
    """The messages of one direction as ``(start, end, status, target, method, headers,
    body bytes)`` tuples (offsets in the stream; a response's with its body's start and whether
    it is chunked after them), or None when it is not plain (see :func:`plain_exchanges`).
    ``methods``: the requests' methods, for a response direction.  Each head is split where it
    lies in the capture (:meth:`TcpTimeline.piece_bytes`), or in ``data``, the direction's
    bytes, when given: then a response may also be plainly chunked."""
    stop = timeline.gap_free_end()
    if stop is None:
        return None
    out, o = [], 0
    while o < stop:
        piece = timeline.piece_bytes(o) if data is None else (data, o, stop)
        if piece is None:
            return None
        buffer, at, piece_end = piece
        split = split_head(buffer, at, min(piece_end, at + MAX_HEADER_BYTES))
        if split is None:
            return None
        head_end, first, headers = split
        if client:
            asked = None
        elif len(out) < len(methods):
            asked = methods[len(out)]
        else:
            return None                          # a response without a captured request
        framing = plain_framing(first, headers, client, asked)
        chunked = framing is None and data is not None and not client
        if chunked:                              # (in ``data``, stream offsets are its indices)
            parsed = chunked_framing(first, headers, asked)
            whole = None if parsed is None else whole_chunked_body(data, head_end, stop)
            if whole is None:
                return None
            end, length = whole
        elif framing is None:
            return None
        else:
            parsed, length = framing
            end = o + (head_end - at) + length
        if client and is_event_stream(header_value(headers, "content-type")):
            return None                          # a streamed request body: the general path
        method, target, status = (parsed[0], parsed[1], None) if client else (None, None,
                                                                               parsed[1])
        if end > stop:
            return None
        out.append((o, end, status, target, method, headers, length) if client else
                   (o, end, status, target, method, headers, length, o + head_end - at,
                    chunked))
        o = end
    return out
