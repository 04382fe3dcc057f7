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


class PlainBatch:
    """The one-request connections of a bucket, as columns (row ``i``: one connection, in
    ascending connection order).  Times are ns since the epoch; ``known`` says which are
    captured (a piece's time stamp may be missing).

    ``index``: the connection numbers (the bucket's); ``k``: their numbers in the bucket's
    columns (``found.order[index]``); ``method``, ``path``, ``request_id``: lists of str (or
    None); ``status``, ``request_bytes``, ``response_bytes``: int64 arrays; ``times``: int64
    ``(n, 4)`` request start, request end, response start, response end (0 where not known),
    ``known`` its bool mask; ``frames``: int64 ``(n, 2)`` frame numbers of the first request
    and the last response piece."""

    def __init__(self, index, k, method, path, request_id, status, request_bytes,
                 response_bytes, times, known, frames):
        self.index, self.k = index, k
        self.method, self.path, self.request_id = method, path, request_id
        self.status, self.request_bytes, self.response_bytes = status, request_bytes, \
            response_bytes
        self.times, self.known, self.frames = times, known, frames

    def __len__(self) -> int:
        return len(self.index)

    @classmethod
    def empty(cls) -> "PlainBatch":
        """A batch of no connection (every connection read the per-connection way)."""
        return _batch([], [], [], [], [], [], [], [], [], {})

    @property
    def complete(self) -> np.ndarray:
        """Per row: all four times known (the exchange's ``complete``)."""
        return self.known.all(axis=1)

    def exchange(self, i: int) -> Exchange:
        """Row ``i`` as the :class:`Exchange` the per-connection path makes of it."""
        times = [int(t) if ok else None for t, ok in zip(self.times[i], self.known[i])]
        req_frame, resp_frame = (int(f) for f in self.frames[i])
        return Exchange("http/1.1", 1, self.method[i], self.path[i], int(self.status[i]), None,
                        self.request_id[i], int(self.request_bytes[i]),
                        int(self.response_bytes[i]), *times, req_frame, resp_frame, 0,
                        False, None not in times, None)


def one_request_exchanges(found, skip_ports=frozenset(), spend=None) -> dict[int, Exchange]:
    """``{connection index: Exchange}`` of :func:`one_request_batch` (same arguments): the
    exchange of the ConnectionResult (protocol "http/1.1", nothing else) that
    :func:`inferwire.analysis.analyze_connection` would make of each connection taken."""
    batch = one_request_batch(found, skip_ports, spend)
    return {int(index): batch.exchange(i) for i, index in enumerate(batch.index)}


def one_request_batch(found, skip_ports=frozenset(), spend=None) -> PlainBatch:
    """The connections of ``found`` (a :class:`~inferwire.tcp.connections.ConnectionSet`: one
    bucket's) that hold exactly one plain HTTP/1 request and its response, as a
    :class:`PlainBatch`.  Read from the columns: no Connection object is built.

    ``skip_ports``: connections with an end on one of these ports are left alone (ignored
    ports, ports whose protocol is forced).
    ``spend(pieces, nbytes, first_src, last_src)``: told what the connections looked at will
    read of the capture (their pieces, bytes, and lowest and highest file offsets of a piece),
    group by group before each group is read (``spend.connections`` at a time, else
    :data:`SPEND_GROUP`), so that the pages of the groups before can go first: read all at
    once, the heads of a spilled bucket's connections, spread through a 4 GB capture, mapped
    1.8 GB of it (the kernel maps 64 KiB around each byte read) before any could go."""
    dirs = found.dirs
    if dirs is None:
        return PlainBatch.empty()
    f = found.facts["lists"]
    cand = _candidates(dirs).tolist()
    syn, inferred, cport, sport = f["syn_seen"], f["roles_inferred"], f["client_port"], \
        f["server_port"]
    picked = [(i, k) for i, k in enumerate(found.order)
              if cand[k] and syn[k] and not inferred[k]
              and cport[k] not in skip_ports and sport[k] not in skip_ports]
    cols = dirs.cols
    ks = np.array([k for _, k in picked], dtype=np.int64)
    bounds = np.asarray(dirs.piece_bounds, dtype=np.int64)
    contiguous = np.asarray(dirs.contiguous, dtype=np.int64)
    rows, heads = _heads(found.table.buffer, cols, bounds, contiguous, ks, spend)
    ks = ks[rows]
    a, b, e = bounds[2 * ks], bounds[2 * ks + 1], bounds[2 * ks + 2]
    index = np.array([i for i, _ in picked], dtype=np.int64)[rows]
    method, path, request_id, request_bytes, status, response_bytes = heads
    return _batch(index, ks, method, path, request_id, status, request_bytes,
                  response_bytes, np.stack([a, b - 1, b, e - 1], axis=1), cols)


#: Connections read at a time when ``spend`` does not say (their reads told to it summed).
SPEND_GROUP = 32


