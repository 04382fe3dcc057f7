"""Rows -> typed columns: the requests, connections and messages tables' columns, each typed as
:mod:`inferwire.columns` declares it.

The rows' fields are read by name (:data:`~inferwire.analysis.rows.REQUEST_FIELDS`,
:data:`~inferwire.analysis.rows.CONNECTION_ROW_FIELDS`, :func:`~inferwire.exchanges.message_columns.table_columns`);
a column named like a field is that field, and the derived ones (times in s and as UTC
Timestamps, durations in ms, the network and message statistics) are made here, column-wise.
"""
from __future__ import annotations

from operator import itemgetter

import numpy as np
import pyarrow as pa

from .. import arrowcalls as ac
from ..arrays import (Instants, Masked, Table, arrow_of, dtype_of, instants, is_plain,
                      pandas_loaded, texts_of)
from ..columns import CONNECTION_COLUMNS, MESSAGE_COLUMNS, REQUEST_COLUMNS, UTC_DTYPE
from ..exchanges.message_columns import table_columns
from ..exchanges.messages import MESSAGE_STAT_COLUMNS, message_stats
from ..exchanges.network import network_columns
from .rows import CONNECTION_ROW_FIELDS, REQUEST_FIELDS

_connection_values = itemgetter(*CONNECTION_ROW_FIELDS)


def _transposed(rows: list[tuple], names: tuple) -> dict:
    """{field name: list of its values} of ``rows`` (tuples of the fields ``names``)."""
    if not rows:
        return {k: [] for k in names}
    return dict(zip(names, map(list, zip(*rows))))


def ns_column(values) -> tuple[np.ndarray, np.ndarray]:
    """int64 ns (0 where None) and the mask of known values: differences stay exact."""
    try:                            # no None: most time columns
        known_all = np.array(values, dtype=np.int64)
        return known_all, np.ones(len(known_all), dtype=bool)
    except TypeError:
        objects = np.array(values, dtype=object)
        known = objects != None     # noqa: E711 -- element-wise
        return np.where(known, objects, 0).astype(np.int64), known


def _utc(ns: np.ndarray, known: np.ndarray) -> Instants:
    """int ns since the epoch as a datetime64[ns, UTC] column (NaT where not known): exact."""
    return instants(ns, known)


def _seconds(ns: dict, k: str) -> np.ndarray:
    v, known = ns[k]
    return np.where(known, v / 1e9, np.nan)


def _ms(ns: dict, k: str) -> np.ndarray:
    v, known = ns[k]
    return np.where(known, v / 1e6, np.nan)


def request_frame(rows: list[tuple]):
    """The requests table (a DataFrame) of request rows
    (:data:`~inferwire.analysis.rows.REQUEST_FIELDS`)."""
    return Table(request_columns(rows)).frame()


#: The request rows' time fields (ns), turned into the tables' seconds, UTC stamps and ms.
REQUEST_NS_FIELDS = ("req_start_ns", "req_end_ns", "resp_start_ns", "resp_end_ns",
                     "tcp_handshake_ns", "tls_handshake_ns", "h2_setup_ns")


def request_columns(rows: list[tuple], parts: list | None = None,
                    acks: tuple | None = None) -> dict:
    """The requests table's columns (name -> typed array) from request rows, their network
    parts (None: no rows) and ACK round trip look-up (see :func:`ack_rtt`)."""
    return request_columns_of(_transposed(rows, REQUEST_FIELDS), parts, acks)


def request_columns_of(raw: dict, parts: list | None = None,
                       acks: tuple | None = None) -> dict:
    """:func:`request_columns` of rows given as columns: ``raw`` maps each of
    :data:`~inferwire.analysis.rows.REQUEST_FIELDS` to a list of its values (the ``columns``
    of a :class:`~inferwire.analysis.rows.RowColumns`; not changed)."""
    raw = dict(raw)
    ns = {k: ns_column(raw[k]) for k in REQUEST_NS_FIELDS}
    derived = phase_columns(ns)
    derived.update(network_columns(parts or [], derived["request_ms"], derived["response_ms"]))
    if acks is not None and raw["connection"]:
        dirs, ids = acks
        counts = [p[0] for p in parts]
        up = np.repeat(np.array([i[0] for i in ids], dtype=np.int64), counts)
        down = np.repeat(np.array([i[1] for i in ids], dtype=np.int64), counts)
        ack_rtt(derived, ns, dirs, up, down)
    if any(m is not None for m in raw["messages"]):      # a streamed request (else all empty)
        raw.update(message_stats(raw["messages"], raw["req_end_ns"], raw["protocol"],
                                 raw["grpc_status"]))
    else:
        raw.update(dict.fromkeys(MESSAGE_STAT_COLUMNS, [None] * len(raw["messages"])))
    return typed_columns(REQUEST_COLUMNS, raw, derived)


