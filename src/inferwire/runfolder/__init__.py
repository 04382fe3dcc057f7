"""The run folder: the one module that knows a capture run's files and their formats.

A run folder (made by ``inferwire run`` / :func:`inferwire.experiment.run_experiment`, never
overwritten, 0700) holds::

    manifest.json            what ran, with which facts, its status (:mod:`.manifest`)
    capture.pcapng           the packets (its probe port is in the manifest, :func:`probe_port`)
    client_log_<workload>.csv  the load generator's log per workload (:mod:`.logs`)
    server_log.jsonl         the server's request log, one JSON object a line (:mod:`.logs`)
    requests.csv|.parquet, connections.*, joined.*   the saved tables (:mod:`.tables`)
    resources.csv            CPU and memory samples per role (:mod:`.tables`)
    <prefix>_stats_history.csv  locust's stats history (:mod:`.locust`)
    triton_trace.json|.csv, triton_metrics.csv  Triton's trace and metrics (:mod:`.names`)
    summary.md, energy.json  written from the above; point.json, probe.csv in sweeps

Readers elsewhere (reports, compare, sweeps, energy, findings, and the analysis' shell: the
CLI and analyze_many, which leave out a run's probe port with :func:`with_run_probe`) ask this
package for paths and contents instead of naming the files themselves.  Light at import time
(``inferwire analyze --help`` imports it): each name is imported when first used.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "MANIFEST": "names", "CAPTURE": "names", "SERVER_LOG": "names", "RESOURCES": "names",
    "ENERGY": "names", "SUMMARY": "names", "POINT": "names", "CACHE_PROBE_TABLE": "names", "CLIENT_LOG_GLOB": "names", "STATS_HISTORY_GLOB": "names",
    "TRITON_TRACE_JSON": "names", "TRITON_TRACE_CSV": "names", "TRITON_METRICS": "names",
    "manifest_path": "names", "client_log_path": "names", "client_log_workload": "names",
    "table_path": "names",
    "read_manifest": "manifest", "load_manifest": "manifest", "write_manifest": "manifest",
    "write_json": "manifest", "probe_port": "probe", "run_probe_ports": "probe", "with_run_probe": "probe",
    "read_client_logs": "logs", "client_logs": "logs", "read_server_log": "logs",
    "read_table": "tables", "read_raw_table": "tables", "cast_columns": "tables",
    "read_resources": "tables", "RunTables": "tables", "read_run_tables": "tables",
    "read_stats_history": "locust", "read_stats_histories": "locust",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
