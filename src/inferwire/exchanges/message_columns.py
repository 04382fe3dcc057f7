"""Streamed messages as columns: the fast form of :mod:`inferwire.exchanges.messages`.

A streamed HTTP/1.1 body of a TCP direction (the usual case: an SSE completion, thousands of
tokens) is split here without one Python object per message: the chunks are walked in C
(:func:`~inferwire.protocols.chunked.chunk_columns`), the usual SSE bodies split into events in C
where their chunks' data lie, at stream offsets (:mod:`inferwire.protocols._sse`; any other body
decoded, its events found with numpy, :func:`~inferwire.protocols.sse.sse_event_columns`, and
mapped to stream offsets with ``np.searchsorted``), stream offsets mapped to capture times with
one ``np.searchsorted`` each, and the result kept
as a :class:`MessageColumns` (arrays).  The rule is :class:`~.timeline.TcpTimeline`'s: a message's
first byte at the capture time of the packet carrying it (``start_times``), its last byte at the
time the receiver had it (``end_times``).  :mod:`.messages` reads the same bodies message by
message (its functions are the reference: tests compare both ways).
"""
from __future__ import annotations

from array import array
from typing import NamedTuple

import numpy as np

from ..protocols.chunked import MAX_LINE as _MAX_LINE
from ..protocols.chunked import chunk_columns
from ..protocols.sse import (KINDS, SseColumns, c_split, c_split_chunked, data_line_columns,
                             sse_event_columns)

try:              # the pieces of a span joined in C (tcp/_segments.c); same bytes
    from ..tcp._segments import gather as _c_gather
except ImportError:
    _c_gather = None
#: The usual SSE bodies split where they lie, in C (protocols/_sse.c), or None; same events.
_c_sse_split = c_split
_c_sse_chunked = c_split_chunked

#: Direction codes of :attr:`MessageColumns.direction`.
DIRECTIONS = ("request", "response")


class Message(NamedTuple):
    """One message: direction ("request" | "response"), kind ("data"; SSE also "done" for
    ``data: [DONE]`` and "other" for events without data), capture times of its first and last
    byte (ns since the epoch, None: unknown or never arrived), its size (bytes: chunk data, gRPC
    message without its 5-byte prefix, SSE event as sent) and whether it arrived whole."""
    direction: str
    kind: str
    start_ns: int | None
    end_ns: int | None
    nbytes: int
    complete: bool


class MessageColumns:
    """One request's messages as arrays, in order: ``direction`` (int8 codes into
    :data:`DIRECTIONS`), ``kind`` (int8 codes into :data:`~inferwire.protocols.sse.KINDS`),
    ``start_ns``/``end_ns`` (int64 capture times, -1: unknown or never arrived), ``nbytes``
    (int64) and ``complete`` (bool).  Iterating gives :class:`~.messages.Message` tuples."""

    __slots__ = ("direction", "kind", "start_ns", "end_ns", "nbytes", "complete")

    def __init__(self, direction, kind, start_ns, end_ns, nbytes, complete):
        self.direction, self.kind = direction, kind
        self.start_ns, self.end_ns, self.nbytes, self.complete = start_ns, end_ns, nbytes, \
            complete

    def __len__(self) -> int:
        return len(self.kind)

    def __iter__(self):
        for d, k, s, e, n, c in zip(self.direction.tolist(), self.kind.tolist(),
                                    self.start_ns.tolist(), self.end_ns.tolist(),
                                    self.nbytes.tolist(), self.complete.tolist()):
            yield Message(DIRECTIONS[d], KINDS[k], s if s >= 0 else None,
                          e if e >= 0 else None, n, c)

    def __add__(self, other):
        return JoinedColumns([self, as_columns(other)])

    def __radd__(self, other):
        return JoinedColumns([as_columns(other), self])


