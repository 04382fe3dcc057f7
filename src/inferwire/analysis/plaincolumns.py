"""The requests and connections tables' columns of a bucket's one-request HTTP/1 connections,
made column-wise from a :class:`~inferwire.exchanges.plainbatch.PlainBatch`.

What :func:`~inferwire.analysis.rows.connection_rows` makes of one such connection (a request
row, a connection row, a network part), here for all of them at once: each field an array over
the batch, from the bucket's per-connection columns (:func:`~inferwire.tcp.grouping.
connection_facts`, :attr:`~inferwire.tcp.connections.ConnectionSet.net`).  The rows that would
carry a warning (a time unknown or out of order, a negative handshake, a zero window) are not
made here: :func:`plain_columns` says which, and the caller reads them the per-connection way.
``tests/analysis/test_plaincolumns.py`` compares the tables with those of the row path.
"""
from __future__ import annotations

import numpy as np

from ..arrays import Masked
from ..columns import CONNECTION_COLUMNS, REQUEST_COLUMNS
from ..exchanges.messages import MESSAGE_STAT_COLUMNS
from ..exchanges.network import lossless_network_columns
from ..tcp.connections import NET_FIELDS
from ..tcp.grouping import NO_ROW
from .tables import (ack_rtt, connection_columns, connection_time_columns, phase_columns,
                     request_columns, typed, typed_columns)

_NET = {name: i for i, name in enumerate(NET_FIELDS)}


def plain_columns(found, batch) -> tuple[np.ndarray, dict, dict, int]:
    """``(taken, request columns, connection columns, packets)`` of the connections of
    ``batch`` (of ``found``, a :class:`~inferwire.tcp.connections.ConnectionSet`): ``taken``,
    a bool per batch row, those whose rows are in the columns (one request row and one
    connection row each, in batch order); ``packets``: how many packets they hold."""
    if not len(batch):                  # (a bucket without such connections: no columns)
        return np.zeros(0, dtype=bool), request_columns([]), connection_columns([]), 0
    f = found.facts
    k = batch.k
    times = batch.times
    a, b, s, d = times.T
    net = np.array([found.net[j] for j in k.tolist()], dtype=object).reshape(-1, len(NET_FIELDS))
    zero = net[:, _NET["zero_windows"]].astype(np.int64)
    syn, ack = _known_ns(f["syn_ns"][k]), _known_ns(f["handshake_ack_ns"][k])
    untimed = f["syn_untimed"][k].astype(bool)
    handshake_known = syn[1] & ack[1] & ~untimed
    handshake = np.where(handshake_known, ack[0] - syn[0], 0)
    taken = (batch.complete & (b >= a) & (d >= s) & (s >= a) & (zero == 0)
             & ~(handshake_known & (handshake < 0)))
    rows = np.flatnonzero(taken)
    k = k[rows]
    net = net[rows]
    n = len(rows)
    handshake, handshake_known = handshake[rows], handshake_known[rows]
    syn = (syn[0][rows], syn[1][rows])
    rtt_server, rtt_client = _handshake_rtts(f, k)
    client, server = found.endpoint_texts(k)
    index = batch.index[rows]
    nothing = [None] * n

    # -- the requests table
    ns = {name: (times[rows, i], np.ones(n, dtype=bool)) for i, name in enumerate(
        ("req_start_ns", "req_end_ns", "resp_start_ns", "resp_end_ns"))}
    ns["tcp_handshake_ns"] = (handshake, handshake_known)
    ns["tls_handshake_ns"] = ns["h2_setup_ns"] = (np.zeros(n, dtype=np.int64),
                                                  np.zeros(n, dtype=bool))
    derived = phase_columns(ns)
    derived.update(lossless_network_columns(
        derived["request_ms"], derived["response_ms"], np.zeros(n, dtype=bool),
        _ms(*rtt_client), _ms(*rtt_server)))
    ack_rtt(derived, ns, found.dirs, 2 * k, 2 * k + 1)
    picked = rows.tolist()
    raw = {"connection": index, "client": client, "server": server, "tls": _bools(False, n),
           "protocol": ["http/1.1"] * n, "stream": _ints(np.ones(n, dtype=np.int64)),
           "method": [batch.method[i] for i in picked], "path": [batch.path[i] for i in picked],
           "status": _ints(batch.status[rows]), "grpc_status": _ints(None, n),
           "request_id": [batch.request_id[i] for i in picked],
           "request_bytes": _ints(batch.request_bytes[rows]),
           "response_bytes": _ints(batch.response_bytes[rows]),
           "request_frame": _ints(batch.frames[rows, 0]),
           "response_frame": _ints(batch.frames[rows, 1]),
           "interim_responses": _ints(np.zeros(n, dtype=np.int64)),
           "inferred": _bools(False, n), "complete": _bools(True, n), "error": nothing}
    raw.update((name, nothing) for name in MESSAGE_STAT_COLUMNS)
    requests = typed_columns(REQUEST_COLUMNS, raw, derived)

    # -- the connections table
    lists = {name: net[:, i] for name, i in _NET.items()}
    cns = {"syn_ns": syn, "first_ns": _known_ns(f["first_ns"][k]),
           "last_ns": (np.maximum(f["last_ns"][k], 0), f["last_ns"][k] >= 0),
           "tcp_handshake_ns": ns["tcp_handshake_ns"], "tls_handshake_ns": ns["tls_handshake_ns"],
           "h2_setup_ns": ns["h2_setup_ns"], "rtt_client_ns": rtt_client,
           "rtt_server_ns": rtt_server}
    flags = np.where(f["has_rst"][k], 2, np.where(f["has_fin"][k], 1, 0))
    vantage = np.where(rtt_client[1] & rtt_server[1] & (rtt_client[0] != rtt_server[0]),
                       np.where(rtt_client[0] < rtt_server[0], 1, 2), 0)
    zeros = np.zeros(n, dtype=np.int64)
    nbytes = np.asarray(found.dirs.nbytes, dtype=np.int64)
    conn_raw = {
        "connection": index, "client": client, "server": server, "protocol": ["http/1.1"] * n,
        "tls": _bools(False, n), "tls_version": nothing, "alpn": nothing, "sni": nothing,
        "start_seen": _bools(True, n), "requests": np.ones(n, dtype=np.int64),
        "packets": f["packets"][k].astype(np.int64),
        "bytes_to_server": nbytes[2 * k], "bytes_to_client": nbytes[2 * k + 1],
        "retransmissions": lists["control_retransmissions"].astype(np.int64),
        "missing_bytes": zeros, "retrans_bytes": zeros, "out_of_order": zeros,
        "dup_acks": lists["dup_acks"].astype(np.int64),
        "zero_windows": zeros, "mss_client": _nullable(lists["mss_client"]),
        "mss_server": _nullable(lists["mss_server"]),
        "wscale_client": _nullable(lists["wscale_client"]),
        "wscale_server": _nullable(lists["wscale_server"]),
        "sack_permitted": typed(lists["sack_permitted"].tolist(), "boolean"),
        "max_in_flight_to_server_bytes": _nullable(lists["in_flight_to_server"]),
        "max_in_flight_to_client_bytes": _nullable(lists["in_flight_to_client"]),
        "vantage": np.array(["", "client", "server"], dtype=object)[vantage].tolist(),
        "end": np.array(["open", "fin", "rst"], dtype=object)[flags].tolist(),
        "warnings": [""] * n}
    connections = typed_columns(CONNECTION_COLUMNS, conn_raw, connection_time_columns(cns))
    return taken, requests, connections, int(conn_raw["packets"].sum())


