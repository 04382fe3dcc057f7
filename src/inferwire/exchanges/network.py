"""What TCP cost each exchange: retransmissions, stalls and round trips, per request row.

Each direction's costs are counted in the phase that direction's bytes were being sent in:
the client's (``*_to_server``) in the request's ``[request_start, request_end]``, the
server's (``*_to_client``) in the response's ``[response_start, response_end]``.  A phase not
seen (a time unknown) leaves its values empty; a phase seen without any retransmission or
stall gives 0.  On HTTP/2 several streams' phases can overlap, and a retransmission or stall
inside them counts for each.  Times are int ns here; the table has ms.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right

import numpy as np

from ..arrays import Masked
from ..tcp.connections import NET_FIELDS
from ..tcp.delivery import merged_measure

_ZERO_WINDOWS = NET_FIELDS.index("zero_windows")

#: The values :func:`network_rows` gives per exchange, in this order.
NETWORK_RAW = ("retrans_segments_to_server", "retrans_bytes_to_server", "retrans_to_server",
               "retrans_segments_to_client", "retrans_bytes_to_client", "retrans_to_client",
               "zero_window", "h2_flow_stall", "rtt_client", "rtt_server", "ack_rtt_client",
               "ack_rtt_server")


class _Direction:
    """One direction's retransmissions (times, cumulative bytes) and repair intervals."""

    def __init__(self, delivery):
        pairs = sorted((t, n) for t, n in zip(delivery.retrans_t, delivery.retrans_bytes)
                       if t >= 0)
        self.t = [t for t, _ in pairs]
        self.cum = np.concatenate(([0], np.cumsum([n for _, n in pairs], dtype=np.int64)))
        self.repairs = merged_measure(delivery.repairs)

    def within(self, a: int, b: int) -> tuple[int, int, int]:
        """Retransmitted segments, their bytes, and ns of repair inside ``[a, b]``."""
        i, j = bisect_left(self.t, a), bisect_right(self.t, b)
        return j - i, int(self.cum[j] - self.cum[i]), _overlap(self.repairs, a, b)


def _overlap(intervals: tuple, a: int, b: int) -> int:
    starts, ends = intervals
    total = 0
    for s, e in zip(starts.tolist(), ends.tolist()):
        if s < b and e > a:
            total += min(e, b) - max(s, a)
    return total


def _stall_ns(stalls: list, a: int, b: int) -> int:
    return _overlap(merged_measure(stalls), a, b) if stalls else 0


def _first_sample(samples: tuple, a, b):
    """The first ACK round trip (ns) of a segment captured in ``[a, b]``, or None."""
    times, rtts = samples
    if a is None or b is None or not times:
        return None
    i = bisect_left(times, a)
    return rtts[i] if i < len(times) and times[i] <= b else None


_ZERO, _UNKNOWN = (0, 0, 0), (None, None, None)
_NO_SAMPLES = ((), ())


def network_rows(c, exchanges: list, h2_stalls: tuple | None = None,
                 rtt: tuple | None = None, acks: bool = True) -> list[tuple]:
    """Per exchange, the :data:`NETWORK_RAW` values (ns, counts, bytes; None: not known) on
    connection ``c`` (a :class:`~inferwire.tcp.connections.Connection`).  ``h2_stalls``:
    the HTTP/2 flow-control stalls (:func:`~inferwire.exchanges.h2flow.connection_stalls`:
    connection-window stalls of the client's and the server's sending, then per stream id),
    ns intervals, or None (not HTTP/2); ``rtt``: ``(c.rtt_client_ns, c.rtt_server_ns)`` if
    the caller has them; ``acks`` False: the ACK round trips are left None (the caller looks
    them up for many connections at once: analysis.tables.ack_rtt)."""
    up_d, down_d = c.to_server.delivery, c.to_client.delivery
    stalled = bool(c.net and c.net[_ZERO_WINDOWS]) or (h2_stalls is not None and any(h2_stalls))
    if rtt is None:
        rtt = (c.rtt_client_ns, c.rtt_server_ns)
    samples_up, samples_down = c.both_rtt_samples() if acks else (_NO_SAMPLES, _NO_SAMPLES)
    if up_d is None and down_d is None and not stalled:     # the usual connection: no loss
        return _lossless_rows(exchanges, h2_stalls is not None, rtt, samples_up, samples_down)
    return _network_rows(c, exchanges, h2_stalls, rtt, samples_up, samples_down)