class JoinedColumns(MessageColumns):
    """Several :class:`MessageColumns` one after the other (a gRPC call's request messages,
    then its response's), joined only when a column is first read: the tables' builders
    (:func:`concat` of all the requests) join the parts once, with everyone else's, instead of
    once per request and again for the table (4,000 streamed calls: 24,000 numpy joins)."""

    __slots__ = ("parts",)

    def __init__(self, parts: list):        # (the columns stay unset until read)
        self.parts = [q for p in parts for q in _parts(p)]

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def __getattr__(self, name: str):       # only for a column not set yet
        if name not in MessageColumns.__slots__:
            raise AttributeError(name)
        joined = concat(self.parts)
        for column in MessageColumns.__slots__:
            object.__setattr__(self, column, getattr(joined, column))
        self.parts = [joined]
        return getattr(joined, name)


def _parts(m: MessageColumns) -> list:
    """The :class:`MessageColumns` that ``m`` is made of, in order (itself, unless joined)."""
    return m.parts if isinstance(m, JoinedColumns) else [m]


def as_columns(msgs) -> MessageColumns:
    """``msgs`` (a list of :class:`~.messages.Message` or a :class:`MessageColumns`) as
    columns."""
    if isinstance(msgs, MessageColumns):
        return msgs
    return MessageColumns(
        np.array([DIRECTIONS.index(m.direction) for m in msgs], np.int8),
        np.array([KINDS.index(m.kind) for m in msgs], np.int8),
        np.array([-1 if m.start_ns is None else m.start_ns for m in msgs], np.int64),
        np.array([-1 if m.end_ns is None else m.end_ns for m in msgs], np.int64),
        np.array([m.nbytes for m in msgs], np.int64),
        np.array([m.complete for m in msgs], bool))


def concat(blocks: list) -> MessageColumns:
    """The messages of ``blocks`` (:class:`MessageColumns`) one after the other."""
    parts = [p for b in blocks for p in _parts(b)]
    return MessageColumns(*(np.concatenate([getattr(p, name) for p in parts])
                            for name in MessageColumns.__slots__))


# -- HTTP/1.1 bodies of a TCP direction ----------------------------------------------------------
def body_columns(body: bytes, base: int, chunked: bool, sse: bool, stream,
                 direction: str) -> MessageColumns:
    """The messages of an HTTP/1.1 body (``body``: its bytes from stream offset ``base``;
    ``chunked``, ``sse``: its framing and type) on the TCP direction ``stream``
    (:class:`~inferwire.tcp.DirectionStream`), as :func:`~.messages.http1_body_messages`
    gives them."""
    code = DIRECTIONS.index(direction)
    if not chunked:
        ev = sse_event_columns(body)
        return _timed(stream, code, ev.kind, ev.start + base, ev.end + base, ev.end - ev.start,
                      ev.complete)
    ch = chunk_columns(body, base, decode=sse)
    sizes = ch.data_ends - ch.data_starts
    if not sse:
        return _timed(stream, code, np.zeros(len(sizes), np.int8), ch.starts, ch.data_ends,
                      sizes, ch.complete)
    return sse_pieces(ch.decoded, ch.data_starts, sizes, stream, direction)


#: Stream bytes of bodies split together by :func:`bodies_columns` (their decoded events are
#: joined: memory stays bounded), numpy's per-call cost paid once for all of them.
BATCH_BYTES = 8 << 20


def bodies_columns(stream, direction: str, bodies: list, kept=None) -> list:
    """:func:`body_columns` of many bodies of the TCP direction ``stream`` (``bodies``:
    ``(start, end, chunked, sse)`` each, stream offsets, in stream order), each a
    :class:`MessageColumns` or None (a body not all captured): the same values, with the SSE
    events found and every message placed and timed once per :data:`BATCH_BYTES` of bodies
    instead of once per body (a keep-alive connection of thousands of streamed completions:
    numpy's per-call cost was most of each one's); each body is still read on its own, from
    ``kept`` (a body's bytes by its start offset, or None: as the parser read them,
    :class:`~.kept.KeptBodies`) when it has them, else from the capture."""
    out, group = [], []
    for body in bodies:
        if group and body[1] - group[0][0] > BATCH_BYTES:
            out += _group_columns(stream, direction, group, kept)
            group = []
        group.append(body)
    return out + (_group_columns(stream, direction, group, kept) if group else [])