def phase_columns(ns: dict) -> dict:
    """The requests table's time columns (s, UTC, ms) of the time fields ``ns``
    (:data:`REQUEST_NS_FIELDS` -> :func:`ns_column` pairs)."""
    def diff(a, b, after=None):
        # b - a where both are known and the packets' time stamps are in causal order
        # (b not before a; for wait_ms: the response not before the request's start)
        (va, ka), (vb, kb) = ns[a], ns[b]
        va_, ka_ = ns[after] if after else (va, ka)
        ok = ka & kb & (~ka_ | (vb >= va_))
        return np.where(ok, (vb - va) / 1e6, np.nan)
    return {"request_start": _seconds(ns, "req_start_ns"),
            "request_end": _seconds(ns, "req_end_ns"),
            "response_start": _seconds(ns, "resp_start_ns"),
            "response_end": _seconds(ns, "resp_end_ns"),
            "request_start_utc": _utc(*ns["req_start_ns"]),
            "request_end_utc": _utc(*ns["req_end_ns"]),
            "response_start_utc": _utc(*ns["resp_start_ns"]),
            "response_end_utc": _utc(*ns["resp_end_ns"]),
            "request_ms": diff("req_start_ns", "req_end_ns"),
            "wait_ms": diff("req_end_ns", "resp_start_ns", after="req_start_ns"),
            "response_ms": diff("resp_start_ns", "resp_end_ns"),
            "total_ms": diff("req_start_ns", "resp_end_ns"),
            "tcp_handshake_ms": _ms(ns, "tcp_handshake_ns"),
            "tls_handshake_ms": _ms(ns, "tls_handshake_ns"),
            "h2_setup_ms": _ms(ns, "h2_setup_ns")}


def ack_rtt(columns: dict, ns: dict, dirs, up: np.ndarray, down: np.ndarray) -> None:
    """Fill the requests' ack_rtt_client_ms / ack_rtt_server_ms in one vectorised look-up in
    ``dirs`` (the bucket's :class:`~inferwire.tcp.grouping.Directions`): ``up``/``down``, each
    row's direction numbers of the client's and the server's data
    (:meth:`~inferwire.tcp.connections.Connection.rtt_directions`); ``ns``: the time columns."""
    (start, k_start), (req_end, k_req), (resp_end, k_resp) = (ns[k] for k in (
        "req_start_ns", "req_end_ns", "resp_end_ns"))
    start = np.where(k_start, start, -1)
    stop = np.where(k_resp, resp_end, np.where(k_req, req_end, -1))
    for name, d in (("ack_rtt_client_ms", down), ("ack_rtt_server_ms", up)):
        v = dirs.first_rtt(d, start, stop)
        columns[name] = np.where(v >= 0, v / 1e6, np.nan)


def message_columns(rows: list[tuple]) -> dict:
    """The messages table's columns (name -> typed array) of the streamed requests ``rows``
    ((connection, stream, request_id, messages) each, :func:`~inferwire.exchanges.
    message_columns.table_columns`)."""
    raw = table_columns(rows)
    values, known = raw["stream"]
    raw["stream"] = Masked(values, ~known, "Int64")
    for name in ("request_id", "direction", "kind"):
        raw[name] = coded_strings(*raw[name])
    derived = {name: np.where(raw[key] >= 0, raw[key] / 1e9, np.nan)
               for name, key in (("start", "start_ns"), ("end", "end_ns"))}
    return typed_columns(MESSAGE_COLUMNS, raw, derived)


def coded_strings(texts, codes: np.ndarray):
    """``texts[codes]`` as a "string" column: the few texts converted once and taken by code
    in Arrow (a million messages: 10 ms, not the 70 ms of a million Python strings)."""
    try:
        return ac.take(texts_of(list(texts)), arrow_of(np.asarray(codes)))
    except (TypeError, pa.ArrowTypeError, pa.ArrowInvalid):
        return typed(np.array(list(texts) or [None], object)[:len(texts)][codes], "string")


def message_frame(rows: list[tuple]):
    """The messages table (a DataFrame) of the streamed requests ``rows`` (as
    :func:`message_columns`)."""
    return Table(message_columns(rows)).frame()


def connection_frame(rows: list[dict]):
    """The connections table (a DataFrame) of connection rows
    (:func:`~inferwire.analysis.rows.connection_row`)."""
    return Table(connection_columns(rows)).frame()


#: The connection rows' time fields (ns), turned into the table's seconds, UTC stamps and ms.
CONNECTION_NS_FIELDS = ("syn_ns", "first_ns", "last_ns", "tcp_handshake_ns", "tls_handshake_ns",
                        "h2_setup_ns", "rtt_client_ns", "rtt_server_ns")


