"""The answers, as tables computed from a sweep's combined tables (pure: DataFrames in and out).

Every table keeps the ``run`` column: the run folder (under ``SWEEP/runs/``) its numbers come from.
Times are ms, sizes bytes, CPU in CPU-seconds or cores (CPU-seconds per second of load).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..sweep.combine import AXES
from ..sweep.plan import DEFAULT_ENCODING

#: the client's mean latency cut into what the questions ask about (mean_*_ms columns summed)
SHARE_GROUPS = {
    "model": ("model",),
    "server_other": ("server_other",),
    "network_and_stack": ("network",),
    "transfer": ("request", "response"),
    "connection_setup": ("handshake",),
    "client": ("serialize", "client_before_other", "client_after"),
}
TRANSPORT = ("network_and_stack", "transfer", "connection_setup")


def _default_encoding(points: pd.DataFrame) -> pd.Series:
    return points["encoding"] == points["workload"].map(DEFAULT_ENCODING)


def _closed_at(points: pd.DataFrame, users: int | None) -> pd.Series:
    closed = points["rate"].isna()
    return closed & (points["users"] == users) if users is not None else closed


def varying(points: pd.DataFrame, axis: str) -> pd.DataFrame:
    """The rows of groups of points that differ only in ``axis`` (per workload), sorted."""
    others = [a for a in AXES if a != axis and a in points] + ["workload"]
    keyed = points.assign(**{a: points[a].astype(object).where(points[a].notna(), "-")
                             for a in others})
    sizes = keyed.groupby(others, dropna=False)[axis].transform("nunique")
    return points[sizes > 1].sort_values(["workload", *others[:-1], axis])


def shares(points: pd.DataFrame) -> pd.DataFrame:
    """Per row, each SHARE_GROUPS part as % of the client's mean latency, and transport in all."""
    out = pd.DataFrame(index=points.index)
    for name, parts in SHARE_GROUPS.items():
        total = sum(points[f"mean_{p}_ms"] for p in parts)
        out[f"{name}_pct"] = 100 * total / points["mean_client_ms"]
    out["transport_pct"] = sum(out[f"{t}_pct"] for t in TRANSPORT)
    return out


def transport_table(points: pd.DataFrame, users: int | None = 2) -> pd.DataFrame:
    """Question 1: phase shares by protocol, batch size, model and connection policy (default
    encodings, closed loop at ``users``), and the server's model time against the wire's wait."""
    base = points[_default_encoding(points) & _closed_at(points, users)]
    table = base[["workload", "model", "batch_size", "connection", "mean_client_ms"]].join(
        shares(base).round(1))
    table["median_wait_ms"] = base["median_wait_ms"]
    table["median_server_ms"] = base["median_server_ms"]
    table["median_model_ms"] = base["median_model_ms"]
    table["model_of_wait_pct"] = (100 * base["median_model_ms"] / base["median_wait_ms"]).round(1)
    table["run"] = base["run"]
    return table.sort_values(["workload", "model", "connection", "batch_size"]).reset_index(drop=True)


def concurrency_table(points: pd.DataFrame) -> pd.DataFrame:
    """Question 2: throughput, latency, CPU and bytes/s as the number of users grows."""
    rows = varying(points[points["rate"].isna()], "users")
    cols = ["workload", "model", "batch_size", "connection", "users", "throughput_per_s",
            "client_p50_ms", "server_cpu_cores", "client_cpu_cores", "host_cpu_cores",
            "cpu_s_per_request", "server_cpu_s_per_request", "wire_mb_per_s", "run"]
    return rows[cols].reset_index(drop=True)


def knee(table: pd.DataFrame, gain: float = 0.10) -> dict[str, dict]:
    """Per workload, the knee: the last user count before throughput grew by less than ``gain``
    (10 %) for one more step, with the figures there.  None when throughput kept growing."""
    out = {}
    for workload, rows in table.groupby("workload", sort=True):
        rows = rows.sort_values("users").reset_index(drop=True)
        at = None
        for i in range(1, len(rows)):
            if rows.loc[i, "throughput_per_s"] < (1 + gain) * rows.loc[i - 1, "throughput_per_s"]:
                at = i - 1
                break
        out[workload] = None if at is None else rows.loc[at].to_dict()
    return out


