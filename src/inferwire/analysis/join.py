"""Joining the capture's requests with the client's log and the server's request log.

Pure: DataFrames in, a DataFrame out.  The joined table has every column of the per-request table
plus :data:`inferwire.columns.JOINED_COLUMNS`.  It is an outer join: a request the client logged
but the capture lacks (or the reverse) is kept, with ``in_capture`` / ``in_client_log`` saying so.

The client log joins by request id.  The server log joins by request id where the client sent
one, else by the client's endpoint and order, one request at a time (``server_join`` says
which): a tool that sends no id (ab, h2load, your own locustfile) still gets the server's and the
model's time.  Requests in
no client log are labelled by workload from their server port (``workloads``).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..columns import JOINED_COLUMNS, REQUEST_COLUMNS, UTC_DTYPE


def _ns_to_s(series):
    return series.astype("Float64") / 1e9


def join_requests(requests: pd.DataFrame, client_log: pd.DataFrame | None = None,
                  server_log: pd.DataFrame | None = None,
                  workloads: dict | None = None) -> pd.DataFrame:
    """Capture requests ⨝ client log (⨝ server log).

    ``client_log`` has the load generator's columns (``request_id``, ``started_ns``,
    ``finished_ns``, ``scheduled_ns``, ``ok``, ``status``, ``serialize_ns``, optional
    ``workload``), joined on ``request_id``; rows without one are kept as capture-only rows.
    ``server_log`` the embedded server's (``request_id``, ``peer``, ``ts_ns``,
    ``model_time_ns``, ``queue_time_ns``, ``server_time_ns``): joined by id, then the rest by
    peer and order (:func:`join_server_log`).  ``workloads``: {server port: workload name} for
    the rows no client log names (:func:`label_workloads`).
    """
    left = requests.copy()
    left["in_capture"] = True
    if client_log is None or client_log.empty:
        client = pd.DataFrame({"request_id": pd.Series(dtype="string")})
    else:
        client = _client_side(client_log)
    client["in_client_log"] = True
    with_id = left[left["request_id"].notna()]
    joined = with_id.merge(client, on="request_id", how="outer")
    joined = pd.concat([joined, left[left["request_id"].isna()]], ignore_index=True)
    joined["in_capture"] = joined["in_capture"].fillna(False).astype("boolean")
    joined["in_client_log"] = joined["in_client_log"].fillna(False).astype("boolean")
    joined = label_workloads(joined, workloads)
    if server_log is not None and not server_log.empty:
        joined = join_server_log(joined, server_log)
    return _derive(joined)


#: The workload of a request whose server port no run names, from its wire protocol.
WORKLOAD_OF_PROTOCOL = {"grpc": "grpc", "http/1.1": "rest", "h2": "rest"}


def workload_ports(manifest: dict) -> dict:
    """{server port: workload} of a run's manifest ({8500: "grpc", 8501: "rest"} by default)."""
    server = manifest.get("server") or {}
    return {server[f"{w}_port"]: w for w in ("grpc", "rest") if server.get(f"{w}_port")}


def label_workloads(df: pd.DataFrame, workloads: dict | None = None) -> pd.DataFrame:
    """``df`` with ``workload`` filled where it is missing: from the server port
    (``workloads``: {port: name}, e.g. a run's {8500: "grpc", 8501: "rest"}), else from the wire
    protocol (grpc -> "grpc", HTTP -> "rest")."""
    out = df.copy()
    have = (out["workload"].astype("string") if "workload" in out
            else pd.Series(pd.NA, index=out.index, dtype="string"))
    port = pd.to_numeric(out["server"].astype("string").str.rsplit(":", n=1).str[-1],
                         errors="coerce") if "server" in out else None
    by_port = (port.map({int(k): v for k, v in (workloads or {}).items()}).astype("string")
               if port is not None else have)
    by_protocol = out["protocol"].astype("string").map(WORKLOAD_OF_PROTOCOL).astype("string")
    out["workload"] = have.fillna(by_port).fillna(by_protocol)
    return out


