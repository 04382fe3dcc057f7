"""HTTP/2 stream assembly (pure): both directions' events of one connection joined into an
:class:`H2Conversation`: the connection set-up offsets and one :class:`H2Stream` per stream
(request/response headers, the offsets where each side's part of the exchange starts and ends,
byte and gRPC message counts).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from urllib.parse import unquote

import numpy as np

from ...problems import Problem
from ..grpc import WHOLE_MESSAGE, message_count_bytes
from ..numbers import GRPC_STATUS_DIGITS, STATUS_DIGITS, ascii_int
from ..records import from_fields
from .events import (Data, GoAway, GrpcFramingError, Headers, Preface, PushPromise, RstStream,
                     Settings, Truncated, WindowUpdate, event_records)

try:              # the usual connections' streams assembled in C (_streams.c); same rows
    from ._streams import assemble as _c_assemble
except ImportError:
    _c_assemble = None


@dataclass(frozen=True)
class H2Stream:
    """One HTTP/2 stream (one request/response exchange).  Offsets: ``req_*`` are client-direction
    stream offsets, ``resp_*`` server-direction ones; ``*_end`` exclusive; None where not seen."""
    stream_id: int
    pushed: bool                   # server push (even id): request_headers = the PUSH_PROMISE's
    request_headers: tuple
    response_headers: tuple        # the final (non-1xx) response header block
    informational: tuple           # 1xx header blocks, in order
    trailers: tuple                # response trailers (gRPC: grpc-status ...)
    request_trailers: tuple
    method: str | None
    path: str | None
    authority: str | None
    status: int | None
    content_type: str | None
    request_id: str | None         # x-request-id (request headers, else response headers)
    grpc_status: int | None        # from trailers, or from a trailers-only response
    grpc_message: str | None       # percent-decoded
    req_start: int | None          # first byte of the client's first HEADERS/DATA frame
    req_headers_end: int | None    # one past the request header block
    req_end: int | None            # one past the client's frame carrying END_STREAM
    resp_start: int | None         # first byte of the server's first HEADERS/DATA frame (1xx too)
    resp_headers_end: int | None   # one past the final response header block
    resp_end: int | None           # one past the server's frame carrying END_STREAM
    request_bytes: int             # sum of DATA data_len, client -> server (bytes)
    response_bytes: int
    request_messages: int          # gRPC messages (0 when not gRPC)
    response_messages: int
    request_message_bytes: int     # sum of gRPC message lengths, 5-byte prefixes excluded
    response_message_bytes: int
    reset_by: str | None           # "client" | "server" | None
    reset_code: int | None
    complete: bool


H2_STREAM_FIELDS = tuple(f.name for f in fields(H2Stream))


@dataclass
class H2Conversation:
    """Both directions of one HTTP/2 connection, assembled.  Set-up offsets: ``preface_*``,
    ``client_settings_end`` and ``client_ack_end`` are client offsets, ``server_*`` server ones."""
    preface_start: int | None = None
    preface_end: int | None = None
    client_settings_end: int | None = None  # end of the client's first SETTINGS
    server_settings_end: int | None = None  # end of the server's first SETTINGS
    server_ack_end: int | None = None       # end of the server's ACK of the client's SETTINGS
    client_ack_end: int | None = None       # end of the client's ACK of the server's SETTINGS
    client_settings: dict = field(default_factory=dict)
    server_settings: dict = field(default_factory=dict)
    streams: list = field(default_factory=list)
    goaway: GoAway | None = None            # the server's last GOAWAY, else the client's last
    goaway_by: str | None = None
    warnings: list = field(default_factory=list)   # Problems, in the order met


class _StreamAcc:
    """Mutable accumulator for one stream while events are walked (a slotted class: one is made
    per stream).  ``req_*`` counts are the client's, ``resp_*`` the server's."""

    __slots__ = ("stream_id", "pushed", "request_headers", "response_headers", "informational",
                 "trailers", "request_trailers", "req_start", "req_headers_end", "req_end",
                 "resp_start", "resp_headers_end", "resp_end", "req_bytes", "resp_bytes",
                 "req_messages", "resp_messages", "req_message_bytes", "resp_message_bytes",
                 "resets", "has_final")

    def __init__(self, stream_id: int, pushed: bool = False):
        self.stream_id, self.pushed = stream_id, pushed
        self.request_headers = self.response_headers = self.trailers = ()
        self.request_trailers = ()
        self.informational: list = []
        self.req_start = self.req_headers_end = self.req_end = None
        self.resp_start = self.resp_headers_end = self.resp_end = None
        self.req_bytes = self.resp_bytes = self.req_messages = self.resp_messages = 0
        self.req_message_bytes = self.resp_message_bytes = 0
        self.resets: dict = {}          # side -> error code
        self.has_final = False


def assemble_h2(client_events: list, server_events: list) -> H2Conversation:
    """Join the events of both directions of one connection into an :class:`H2Conversation`.

    Streams are those with a HEADERS, DATA, RST_STREAM frame or a PUSH_PROMISE (PRIORITY or
    WINDOW_UPDATE alone do not make a stream), listed by stream id.  Anything odd goes to
    ``warnings`` (:class:`~inferwire.problems.Problem` s naming the direction, offset and frame
    or header) and the certain facts are kept.
    """
    return assemble_records(event_records(client_events), event_records(server_events))


def assemble_records(client_records: list, server_records: list) -> H2Conversation:
    """:func:`assemble_h2` for events as records (``H2Parser(..., records=True)``)."""
    conv, rows = assemble_rows(client_records, server_records)
    conv.streams = [_h2_stream(row) for row in rows]
    return conv


def assemble_rows(client_records: list, server_records: list, client_data=None,
                  server_data=None) -> tuple[H2Conversation, list]:
    """:func:`assemble_records` with each stream left as its *row*: the tuple of its
    :class:`H2Stream` fields in order (``H2Stream(*row)`` is the stream; ``H2_STREAM_FIELDS``
    names them); ``streams`` of the conversation stays empty.  For callers that read a few
    fields of many streams: making an H2Stream costs more than assembling the stream.
    ``client_data``, ``server_data``: the records' :func:`~.datarows.data_rows`, when read
    (a direction of many DATA frames is then walked without them: :func:`_walk`).
    A connection where nothing is odd is assembled in C (``_streams.c``), any other by the
    Python walks: the same rows and warnings (``tests/protocols/http2/test_streams_c.py``)."""
    if _c_assemble is not None:
        found = _c_assemble(client_records, server_records, _C_KINDS)
        if found is not None:
            return _assembled_in_c(*found)
    conv = H2Conversation()
    streams: dict[int, _StreamAcc] = {}
    _walk(conv, streams, client_records, client_data, "client")
    _walk(conv, streams, server_records, server_data, "server")
    responses: dict = {}
    results: dict = {}
    return conv, [_stream_row(streams[sid], conv.warnings, responses, results)
                  for sid in sorted(streams)]


#: What _streams.assemble tells records by, and how it percent-decodes a grpc-message.
_C_KINDS = (Headers, Data, WindowUpdate, RstStream, PushPromise, unquote, WHOLE_MESSAGE)


def _assembled_in_c(rows: list, client_others: list, server_others: list) -> tuple:
    """:func:`assemble_rows`' result from the C assembly: its stream rows, and the
    conversation folded from each direction's records of the connection's own (the preface,
    SETTINGS, GOAWAY ...: ``*_others``, in order) by the walks, as they fold them among the
    streams' records.  The C code returns None, and the Python walks do it all, wherever
    anything in the connection draws a warning or is not the usual (see ``_streams.c``)."""
    conv = H2Conversation()
    _walk_client(conv, {}, client_others)
    _walk_server(conv, {}, server_others)
    return conv, rows


#: DATA frames from which a direction is walked with its DATA frames taken from their columns
#: (:func:`_walk_columns`): below, the per-record walk costs less than the columns' numpy calls.
DATA_COLUMNS_MIN = 64
#: ... and how many DATA frames per other record at least (a streamed answer's many DATA frames
#: per HEADERS): the columns' walk costs per stream what the record walk costs per DATA frame, so
#: it pays only where frames far outnumber streams (unary calls: about one DATA frame each).
DATA_COLUMNS_RATIO = 4


def _walk(conv: H2Conversation, streams: dict, records: list, data, side: str) -> None:
    """Fold one direction's records into ``streams`` and ``conv``: by :func:`_walk_client` /
    :func:`_walk_server`, record by record, or, when the direction has many DATA frames, most
    of its records (``data``: their :class:`~.datarows.DataRows`), none of them out of place
    (:func:`_quiet_data`), with its DATA frames folded from the columns (the same streams and
    warnings: :func:`_walk_columns`)."""
    walk = _walk_client if side == "client" else _walk_server
    if data is None or len(data) < max(DATA_COLUMNS_MIN,
                                       DATA_COLUMNS_RATIO * (len(records) - len(data))):
        walk(conv, streams, records)
        return
    keep = np.ones(len(records), bool)
    keep[data.record] = False
    others = np.flatnonzero(keep)
    if not _quiet_data(records, others.tolist(), data, side == "client"):
        walk(conv, streams, records)
        return
    _walk_columns(conv, streams, records, others, data, side, walk)


def _quiet_data(records: list, others: list, data, client: bool) -> bool:
    """Whether every DATA frame of the direction (``data``; ``others``: the indices of its
    other records) comes after its stream's first HEADERS (a server's: its first final,
    non-1xx, one) and not after the stream's first END_STREAM, and no HEADERS comes after a
    DATA END_STREAM: then no DATA frame draws a warning, sets where the stream starts or is
    anything but counted, and the one that may end the stream is seen by no other record."""
    opened: dict = {}                   # stream id -> index of the HEADERS its DATA may follow
    closed: dict = {}                   # stream id -> index of its first HEADERS END_STREAM
    last: dict = {}                     # stream id -> index of its last HEADERS
    for i in others:
        record = records[i]
        if record[0] is not Headers:
            continue
        sid = record[1]
        last[sid] = i
        if sid not in opened:
            if client:
                opened[sid] = i
            else:
                status = _status(record[4])
                if not (status is not None and 100 <= status < 200):
                    opened[sid] = i
        if record[5] and sid not in closed:
            closed[sid] = i
    sid, at = data.stream_id, data.record
    after = _looked_up(opened, sid, -1)
    if not (after >= 0).all() or not (at > after).all():
        return False
    bound = _looked_up(closed, sid, np.iinfo(np.int64).max)
    ends = np.flatnonzero(data.end_stream)
    if len(ends):                       # the stream's first DATA END_STREAM
        first_sid, first = np.unique(sid[ends], return_index=True)
        if not (_looked_up(last, first_sid, -1) < at[ends[first]]).all():
            return False                # a HEADERS after it
        k = np.searchsorted(first_sid, sid)
        has = (k < len(first_sid)) & (first_sid[np.minimum(k, len(first_sid) - 1)] == sid)
        bound = np.where(has, np.minimum(bound, at[ends[first]][np.minimum(k, len(first) - 1)]),
                         bound)
    return bool((at <= bound).all())


def _looked_up(table: dict, keys: np.ndarray, missing: int) -> np.ndarray:
    """``table[key]`` for each of ``keys`` (int64), ``missing`` where absent."""
    if not table:
        return np.full(len(keys), missing, np.int64)
    known = np.array(sorted(table), np.int64)
    values = np.array([table[k] for k in known.tolist()], np.int64)
    k = np.minimum(np.searchsorted(known, keys), len(known) - 1)
    return np.where(known[k] == keys, values[k], missing)


def _walk_columns(conv: H2Conversation, streams: dict, records: list, others: np.ndarray,
                  data, side: str, walk) -> None:
    """:func:`_walk` of a direction whose DATA frames are quiet (:func:`_quiet_data`): its
    other records (``others``: their indices) walked by ``walk`` in order, then each stream's
    end set by its DATA END_STREAM (no record after it was of its stream) and every stream's
    DATA bytes and gRPC messages added up from the columns."""
    walk(conv, streams, [records[i] for i in others.tolist()])
    end_attr = "req_end" if side == "client" else "resp_end"
    ends = np.flatnonzero(data.end_stream)
    for sid, end in zip(data.stream_id[ends].tolist(), data.end[ends].tolist()):
        acc = streams[sid]
        if getattr(acc, end_attr) is None:
            setattr(acc, end_attr, end)
    order = np.argsort(data.stream_id, kind="stable")
    sids, cuts = np.unique(data.stream_id[order], return_index=True)
    nbytes = np.add.reduceat(data.data_len[order], cuts) if len(cuts) else cuts
    msg_sid = data.stream_id[data.msg_row]
    counts = np.bincount(np.searchsorted(sids, msg_sid), minlength=len(sids))
    msg_bytes = np.zeros(len(sids), np.int64)
    np.add.at(msg_bytes, np.searchsorted(sids, msg_sid), data.msg_length)
    client = side == "client"
    for sid, n, m, mb in zip(sids.tolist(), nbytes.tolist(), counts.tolist(),
                             msg_bytes.tolist()):
        acc = streams[sid]
        if client:
            acc.req_bytes += n
            acc.req_messages += m
            acc.req_message_bytes += mb
        else:
            acc.resp_bytes += n
            acc.resp_messages += m
            acc.resp_message_bytes += mb


# The two walks handle HEADERS and DATA records inline (a handler call per event cost as much as
# the rest of the assembly) and skip WINDOW_UPDATE; any other record becomes its event object
# for its handler in _ASSEMBLERS.

def _walk_client(conv: H2Conversation, streams: dict, records: list) -> None:
    """Fold the client direction's records into ``streams`` (request side) and ``conv``."""
    warnings, assemblers, get = conv.warnings, _ASSEMBLERS, streams.get
    for record in records:
        kind = record[0]
        if kind is Headers:
            _, sid, start, end, headers, end_stream = record
            acc = get(sid) or _acc(streams, sid)
            if acc.req_end is not None:
                warnings.append(Problem(f"stream {sid}: client HEADERS at offset {start} after "
                                        "END_STREAM", direction="client", offset=start,
                                        field="HEADERS"))
            if acc.req_start is None:
                acc.req_start, acc.req_headers_end, acc.request_headers = start, end, headers
            else:
                acc.request_trailers = headers
            if end_stream and acc.req_end is None:
                acc.req_end = end
        elif kind is Data:
            _, sid, start, end, data_len, end_stream, messages = record
            acc = get(sid) or _acc(streams, sid)
            if acc.req_end is not None:
                warnings.append(Problem(f"stream {sid}: client DATA at offset {start} after "
                                        "END_STREAM", direction="client", offset=start,
                                        field="DATA"))
            if acc.req_start is None:
                warnings.append(Problem(f"stream {sid}: client DATA before HEADERS",
                                        direction="client", offset=start, field="DATA"))
                acc.req_start = start
            if end_stream and acc.req_end is None:
                acc.req_end = end
            acc.req_bytes += data_len
            if messages:
                count, nbytes = message_count_bytes(messages, data_len)
                acc.req_messages += count
                acc.req_message_bytes += nbytes
        elif kind is not WindowUpdate:
            fn = assemblers.get(kind)
            if fn is not None:          # others (PING, PRIORITY ...) play no part
                fn(conv, streams, "client", kind(*record[1:]))