def _group_columns(stream, direction: str, group: list, kept=None) -> list:
    """:func:`bodies_columns` of the bodies of ``group``.  Each body is read on its own (one
    read of the group's whole span was slower: a copy more of every byte, in new pages)."""
    spans = [None] * len(group)         # per body: (kind, start, end, nbytes, complete)
    texts, offsets, sizes, owners = [], [], [], []     # the SSE bodies' pieces
    # split in C: texts holds bodies of known length (not decoded), chunked_sse the chunked
    # ones ((n, body): their chunks walked there too); else texts holds every decoded body
    split_here = _c_sse_split is not None
    chunked_sse = []
    for n, (start, end, chunked, sse) in enumerate(group):
        body = kept(start) if kept is not None else None
        if body is None:
            body = read_span(stream, start, end)
        if body is None:
            continue
        if not chunked:                 # an event stream of known length: one piece
            texts.append(body)
            offsets.append(np.array([start], np.int64))
            sizes.append(np.array([len(body)], np.int64))
            owners.append(n)
            continue
        if sse and split_here:
            chunked_sse.append((n, body))
            continue
        ch = chunk_columns(bytes(body), start, decode=sse)      # (a view, kept: bytes)
        size = ch.data_ends - ch.data_starts
        if sse:
            texts.append(ch.decoded)
            offsets.append(ch.data_starts)
            sizes.append(size)
            owners.append(n)
        else:
            spans[n] = (np.zeros(len(size), np.int8), ch.starts, ch.data_ends, size, ch.complete)
    if texts:
        starts = [group[n][0] for n in owners]
        found = (_split_spans(texts, starts, offsets, sizes) if split_here
                 else _sse_spans(texts, offsets, sizes))
        for n, span in zip(owners, found):
            spans[n] = span
    if chunked_sse:
        for (n, _), span in zip(chunked_sse, _chunked_spans(
                [b for _, b in chunked_sse], [group[n][0] for n, _ in chunked_sse])):
            spans[n] = span
    taken = [s for s in spans if s is not None]
    if not taken:
        return spans
    timed = _timed(stream, DIRECTIONS.index(direction),
                   *(np.concatenate([s[f] for s in taken]) for f in range(5)))
    at, out = 0, []
    for span in spans:
        if span is None:
            out.append(None)
            continue
        n = len(span[0])
        out.append(MessageColumns(*(getattr(timed, name)[at:at + n]
                                    for name in MessageColumns.__slots__)))
        at += n
    return out


def _chunked_spans(bodies: list, starts: list) -> list:
    """:func:`_sse_spans` of chunked SSE bodies as they came (``bodies[k]``: its bytes from
    stream offset ``starts[k]``): the usual ones (whole plain chunks, then the last chunk or
    the body's end, the usual stream in their data) chunk-walked and split in one C call
    (:mod:`inferwire.protocols._sse` ``split_chunked``); any other decoded by
    :func:`~inferwire.protocols.chunked.chunk_columns` and read by :func:`_sse_spans`.  The
    same events either way."""
    out = _events_of(_c_sse_chunked(bodies, np.array(starts, np.int64), _MAX_LINE))
    for k, span in enumerate(out):
        if span is None:
            ch = chunk_columns(bytes(bodies[k]), starts[k], decode=True)   # (a view: bytes)
            out[k] = _sse_spans([ch.decoded], [ch.data_starts],
                                [ch.data_ends - ch.data_starts])[0]
    return out


