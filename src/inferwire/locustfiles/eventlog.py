"""One CSV row per locust request event, one file per process: the tool's own per-request log.

Pure apart from the file: no locust import, so the capture run reads these files with the same
column list.  Times are wall-clock ns: ``started_ns`` is locust's ``start_time`` (``time.time()``
when the request began), ``finished_ns`` = started + locust's ``response_time`` (measured on
``time.perf_counter``), so ``response_time_ms`` is exactly the figure locust aggregates.
A streamed request's event carries the client's view of its tokens in its context (the
:data:`STREAM_COLUMNS`: first and last token's arrival, wall-clock ns; the token count; the
gaps' median and largest, ms), empty for other requests.
"""
from __future__ import annotations

import csv
import os
import time

COLUMNS = ("request_id", "pid", "request_type", "name", "started_ns", "finished_ns",
           "response_time_ms", "ok", "status", "request_bytes", "response_bytes", "error",
           "first_token_ns", "last_token_ns", "tokens", "itl_p50_ms", "itl_max_ms")
#: The streamed request's columns (the last five), taken from the event's context.
STREAM_COLUMNS = COLUMNS[-5:]
LOG_DIR_ENV = "INFERWIRE_LOCUST_LOG_DIR"
FILE_PREFIX = "requests_"
FLUSH_ROWS = 50


def event_row(*, request_type, name, response_time, response_length=None, exception=None,
              context=None, start_time=None, response=None, now_ns: int | None = None) -> list:
    """The CSV cells of one request event (locust's ``events.request`` keyword arguments)."""
    context = context or {}
    duration_ns = round(response_time * 1e6) if response_time is not None else None
    if start_time is not None:
        started = int(start_time * 1e9)
    elif duration_ns is not None:       # custom events may omit start_time: it ended just now
        started = (now_ns if now_ns is not None else time.time_ns()) - duration_ns
    else:
        started = None
    finished = started + duration_ns if started is not None and duration_ns is not None else None
    status = context.get("status", getattr(response, "status_code", None))
    error = None if exception is None else f"{type(exception).__name__}: {exception}"[:300]
    cells = (context.get("request_id"), os.getpid(), request_type, name, started, finished,
             response_time, exception is None, status, context.get("request_bytes"),
             response_length, error) + tuple(context.get(c) for c in STREAM_COLUMNS)
    return ["" if v is None else ("true" if v is True else "false" if v is False else v)
            for v in cells]


class EventLogWriter:
    """Writes rows to ``directory/requests_<pid>.csv``, opened at the first row (so forked
    locust processes each get their own file), flushed every :data:`FLUSH_ROWS` rows."""

    def __init__(self, directory: str):
        self.directory = directory
        self._file = self._writer = None
        self._pid = None
        self._pending = 0

    def write(self, row: list) -> None:
        if self._file is None or self._pid != os.getpid():
            self._open()
        self._writer.writerow(row)
        self._pending += 1
        if self._pending >= FLUSH_ROWS:
            self.flush()

    def _open(self) -> None:
        self._pid = os.getpid()
        os.makedirs(self.directory, exist_ok=True)
        path = os.path.join(self.directory, f"{FILE_PREFIX}{self._pid}.csv")
        self._file = open(path, "x", newline="", encoding="utf-8")
        self._writer = csv.writer(self._file)
        self._writer.writerow(COLUMNS)

    def flush(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.flush()
        self._pending = 0

    def close(self) -> None:
        if self._file is not None and not self._file.closed and self._pid == os.getpid():
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