def _lossless_rows(exchanges, h2: bool, rtt: tuple, samples_up, samples_down) -> list[tuple]:
    """:func:`network_rows` of a connection without retransmissions, reordering or stalls:
    zeros where a phase is known, and the ACK round trips."""
    whole = (0, 0, 0, 0, 0, 0, 0, 0 if h2 else None, *rtt)     # both phases known
    up, down = bool(samples_up[0]), bool(samples_down[0])
    out = []
    for e in exchanges:
        a, b, s, d = e.req_start_ns, e.req_end_ns, e.resp_start_ns, e.resp_end_ns
        last = d if d is not None else b
        acks = (_first_sample(samples_down, a, last) if down else None,
                _first_sample(samples_up, a, last) if up else None)
        if a is not None and b is not None and s is not None and d is not None \
                and b >= a and d >= s:
            out.append(whole + acks)
            continue
        req = a is not None and b is not None and b >= a
        resp = s is not None and d is not None and d >= s
        out.append((*(_ZERO if req else _UNKNOWN), *(_ZERO if resp else _UNKNOWN),
                    0 if req or resp else None, (0 if h2 else None) if req or resp else None,
                    *rtt, *acks))
    return out


def _network_rows(c, exchanges, h2_stalls, rtt, samples_up, samples_down) -> list[tuple]:
    """:func:`network_rows` of a connection with retransmissions, reordering or stalls."""
    up = _Direction(c.to_server.delivery) if c.to_server.delivery is not None else None
    down = _Direction(c.to_client.delivery) if c.to_client.delivery is not None else None
    zero_up, zero_down = c.stalls()
    out = []
    for e in exchanges:
        a, b, s, d = e.req_start_ns, e.req_end_ns, e.resp_start_ns, e.resp_end_ns
        req = a is not None and b is not None and b >= a
        resp = s is not None and d is not None and d >= s
        sent = (up.within(a, b) if up else _ZERO) if req else _UNKNOWN
        got = (down.within(s, d) if down else _ZERO) if resp else _UNKNOWN
        zero = h2 = None
        if req or resp:
            zero = ((_stall_ns(zero_up, a, b) if req else 0)
                    + (_stall_ns(zero_down, s, d) if resp else 0))
            if h2_stalls is not None:
                conn_up, conn_down, streams_up, streams_down = h2_stalls
                h2 = ((_stall_ns(conn_up + streams_up.get(e.stream, []), a, b) if req else 0)
                      + (_stall_ns(conn_down + streams_down.get(e.stream, []), s, d)
                         if resp else 0))
        last = d if d is not None else b
        out.append((*sent, *got, zero, h2, *rtt, _first_sample(samples_down, a, last),
                    _first_sample(samples_up, a, last)))
    return out


def stalled_waits(c, exchanges: list) -> list:
    """Streams of the exchanges whose wait (``[request_end, response_start]``) overlaps a
    zero-window stall of the server's sending: the capture cannot tell whether the response
    was ready then, so that time stays in wait_ms and is said."""
    if not c.net or not c.net[_ZERO_WINDOWS]:
        return []
    stalls = merged_measure(c.stalls()[1])
    out = []
    for e in exchanges:
        b, s = e.req_end_ns, e.resp_start_ns
        if b is not None and s is not None and s > b and _overlap(stalls, b, s):
            out.append(e.stream)
    return out


#: The request columns of :data:`NETWORK_RAW`, in order, and whether each is a count (Int64).
NETWORK_COLUMNS = (("retrans_segments_to_server", True), ("retrans_bytes_to_server", True),
                   ("retrans_ms_to_server", False), ("retrans_segments_to_client", True),
                   ("retrans_bytes_to_client", True), ("retrans_ms_to_client", False),
                   ("zero_window_ms", False), ("h2_flow_stall_ms", False),
                   ("rtt_client_ms", False), ("rtt_server_ms", False),
                   ("ack_rtt_client_ms", False), ("ack_rtt_server_ms", False))


