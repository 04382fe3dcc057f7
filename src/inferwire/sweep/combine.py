"""One combined view of a sweep: every point's requests in one table, and one row per point and
workload with the figures the findings use.

``SWEEP/requests.parquet``: every run's joined table (columns of inferwire.columns.JOINED_COLUMNS)
plus ``point``, ``run`` (run folder name), ``model``, ``batch_size``, ``encoding``, ``users``,
``rate``, ``connection``.

``SWEEP/points.csv``: one row per run and workload (see :data:`POINT_COLUMNS`).  Medians are over
the measured requests found in the capture and complete; ``mean_*`` columns decompose the client's
mean latency (means add up, medians do not): ``mean_client_ms`` = serialize + handshakes + other
client time before the first byte + request transfer + model + other server time + network and
stack + response transfer + client time after the last byte.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import InferwireError
from ..runfolder import ENERGY, MANIFEST, read_manifest, read_raw_table
from .plan import normalize_encoding
from .runs import finished_runs

AXES = ("model", "batch_size", "encoding", "users", "rate", "connection", "network", "api",
        "inputs", "response_cache")
MEDIAN_COLUMNS = ("client_ms", "serialize_ms", "client_before_ms", "request_ms", "wait_ms",
                  "response_ms", "total_ms", "client_after_ms", "model_ms", "server_ms",
                  "queue_ms", "network_and_stack_ms", "tcp_handshake_ms", "h2_setup_ms",
                  "request_bytes", "response_bytes")
SHARE_PARTS = ("serialize", "handshake", "client_before_other", "request", "model",
               "server_other", "network", "response", "client_after")


@dataclass
class Combined:
    requests: pd.DataFrame
    points: pd.DataFrame


def _energy(run_dir: Path) -> dict:
    try:
        return json.loads((run_dir / ENERGY).read_text())
    except (OSError, ValueError):
        return {}


def _median(series: pd.Series) -> float:
    s = pd.to_numeric(series, errors="coerce").dropna()
    return float(s.median()) if len(s) else np.nan


def _mean0(frame: pd.DataFrame, *cols: str) -> pd.Series:
    """Per row, the sum of ``cols`` with "not applicable" (NaN) as 0 ms: a request that opened no
    connection spent no time on a handshake."""
    return sum(frame[c].astype(float).fillna(0.0) for c in cols)


def share_means(m: pd.DataFrame) -> dict:
    """The mean-latency decomposition of measured rows ``m`` (ms), see the module docstring."""
    hs = _mean0(m, "tcp_handshake_ms", "tls_handshake_ms", "h2_setup_ms")
    parts = {
        "serialize": m["serialize_ms"], "handshake": hs,
        "client_before_other": m["client_before_ms"] - m["serialize_ms"].fillna(0) - hs,
        "request": m["request_ms"], "model": m["model_ms"],
        "server_other": m["server_ms"] - m["model_ms"], "network": m["network_and_stack_ms"],
        "response": m["response_ms"], "client_after": m["client_after_ms"]}
    out = {f"mean_{k}_ms": float(v.astype(float).mean()) if len(m) else np.nan
           for k, v in parts.items()}
    out["mean_client_ms"] = float(m["client_ms"].mean()) if len(m) else np.nan
    return out


def _cold(j: pd.DataFrame) -> dict:
    """The workload's first request (by the client's start time): cold figures."""
    seen = j[j["in_client_log"].fillna(False).astype(bool)].sort_values("client_started")
    if seen.empty:
        return {}
    first = seen.iloc[0]
    return {"first_client_ms": first["client_ms"], "first_total_ms": first["total_ms"],
            "first_model_ms": first["model_ms"], "first_server_ms": first["server_ms"]}


def _wire_bytes(connections: pd.DataFrame | None, port: int | None) -> float:
    """TCP payload bytes (both directions) per request on the connections to ``port``."""
    if connections is None or port is None or connections.empty:
        return np.nan
    mine = connections[connections["server"].astype(str).str.endswith(f":{port}")]
    n = mine["requests"].sum()
    return float((mine["bytes_to_server"] + mine["bytes_to_client"]).sum() / n) if n else np.nan


def tcp_means(m: pd.DataFrame) -> dict:
    """Mean ms per measured request lost to retransmissions (both ways) and to stalls (zero
    window, HTTP/2 flow control), from the per-request TCP columns; NaN without them."""
    def mean_sum(cols):
        cols = [c for c in cols if c in m]
        if not cols or not len(m):
            return np.nan
        return float(sum(m[c].astype(float).fillna(0.0) for c in cols).mean())
    return {"mean_retrans_ms": mean_sum(("retrans_ms_to_server", "retrans_ms_to_client")),
            "mean_stall_ms": mean_sum(("zero_window_ms", "h2_flow_stall_ms"))}


def _per_request(connections: pd.DataFrame | None, port: int | None, column: str) -> float:
    """A connections-table count per request on the connections to ``port``."""
    if connections is None or port is None or connections.empty or column not in connections:
        return np.nan
    mine = connections[connections["server"].astype(str).str.endswith(f":{port}")]
    n = mine["requests"].sum()
    return float(mine[column].sum() / n) if n else np.nan


def _cpu(window: dict) -> dict:
    cpu, per = window.get("cpu_seconds") or {}, window.get("cpu_seconds_per_request") or {}
    d = window.get("duration_s") or np.nan

    def cores(v):
        return np.nan if v is None or not d else v / d
    return {"server_cpu_s_per_request": per.get("server"),
            "client_cpu_s_per_request": per.get("client"),
            "cpu_s_per_request": per.get("total"), "server_cpu_cores": cores(cpu.get("server")),
            "client_cpu_cores": cores(cpu.get("client")), "host_cpu_cores": cores(cpu.get("host")),
            "joules_per_request": window.get("joules_per_request")}


def workload_row(run_dir: Path, manifest: dict, energy: dict, joined: pd.DataFrame,
                 connections: pd.DataFrame | None, workload: str) -> dict:
    """The points.csv row of one workload of one run."""
    config, load = manifest.get("config") or {}, (manifest.get("loads") or {}).get(workload, {})
    j = joined[joined["workload"] == workload] if "workload" in joined else joined.iloc[:0]
    m = j[(j["client_phase"] == "measure") & j["in_capture"].fillna(False).astype(bool)
          & j["complete"].fillna(False).astype(bool)]
    point = _point_fields(run_dir, config, workload)
    row = {**point, "status": manifest.get("status"), "workload": workload,
           "protocol": m["protocol"].mode().iloc[0] if len(m) else None,
           "requests": load.get("requests"), "ok": load.get("ok"), "errors": load.get("errors"),
           "found_in_capture": len(m), "throughput_per_s": load.get("throughput_per_s"),
           "client_p50_ms": (load.get("latency_ms") or {}).get("p50"),
           "client_p99_ms": (load.get("latency_ms") or {}).get("p99")}
    row.update({f"median_{c}": _median(m[c]) for c in MEDIAN_COLUMNS})
    row.update(share_means(m))
    port = (manifest.get("server") or {}).get(f"{workload}_port")
    row["wire_bytes_per_request"] = _wire_bytes(connections, port)
    row["retransmissions_per_request"] = _per_request(connections, port, "retransmissions")
    row.update(tcp_means(m))
    tput = row["throughput_per_s"] or np.nan
    row["wire_mb_per_s"] = row["wire_bytes_per_request"] * tput / 1e6
    window = (energy.get("workloads") or {}).get(workload) or {}
    row.update(_cpu(window))
    row["energy_meter"] = energy.get("meter")
    row.update(_cold(j))
    return row


def _point_fields(run_dir: Path, config: dict, workload: str) -> dict:
    encodings = config.get("encoding") or ()
    try:
        enc = dict(zip(config.get("protocols", ()),
                       normalize_encoding(tuple(config.get("protocols", ())),
                                          tuple(encodings),
                                          config.get("api") or "tfserving"))).get(workload)
    except InferwireError:
        enc = None
    rate = config.get("rate") if config.get("mode") == "open" else None
    net = config.get("network") or {}
    return {"point": config.get("name"), "run": run_dir.name, "model": config.get("model"),
            "batch_size": config.get("batch_size"), "encoding": enc,
            "users": None if rate else config.get("users"), "rate": rate,
            "connection": config.get("connection"), "engine": config.get("engine"),
            "network": net.get("preset") if net else None,
            "bandwidth_bps": net.get("bandwidth_bps") if net else None,
            "loss_pct": net.get("loss_to_server_pct") if net else None,
            "server_kind": config.get("server"), "api": config.get("api") or "tfserving",
            "inputs": config.get("inputs") or "repeated",
            "response_cache": int((config.get("extra") or {}).get("triton_cache_bytes") or 0)}


def run_tables(run_dir: Path) -> tuple[pd.DataFrame | None, list[dict]]:
    """(joined rows with point columns, points rows) of one capture-run folder."""
    manifest = read_manifest(run_dir) or {}
    joined = read_raw_table(run_dir, "joined")
    if joined is None or manifest.get("kind") == "cache_probe":
        return None, []
    connections, energy = read_raw_table(run_dir, "connections"), _energy(run_dir)
    workloads = list((manifest.get("loads") or {}).keys())
    rows = [workload_row(run_dir, manifest, energy, joined, connections, w) for w in workloads]
    for key, value in _point_fields(run_dir, manifest.get("config") or {}, "").items():
        if key != "encoding":
            joined[key] = value
    by_workload = {r["workload"]: r["encoding"] for r in rows}
    joined["encoding"] = joined["workload"].map(by_workload) if "workload" in joined else None
    return joined, rows


def combine(sweep_dir, write: bool = True) -> Combined:
    """Combine the finished runs of the sweep in ``sweep_dir``; writes ``points.csv`` and
    ``requests.parquet`` there unless ``write`` is False."""
    sweep_dir = Path(sweep_dir)
    done = finished_runs(sweep_dir)
    if not done:
        raise InferwireError(f"{sweep_dir}: no finished runs yet (runs/*/{MANIFEST} with "
                             "status ok)")
    frames, rows = [], []
    for run_dir in done.values():
        joined, point_rows = run_tables(run_dir)
        if joined is not None:
            frames.append(joined)
        rows += point_rows
    requests = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    points = pd.DataFrame(rows)
    if write:
        points.to_csv(sweep_dir / "points.csv", index=False)
        if not requests.empty:
            requests.to_parquet(sweep_dir / "requests.parquet", index=False)
    return Combined(requests, points)