def _handshake_rtts(f: dict, k: np.ndarray) -> tuple[tuple, tuple]:
    """The handshake's round trips of the connections ``k``
    (:func:`~inferwire.tcp.grouping.handshake_round_trips`): ``((server ns, known), (client
    ns, known))``."""
    return _known_ns(f["rtt_server_ns"][k]), _known_ns(f["rtt_client_ns"][k])


def _known_ns(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A per-connection time column (``NO_ROW``: none) as ``(ns, known)``."""
    values = np.asarray(values, dtype=np.int64)
    known = values != NO_ROW
    return np.where(known, values, 0), known


def _ms(ns: np.ndarray, known: np.ndarray) -> np.ndarray:
    return np.where(known, ns / 1e6, np.nan)


def _ints(values, n: int = 0):
    """An "Int64" column: ``values`` (all known), or ``n`` empty ones (``values`` None)."""
    if values is None:
        return Masked(np.zeros(n, dtype=np.int64), np.ones(n, dtype=bool), "Int64")
    values = np.asarray(values, dtype=np.int64)
    return Masked(values, np.zeros(len(values), dtype=bool), "Int64")


def _bools(value: bool, n: int):
    """A "boolean" column of ``n`` times ``value``."""
    return Masked(np.full(n, value), np.zeros(n, dtype=bool), "boolean")


def _nullable(values: np.ndarray):
    """A :data:`NET_FIELDS` value (int or None) as an "Int64" column."""
    missing = np.array([v is None for v in values.tolist()], dtype=bool)
    return Masked(np.where(missing, 0, values).astype(np.int64), missing, "Int64")