def _walk_server(conv: H2Conversation, streams: dict, records: list) -> None:
    """Fold the server direction's records into ``streams`` (response side) and ``conv``."""
    warnings, assemblers, get = conv.warnings, _ASSEMBLERS, streams.get
    for record in records:
        kind = record[0]
        if kind is Headers:
            _, sid, start, end, headers, end_stream = record
            acc = get(sid) or _acc(streams, sid)
            if acc.resp_end is not None:
                warnings.append(Problem(f"stream {sid}: server HEADERS at offset {start} after "
                                        "END_STREAM", direction="server", offset=start,
                                        field="HEADERS"))
            _server_headers(acc, start, end, headers, end_stream)
        elif kind is Data:
            _, sid, start, end, data_len, end_stream, messages = record
            acc = get(sid) or _acc(streams, sid)
            if acc.resp_end is not None:
                warnings.append(Problem(f"stream {sid}: server DATA at offset {start} after "
                                        "END_STREAM", direction="server", offset=start,
                                        field="DATA"))
            if not acc.has_final:
                warnings.append(Problem(f"stream {sid}: server DATA before response HEADERS",
                                        direction="server", offset=start, field="DATA"))
            if acc.resp_start is None:
                acc.resp_start = start
            if end_stream and acc.resp_end is None:
                acc.resp_end = end
            acc.resp_bytes += data_len
            if messages:
                count, nbytes = message_count_bytes(messages, data_len)
                acc.resp_messages += count
                acc.resp_message_bytes += nbytes
        elif kind is not WindowUpdate:
            fn = assemblers.get(kind)
            if fn is not None:
                fn(conv, streams, "server", kind(*record[1:]))


