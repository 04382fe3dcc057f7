"""Rows: one connection's request rows and its connection row, built from named fields.

A request row is a plain tuple (cheap to make by the hundred thousand and to send between
processes) whose fields are named once, in :data:`REQUEST_FIELDS`: the connection's values,
then every field of :class:`~inferwire.exchanges.exchange.Exchange` (read with one
``attrgetter``), then the connection's setup spans.  A connection row is a
dict of :data:`CONNECTION_ROW_FIELDS`, filled by name.  :mod:`inferwire.analysis.tables` turns the rows into
the tables' typed columns by these names: a column of :mod:`inferwire.columns` named like an
``Exchange`` or connection-row field is that field; the others are derived there by name.
"""
from __future__ import annotations

from operator import attrgetter, itemgetter

import numpy as np

from ..exchanges.exchange import EXCHANGE_FIELDS, ConnectionResult, ExchangeColumns
from ..exchanges.network import connection_part, lossy, stalled_waits
from ..problems import lines
from ..tcp import Connection
from ..tcp.connections import NET_FIELDS

#: The connection's values at the head of each of its request rows.
CONNECTION_FIELDS = ("connection", "client", "server", "tls")
#: The connection's setup spans (ns), on its first request's row only.
SETUP_FIELDS = ("tcp_handshake_ns", "tls_handshake_ns", "h2_setup_ns")
#: The fields of a request row, in order.
REQUEST_FIELDS = CONNECTION_FIELDS + EXCHANGE_FIELDS + SETUP_FIELDS
STREAM, REQUEST_ID, MESSAGES = (REQUEST_FIELDS.index(k) for k in ("stream", "request_id",
                                                                 "messages"))
_exchange_values = attrgetter(*EXCHANGE_FIELDS)
_NO_SETUP = (None,) * len(SETUP_FIELDS)
#: :attr:`Connection.net` of a connection not built by build_connections: nothing known.
_NO_NET = (None, None, None, None, None, 0, 0, None, None, 0)


#: The fields of a connection row (a dict, filled by name in :func:`connection_row`): the
#: connections table's columns, with times as int ns where the table has seconds or
#: milliseconds (converted column-wise in :func:`inferwire.analysis.tables.connection_columns`).
CONNECTION_ROW_FIELDS = (
    "connection", "client", "server", "protocol", "tls", "tls_version", "alpn", "sni", "syn_ns",
    "start_seen", "first_ns", "last_ns", "tcp_handshake_ns", "tls_handshake_ns", "h2_setup_ns",
    "requests", "packets", "bytes_to_server", "bytes_to_client", "retransmissions",
    "missing_bytes", "retrans_bytes", "out_of_order", "dup_acks", "zero_windows", "mss_client",
    "mss_server", "wscale_client", "wscale_server", "sack_permitted",
    "max_in_flight_to_server_bytes", "max_in_flight_to_client_bytes", "rtt_client_ns",
    "rtt_server_ns", "vantage", "end", "warnings")


def connection_rows(c: Connection, r: ConnectionResult) -> tuple[list[tuple], dict,
                                                                  list[str], tuple]:
    """One connection's request rows (:data:`REQUEST_FIELDS`), its connection row, its warnings
    and what its rows' network columns need (:func:`~inferwire.exchanges.network.connection_part`):
    plain values, cheap to send between processes.  The connection number in the rows is
    ``c.index`` (its bucket's; renumbered once all buckets are done)."""
    exchanges = r.exchanges
    if isinstance(exchanges, ExchangeColumns):
        if _columns_fit(c, r):
            return _column_rows(c, r)
        exchanges = exchanges.objects()
    if len(exchanges) > 1:
        exchanges = sorted(exchanges, key=lambda e: (e.req_start_ns is None,
                                                     e.req_start_ns or 0, e.stream or 0))
    client, server = str(c.client), str(c.server)
    first, backwards = _setup_times(c.tcp_handshake_ns, r.tls_handshake_ns, r.h2_setup_ns)
    head = (c.index, client, server, r.tls)
    req_rows, incomplete, disordered = [], 0, []
    rtt = (c.rtt_client_ns, c.rtt_server_ns)
    net = connection_part(c, exchanges, r.h2_stalls, rtt)
    for i, e in enumerate(exchanges):
        req_rows.append(head + _exchange_values(e) + (first if i == 0 else _NO_SETUP))
        if not e.complete:
            incomplete += 1
        if _disordered(e.req_start_ns, e.req_end_ns, e.resp_start_ns, e.resp_end_ns):
            disordered.append(e.stream)
    # the exchanges' Problems as lines, prefixed with the connection's number later
    warnings = c.warnings + lines(r.warnings) + backwards
    warnings += _retransmission_notes(c, exchanges)
    if exchanges or disordered:
        warnings = warnings + _partial_notes(c, len(exchanges), incomplete, disordered)
    row = connection_row(c, r, len(exchanges), client, server, warnings, first, rtt)
    return req_rows, row, warnings, net