def _events_of(found: tuple) -> list:
    """Per body, its events' ``(kind, start, end, nbytes, complete)`` from what the C split
    returned (``found``), or None where it was not split there."""
    fast, per, start, end, nbytes, kind, complete = found
    start, end, nbytes = (np.frombuffer(x, np.int64) for x in (start, end, nbytes))
    kind, complete = np.frombuffer(kind, np.int8), np.frombuffer(complete, np.bool_)
    cuts = [0, *np.cumsum(np.frombuffer(per, np.int64)).tolist()]
    return [(kind[a:b], start[a:b], end[a:b], nbytes[a:b], complete[a:b]) if usual else None
            for usual, a, b in zip(fast, cuts[:-1], cuts[1:])]


def _split_spans(bodies: list, starts: list, offsets: list, sizes: list) -> list:
    """:func:`_sse_spans` of SSE bodies not decoded: ``bodies[k]``, the bytes from stream
    offset ``starts[k]``, holds its event stream in pieces at stream ``offsets[k]`` with
    ``sizes[k]`` (a chunked body's chunk data; else the body itself).  The usual bodies are
    split in C where their pieces lie (:mod:`inferwire.protocols._sse`: no decoded copy, no
    per-event mapping of offsets); any other is decoded and read by :func:`_sse_spans`.  The
    same events either way."""
    counts = np.array([len(o) for o in offsets], np.int64)
    at = np.concatenate(offsets)
    triples = np.empty((len(at), 3), np.int64)
    triples[:, 0] = at - np.repeat(np.array(starts, np.int64), counts)
    triples[:, 1] = np.concatenate(sizes)
    triples[:, 2] = at
    out = _events_of(_c_sse_split(bodies, triples, counts))
    for k, span in enumerate(out):
        if span is None:
            body, base = bodies[k], starts[k]
            text = b"".join(body[o - base:o - base + z]
                            for o, z in zip(offsets[k].tolist(), sizes[k].tolist()))
            out[k] = _sse_spans([text], [offsets[k]], [sizes[k]])[0]
    return out


def _sse_spans(texts: list, offsets: list, sizes: list) -> list:
    """Per SSE body (``texts``: its decoded bytes, lying at stream ``offsets`` with ``sizes``
    in pieces), its events' ``(kind, start, end, nbytes, complete)`` at stream offsets.  Found
    in one pass over all the texts when each ends with a blank line (so no event spans two)
    and the joined texts are the usual stream (:func:`~inferwire.protocols.sse.
    sse_event_columns`' fast case); else text by text (the same events)."""
    bases = np.cumsum([0] + [len(t) for t in texts]).astype(np.int64)
    joined = None
    if all(t.endswith(b"\n\n") or not t for t in texts):
        joined = data_line_columns(b"".join(texts))
    if joined is not None:
        ev = joined
    else:
        each = [sse_event_columns(t) for t in texts]
        ev = SseColumns(*(np.concatenate([getattr(e, f) + (bases[k] if f in ("start", "end")
                                                          else 0)
                                          for k, e in enumerate(each)]).astype(dtype)
                          for f, dtype in (("start", np.int64), ("end", np.int64),
                                           ("kind", np.int8), ("complete", bool))))
    piece_offsets, piece_sizes = np.concatenate(offsets), np.concatenate(sizes)
    at = np.concatenate([[0], np.cumsum(piece_sizes)[:-1]]).astype(np.int64)
    k = np.searchsorted(at, ev.start, "right") - 1
    start = piece_offsets[k] + ev.start - at[k]
    k = np.searchsorted(at, ev.end - 1, "right") - 1
    end = piece_offsets[k] + ev.end - 1 - at[k] + 1
    cuts = np.searchsorted(ev.start, bases, "left")
    nbytes = ev.end - ev.start
    return [(ev.kind[a:b], start[a:b], end[a:b], nbytes[a:b], ev.complete[a:b])
            for a, b in zip(cuts[:-1].tolist(), cuts[1:].tolist())]