def _acc(streams: dict, sid: int) -> _StreamAcc:
    acc = streams.get(sid)
    if acc is None:
        acc = streams[sid] = _StreamAcc(sid, pushed=sid % 2 == 0)
    return acc


def _on_preface(conv, streams, side, ev: Preface) -> None:
    if conv.preface_start is None:
        conv.preface_start, conv.preface_end = ev.start, ev.end


def _on_settings(conv, streams, side, ev: Settings) -> None:
    if ev.ack:
        attr = "client_ack_end" if side == "client" else "server_ack_end"
    else:
        attr = "client_settings_end" if side == "client" else "server_settings_end"
        if getattr(conv, attr) is None:
            setattr(conv, side + "_settings", dict(ev.params))
    if getattr(conv, attr) is None:
        setattr(conv, attr, ev.end)


def _on_goaway(conv, streams, side, ev: GoAway) -> None:
    if side == "server" or conv.goaway_by != "server":
        conv.goaway, conv.goaway_by = ev, side


def _on_push_promise(conv, streams, side, ev: PushPromise) -> None:
    acc = _acc(streams, ev.promised_stream_id)
    acc.pushed, acc.request_headers = True, ev.headers


def _server_headers(acc: _StreamAcc, start: int, end: int, headers: tuple,
                    end_stream: bool) -> None:
    if acc.resp_start is None:
        acc.resp_start = start
    if acc.has_final:                   # trailers: their :status (if any) plays no part
        acc.trailers = headers
    else:
        status = _status(headers)
        if status is not None and 100 <= status < 200:
            acc.informational.append(headers)
        else:
            acc.has_final, acc.response_headers, acc.resp_headers_end = True, headers, end
    if end_stream and acc.resp_end is None:
        acc.resp_end = end