def connection_part(c, exchanges: list, h2_stalls: tuple | None, rtt: tuple) -> tuple:
    """What :func:`network_columns` needs of one connection's rows: ``(rows, rtt_client_ns,
    rtt_server_ns, HTTP/2, None)`` for a connection without retransmissions, reordering or
    stalls (its values follow from the phases), else its :func:`network_rows` (ACK round trips
    left to the caller) as the last item."""
    rows = network_rows(c, exchanges, h2_stalls, rtt, acks=False) if lossy(c, h2_stalls) else None
    return (len(exchanges), rtt[0], rtt[1], h2_stalls is not None, rows)


def lossy(c, h2_stalls: tuple | None) -> bool:
    """Whether connection ``c`` had retransmissions or reordering (a delivery), a zero window
    or an HTTP/2 flow-control stall (``h2_stalls``, :func:`~inferwire.exchanges.h2flow.
    connection_stalls`): else its requests' network columns follow from their phases alone."""
    return (c.to_server.delivery is not None or c.to_client.delivery is not None
            or bool(c.net and c.net[_ZERO_WINDOWS]) or (h2_stalls is not None and any(h2_stalls)))


def network_columns(parts: list, request_ms: np.ndarray, response_ms: np.ndarray) -> dict:
    """The :data:`NETWORK_COLUMNS` (name -> typed array) of the rows of ``parts``
    (:func:`connection_part`, in row order), vectorised: zeros where a phase is known on a
    connection without loss or stall, the connection's values elsewhere.  The ACK round trip
    columns come out empty (filled by the caller's look-up)."""
    counts = np.array([p[0] for p in parts], dtype=np.int64)
    rtts = [np.repeat(np.array([np.nan if p[i] is None else p[i] / 1e6 for p in parts],
                               dtype=np.float64), counts) for i in (1, 2)]
    h2 = np.repeat(np.array([p[3] for p in parts], dtype=bool), counts)
    starts = np.concatenate(([0], np.cumsum(counts))).tolist()
    overrides = [(at, p[4]) for p, at in zip(parts, starts) if p[4] is not None]
    return lossless_network_columns(request_ms, response_ms, h2, *rtts, overrides)


def lossless_network_columns(request_ms: np.ndarray, response_ms: np.ndarray, h2: np.ndarray,
                             rtt_client_ms: np.ndarray, rtt_server_ms: np.ndarray,
                             overrides: list = ()) -> dict:
    """:func:`network_columns` of rows given as arrays (one value per row): ``h2``, the
    connection is HTTP/2; the handshake round trips (ms, NaN: not known); ``overrides``:
    ``(first row, network_rows)`` of each lossy connection."""
    req, resp = ~np.isnan(request_ms), ~np.isnan(response_ms)
    either = req | resp
    nan = np.full(len(request_ms), np.nan)
    cols = [np.where(req, 0, -1), np.where(req, 0, -1), np.where(req, 0.0, nan),
            np.where(resp, 0, -1), np.where(resp, 0, -1), np.where(resp, 0.0, nan),
            np.where(either, 0.0, nan), np.where(either & h2, 0.0, nan),
            np.asarray(rtt_client_ms, dtype=np.float64).copy(),
            np.asarray(rtt_server_ms, dtype=np.float64).copy(), nan.copy(), nan.copy()]
    for at, rows in overrides:
        _override(cols, rows, at)
    return {name: (Masked(np.maximum(col, 0).astype(np.int64), col < 0, "Int64")
                   if count else col) for (name, count), col in zip(NETWORK_COLUMNS, cols)}


def _override(cols: list, rows: list, at: int) -> None:
    """Put one lossy connection's :func:`network_rows` values (ns, counts, None) in place."""
    for j, row in enumerate(rows):
        for k, ((_, count), v) in enumerate(zip(NETWORK_COLUMNS, row)):
            if k >= 10:                             # the ACK round trips: looked up apart
                break
            cols[k][at + j] = (-1 if v is None else v) if count else (
                np.nan if v is None else v / 1e6)
