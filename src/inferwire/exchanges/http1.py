"""HTTP/1.x exchanges of one connection (or of one TLS session's plaintext)."""
from __future__ import annotations

import dataclasses

from ..errors import ProtocolError
from ..protocols.http1 import Http1Parser
from .exchange import Exchange, feed_all


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
    messages, end = feed_all(parser, timeline, warnings, label)
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
    ex = Exchange("http/1.1", stream=position, method=req.method, path=req.target,
                  request_id=req.header("x-request-id"),
                  request_bytes=req.body_bytes if req.complete else None,
                  req_start_ns=up.first(req.start),
                  req_end_ns=up.last(req.end) if req.complete else None,
                  request_frame=up.first_frame(req.start), interim_responses=interim)
    if resp is not None:
        ex.status = resp.status
        ex.resp_start_ns = down.first(resp.start)
        if resp.complete:
            ex.response_bytes = resp.body_bytes
            ex.resp_end_ns = down.last(resp.end)
            ex.response_frame = down.last_frame(resp.end)
    ex.complete = bool(req.complete and resp is not None and resp.complete
                       and None not in (ex.req_start_ns, ex.req_end_ns, ex.resp_start_ns,
                                        ex.resp_end_ns))
    return ex
