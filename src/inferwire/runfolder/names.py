"""The names of a run folder's files (the layout is in :mod:`inferwire.runfolder`)."""
from __future__ import annotations

from pathlib import Path

MANIFEST = "manifest.json"
CAPTURE = "capture.pcapng"
SERVER_LOG = "server_log.jsonl"
RESOURCES = "resources.csv"
ENERGY = "energy.json"                           # inferwire.energy.report
SUMMARY = "summary.md"                           # inferwire.experiment.summary
POINT = "point.json"                             # a sweep point's settings (inferwire.sweep)
CACHE_PROBE_TABLE = "probe.csv"                  # the cache probe's rows (inferwire.sweep.cacheprobe)
CLIENT_LOG_PREFIX = "client_log_"
CLIENT_LOG_GLOB = f"{CLIENT_LOG_PREFIX}*.csv"
STATS_HISTORY_GLOB = "*stats_history.csv"        # locust --csv PREFIX --csv-full-history
TRITON_TRACE_JSON = "triton_trace.json"          # every trace entry of the run, one JSON array
TRITON_TRACE_CSV = "triton_trace.csv"            # a row per traced request
TRITON_METRICS = "triton_metrics.csv"            # Triton's Prometheus metrics, sampled


def manifest_path(run_dir) -> Path:
    return Path(run_dir) / MANIFEST


def client_log_path(run_dir, workload: str) -> Path:
    """``run_dir/client_log_<workload>.csv`` (workload: "rest", "grpc", ...)."""
    return Path(run_dir) / f"{CLIENT_LOG_PREFIX}{workload}.csv"


def client_log_workload(path) -> str:
    """The workload a client log file is for (its name without prefix and suffix)."""
    return Path(path).stem.removeprefix(CLIENT_LOG_PREFIX)


def table_path(run_dir, name: str) -> Path | None:
    """``run_dir/name.parquet``, else ``run_dir/name.csv``; None when neither exists."""
    pq, csv = Path(run_dir) / f"{name}.parquet", Path(run_dir) / f"{name}.csv"
    return pq if pq.is_file() else csv if csv.is_file() else None
