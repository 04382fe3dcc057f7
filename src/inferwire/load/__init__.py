"""A measurement-grade load generator: closed and open loop, warm-up, per-request client log.

    from inferwire.load import LoadOptions, run_load, ClientLogWriter, ProgressPrinter, PredictWorkload
    summary = run_load(PredictWorkload("rest", "127.0.0.1", 8501),
                       LoadOptions(mode="open", rate=200, duration_s=10),
                       [ClientLogWriter("run/client_log.csv"), ProgressPrinter()])

Scheduling (``schedule.py``) is kept apart from what a request does (``workloads.py``) and from
who listens (``events.py``, ``clientlog.py``), as in locust.
"""
from __future__ import annotations

from .clientlog import COLUMNS as CLIENT_LOG_COLUMNS
from .clientlog import ClientLogWriter, read_client_log
from .events import LiveStats, LoadListener, ProgressPrinter, RequestRecord, RunInfo
from .runner import LoadInterrupted, LoadOptions, run_load
from .schedule import Plan, Slot, arrival_offsets_ns
from .stats import LoadSummary, summarize
from .workloads import HttpWorkload, PredictWorkload, WorkResult

__all__ = ["run_load", "LoadOptions", "LoadSummary", "LoadInterrupted", "LoadListener",
           "RequestRecord", "RunInfo", "ClientLogWriter", "read_client_log",
           "CLIENT_LOG_COLUMNS", "ProgressPrinter", "LiveStats", "HttpWorkload",
           "PredictWorkload", "WorkResult", "Plan", "Slot", "arrival_offsets_ns", "summarize"]