def _on_rst_stream(conv, streams, side, ev: RstStream) -> None:
    _acc(streams, ev.stream_id).resets.setdefault(side, ev.error_code)


def _on_grpc_error(conv, streams, side, ev: GrpcFramingError) -> None:
    conv.warnings.append(Problem(f"stream {ev.stream_id}: {side} gRPC framing at offset "
                                 f"{ev.offset}: {ev.message}; message counts of this direction "
                                 "are partial", direction=side, offset=ev.offset,
                                 field="grpc-message"))


def _on_truncated(conv, streams, side, ev: Truncated) -> None:
    conv.warnings.append(Problem(f"{side} direction ended inside a {ev.what} starting at offset "
                                 f"{ev.start}" + (f" (stream {ev.stream_id})" if ev.stream_id
                                                  else ""),
                                 direction=side, offset=ev.start, field=ev.what))


# HEADERS and DATA are handled by the walks themselves
_ASSEMBLERS = {
    Preface: _on_preface, Settings: _on_settings, GoAway: _on_goaway, PushPromise: _on_push_promise,
    RstStream: _on_rst_stream, GrpcFramingError: _on_grpc_error, Truncated: _on_truncated,
}


def _status(headers: tuple) -> int | None:
    """The ``:status`` of a header block: three ASCII digits, else None."""
    return ascii_int(_get(headers, ":status"), STATUS_DIGITS)