def sse_pieces(decoded: bytes, offsets, sizes, stream, direction: str) -> MessageColumns:
    """The SSE events of ``decoded``, the joined pieces (chunk data, DATA frame payloads) that
    lie at stream ``offsets`` (int64 array) with ``sizes`` on ``stream``, timed."""
    kind, start, end, nbytes, complete = _sse_spans([decoded], [np.asarray(offsets, np.int64)],
                                                    [np.asarray(sizes, np.int64)])[0]
    return _timed(stream, DIRECTIONS.index(direction), kind, start, end, nbytes, complete)


def read_span(stream, start: int, end: int) -> bytes | None:
    """:meth:`~inferwire.tcp.DirectionStream.read` (the bytes at stream offsets
    ``[start, end)``, None when any was not captured) with the pieces found by two
    ``np.searchsorted`` and joined as slices of the capture: a streamed body spans thousands of
    pieces, which the general read walks one by one."""
    if end <= start:
        return b""
    starts, ends = _column(stream.starts), _column(stream.ends)
    i = int(np.searchsorted(starts, start, "right")) - 1
    j = int(np.searchsorted(starts, end - 1, "right"))
    if i < 0 or start >= ends[i] or end > ends[j - 1] or \
            (ends[i:j - 1] != starts[i + 1:j]).any():
        return None
    lo = np.maximum(starts[i:j], start)
    src = _column(stream.srcs)[i:j] + lo - starts[i:j]
    stop = src + np.minimum(ends[i:j], end) - lo
    if _c_gather is not None:                    # one C call joins every piece
        return _c_gather(stream.buffer, src, stop - src, 0, len(src))
    with memoryview(stream.buffer) as view:      # released here: it pins the capture's map
        parts = [view[a:b] for a, b in zip(src.tolist(), stop.tolist())]
        try:
            return b"".join(parts)
        finally:
            for part in parts:
                part.release()


def timed_spans(stream, direction: str, kind, start, end, nbytes, complete) -> MessageColumns:
    """Messages at stream offsets ``[start, end)`` (arrays; ``kind`` int8 codes) of the TCP
    direction ``stream``, with their capture times."""
    return _timed(stream, DIRECTIONS.index(direction), kind, start, end, nbytes, complete)


def _column(values) -> np.ndarray:
    """A :class:`~inferwire.tcp.DirectionStream` column as an int64 array (a view of an
    ``array("q")``, no copy)."""
    return np.frombuffer(values, np.int64) if isinstance(values, array) else \
        np.asarray(values, np.int64)


def _timed(stream, code: int, kind, start, end, nbytes, complete) -> MessageColumns:
    """Messages at stream offsets ``[start, end)`` (arrays) with their capture times."""
    starts, ends = _column(stream.starts), _column(stream.ends)
    n = len(kind)

    def times(offsets, values):
        i = np.searchsorted(starts, offsets, "right") - 1
        j = np.maximum(i, 0)
        t = _column(values)[j] if len(starts) else np.full(n, -1, np.int64)
        held = (i >= 0) & (offsets < ends[j]) if len(starts) else np.zeros(n, bool)
        return np.where(held & (t >= 0), t, -1)

    first = stream.message_starts(start, end)
    last = np.where(complete, times(end - 1, stream.end_times), -1)
    return MessageColumns(np.full(n, code, np.int8), kind.astype(np.int8), first, last,
                          np.asarray(nbytes, np.int64), np.asarray(complete, bool))


# -- the per-request columns and the messages table ---------------------------------------------
def column_stats(m: MessageColumns, req_end: int | None, grpc: bool, ended: bool) -> tuple:
    """:func:`~.messages._stats` of a request's messages as columns (same values)."""
    request = m.direction == 0
    data = ~request & (m.kind == 0) & m.complete
    nreq = int(request.sum())
    sent = int((request & m.complete).sum())
    done = ended if grpc else bool((m.kind == 1).any())
    ref = req_end
    if grpc and nreq:
        ref = int(m.end_ns[request][0])
        ref = None if ref < 0 else ref
    starts = m.start_ns[data]
    first = int(starts[0]) if len(starts) and starts[0] >= 0 else None
    ends = m.end_ns[data]
    ends = ends[ends >= 0]
    gaps = np.sort(np.diff(ends) / 1e6).tolist()
    return (sent if nreq else None, int(data.sum()), _after(ref, first),
            _after(ref, int(ends[-1]) if len(ends) else None),
            *((None,) * 3 if not gaps else (_percentile(gaps, 50), _percentile(gaps, 90),
                                            gaps[-1])),
            done)


