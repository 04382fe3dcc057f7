"""Joining the capture's requests with the client's log and the server's request log, by request id.

Pure: DataFrames in, a DataFrame out.  The joined table has every column of the per-request table
plus :data:`inferwire.columns.JOINED_COLUMNS`.  It is an outer join: a request the client logged
but the capture lacks (or the reverse) is kept, with ``in_capture`` / ``in_client_log`` saying so.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .columns import JOINED_COLUMNS, REQUEST_COLUMNS


def _ns_to_s(series):
    return series.astype("Float64") / 1e9


def join_requests(requests: pd.DataFrame, client_log: pd.DataFrame | None = None,
                  server_log: pd.DataFrame | None = None) -> pd.DataFrame:
    """Capture requests ⨝ client log (⨝ server log) on ``request_id``.

    ``client_log`` has the load generator's columns (``request_id``, ``started_ns``,
    ``finished_ns``, ``scheduled_ns``, ``ok``, ``status``, ``serialize_ns``, optional
    ``workload``); ``server_log`` the embedded server's (``request_id``, ``model_time_ns``,
    ``queue_time_ns``, ``server_time_ns``).  Rows without a request id cannot join and are kept
    as capture-only rows.
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
    if server_log is not None and not server_log.empty:
        joined = joined.merge(_server_side(server_log), on="request_id", how="left")
    return _derive(joined)


def _client_side(log: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"request_id": log["request_id"].astype("string")})
    out["workload"] = log["workload"].astype("string") if "workload" in log else pd.NA
    out["client_ok"] = log["ok"].astype("boolean")
    out["client_status"] = log["status"].astype("string")
    out["client_scheduled"] = _ns_to_s(log["scheduled_ns"])
    out["client_started"] = _ns_to_s(log["started_ns"])
    out["client_finished"] = _ns_to_s(log["finished_ns"])
    out["serialize_ms"] = log["serialize_ns"].astype("Float64") / 1e6
    out["client_phase"] = (log["phase"].astype("string") if "phase" in log
                           else pd.Series("measure", index=log.index, dtype="string"))
    return out.drop_duplicates("request_id")


def _server_side(log: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame({"request_id": log["request_id"].astype("string")})
    for src, dst in (("model_time_ns", "model_ms"), ("queue_time_ns", "queue_ms"),
                     ("server_time_ns", "server_ms")):
        out[dst] = (log[src].astype("Float64") / 1e6) if src in log else pd.NA
    return out.dropna(subset=["request_id"]).drop_duplicates("request_id")


def _cast(series: pd.Series, dtype: str) -> pd.Series:
    """``series`` as ``dtype``; missing values (None, NA, NaN) stay missing (NaN in float64)."""
    if dtype == "float64":
        values = pd.to_numeric(series, errors="coerce").astype("Float64")
        return pd.Series(values.to_numpy(dtype=float, na_value=np.nan), index=series.index)
    if dtype == "int64":  # client-only rows have no connection: nullable in the joined table
        return series.astype("Int64")
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
