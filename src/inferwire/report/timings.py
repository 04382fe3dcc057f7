"""Per-request timings laid out on one time line, DevTools/HAR style (pure: tables in, table out).

For each request that was seen from its first request byte to its last response byte:

- ``start`` (s since epoch): where the request's bar begins: the earliest of the client's start
  (``client_started``, when joined with the client log), the connection's SYN (when this is the
  first request of its connection and the SYN was captured) and ``request_start``;
- ``setup_start`` (s): that SYN's time, else NaN;
- ``tcp_ms``, ``ssl_ms``, ``h2_ms``: the connection's TCP handshake, TLS handshake and HTTP/2
  set-up, on the first request of a connection only (NaN elsewhere);
- ``connect_ms`` = ``tcp_ms`` + ``ssl_ms`` (HAR counts TLS inside connect), NaN unless the SYN was
  captured;
- ``blocked_ms``: the rest of the time from ``start`` to ``request_start``: the client's own time
  before the wire, the HTTP/2 preface and SETTINGS exchange, gaps between handshakes; NaN when
  nothing before ``request_start`` is known (no client log, not a connection's first request);
- ``send_ms``, ``wait_ms``, ``receive_ms``: ``request_ms``, ``wait_ms``, ``response_ms``;
- ``time_ms``: the sum of the known ones of blocked, connect, send, wait and receive, which is
  ``response_end - start`` (the HAR entry's ``time``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

TIMING_COLUMNS = ("start", "setup_start", "blocked_ms", "tcp_ms", "ssl_ms", "h2_ms",
                  "connect_ms", "send_ms", "wait_ms", "receive_ms", "time_ms")


def _col(df: pd.DataFrame, name: str) -> np.ndarray:
    """Column ``name`` as float64 (NaN for missing values or a missing column)."""
    if name not in df:
        return np.full(len(df), np.nan)
    return pd.to_numeric(df[name], errors="coerce").astype("float64").to_numpy(na_value=np.nan)


def first_of_connection(table: pd.DataFrame) -> np.ndarray:
    """True for each row that is the earliest request (by ``request_start``) of its connection."""
    if table.empty:
        return np.zeros(0, dtype=bool)
    conn = table["connection"]
    start = pd.Series(_col(table, "request_start"), index=table.index)
    earliest = start.groupby(conn).transform("min")
    return ((start == earliest) & conn.notna()).to_numpy(dtype=bool, na_value=False)


def entry_timings(table: pd.DataFrame, connections: pd.DataFrame) -> pd.DataFrame:
    """The timings of the module docstring, one row per request of ``table`` (requests or joined
    table) that has both a ``request_start`` and a ``response_end``; the other columns of
    ``table`` are kept."""
    df = table[table["request_start"].notna() & table["response_end"].notna()]
    df = df.reset_index(drop=True)
    first = first_of_connection(df)
    syn = _syn_times(df, connections)
    setup_start = np.where(first, syn, np.nan)
    tcp = np.where(first, _col(df, "tcp_handshake_ms"), np.nan)
    ssl = np.where(first, _col(df, "tls_handshake_ms"), np.nan)
    h2 = np.where(first, _col(df, "h2_setup_ms"), np.nan)
    connect = np.where(np.isnan(setup_start), np.nan, tcp + np.nan_to_num(ssl))
    req_start, client = _col(df, "request_start"), _col(df, "client_started")
    start = np.fmin(np.fmin(client, setup_start), req_start)
    before_ms = (req_start - start) * 1e3
    known_before = ~np.isnan(client) | ~np.isnan(setup_start)
    # the clamp only matters when the client's clock stamp lands inside the handshake
    blocked = np.where(known_before, np.maximum(before_ms - np.nan_to_num(connect), 0.0), np.nan)
    out = df.copy()
    out["start"], out["setup_start"] = start, setup_start
    out["blocked_ms"], out["tcp_ms"], out["ssl_ms"], out["h2_ms"] = blocked, tcp, ssl, h2
    out["connect_ms"] = connect
    out["send_ms"] = _col(df, "request_ms")
    out["receive_ms"] = _col(df, "response_ms")
    out["wait_ms"] = _col(df, "wait_ms")
    parts = np.vstack([blocked, connect, out["send_ms"], out["wait_ms"], out["receive_ms"]])
    out["time_ms"] = np.nansum(parts, axis=0)
    return out


def _syn_times(df: pd.DataFrame, connections: pd.DataFrame) -> np.ndarray:
    """Per row: the SYN time (s) of its connection when the SYN was captured, else NaN."""
    if connections is None or connections.empty or df.empty:
        return np.full(len(df), np.nan)
    seen = connections[connections["start_seen"].fillna(False).astype(bool)]
    syn = pd.Series(_col(seen, "syn_time"), index=seen["connection"].astype("int64"))
    conn = pd.to_numeric(df["connection"], errors="coerce")
    return conn.map(syn).astype("float64").to_numpy(na_value=np.nan)