def many_column_stats(ms: list, req_ends: list, grpc: list, ended: list) -> list:
    """:func:`column_stats` of many requests at once (``ms``: each one's
    :class:`MessageColumns`; ``req_ends``, ``grpc``, ``ended``: its arguments), as one tuple per
    request: the same values, found with segment operations over all the requests' messages laid
    end to end instead of a dozen numpy calls per request (thousands of streamed requests: the
    per-call cost was most of it)."""
    n = len(ms)
    if not n:
        return []
    counts = np.array([len(m) for m in ms], np.int64)
    m = concat(ms)
    owner = np.repeat(np.arange(n), counts)
    request = m.direction == 0
    data = ~request & (m.kind == 0) & m.complete
    nreq = np.bincount(owner[request], minlength=n)
    sent = np.bincount(owner[request & m.complete], minlength=n)
    ndata = np.bincount(owner[data], minlength=n)
    done_sse = np.bincount(owner[m.kind == 1], minlength=n) > 0
    # each request's first request message's end (gRPC's reference), first data message's start
    first_req_end = _first_of(owner, request, m.end_ns, n)
    first_start = _first_of(owner, data, m.start_ns, n)
    # the data messages' ends that are known: the last one, and the gaps between neighbours
    kept = np.flatnonzero(data & (m.end_ns >= 0))
    ends, who = m.end_ns[kept], owner[kept]
    last_end = _first_of(who[::-1], np.ones(len(kept), bool), ends[::-1], n)  # -1: none
    same = who[1:] == who[:-1]
    gap_owner = who[1:][same]
    gaps = _sorted_by_owner(np.diff(ends)[same], gap_owner) / 1e6
    ngaps = np.bincount(gap_owner, minlength=n)
    first_gap = np.concatenate([[0], np.cumsum(ngaps)[:-1]])
    # the reference (-1: none): request_end, or a gRPC call's first request message's end
    grpc_k = np.array(grpc, bool)
    ref = np.where(grpc_k & (nreq > 0), first_req_end,
                   np.array([-1 if e is None else e for e in req_ends], np.int64))
    first = np.where(ndata > 0, first_start, -1)
    has = ngaps > 0
    p50, p90 = (_percentiles(gaps, first_gap, ngaps, q) for q in (50, 90))
    largest = gaps[np.where(has, first_gap + ngaps - 1, 0)] if len(gaps) else np.zeros(n)
    done = np.where(grpc_k, np.array(ended, bool), done_sse)
    columns = (_known(sent.tolist(), (nreq > 0).tolist()), ndata.tolist(), _after_all(ref, first),
               _after_all(ref, last_end), *(_known(v.tolist(), has.tolist())
                                            for v in (p50, p90, largest)), done.tolist())
    return list(zip(*columns))


def _known(values: list, known: list) -> list:
    """``values`` with None where ``known`` is False."""
    return [v if k else None for v, k in zip(values, known)]


def _after_all(ref: np.ndarray, t: np.ndarray) -> list:
    """:func:`_after` of each pair (-1: unknown): ``(t - ref) / 1e6`` as Python floats (the
    same double as Python's int arithmetic), None where either is unknown or ``t < ref``."""
    ok = (ref >= 0) & (t >= 0) & (t >= ref)
    return _known(((t - ref) / 1e6).tolist(), ok.tolist())


