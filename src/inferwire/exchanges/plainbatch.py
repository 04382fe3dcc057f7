"""The one-request HTTP/1 connections of a bucket, read together from its direction columns.

Most REST traffic that is not kept alive (ab, HTTP/1.0 clients, ``Connection: close``) is one
connection per request: a request head (and body) one way, a response head and body the other,
nothing else.  Read one by one, each costs a dozen Python steps on objects (timelines, parsers,
budgets) for two heads.  Here the bucket's :class:`~inferwire.tcp.grouping.Directions` columns
(pieces of every direction) are checked for all connections at once, the times of their first
and last pieces looked up in one vectorised step, and only the two heads of each connection are
split and framed, in one C call each (``_plain.c``; :func:`_message_py` is its Python twin:
:func:`~inferwire.protocols.http1.split_head` and
:func:`~inferwire.protocols.http1.plain_framing`, the rules the parser's fast path uses).

A connection is taken here only when the per-connection path would read it with
:func:`~inferwire.exchanges.http1.plain_exchanges` and find exactly one request and one
response; any other connection (a gap, a retransmission, a cut packet, no SYN, a forced
protocol, several messages, an error status, a short first packet, ...) is left to that path,
which gives the same result for the ones taken here (``tests/test_plainbatch.py``
compares both on crafted and real captures).
"""
from __future__ import annotations

import numpy as np

from ..protocols.detect import detect
from ..protocols.http1 import MAX_HEADER_BYTES, header_value, plain_framing, split_head
from .exchange import Exchange

#: Bytes :func:`~inferwire.protocols.detect.detect` looks at; a connection whose first piece
#: in either direction is shorter goes the per-connection way (its head is joined there).
DETECT_BYTES = 64


def one_request_exchanges(found, skip_ports=frozenset(), spend=None) -> dict[int, Exchange]:
    """``{connection index: Exchange}`` of the connections of ``found`` (a
    :class:`~inferwire.tcp.connections.ConnectionSet`: one bucket's) that hold exactly one
    plain HTTP/1 request and its response: the exchange of the ConnectionResult (protocol
    "http/1.1", nothing else) that :func:`inferwire.analysis.analyze_connection` would make
    of the connection.  Read from the columns: no Connection object is built.

    ``skip_ports``: connections with an end on one of these ports are left alone (ignored
    ports, ports whose protocol is forced).
    ``spend(pieces, nbytes, first_src, last_src)``: told what each connection taken read of
    the capture (its pieces, bytes, and lowest and highest file offsets of a piece), in
    connection order."""
    dirs = found.dirs
    if dirs is None:
        return {}
    f = found.facts["lists"]
    cand = _candidates(dirs).tolist()
    syn, inferred, cport, sport = f["syn_seen"], f["roles_inferred"], f["client_port"], \
        f["server_port"]
    picked = [(i, k) for i, k in enumerate(found.order)
              if cand[k] and syn[k] and not inferred[k]
              and cport[k] not in skip_ports and sport[k] not in skip_ports]
    cols = dirs.cols                        # array("q") columns: quick to index one by one
    bounds, contiguous = dirs.piece_bounds, dirs.contiguous
    buffer = found.table.buffer
    srcs, ends = cols["srcs"], cols["ends"]
    out = {}
    for index, k in picked:
        a, b, e = bounds[2 * k], bounds[2 * k + 1], bounds[2 * k + 2]
        exchange = _one_exchange(buffer, srcs, ends, a, b, e, contiguous[2 * k],
                                 contiguous[2 * k + 1])
        if exchange is None:
            continue
        out[index] = exchange
        if spend is not None:               # both directions' pieces at once
            spend(e - a, contiguous[2 * k] + contiguous[2 * k + 1],
                  min(srcs[a], srcs[b]), max(srcs[b - 1], srcs[e - 1]))
    _times(out.values(), cols)
    return out


def _candidates(dirs) -> np.ndarray:
    """Per connection of ``dirs`` (by its number there): both directions hold pieces from
    offset 0 without a gap, retransmission, reordering or cut packet, and each direction's
    first piece holds at least :data:`DETECT_BYTES`."""
    bounds = np.asarray(dirs.piece_bounds, dtype=np.int64)
    starts = np.frombuffer(dirs.cols["starts"], dtype=np.int64)
    ends = np.frombuffer(dirs.cols["ends"], dtype=np.int64)
    ok = bounds[1:] > bounds[:-1]
    if not len(starts):
        return ok[0::2] & False
    first = np.minimum(bounds[:-1], len(starts) - 1)
    last = np.maximum(bounds[1:] - 1, 0)
    ok &= ((starts[first] == 0) & (ends[first] >= DETECT_BYTES)
           & (np.asarray(dirs.contiguous, dtype=np.int64) == ends[last]))
    ok[[d for d in (*dirs.replay, *dirs.uncaptured) if d < dirs.n_dirs]] = False
    return ok[0::2] & ok[1::2]