#: The fewest exchanges a connection's rows are made as columns for: turning them into the
#: table's typed columns has a fixed cost (about 1 ms), which a few rows do not repay.
ROW_COLUMNS_MIN = 256


class RowColumns:
    """One connection's request rows as columns: ``columns`` maps each of
    :data:`REQUEST_FIELDS` to a list of its values, in the rows' order (what
    :func:`connection_rows` gives for a connection whose exchanges came as
    :class:`~inferwire.exchanges.exchange.ExchangeColumns`, instead of row tuples)."""

    def __init__(self, columns: dict):
        self.columns = columns

    def __len__(self) -> int:                   # the number of rows, as for a list of rows
        return len(self.columns["connection"])


def _columns_fit(c: Connection, r: ConnectionResult) -> bool:
    """Whether ``r``'s exchange columns become row columns as they are: no streamed exchange
    (its messages are rows of their own) and a connection whose network columns follow from
    the phases (:func:`~inferwire.exchanges.network.lossy`: no exchange is needed for them)."""
    return (len(r.exchanges) >= ROW_COLUMNS_MIN and not lossy(c, r.h2_stalls)
            and all(m is None for m in r.exchanges.columns["messages"]))


def _column_rows(c: Connection, r: ConnectionResult) -> tuple[RowColumns, dict, list[str],
                                                               tuple]:
    """:func:`connection_rows` of exchanges given as columns (:func:`_columns_fit`): the same
    rows, in the same order, as columns; no object or tuple per exchange."""
    cols, n = r.exchanges.columns, len(r.exchanges)
    start, stream = cols["req_start_ns"], cols["stream"]
    order = np.lexsort((np.array([s or 0 for s in stream], dtype=np.int64),
                        np.array([t or 0 for t in start], dtype=np.int64),
                        np.array([t is None for t in start], dtype=bool)))
    taken = list                                # in order already: the usual case
    if n > 1 and not (order[1:] > order[:-1]).all():
        pick = itemgetter(*order.tolist())

        def taken(values):
            return list(pick(values))
    client, server = str(c.client), str(c.server)
    first, backwards = _setup_times(c.tcp_handshake_ns, r.tls_handshake_ns, r.h2_setup_ns)
    rows = {"connection": [c.index] * n, "client": [client] * n, "server": [server] * n,
            "tls": [r.tls] * n}
    for name in EXCHANGE_FIELDS:
        rows[name] = taken(cols[name])
    for name, value in zip(SETUP_FIELDS, first):
        rows[name] = [value] + [None] * (n - 1) if n else []
    incomplete = n - sum(rows["complete"])
    disordered = [s for s, a, b, x, d in zip(rows["stream"], rows["req_start_ns"],
                                             rows["req_end_ns"], rows["resp_start_ns"],
                                             rows["resp_end_ns"]) if _disordered(a, b, x, d)]
    rtt = (c.rtt_client_ns, c.rtt_server_ns)
    warnings = (c.warnings + lines(r.warnings) + backwards + _retransmission_notes(c, [])
                + (_partial_notes(c, n, incomplete, disordered) if n else []))
    row = connection_row(c, r, n, client, server, warnings, first, rtt)
    return RowColumns(rows), row, warnings, (n, rtt[0], rtt[1], r.h2_stalls is not None, None)


