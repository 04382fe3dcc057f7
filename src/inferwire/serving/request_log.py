"""The server's per-request log: one JSON object per line, joinable to captures by ``request_id``.

Fields: ``ts_ns`` (wall clock when the reply was ready, ns since the epoch), ``protocol`` ("grpc" or
"rest"), ``method``, ``request_id`` (the client's ``x-request-id``), ``model``, ``version``,
``signature``, ``peer`` (client address "ip:port", joins to a capture's TCP connection),
``status`` (gRPC code name), ``rows`` (instances in the request), ``batch_rows``
(rows in the TF call it ran in), ``model_time_ns`` (inside TensorFlow), ``queue_time_ns`` (waiting
for a batch), ``server_time_ns`` (from request bytes in hand to response bytes ready; read together with
``ts_ns``, so ``ts_ns - server_time_ns`` is when the handler began, on the wall clock),
``request_bytes``, ``response_bytes``; for a streamed completion also ``stream_time_ns`` (the
handler's start to its last token; its ``ts_ns`` and ``server_time_ns`` end when the response's
head was ready, the first bytes); for Open Inference Protocol (V2) calls also ``v2_id`` (the
request's V2 ``id`` field).
"""
from __future__ import annotations

import json
import sys
import threading
from typing import IO


class RequestLog:
    """Thread-safe JSON-lines writer; ``path`` "-" means stdout, None means no log."""

    def __init__(self, path: str | None):
        self.path = path
        self._lock = threading.Lock()
        self._file: IO[str] | None
        if path is None:
            self._file = None
        elif path == "-":
            self._file = sys.stdout
        else:
            self._file = open(path, "a", buffering=1, encoding="utf-8")  # line-buffered

    @property
    def enabled(self) -> bool:
        return self._file is not None

    def write(self, record: dict) -> None:
        if self._file is None:
            return
        line = json.dumps(record, separators=(",", ":")) + "\n"
        with self._lock:
            self._file.write(line)
            if self._file is sys.stdout:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None and self._file is not sys.stdout:
                self._file.close()
            self._file = None
