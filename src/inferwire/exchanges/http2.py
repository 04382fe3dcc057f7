"""HTTP/2 (and gRPC) exchanges of one connection: one per stream, plus the connection setup time."""
from __future__ import annotations

from ..protocols.http2 import H2Parser, assemble_h2
from .exchange import Exchange, feed_all


def http2_exchanges(up, down, warnings: list) -> tuple[list[Exchange], int | None]:
    """Exchanges per stream and the HTTP/2 setup time (ns) of the connection, or None."""
    client_events = _events(H2Parser("client"), up, warnings, "HTTP/2 client")
    server_events = _events(H2Parser("server"), down, warnings, "HTTP/2 server")
    conv = assemble_h2(client_events, server_events)
    warnings.extend(conv.warnings)
    out = [_exchange(s, up, down) for s in conv.streams]
    return out, _setup_ns(conv, up, down)


def _events(parser, timeline, warnings: list, label: str) -> list:
    events, end = feed_all(parser, timeline, warnings, label)
    if end is not None:
        for t in parser.close(end):
            warnings.append(f"{label}: stream ended inside a {t.what} at offset {t.start}"
                            + (f" (stream {t.stream_id})" if t.stream_id is not None else ""))
    return events


def _setup_ns(conv, up, down) -> int | None:
    """Client preface first byte to the later of the two SETTINGS ACKs (each side's ACK)."""
    start = up.first(conv.preface_start) if conv.preface_start is not None else None
    ends = [down.last(conv.server_ack_end) if conv.server_ack_end is not None else None,
            up.last(conv.client_ack_end) if conv.client_ack_end is not None else None]
    if start is None or None in ends:
        return None
    return max(ends) - start


def _exchange(s, up, down) -> Exchange:
    grpc = bool(s.content_type and s.content_type.startswith("application/grpc"))
    ex = Exchange("grpc" if grpc else "h2", stream=s.stream_id, method=s.method, path=s.path,
                  status=s.status, grpc_status=s.grpc_status, request_id=s.request_id,
                  request_bytes=s.request_bytes, response_bytes=s.response_bytes)
    if s.req_start is not None:
        ex.req_start_ns = up.first(s.req_start)
        ex.request_frame = up.first_frame(s.req_start)
    if s.req_end is not None:
        ex.req_end_ns = up.last(s.req_end)
    if s.resp_start is not None:
        ex.resp_start_ns = down.first(s.resp_start)
    if s.resp_end is not None:
        ex.resp_end_ns = down.last(s.resp_end)
        ex.response_frame = down.last_frame(s.resp_end)
    ex.complete = bool(s.complete and None not in (
        ex.req_start_ns, ex.req_end_ns, ex.resp_start_ns, ex.resp_end_ns))
    return ex
