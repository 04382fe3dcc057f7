"""The client log: one CSV row per request, written as the run goes.

Rows are flushed to the OS every ``flush_rows`` rows and at least every ``flush_interval_s``
seconds, so a Ctrl-C or a crash keeps what was measured (at most the last second of rows is at
risk, and only if the whole process dies).  The file is created exclusively: a run never
overwrites another run's log unless asked to.

Columns (times in wall-clock ns from ``time.time_ns()``, i.e. CLOCK_REALTIME, the clock the
kernel stamps captured packets with on the same host):

    request_id, worker, phase ("warmup"|"measure"), scheduled_ns, started_ns, finished_ns,
    latency_ms (finished - started), latency_from_scheduled_ms (finished - scheduled), ok,
    status, request_bytes, response_bytes, serialize_ns, model_time_ns, error,
    first_token_ns, last_token_ns, tokens, ttft_ms (first_token - started), itl_p50_ms,
    itl_max_ms (the last six: streamed requests only, :mod:`inferwire.load.streaming`)

Empty cells are unknown values (never zeros standing in for them).
"""
from __future__ import annotations

import csv
import os
import time

from ..errors import LoadError
from .events import LoadListener, RequestRecord

COLUMNS = ("request_id", "worker", "phase", "scheduled_ns", "started_ns", "finished_ns",
           "latency_ms", "latency_from_scheduled_ms", "ok", "status", "request_bytes",
           "response_bytes", "serialize_ns", "model_time_ns", "error", "first_token_ns",
           "last_token_ns", "tokens", "ttft_ms", "itl_p50_ms", "itl_max_ms")
INT_COLUMNS = ("worker", "scheduled_ns", "started_ns", "finished_ns", "request_bytes",
               "response_bytes", "serialize_ns", "model_time_ns", "first_token_ns",
               "last_token_ns", "tokens")
#: Columns added later (issue 20): a log written before them is read with them empty.
LATER_COLUMNS = ("first_token_ns", "last_token_ns", "tokens", "ttft_ms", "itl_p50_ms",
                 "itl_max_ms")


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:.6f}"          # ns resolution in ms
    return str(value)


def format_row(record: RequestRecord) -> list[str]:
    """The CSV cells of one record, in :data:`COLUMNS` order."""
    r = record
    values = (r.request_id, r.worker, r.phase, r.scheduled_ns, r.started_ns, r.finished_ns,
              r.latency_ms, r.latency_from_scheduled_ms, r.ok, r.status, r.request_bytes,
              r.response_bytes, r.serialize_ns, r.model_time_ns, r.error, r.first_token_ns,
              r.last_token_ns, r.tokens, r.ttft_ms, r.itl_p50_ms, r.itl_max_ms)
    return [_cell(v) for v in values]


class ClientLogWriter(LoadListener):
    """A listener writing the client log to ``path`` (see the module docstring)."""

    def __init__(self, path: str | os.PathLike, *, flush_rows: int = 100,
                 flush_interval_s: float = 1.0, overwrite: bool = False):
        self.path = os.fspath(path)
        try:
            self._file = open(self.path, "w" if overwrite else "x", newline="", encoding="utf-8")
        except FileExistsError as exc:
            raise LoadError(f"client log {self.path} already exists: logs are never overwritten "
                            "unless overwrite=True; choose a new path") from exc
        except OSError as exc:
            raise LoadError(f"cannot create client log {self.path}: {exc}") from exc
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)
        self._file.flush()
        self.flush_rows, self.flush_interval_ns = flush_rows, int(flush_interval_s * 1e9)
        self.rows = 0
        self._pending = 0
        self._last_flush_ns = time.monotonic_ns()

    def on_request(self, record: RequestRecord) -> None:
        self._writer.writerow(format_row(record))
        self.rows += 1
        self._pending += 1
        if self._pending >= self.flush_rows:
            self.flush()

    def on_tick(self, now_ns: int) -> None:
        if self._pending and time.monotonic_ns() - self._last_flush_ns >= self.flush_interval_ns:
            self.flush()

    def on_stop(self, summary) -> None:
        self.close()

    def flush(self) -> None:
        """Hand the buffered rows to the OS (they survive the end of this process)."""
        if not self._file.closed:
            self._file.flush()
        self._pending, self._last_flush_ns = 0, time.monotonic_ns()

    def close(self) -> None:
        """Flush, sync to disk and close (idempotent)."""
        if self._file.closed:
            return
        self.flush()
        os.fsync(self._file.fileno())
        self._file.close()


def read_client_log(path: str | os.PathLike):
    """The client log as a pandas DataFrame: ns and byte columns as nullable Int64, ``ok`` bool,
    empty ``status``/``error`` cells as None."""
    import pandas as pd                     # deferred: pandas is heavy to import; only here: importing inferwire.load stays light
    dtypes = {c: "Int64" for c in INT_COLUMNS}
    dtypes.update(request_id=str, phase=str, status=str, error=str)
    header = pd.read_csv(path, nrows=0).columns
    dtypes = {c: t for c, t in dtypes.items() if c in header}
    frame = pd.read_csv(path, dtype=dtypes, keep_default_na=False,
                        na_values={c: [""] for c in (*INT_COLUMNS, "latency_ms",
                                                     "latency_from_scheduled_ms", "ttft_ms",
                                                     "itl_p50_ms", "itl_max_ms")
                                   if c in header})
    for column in LATER_COLUMNS:
        if column not in frame:
            frame[column] = (pd.array([None] * len(frame), dtype="Int64")
                             if column in INT_COLUMNS else float("nan"))
    frame["ok"] = frame["ok"].map({"true": True, "false": False, True: True, False: False})
    for column in ("status", "error"):
        frame[column] = frame[column].astype(object).where(frame[column] != "", None)
    return frame
