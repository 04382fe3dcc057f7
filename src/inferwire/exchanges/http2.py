"""HTTP/2 (and gRPC) exchanges of one connection: one per stream, plus the connection setup time."""
from __future__ import annotations

from operator import itemgetter

from ..protocols.http2 import H2_STREAM_FIELDS, H2Parser, H2Stream, assemble_rows
from ..protocols.http2.datarows import data_rows
from .exchange import EXCHANGE_FIELDS, Exchange, ExchangeColumns, feed_all
from .h2flow import connection_stalls
from .messages import attach_h2_messages
from .timeline import TcpTimeline


def http2_exchanges(up, down, warnings: list) -> tuple[list[Exchange] | ExchangeColumns,
                                                      int | None, tuple]:
    """Exchanges per stream (on a plain TCP connection: as :class:`ExchangeColumns`), the
    HTTP/2 setup time (ns) of the connection (or None) and its flow-control stalls
    (:func:`~inferwire.exchanges.h2flow.connection_stalls`)."""
    client_records = _records(H2Parser("client", records=True), up, warnings, "HTTP/2 client")
    server_records = _records(H2Parser("server", records=True), down, warnings, "HTTP/2 server")
    client_data, server_data = data_rows(client_records), data_rows(server_records)
    conv, rows = assemble_rows(client_records, server_records, client_data, server_data)
    warnings.extend(conv.warnings)
    if isinstance(up, TcpTimeline) and isinstance(down, TcpTimeline):
        out = _tcp_exchanges(rows, up, down)
    else:
        out = [_exchange(H2Stream(*row), up, down) for row in rows]
    attach_h2_messages(rows, out, client_records, server_records, up, down, client_data,
                       server_data)
    return out, _setup_ns(conv, up, down), connection_stalls(
        client_records, server_records, up, down, client_data, server_data)


def _records(parser, timeline, warnings: list, label: str) -> list:
    """The event records of one direction (``parser`` makes records); an unfinished frame at
    its end becomes a warning."""
    records, end = feed_all(parser, timeline, warnings, label)
    if end is not None:
        for _, start, _, what, stream_id in parser.close(end):     # Truncated records
            warnings.append(f"{label}: stream ended inside a {what} at offset {start}"
                            + (f" (stream {stream_id})" if stream_id is not None else ""))
    return records


def _setup_ns(conv, up, down) -> int | None:
    """Client preface first byte to the later of the two SETTINGS ACKs (each side's ACK)."""
    start = up.first(conv.preface_start) if conv.preface_start is not None else None
    ends = [down.last(conv.server_ack_end) if conv.server_ack_end is not None else None,
            up.last(conv.client_ack_end) if conv.client_ack_end is not None else None]
    if start is None or None in ends:
        return None
    return max(ends) - start


def _exchange(s, up, down) -> Exchange:
    """One stream's exchange, its offsets mapped through any :class:`Timeline`."""
    grpc = bool(s.content_type and s.content_type.startswith("application/grpc"))
    ex = Exchange("grpc" if grpc else "h2", stream=s.stream_id, method=s.method, path=s.path,
                  status=s.status, grpc_status=s.grpc_status, request_id=s.request_id,
                  request_bytes=s.request_bytes if s.req_end is not None else None,
                  response_bytes=s.response_bytes if s.resp_end is not None else None,
                  error=_grpc_error(s.grpc_status, s.grpc_message))
    if s.req_start is not None:
        ex.req_start_ns = up.first(s.req_start, s.req_end)
        ex.request_frame = up.first_frame(s.req_start)
    if s.req_end is not None:
        ex.req_end_ns = up.last(s.req_end)
    if s.resp_start is not None:
        ex.resp_start_ns = down.first(s.resp_start, s.resp_end)
    if s.resp_end is not None:
        ex.resp_end_ns = down.last(s.resp_end)
        ex.response_frame = down.last_frame(s.resp_end)
    ex.complete = bool(s.complete and None not in (
        ex.req_start_ns, ex.req_end_ns, ex.resp_start_ns, ex.resp_end_ns))
    return ex


# The fields of an H2Stream row that make its exchange.
_FIELD = {name: H2_STREAM_FIELDS.index(name) for name in (
    "stream_id", "method", "path", "status", "grpc_status", "request_id", "request_bytes",
    "response_bytes", "content_type", "req_start", "req_end", "resp_start", "resp_end",
    "complete", "grpc_message")}


def _tcp_exchanges(rows: list, up, down) -> ExchangeColumns:
    """:func:`_exchange` for every stream (as an H2Stream row) of a plain TCP connection
    (``up``/``down``: each direction's :class:`TcpTimeline`), as columns: the rows' fields
    read as columns (one transposition), the offsets of all streams mapped to times in one
    vectorised look-up per direction (:meth:`TcpTimeline.first_packets`,
    :meth:`~TcpTimeline.last_packets`) instead of six per stream (which cost as much as
    assembling the streams), and no object per exchange.  Same values
    (tests/exchanges/test_http2_exchanges.py compares with _exchange's)."""
    n = len(rows)
    if not n:
        return ExchangeColumns({name: [] for name in EXCHANGE_FIELDS})
    col = dict(zip(_FIELD, itemgetter(*_FIELD.values())(list(zip(*rows)))))
    req_end, resp_end = col["req_end"], col["resp_end"]
    req_start_ns, request_frame = up.first_packets(col["req_start"], req_end)
    req_end_ns, _ = up.last_packets(req_end)
    resp_start_ns, _ = down.first_packets(col["resp_start"], resp_end)
    resp_end_ns, response_frame = down.last_packets(resp_end)
    times = (req_start_ns, req_end_ns, resp_start_ns, resp_end_ns)
    grpc_status = col["grpc_status"]
    return ExchangeColumns({
        "protocol": ["grpc" if ct and ct.startswith("application/grpc") else "h2"
                     for ct in col["content_type"]],
        "stream": list(col["stream_id"]), "method": list(col["method"]),
        "path": list(col["path"]), "status": list(col["status"]),
        "grpc_status": list(grpc_status), "request_id": list(col["request_id"]),
        "request_bytes": _known(col["request_bytes"], req_end),
        "response_bytes": _known(col["response_bytes"], resp_end),
        "req_start_ns": req_start_ns, "req_end_ns": req_end_ns,
        "resp_start_ns": resp_start_ns, "resp_end_ns": resp_end_ns,
        "request_frame": request_frame, "response_frame": response_frame,
        "interim_responses": [None] * n, "inferred": [False] * n,
        "complete": ([bool(c) for c in col["complete"]] if not _any_none(times) else
                     [bool(c and None not in t) for c, t in zip(col["complete"], zip(*times))]),
        "error": ([None] * n if not any(grpc_status) else
                  [_grpc_error(s, m) for s, m in zip(grpc_status, col["grpc_message"])]),
        "messages": [None] * n})


def _known(values, ends) -> list:
    """``values`` where the matching end offset is known, None elsewhere."""
    if None not in ends:
        return list(values)
    return [v if e is not None else None for v, e in zip(values, ends)]


def _any_none(columns) -> bool:
    return any(None in c for c in columns)


def _grpc_error(grpc_status: int | None, grpc_message: str | None) -> str | None:
    """A failed gRPC call's grpc-message (the status code name when it has none)."""
    if not grpc_status:
        return None
    return grpc_message or f"grpc-status {grpc_status}"