def _percentiles(gaps: np.ndarray, first: np.ndarray, count: np.ndarray, q: int) -> np.ndarray:
    """:func:`_percentile` of each owner's sorted ``gaps[first:first + count]`` (0 where
    ``count`` is 0): the same doubles, by the same operations element-wise."""
    if not len(gaps):
        return np.zeros(len(count))
    pos = (np.maximum(count, 1) - 1) * q / 100
    lo = pos.astype(np.int64)
    hi = np.minimum(lo + 1, np.maximum(count, 1) - 1)
    a, b = gaps[np.minimum(first + lo, len(gaps) - 1)], gaps[np.minimum(first + hi,
                                                                         len(gaps) - 1)]
    return a + (b - a) * (pos - lo)


def _sorted_by_owner(values: np.ndarray, owner: np.ndarray) -> np.ndarray:
    """Integer ``values`` sorted within each owner's run (``owner`` non-decreasing): one sort
    of ``owner << bits | (value - smallest)`` where that fits 62 bits (a 1 M-row lexsort took
    0.2 s), else a lexsort."""
    if not len(values):
        return values
    low = int(values.min())
    bits = (int(values.max()) - low).bit_length()
    if bits + int(owner[-1]).bit_length() > 62:
        return values[np.lexsort((values, owner))]
    # owner-major: already in order but within each owner's run; a merge sort uses that
    key = np.sort((owner.astype(np.int64) << bits) | (values - low), kind="stable")
    return (key & ((1 << bits) - 1)) + low


def _first_of(owner: np.ndarray, mask: np.ndarray, values: np.ndarray, n: int) -> np.ndarray:
    """Per owner (0..n-1), ``values`` at its first row where ``mask`` holds (-1 where none);
    each owner's rows lie together (``owner`` sorted either way)."""
    rows = np.flatnonzero(mask)
    out = np.full(n, -1, np.int64)
    if len(rows):
        who = owner[rows]
        first = np.flatnonzero(np.concatenate([[True], who[1:] != who[:-1]]))
        out[who[first]] = values[rows[first]]
    return out


def table_columns(blocks: list) -> dict:
    """The messages table's raw columns (:data:`inferwire.columns.MESSAGE_COLUMNS`' names, with
    ``start_ns``/``end_ns`` for start/end -> arrays; the stream as (values, known mask); the
    request id, direction and kind as (texts, int codes into them): one text per request or
    kind, not one Python object per message) of ``blocks``: (connection, stream, request_id,
    messages) per streamed request, in order; messages numbered from 0 in each direction."""
    cols = [as_columns(b[3]) for b in blocks]
    counts = np.array([len(c) for c in cols], np.int64)
    if not len(cols):
        cols = [as_columns([])]
    m = concat(cols)
    owner = np.repeat(np.arange(len(blocks)), counts)
    streams = [b[1] for b in blocks]
    index = np.zeros(len(m.kind), np.int64)
    for code in (0, 1):             # the position in each request's own direction
        mask = m.direction == code
        ones = mask.astype(np.int64)
        running = np.cumsum(ones) - ones                  # earlier messages of this direction
        before = np.zeros(len(blocks) + 1, np.int64)
        np.add.at(before, owner[mask] + 1, 1)
        index[mask] = running[mask] - np.cumsum(before)[owner[mask]]
    return {"connection": np.repeat(np.array([b[0] for b in blocks], np.int64), counts),
            "stream": (np.repeat(np.array([s or 0 for s in streams], np.int64), counts),
                       np.repeat(np.array([s is not None for s in streams], bool), counts)),
            "request_id": ([b[2] for b in blocks], owner),
            "direction": (DIRECTIONS, m.direction), "index": index, "kind": (KINDS, m.kind),
            "start_ns": m.start_ns, "end_ns": m.end_ns, "bytes": m.nbytes,
            "complete": m.complete}


def _percentile(ordered: list, q: float) -> float:
    """The ``q``-th percentile of the sorted ``ordered`` by numpy's default rule (linear
    between the two nearest ranks), without numpy's per-call cost (one call per request)."""
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _after(ref: int | None, t: int | None) -> float | None:
    """``t - ref`` in ms when both are known and in causal order, else None."""
    return None if ref is None or t is None or t < ref else (t - ref) / 1e6
