"""Joining Triton's trace rows (:func:`.trace.server_log`) to the joined per-request table.  Pure.

By request id first (Triton records the V2 ``id`` field, the load generator sends the same value
as ``x-request-id``).  Triton's trace names no connection, so wire rows without an id (e.g. a
tool that sends one body for every request) are matched by time, and only where that is certain:
a trace goes to the one wire row of its protocol whose [request_end, response_start] holds
Triton's [receive-end, send-start] when no other unmatched row does and that row holds no other
trace, repeated until nothing changes.  Pairing by order alone was tried and is wrong under
concurrency (two connections' requests interleave: a quarter of h2load's pairs were crossed).
``triton_joined_by`` says which.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...columns import TRITON_COLUMNS

NAMES = [c.name for c in TRITON_COLUMNS]
FROM_LOG = [n for n in NAMES if n != "triton_joined_by"]
LOOK_BACK = 256    # candidate rows looked at per trace: more than the requests in flight


def add_triton_columns(joined: pd.DataFrame, log: pd.DataFrame,
                       protocols: pd.Series | None = None) -> tuple[pd.DataFrame, list[str]]:
    """``joined`` with :data:`TRITON_COLUMNS` filled from ``log`` (one row per trace);
    ``protocols``: the trace rows' protocol ("rest" | "grpc"), for matching rows without an id
    by time.  Returns the table and warnings."""
    out = joined.drop(columns=[c for c in NAMES if c in joined], errors="ignore")
    by_id = log.dropna(subset=["request_id"]).drop_duplicates("request_id")
    out = out.merge(by_id[["request_id", *FROM_LOG]], on="request_id", how="left")
    out["triton_joined_by"] = np.where(out["triton_trace_id"].notna(), "request_id", None)
    warnings = []
    if protocols is not None:
        out, warnings = _by_time(out, log.assign(_proto=protocols.to_numpy()))
    for col in TRITON_COLUMNS:
        if col.dtype == "string":
            out[col.name] = out[col.name].astype("string")
        elif col.dtype == "Int64":
            out[col.name] = pd.to_numeric(out[col.name], errors="coerce").astype("Int64")
        else:
            out[col.name] = pd.to_numeric(out[col.name], errors="coerce").astype(float)
    return out, warnings


def _wire_protocol(row_protocol: pd.Series) -> pd.Series:
    is_grpc = row_protocol.astype("string").fillna("").eq("grpc")   # client-only rows: NA
    return is_grpc.map({True: "grpc", False: "rest"})


def _by_time(out: pd.DataFrame, log: pd.DataFrame):
    used = set(out["triton_trace_id"].dropna().astype(int))
    spare = log[~log["triton_trace_id"].isin(used)].dropna(
        subset=["triton_recv_end", "triton_send_start"])
    missing = out["triton_trace_id"].isna() & out["request_end"].notna() \
        & out["response_start"].notna()
    wire = _wire_protocol(out["protocol"])
    warnings = []
    for proto in ("rest", "grpc"):
        rows = out[missing & (wire == proto)].sort_values("request_end")
        traces = spare[spare["_proto"] == proto].sort_values("triton_recv_end")
        if rows.empty or traces.empty:
            continue
        pairs = match_by_time(rows["request_end"].to_numpy(), rows["response_start"].to_numpy(),
                              traces["triton_recv_end"].to_numpy(),
                              traces["triton_send_start"].to_numpy())
        for r, t in pairs:
            out.loc[rows.index[r], FROM_LOG] = traces.iloc[t][FROM_LOG].to_numpy()
            out.loc[rows.index[r], "triton_joined_by"] = "time"
        left = len(rows) - len(pairs)
        if left:
            warnings.append(f"{left} {proto} requests without a request id could not be matched "
                            "to a Triton trace with certainty: left without Triton's columns")
    return out, warnings


def match_by_time(req_end, resp_start, recv_end, send_start) -> list[tuple[int, int]]:
    """Pairs (row, trace) where the trace's [recv_end, send_start] lies in exactly one unmatched
    row's [req_end, resp_start] and that row holds no other unmatched trace (rows sorted by
    req_end); repeated until nothing changes."""
    matched_rows, pairs, open_traces = set(), [], list(range(len(recv_end)))
    while open_traces:
        cands = {t: _candidates(t, req_end, resp_start, recv_end, send_start, matched_rows)
                 for t in open_traces}
        claims: dict = {}
        for rows in cands.values():
            for r in rows:
                claims[r] = claims.get(r, 0) + 1
        sure = [(rows[0], t) for t, rows in cands.items() if len(rows) == 1
                and claims[rows[0]] == 1]
        if not sure:
            break
        pairs += sure
        matched_rows.update(r for r, _ in sure)
        done = {t for _, t in sure}
        open_traces = [t for t in open_traces if t not in done and cands[t]]
    return pairs


def _candidates(t, req_end, resp_start, recv_end, send_start, matched_rows) -> list[int]:
    hi = int(np.searchsorted(req_end, recv_end[t], side="right"))
    return [r for r in range(max(0, hi - LOOK_BACK), hi)
            if r not in matched_rows and resp_start[r] >= send_start[t]]