def _heads(buffer, cols, bounds: np.ndarray, contiguous: np.ndarray, ks: np.ndarray,
           spend) -> tuple[np.ndarray, list]:
    """``(rows, heads)`` of :func:`plain_heads` over the connections ``ks`` (``rows``:
    positions in ``ks``, int64; ``heads``: its six lists), read a group at a time, each
    group's reads told to ``spend`` first; in one call when there is no ``spend``."""
    group = len(ks) if spend is None else getattr(spend, "connections", SPEND_GROUP)
    if spend is not None:
        srcs = np.frombuffer(cols["srcs"], dtype=np.int64)
        a, b, e = bounds[2 * ks], bounds[2 * ks + 1], bounds[2 * ks + 2]
        pieces, nbytes = e - a, contiguous[2 * ks] + contiguous[2 * ks + 1]
        lo, hi = np.minimum(srcs[a], srcs[b]), np.maximum(srcs[b - 1], srcs[e - 1])
    rows: list = []
    heads: list = [[] for _ in range(6)]
    for at in range(0, len(ks), max(group, 1)):
        end = at + group
        if spend is not None:
            spend(int(pieces[at:end].sum()), int(nbytes[at:end].sum()), int(lo[at:end].min()),
                  int(hi[at:end].max()))
        got, *found = plain_heads(buffer, cols["srcs"], cols["ends"], bounds, contiguous,
                                  ks[at:end], MAX_HEADER_BYTES)
        rows += [at + r for r in got]
        for column, values in zip(heads, found):
            column += values
    return np.array(rows, dtype=np.int64), heads


def _plain_heads_py(buffer, srcs, ends, bounds, contiguous, ks, max_head) -> tuple:
    """What ``_plain.exchanges`` (C) returns, in Python: ``(rows, methods, targets,
    request ids, request body bytes, statuses, response body bytes)``, lists over the
    connections ``ks`` (their numbers in the columns) taken, ``rows`` their positions in
    ``ks``.  A connection is taken when :func:`_one_exchange` reads it."""
    out = ([], [], [], [], [], [], [])
    bounds, contiguous = bounds.tolist(), contiguous.tolist()
    for r, k in enumerate(ks.tolist()):
        head = _one_exchange(buffer, srcs, ends, bounds[2 * k], bounds[2 * k + 1],
                             bounds[2 * k + 2], contiguous[2 * k], contiguous[2 * k + 1],
                             max_head)
        if head is not None:
            for column, value in zip(out, (r, *head)):
                column.append(value)
    return out


def _batch(index, ks, method, path, request_id, status, request_bytes, response_bytes,
           pieces, cols) -> PlainBatch:
    """A PlainBatch of the rows given, their piece numbers ``pieces`` (request's first and
    last, response's first and last) looked up in ``cols`` (times, frames) in one step."""
    pieces = np.array(pieces, dtype=np.int64).reshape(-1, 4)
    if len(pieces):
        times = np.frombuffer(cols["times"], dtype=np.int64)[pieces]
        frames = np.frombuffer(cols["frames"], dtype=np.int64)[pieces[:, [0, 3]]]
    else:
        times, frames = pieces, pieces[:, :2]
    known = times >= 0
    ints = [np.array(v, dtype=np.int64) for v in (index, ks, status, request_bytes,
                                                   response_bytes)]
    return PlainBatch(ints[0], ints[1], list(method), list(path), list(request_id), ints[2],
                      ints[3], ints[4], np.where(known, times, 0), known, frames)


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


def _one_exchange(buffer, srcs, ends, a: int, b: int, e: int, up_end: int, down_end: int,
                  max_head: int = MAX_HEADER_BYTES) -> tuple | None:
    """``(method, target, request id, request body bytes, status, response body bytes)`` of a
    connection whose client pieces are ``[a, b)`` and server pieces ``[b, e)`` (``srcs``,
    ``ends``: the pieces' file offsets and stream ends), each direction one message ending at
    its end (``up_end``, ``down_end``), or None."""
    up_at, down_at = srcs[a], srcs[b]
    if detect(buffer[up_at:up_at + DETECT_BYTES], buffer[down_at:down_at + DETECT_BYTES]) \
            != "http/1.1":
        return None
    request = _message(buffer, up_at, min(ends[a], max_head), up_end, True, None)
    if request is None:
        return None
    response = _message(buffer, down_at, min(ends[b], max_head), down_end, False, request[0])
    if response is None or response[2] >= 400:      # an error body is read the general way
        return None
    if _EVENT_STREAM in bytes(buffer[down_at:response[4]]).lower():   # the head only
        return None                 # an SSE body (its events are split the general way)
    return (*request, response[2], response[3])


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
    from ._plain import exchanges as _plain_heads_c, message as _message_c
except ImportError:
    _message_c = _plain_heads_c = None

#: The head split and framing in use: C when built, else Python (same results).
plain_message = _message_c or _message_py
#: The heads of a bucket's candidate connections read: C when built, else Python.
plain_heads = _plain_heads_c or _plain_heads_py


def _message(buffer, at: int, piece_len: int, end: int, client: bool, asked):
    """``(method, target, request id, body bytes)`` of a request, ``(None, None, status, body
    bytes, file offset where the head ends)`` of a response (to a request with method ``asked``): the plain message whose head
    lies in the first piece (at file offset ``at``, ``piece_len`` bytes) and that ends exactly
    at stream offset ``end``; None for anything else."""
    if asked == "HEAD" or asked == "CONNECT":
        return None
    got = plain_message(buffer, at, at + piece_len, client)
    if got is None or got[0] - at + got[-2 if client else -1] != end:
        return None                                 # not plain, several messages, or cut short
    if client:
        return got[1], got[2], got[4], got[3]
    return None, None, got[1], got[2], got[0]