#: A response head naming this (any case) may be an event stream: read the general way.
_EVENT_STREAM = b"text/event-stream"


def _one_exchange(buffer, srcs, ends, a: int, b: int, e: int, up_end: int,
                  down_end: int) -> Exchange | None:
    """The exchange of a connection whose client pieces are ``[a, b)`` and server pieces
    ``[b, e)`` (``srcs``, ``ends``: the pieces' file offsets and stream ends), each direction
    one message ending at its end (``up_end``, ``down_end``), or None; times filled in later
    (:func:`_times`), the piece numbers kept in them until then."""
    up_at, down_at = srcs[a], srcs[b]
    if detect(buffer[up_at:up_at + DETECT_BYTES], buffer[down_at:down_at + DETECT_BYTES]) \
            != "http/1.1":
        return None
    request = _message(buffer, up_at, ends[a], up_end, True, None)
    if request is None:
        return None
    response = _message(buffer, down_at, ends[b], down_end, False, request[0])
    if response is None or response[2] >= 400:      # an error body is read the general way
        return None
    if _EVENT_STREAM in bytes(buffer[down_at:response[4]]).lower():   # the head only
        return None                 # an SSE body (its events are split the general way)
    method, target, request_id, length = request
    _, _, status, response_bytes, _ = response
    # the piece numbers stand in for the times until _times looks them up (with the frames)
    return Exchange("http/1.1", 1, method, target, status, None, request_id, length,
                    response_bytes,
                    a, b - 1, b, e - 1, None, None, 0, False, False, None)


def _message_py(buffer, at: int, endpos: int, client: bool):
    """What ``_plain.message`` (C) returns, in Python: the head at ``buffer[at:endpos]`` split
    (:func:`~inferwire.protocols.http1.split_head`) and framed
    (:func:`~inferwire.protocols.http1.plain_framing`): ``(head_end, method, target, body
    bytes, x-request-id)`` of a request, ``(head_end, status, body bytes)`` of a response
    (whose request method the caller checks), or None."""
    split = split_head(buffer, at, endpos)
    if split is None:
        return None
    head_end, first, headers = split
    framing = plain_framing(first, headers, client, None)
    if framing is None:
        return None
    parsed, length = framing
    if client:
        return head_end, parsed[0], parsed[1], length, header_value(headers, "x-request-id")
    return head_end, parsed[1], length


try:               # the same in C (_plain.c); tests/test_plain_c.py compares the two
    from ._plain import message as _message_c
except ImportError:
    _message_c = None

#: The head split and framing in use: C when built, else Python (same results).
plain_message = _message_c or _message_py


def _message(buffer, at: int, piece_len: int, end: int, client: bool, asked):
    """``(method, target, request id, body bytes)`` of a request, ``(None, None, status, body
    bytes, file offset where the head ends)`` of a response (to a request with method ``asked``): the plain message whose head
    lies in the first piece (at file offset ``at``, ``piece_len`` bytes) and that ends exactly
    at stream offset ``end``; None for anything else."""
    if asked == "HEAD" or asked == "CONNECT":
        return None
    got = plain_message(buffer, at, at + min(piece_len, MAX_HEADER_BYTES), client)
    if got is None or got[0] - at + got[-2 if client else -1] != end:
        return None                                 # not plain, several messages, or cut short
    if client:
        return got[1], got[2], got[4], got[3]
    return None, None, got[1], got[2], got[0]


def _times(exchanges, cols: dict) -> None:
    """Replace the piece numbers in ``exchanges`` by the pieces' capture times (None where
    unknown) and frame numbers, all in one look-up."""
    if not exchanges:
        return
    pieces = np.array([(x.req_start_ns, x.req_end_ns, x.resp_start_ns, x.resp_end_ns)
                       for x in exchanges], dtype=np.int64)
    times = np.frombuffer(cols["times"], dtype=np.int64)[pieces]
    known = times >= 0
    frames = np.frombuffer(cols["frames"], dtype=np.int64)[pieces[:, [0, 3]]].tolist()
    for x, t, ok, (req_frame, resp_frame) in zip(exchanges, times.tolist(), known.tolist(),
                                                 frames):
        req_start, req_end, resp_start, resp_end = (v if k else None for v, k in zip(t, ok))
        x.req_start_ns, x.req_end_ns, x.resp_start_ns, x.resp_end_ns = (
            req_start, req_end, resp_start, resp_end)
        x.request_frame, x.response_frame = req_frame, resp_frame
        x.complete = resp_end is not None and None not in (req_start, req_end, resp_start)