def connection_columns(rows: list[dict]) -> dict:
    """The connections table's columns (name -> typed array) from connection rows (dicts of
    :data:`~inferwire.analysis.rows.CONNECTION_ROW_FIELDS`)."""
    raw = _transposed(list(map(_connection_values, rows)), CONNECTION_ROW_FIELDS)
    ns = {k: ns_column(raw[k]) for k in CONNECTION_NS_FIELDS}
    return typed_columns(CONNECTION_COLUMNS, raw, connection_time_columns(ns))


def connection_time_columns(ns: dict) -> dict:
    """The connections table's time columns (s, UTC, ms) of the time fields ``ns``
    (:data:`CONNECTION_NS_FIELDS` -> :func:`ns_column` pairs)."""
    (first, kf), (last, kl) = ns["first_ns"], ns["last_ns"]
    return {"syn_time": _seconds(ns, "syn_ns"), "first_time": _seconds(ns, "first_ns"),
            "last_time": _seconds(ns, "last_ns"), "syn_utc": _utc(*ns["syn_ns"]),
            "first_utc": _utc(*ns["first_ns"]), "last_utc": _utc(*ns["last_ns"]),
            "duration_ms": np.where(kf & kl, (last - first) / 1e6, np.nan),
            "tcp_handshake_ms": _ms(ns, "tcp_handshake_ns"),
            "tls_handshake_ms": _ms(ns, "tls_handshake_ns"),
            "h2_setup_ms": _ms(ns, "h2_setup_ns"), "rtt_client_ms": _ms(ns, "rtt_client_ns"),
            "rtt_server_ms": _ms(ns, "rtt_server_ns")}


def typed_columns(columns, raw: dict, derived: dict) -> dict:
    """name -> array of each of ``columns``: from ``derived`` (arrays) or ``raw`` (lists),
    typed as the column says."""
    return {col.name: typed(derived[col.name] if col.name in derived else raw[col.name],
                            col.dtype) for col in columns}


def _masked(values, dtype: str) -> Masked | None:
    """A list (or array) of ints (``"Int64"``) or bools (``"boolean"``) and None as the
    :class:`~inferwire.arrays.Masked` column of what ``pd.array`` makes of it, converted in C;
    None for any other values (``pd.array`` then converts them, and names what is wrong)."""
    arr = np.array(values)
    if arr.ndim != 1:
        return None
    if not len(arr):
        return Masked(np.zeros(0, np.bool_ if dtype == "boolean" else np.int64),
                      np.zeros(0, dtype=bool), dtype)
    if arr.dtype == object:
        known = arr != None             # noqa: E711 -- element-wise
        inner = np.array(arr[known].tolist())
        if len(inner) and (inner.ndim != 1 or inner.dtype.kind not in _KINDS[dtype]):
            return None
        # under a missing value: 1 in an Int64 array, False in a boolean one, as pd.array has
        data = (np.zeros(len(arr), np.bool_) if dtype == "boolean"
                else np.ones(len(arr), np.int64))
        data[known] = inner
        mask = ~known
    elif arr.dtype.kind in _KINDS[dtype] and len(arr):
        data = arr.astype(np.bool_ if dtype == "boolean" else np.int64)
        mask = np.zeros(len(arr), dtype=bool)
    else:
        return None
    return Masked(data, mask, dtype)


#: The numpy kinds each nullable type takes as they are: Int64 takes bools as 1 and 0, as
#: pd.array does; "boolean" only bools (pd.array's reading of 0 and 1 is left to it).
_KINDS = {"Int64": "bi", "boolean": "b"}


def typed(values, dtype: str):
    """``values`` as a column of the table dtype ``dtype``: numpy for float64 and int64, the
    pandas-free kinds of :mod:`inferwire.arrays` for the nullable, time and string types; a
    pandas array where only ``pd.array`` converts the values (or names what is wrong)."""
    if is_plain(values) and not isinstance(values, np.ndarray) and dtype_of(values) == dtype:
        return values                # made typed already (the network columns)
    if (pandas_loaded() and not is_plain(values) and not isinstance(values, list)
            and str(getattr(values, "dtype", "")) == dtype):
        return values                # a pandas array of the type
    if dtype == "float64":
        return np.asarray(values, dtype=np.float64)
    if dtype == "int64":
        return np.asarray(values, dtype=np.int64)
    if dtype in ("Int64", "boolean") and isinstance(values, (list, np.ndarray)):
        quick = _masked(values, dtype)
        if quick is not None:
            return quick
    if dtype == UTC_DTYPE and not len(values):
        return Instants(np.zeros(0, "M8[ns]"))
    if dtype == "string":
        try:                        # what pd.array makes, in half its time
            return texts_of(values)
        except (TypeError, pa.ArrowTypeError, pa.ArrowInvalid):
            pass                    # not all str: pd.array converts them as it does
    import pandas as pd             # deferred: only odd values need it (see inferwire.arrays)
    return pd.array(values, dtype=dtype)
