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

from ..tcp.delivery import merged_measure

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


def network_rows(c, exchanges: list, h2_stalls: tuple | None = None) -> list[tuple]:
    """Per exchange, the :data:`NETWORK_RAW` values (ns, counts, bytes; None: not known) on
    connection ``c`` (a :class:`~inferwire.tcp.connections.Connection`).  ``h2_stalls``:
    the HTTP/2 flow-control stalls ``(client's sending, server's sending)``, ns intervals,
    or None (not HTTP/2)."""
    up = _Direction(c.to_server.delivery) if c.to_server.delivery is not None else None
    down = _Direction(c.to_client.delivery) if c.to_client.delivery is not None else None
    zero_up, zero_down = c.stalls()
    rtt = (c.rtt_client_ns, c.rtt_server_ns)
    samples_up, samples_down = c.rtt_samples(True), c.rtt_samples(False)
    out = []
    for e in exchanges:
        a, b, s, d = e.req_start_ns, e.req_end_ns, e.resp_start_ns, e.resp_end_ns
        req = a is not None and b is not None and b >= a
        resp = s is not None and d is not None and d >= s
        sent = ((up.within(a, b) if up else (0, 0, 0)) if req else (None, None, None))
        got = ((down.within(s, d) if down else (0, 0, 0)) if resp else (None, None, None))
        zero = h2 = None
        if req or resp:
            zero = ((_stall_ns(zero_up, a, b) if req else 0)
                    + (_stall_ns(zero_down, s, d) if resp else 0))
            if h2_stalls is not None:
                h2 = ((_stall_ns(h2_stalls[0], a, b) if req else 0)
                      + (_stall_ns(h2_stalls[1], s, d) if resp else 0))
        last = d if d is not None else b
        out.append((*sent, *got, zero, h2, *rtt, _first_sample(samples_down, a, last),
                    _first_sample(samples_up, a, last)))
    return out