def _get(headers: tuple, name: str) -> str | None:
    for key, value in headers:
        if key == name:
            return value
    return None


def _stream_row(acc: _StreamAcc, warnings: list, responses: dict, results: dict) -> tuple:
    """The stream's :class:`H2Stream` fields, in order.  ``responses`` remembers
    :func:`_first_values` of response header tuples by identity (the HPACK decoder hands out
    one tuple for a repeated block, as every response of a gRPC server is): id -> (the tuple,
    kept alive so that its id stays its own, its values); ``results`` the same for
    :func:`_grpc_status` of the trailers."""
    req_headers, resp_headers = acc.request_headers, acc.response_headers
    req = _first_values(req_headers)
    seen = responses.get(id(resp_headers))
    if seen is not None and seen[0] is resp_headers:
        resp = seen[1]
    else:
        resp = _first_values(resp_headers)
        responses[id(resp_headers)] = (resp_headers, resp)
    source = acc.trailers or acc.response_headers
    seen = results.get(id(source))
    if seen is None or seen[0] is not source:
        seen = results[id(source)] = (source, *_grpc_status(source))
    _, grpc_status, grpc_message, raw_status = seen
    if raw_status is not None and grpc_status is None:
        warnings.append(Problem(f"stream {acc.stream_id}: grpc-status {raw_status[:40]!r} is "
                                "not a number of at most 10 ASCII digits; grpc_status left "
                                "empty", direction="server", field="grpc-status"))
    reset_by, reset_code = _reset(acc) if acc.resets else (None, None)
    request_done = acc.req_end is not None or acc.pushed or (reset_by == "server"
                                                            and reset_code == 0)
    # a reset after both END_STREAMs (grpc-core's deadline race) cannot undo bytes already seen
    complete = ((acc.req_end is not None and acc.resp_end is not None)
                or (acc.resp_end is not None and request_done and reset_code in (None, 0)))
    status = resp.get(":status")
    code = ascii_int(status, STATUS_DIGITS)
    if status is not None and code is None:
        warnings.append(Problem(f"stream {acc.stream_id}: :status {status[:40]!r} is not a "
                                "3-digit status code; status left empty", direction="server",
                                field=":status"))
    return (acc.stream_id, acc.pushed, req_headers, resp_headers, tuple(acc.informational),
            acc.trailers, acc.request_trailers, req.get(":method"), req.get(":path"),
            req.get(":authority"),
            code,
            req.get("content-type") or resp.get("content-type"),
            req.get("x-request-id") or resp.get("x-request-id"),
            grpc_status, grpc_message, acc.req_start, acc.req_headers_end, acc.req_end,
            acc.resp_start, acc.resp_headers_end, acc.resp_end, acc.req_bytes, acc.resp_bytes,
            acc.req_messages, acc.resp_messages, acc.req_message_bytes,
            acc.resp_message_bytes, reset_by, reset_code, complete)