def join_server_log(joined: pd.DataFrame, server_log: pd.DataFrame) -> pd.DataFrame:
    """``joined`` plus the server log's ``model_ms``, ``queue_ms``, ``server_ms`` and
    ``server_join``: by request id where both have it ("id"); else, on each client endpoint
    (the capture's ``client`` = the log's ``peer``), the n-th request on the wire with the n-th
    reply the server had ready (``ts_ns``) ("peer order"), when the capture and the log hold
    the same number of such requests on that endpoint and they went one at a time (each request
    after the previous response, so one server thread answered them in the wire's order): else
    the order is not certain and they stay unjoined."""
    server = _server_side(server_log)
    by_id = server.dropna(subset=["request_id"]).drop_duplicates("request_id")
    out = joined.merge(by_id.drop(columns=["peer", "ready_ns"]), on="request_id", how="left")
    out["server_join"] = pd.Series(pd.NA, index=out.index, dtype="string")
    out.loc[out["server_ms"].notna() | out["model_ms"].notna(), "server_join"] = "id"
    known = set(by_id["request_id"])
    rest = server[~server["request_id"].isin(known) | server["request_id"].isna()]
    return _join_by_peer(out, rest)


def _join_by_peer(out: pd.DataFrame, server: pd.DataFrame) -> pd.DataFrame:
    todo = out[out["server_join"].isna() & out["in_capture"].astype(bool)
               & out["request_end"].notna()]
    values = {"model_ms": [], "queue_ms": [], "server_ms": [], "index": []}
    logged = dict(tuple(server.groupby("peer", sort=False))) if len(server) else {}
    for peer, wire in todo.groupby(todo["client"].astype(str), sort=False):
        theirs = logged.get(peer)
        wire = wire.sort_values("request_start", kind="stable")
        if theirs is not None and len(wire) > len(theirs):
            wire = _without_refused_tail(wire, len(theirs))
        if theirs is None or len(theirs) != len(wire) or _overlapping(wire):
            continue
        # by reply-ready time: the log's server_time of a keep-alive REST request does not
        # always start after its bytes arrived, so "arrival" (ts - server_time) can misorder
        theirs = theirs.sort_values("ready_ns", kind="stable")
        values["index"] += list(wire.index)
        for col in ("model_ms", "queue_ms", "server_ms"):
            values[col] += list(theirs[col])
    if values["index"]:
        idx = values.pop("index")
        for col, vals in values.items():
            out.loc[idx, col] = pd.array(vals, dtype="Float64")
        out.loc[idx, "server_join"] = "peer order"
    return out


def _client_side(log: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"request_id": log["request_id"].astype("string")})
    out["workload"] = log["workload"].astype("string") if "workload" in log else pd.NA
    out["client_ok"] = log["ok"].astype("boolean")
    out["client_status"] = log["status"].astype("string")
    out["client_scheduled"] = _ns_to_s(log["scheduled_ns"])
    out["client_started"] = _ns_to_s(log["started_ns"])
    out["client_finished"] = _ns_to_s(log["finished_ns"])
    for name in ("scheduled", "started", "finished"):
        out[f"client_{name}_utc"] = pd.to_datetime(log[f"{name}_ns"].astype("Int64"), unit="ns",
                                                   utc=True)
    out["serialize_ms"] = log["serialize_ns"].astype("Float64") / 1e6
    out["client_phase"] = (log["phase"].astype("string") if "phase" in log
                           else pd.Series("measure", index=log.index, dtype="string"))
    return out.drop_duplicates("request_id")


#: Answers a stopping server gives before any handler runs, so its log has no line for them:
#: gRPC UNAVAILABLE, HTTP 503.
_REFUSED_GRPC, _REFUSED_HTTP = 14, 503