def _disordered(a, b, s, d) -> bool:
    """Whether request start/end ``a``/``b`` and response start/end ``s``/``d`` (ns or None)
    are out of causal order."""
    try:
        return b < a or d < s or s < a
    except TypeError:                   # a time is unknown: compare the known ones
        return _out_of_order(a, b, s, d)


def _retransmission_notes(c: Connection, exchanges: list) -> list[str]:
    """Warnings about retransmitted bytes that differ, deliveries the capture cannot tell
    (:attr:`~inferwire.tcp.delivery.Delivery.uncertain`), and waits held back by a zero
    window."""
    notes = []
    differing = c.to_server.differing_segments + c.to_client.differing_segments
    if differing:
        notes.append(f"{differing} retransmitted segment{'s' if differing > 1 else ''} "
                     "whose repeated bytes differ from the first copy: the first "
                     "copy's bytes are kept")
    for sender, stream in (("the client", c.to_server), ("the server", c.to_client)):
        d = stream.delivery
        if d is not None and d.uncertain:
            notes.append(f"{d.uncertain} segment{'s' if d.uncertain > 1 else ''} of "
                         f"{sender}'s sent twice or more with no ACK telling which copy got "
                         "through (none between the copies, none naming one): the latest is "
                         f"taken, up to {d.uncertain_ns / 1e6:.3g} ms after the earliest (a "
                         "capture on the other host has the arrival)")
    waits = stalled_waits(c, exchanges) if c.net and c.net[_ZERO_WINDOWS] else ()
    if waits:
        notes.append(f"the client's zero window held back the server during the wait "
                     f"of {len(waits)} request(s) (stream {', '.join(map(str, waits[:5]))}"
                     "): that time is in wait_ms, the capture cannot tell whether the "
                     "response was ready")
    return notes


_ZERO_WINDOWS = NET_FIELDS.index("zero_windows")


def _setup_times(*spans) -> tuple[tuple, list[str]]:
    """The TCP handshake, TLS handshake and HTTP/2 setup spans (ns), a negative one (its packets'
    time stamps out of causal order) left empty; and a warning naming each one left empty."""
    names = ("tcp_handshake_ms", "tls_handshake_ms", "h2_setup_ms")
    bad = [name for name, span in zip(names, spans) if span is not None and span < 0]
    if not bad:
        return spans, []
    kept = tuple(None if span is not None and span < 0 else span for span in spans)
    return kept, [f"time stamps out of causal order (the end before the start): "
                  f"{', '.join(bad)} left empty"]


def _out_of_order(a, b, s, d) -> bool:
    """Whether the known ones of request start ``a``, request end ``b``, response start ``s``
    and response end ``d`` contradict the order bytes must have been sent in: an end before
    its start, a response begun or ended before its request began.  (A response begun before
    the request's end is possible, e.g. an early error or a streaming call.)"""
    return any(x is not None and y is not None and y < x
               for x, y in ((a, b), (s, d), (a, s), (a, d)))


def _partial_notes(c: Connection, n: int, incomplete: int, disordered: list) -> list[str]:
    """What the rows of a partly captured connection lack, and why (empty when nothing)."""
    notes = []
    if not c.syn_seen:
        notes.append("connection already open when the capture began (no SYN): no handshake "
                     "times, and requests sent before the capture are not in the table")
    if incomplete:
        why = {"open": " (the capture ended before the connection did)",
               "rst": " (the connection was reset)"}.get(c.end, "")
        notes.append(f"{incomplete} of {n} request{'s' if n > 1 else ''} not seen to "
                     f"{'their' if incomplete > 1 else 'its'} end{why}: "
                     "times and sizes not seen are left empty")
    if disordered:
        notes.append(f"{len(disordered)} request{'s' if len(disordered) > 1 else ''} (stream "
                     f"{', '.join(map(str, disordered[:5]))}{', ...' if len(disordered) > 5 else ''}"
                     ") with packet time stamps out of order (a response stamped before its "
                     "request, or an end before its start): the durations that would be "
                     "negative are left empty")
    return notes


