"""Joining Triton's trace rows (:func:`.trace.server_log`) to the joined per-request table.  Pure.

By request id first (Triton records the V2 ``id`` field, the load generator sends the same value
as ``x-request-id``).  Wire rows without an id match the remaining traces of their protocol in
order (request end vs Triton's receive end) only when both sides have the same count; otherwise
they stay without Triton columns and a warning says how many.
"""
from __future__ import annotations

import pandas as pd

from ...columns import TRITON_COLUMNS

NAMES = [c.name for c in TRITON_COLUMNS]


def add_triton_columns(joined: pd.DataFrame, log: pd.DataFrame,
                       protocols: pd.Series | None = None) -> tuple[pd.DataFrame, list[str]]:
    """``joined`` with :data:`TRITON_COLUMNS` filled from ``log`` (one row per trace);
    ``protocols``: the trace rows' protocol ("rest" | "grpc"), for the by-order fallback.
    Returns the table and warnings."""
    out = joined.drop(columns=[c for c in NAMES if c in joined], errors="ignore")
    by_id = log.dropna(subset=["request_id"]).drop_duplicates("request_id")
    out = out.merge(by_id[["request_id", *NAMES]], on="request_id", how="left")
    warnings = []
    if protocols is not None:
        out, warnings = _by_order(out, log, protocols)
    for col in TRITON_COLUMNS:
        out[col.name] = (pd.to_numeric(out[col.name], errors="coerce").astype("Int64")
                         if col.dtype == "Int64" else pd.to_numeric(out[col.name],
                                                                    errors="coerce").astype(float))
    return out, warnings


def _wire_protocol(row_protocol: pd.Series) -> pd.Series:
    is_grpc = row_protocol.astype("string").fillna("").eq("grpc")   # client-only rows: NA
    return is_grpc.map({True: "grpc", False: "rest"})


def _by_order(out: pd.DataFrame, log: pd.DataFrame, protocols: pd.Series):
    warnings = []
    used = set(out["triton_trace_id"].dropna().astype(int))
    spare = log[~log["triton_trace_id"].isin(used)].assign(_proto=protocols)
    missing = out["triton_trace_id"].isna() & out["request_end"].notna()
    wire = _wire_protocol(out["protocol"])
    for proto in ("rest", "grpc"):
        rows = out[missing & (wire == proto)].sort_values("request_end")
        traces = spare[spare["_proto"] == proto].sort_values("triton_recv_end")
        if rows.empty:
            continue
        if len(rows) != len(traces):
            warnings.append(f"{len(rows)} {proto} requests without a request id and "
                            f"{len(traces)} traces left: not paired by order")
            continue
        for col in NAMES:
            out.loc[rows.index, col] = traces[col].to_numpy()
    return out, warnings