def _without_refused_tail(wire: pd.DataFrame, logged: int) -> pd.DataFrame:
    """``wire`` (sorted by start) less its last requests when exactly those beyond ``logged``
    were refused (:data:`_REFUSED_GRPC` / :data:`_REFUSED_HTTP`): a server being stopped
    refuses the requests still arriving without logging them, and the ones before keep their
    order.  Anything else is returned as is (and stays unjoined: the order is not certain)."""
    tail = wire.iloc[logged:]
    grpc = tail["grpc_status"].astype("Int64") if "grpc_status" in tail else None
    http = tail["status"].astype("Int64") if "status" in tail else None
    refused = pd.Series(False, index=tail.index)
    if grpc is not None:
        refused |= (grpc == _REFUSED_GRPC).fillna(False)
    if http is not None:
        refused |= ((http == _REFUSED_HTTP) & (grpc.isna() if grpc is not None else True)).fillna(False)
    return wire.iloc[:logged] if bool(refused.all()) else wire


def _overlapping(wire: pd.DataFrame) -> bool:
    """Requests (sorted by start) of which one began before the one before had its response:
    multiplexed HTTP/2 streams, whose order at the server may differ from the wire's, so an
    order join would not be certain."""
    start, end = wire["request_start"].to_numpy(float), wire["response_end"].to_numpy(float)
    return bool((start[1:] < end[:-1]).any())


def _server_side(log: pd.DataFrame) -> pd.DataFrame:
    """request_id, peer, ready_ns (when the reply was ready) and the three times in ms."""
    out = pd.DataFrame({"request_id": (log["request_id"] if "request_id" in log
                                       else pd.Series(pd.NA, index=log.index)).astype("string")})
    out["peer"] = log["peer"].astype("string") if "peer" in log else pd.NA
    for src, dst in (("model_time_ns", "model_ms"), ("queue_time_ns", "queue_ms"),
                     ("server_time_ns", "server_ms")):
        out[dst] = (pd.to_numeric(log[src], errors="coerce").astype("Float64") / 1e6
                    if src in log else pd.Series(pd.NA, index=log.index, dtype="Float64"))
    out["ready_ns"] = pd.to_numeric(log["ts_ns"], errors="coerce") if "ts_ns" in log else pd.NA
    return out


def _cast(series: pd.Series, dtype: str) -> pd.Series:
    """``series`` as ``dtype``; missing values (None, NA, NaN) stay missing (NaN in float64)."""
    if dtype == "float64":
        values = pd.to_numeric(series, errors="coerce").astype("Float64")
        return pd.Series(values.to_numpy(dtype=float, na_value=np.nan), index=series.index)
    if dtype == "int64":  # client-only rows have no connection: nullable in the joined table
        return series.astype("Int64")
    if dtype == UTC_DTYPE:
        return pd.to_datetime(series, utc=True).astype(dtype)
    return series.astype(dtype)


def _derive(j: pd.DataFrame) -> pd.DataFrame:
    for col in JOINED_COLUMNS:
        if col.name not in j:
            j[col.name] = pd.NA
    j["client_ms"] = (j["client_finished"] - j["client_started"]) * 1e3
    j["client_before_ms"] = (j["request_start"] - j["client_started"]) * 1e3
    j["client_after_ms"] = (j["client_finished"] - j["response_end"]) * 1e3
    j["client_overhead_ms"] = j["client_ms"] - j["total_ms"]
    j["network_and_stack_ms"] = j["wait_ms"] - j["server_ms"]
    order = [c.name for c in REQUEST_COLUMNS] + [c.name for c in JOINED_COLUMNS]
    j = j[order]
    for col in REQUEST_COLUMNS + JOINED_COLUMNS:
        j[col.name] = _cast(j[col.name], col.dtype)
    return j.sort_values(["client_started", "request_start"], na_position="last",
                         ignore_index=True)
