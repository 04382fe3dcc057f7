"""HTTP/1.x exchanges of one connection (or of one TLS session's plaintext)."""
from __future__ import annotations

import dataclasses

from ..errors import ProtocolError
from ..protocols.http1 import Http1Parser
from .exchange import Exchange, feed_chunks
from .timeline import TcpTimeline


def http1_exchanges(up, down, warnings: list, *, up_fin: bool, down_fin: bool) -> list[Exchange]:
    """Pair requests (``up`` timeline) with responses (``down``) in order (pipelining-safe).

    ``*_fin`` says whether that direction's end (FIN) was captured: only then does the end of the
    data complete a close-delimited body; otherwise a message cut at the end stays incomplete.
    """
    requests = _messages(Http1Parser("client"), up, up_fin, warnings, "HTTP/1.1 requests")
    resp_parser = Http1Parser("server")
    for r in requests:
        if r.method:
            resp_parser.expect(r.method)
    responses = _messages(resp_parser, down, down_fin, warnings, "HTTP/1.1 responses")

    finals, interim_counts, pending = [], [], 0
    for m in responses:
        if m.interim:
            pending += 1
            continue
        finals.append(m)
        interim_counts.append(pending)
        pending = 0
    out = []
    for i, req in enumerate(requests):
        resp = finals[i] if i < len(finals) else None
        out.append(_exchange(i + 1, req, resp, interim_counts[i] if resp else pending, up, down))
    if len(finals) > len(requests):
        warnings.append(f"{len(finals) - len(requests)} HTTP/1.1 responses without a captured request")
    return out


def _messages(parser, timeline, fin: bool, warnings: list, label: str) -> list:
    # From a TCP direction, big pieces come as views of the capture: the parser counts the
    # bodies of known length in them without reading, so they are never copied.
    chunks = timeline.views() if isinstance(timeline, TcpTimeline) else timeline.chunks()
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


def _exchange(position, req, resp, interim, up, down) -> Exchange:
    req_start_ns, request_frame = up.first_packet(req.start)
    req_end_ns = up.last(req.end) if req.complete else None
    status = resp_start_ns = resp_end_ns = response_frame = response_bytes = None
    if resp is not None:
        status = resp.status
        resp_start_ns = down.first(resp.start)
        if resp.complete:
            response_bytes = resp.body_bytes
            resp_end_ns, response_frame = down.last_packet(resp.end)
    complete = bool(req.complete and resp is not None and resp.complete
                    and None not in (req_start_ns, req_end_ns, resp_start_ns, resp_end_ns))
    # Positional, in field order: a third of the cost of keywords for an 18-field dataclass.
    return Exchange("http/1.1", position, req.method, req.target, status, None,
                    req.header("x-request-id"), req.body_bytes if req.complete else None,
                    response_bytes, req_start_ns, req_end_ns, resp_start_ns, resp_end_ns,
                    request_frame, response_frame, interim, False, complete)