def encoding_table(points: pd.DataFrame) -> pd.DataFrame:
    """Question 4: bytes on the wire, client serialization, server wait and total per encoding."""
    rows = varying(points, "encoding")
    cols = ["workload", "encoding", "batch_size", "median_request_bytes", "wire_bytes_per_request",
            "median_serialize_ms", "median_wait_ms", "median_server_ms", "median_model_ms",
            "median_total_ms", "median_client_ms", "throughput_per_s", "run"]
    return rows[cols].reset_index(drop=True)


def inputs_table(points: pd.DataFrame) -> pd.DataFrame:
    """Question 3 under capture: the points that differ only in their inputs (repeated vs
    unique), with the wire's wait and the server's model time."""
    if "inputs" not in points:
        return pd.DataFrame()
    rows = varying(points, "inputs")
    cols = ["workload", "model", "batch_size", "users", "inputs", "median_wait_ms",
            "median_server_ms", "median_model_ms", "client_p50_ms", "throughput_per_s", "run"]
    return rows[cols].reset_index(drop=True)


def cold_warm_table(points: pd.DataFrame) -> pd.DataFrame:
    """Question 3b: each run's first request per workload (cold) against its measured median."""
    cols = ["workload", "model", "batch_size", "connection", "first_client_ms", "median_client_ms",
            "first_model_ms", "median_model_ms", "run"]
    t = points[[c for c in cols if c in points]].copy()
    t.insert(len(t.columns) - 1, "first_over_warm",
             (t["first_client_ms"] / t["median_client_ms"]).round(1))
    return t.sort_values(["workload", "model", "batch_size"]).reset_index(drop=True)


def bootstrap_diff(a: np.ndarray, b: np.ndarray, n: int = 2000, seed: int = 0):
    """(median(b) - median(a), 95 % bootstrap interval of it); NaNs when a side is empty."""
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) == 0 or len(b) == 0:
        return np.nan, (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    diffs = (np.median(rng.choice(b, (n, len(b))), axis=1)
             - np.median(rng.choice(a, (n, len(a))), axis=1))
    return float(np.median(b) - np.median(a)), tuple(np.percentile(diffs, [2.5, 97.5]))


def cache_table(probe: pd.DataFrame) -> pd.DataFrame:
    """Question 3a: repeated identical inputs vs unique inputs, per protocol and measure."""
    rows = []
    ok = probe[probe["ok"].astype(str).str.lower() == "true"]
    for protocol, p in ok.groupby("protocol", sort=True):
        rep, uni = p[p["kind"] == "repeated"], p[p["kind"] == "unique"]
        for measure in ("client_ms", "server_ms", "model_ms"):
            a, b = rep[measure].to_numpy(float), uni[measure].to_numpy(float)
            diff, (lo, hi) = bootstrap_diff(a, b)
            rows.append({"protocol": protocol, "measure": measure, "repeated_n": len(rep),
                         "repeated_inputs_distinct": rep["input_sha1"].nunique(),
                         "unique_n": len(uni), "unique_inputs_distinct": uni["input_sha1"].nunique(),
                         "repeated_median": np.nanmedian(a) if len(a) else np.nan,
                         "unique_median": np.nanmedian(b) if len(b) else np.nan,
                         "unique_minus_repeated": diff, "ci95_low": lo, "ci95_high": hi})
    return pd.DataFrame(rows)


def cache_verdict(table: pd.DataFrame) -> str:
    """"no sign of a result cache" unless repeated inputs were clearly faster in the model."""
    model = table[table["measure"] == "model_ms"].dropna(subset=["unique_minus_repeated"])
    if model.empty:
        return "undetermined (no model times in the probe)"
    cached = model[(model["ci95_low"] > 0)
                   & (model["unique_minus_repeated"] > 0.5 * model["unique_median"])]
    if not cached.empty:
        return "repeated inputs were answered much faster: a result cache is likely"
    return "no sign of a result cache: repeated inputs cost the model as much as unique ones"


def probe_cold(probe: pd.DataFrame) -> pd.DataFrame:
    """The probe's first request per protocol against the median of the later ones."""
    rows = []
    for protocol, p in probe.groupby("protocol", sort=False):
        first, later = p[p["kind"] == "first"], p[p["kind"] != "first"]
        if first.empty:
            continue
        rows.append({"protocol": protocol, "first_client_ms": float(first["client_ms"].iloc[0]),
                     "warm_client_ms": float(later["client_ms"].median()),
                     "first_model_ms": float(first["model_ms"].iloc[0]),
                     "warm_model_ms": float(later["model_ms"].median())})
    return pd.DataFrame(rows)