def _h2_stream(row: tuple) -> H2Stream:
    """``H2Stream(*row)``, its instance dict filled in one step (the generated __init__ sets
    the 31 fields one object.__setattr__ call at a time)."""
    return from_fields(H2Stream, dict(zip(H2_STREAM_FIELDS, row, strict=True)))


def _first_values(headers: tuple) -> dict:
    """name -> value of its first occurrence (a dict built in C: faster than several scans)."""
    return dict(reversed(headers))


def _grpc_status(source: tuple) -> tuple[int | None, str | None, str | None]:
    """grpc-status/grpc-message of a header block (the trailers, else a trailers-only
    response): ``(status, message, the status's text)``; status None when the text is not a
    number (the caller warns)."""
    raw_status = message = None
    for name, value in source:          # one pass for both: the first of each counts
        if name == "grpc-status":
            if raw_status is None:
                raw_status = value
        elif name == "grpc-message" and message is None:
            message = value
    status = None if raw_status is None else ascii_int(raw_status, GRPC_STATUS_DIGITS)
    # unquote() returns a string without "%" as it is
    return status, (unquote(message) if message is not None and "%" in message
                    else message), raw_status


def _reset(acc: _StreamAcc) -> tuple[str | None, int | None]:
    """Who reset the stream.  Directions are parsed apart, so when both sides sent RST_STREAM
    their order is unknown here: the one with an error code wins, the client on a tie."""
    if not acc.resets:
        return None, None
    if len(acc.resets) == 2 and acc.resets["client"] == 0 and acc.resets["server"] != 0:
        return "server", acc.resets["server"]
    side = "client" if "client" in acc.resets else "server"
    return side, acc.resets[side]