def connection_row(c: Connection, r: ConnectionResult, n_requests: int, client: str,
                   server: str, warnings: list, setup: tuple,
                   rtt: tuple | None = None) -> dict:
    """``setup``: the TCP handshake, TLS handshake and HTTP/2 setup spans of
    :func:`_setup_times`; ``rtt``: the handshake's client- and server-side round trips (ns)."""
    up, down = c.to_server, c.to_client
    missing = 0
    for st in (up, down):
        for g in st.gaps():
            missing += g.end - g.start
        for s, e in st.uncaptured:
            missing += e - s
    retrans = retrans_bytes = ooo = 0
    for st in (up, down):
        if st.delivery is not None:
            retrans += len(st.delivery.retrans_t)
            retrans_bytes += sum(st.delivery.retrans_bytes)
            ooo += st.delivery.out_of_order
    net = c.net or _NO_NET
    flight_up, flight_down = net[_IN_FLIGHT_TO_SERVER], net[_IN_FLIGHT_TO_CLIENT]
    if c.swapped:
        flight_up, flight_down = flight_down, flight_up
    rtt_client, rtt_server = rtt if rtt is not None else (c.rtt_client_ns, c.rtt_server_ns)
    tcp_ns, tls_ns, h2_ns = setup
    return {"connection": c.index, "client": client, "server": server,
            "protocol": r.protocol, "tls": r.tls, "tls_version": r.tls_version, "alpn": r.alpn,
            "sni": r.sni, "syn_ns": c.syn_ns, "start_seen": c.syn_seen, "first_ns": c.first_ns,
            "last_ns": c.last_ns, "tcp_handshake_ns": tcp_ns, "tls_handshake_ns": tls_ns,
            "h2_setup_ns": h2_ns, "requests": n_requests, "packets": c.packets,
            "bytes_to_server": up.nbytes, "bytes_to_client": down.nbytes,
            "retransmissions": retrans + net[_CONTROL_RETRANSMISSIONS],
            "missing_bytes": missing, "retrans_bytes": retrans_bytes, "out_of_order": ooo,
            "dup_acks": net[_DUP_ACKS], "zero_windows": net[_ZERO_WINDOWS],
            "mss_client": net[_MSS_CLIENT], "mss_server": net[_MSS_SERVER],
            "wscale_client": net[_WSCALE_CLIENT], "wscale_server": net[_WSCALE_SERVER],
            "sack_permitted": net[_SACK_PERMITTED], "max_in_flight_to_server_bytes": flight_up,
            "max_in_flight_to_client_bytes": flight_down, "rtt_client_ns": rtt_client,
            "rtt_server_ns": rtt_server, "vantage": _vantage(rtt_client, rtt_server),
            "end": c.end, "warnings": "; ".join(warnings) if warnings else ""}


(_MSS_CLIENT, _MSS_SERVER, _WSCALE_CLIENT, _WSCALE_SERVER, _SACK_PERMITTED, _DUP_ACKS,
 _IN_FLIGHT_TO_SERVER, _IN_FLIGHT_TO_CLIENT, _CONTROL_RETRANSMISSIONS) = map(NET_FIELDS.index, (
    "mss_client", "mss_server", "wscale_client", "wscale_server", "sack_permitted", "dup_acks",
    "in_flight_to_server", "in_flight_to_client", "control_retransmissions"))


def _vantage(rtt_client: int | None, rtt_server: int | None) -> str:
    """Which host the capture point is nearer, from the handshake's two round trips: "client",
    "server", or "" (not known, or the same)."""
    if rtt_client is None or rtt_server is None or rtt_client == rtt_server:
        return ""
    return "client" if rtt_client < rtt_server else "server"
