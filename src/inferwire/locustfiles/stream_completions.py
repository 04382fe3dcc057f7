"""Locust: streamed OpenAI-style completions (Server-Sent Events), TTFT and ITL as locust stats.

    SERVER=localhost REST_PORT=8501 INFERWIRE_STREAM_TOKENS=16 \\
        locust -f stream_completions.py --headless -u 4 -r 4 -t 10s --csv stream

Each request is ``POST /v1/completions`` with ``"stream": true`` and a fresh ``x-request-id``;
the stream is read to its end with the project's own streaming client
(:mod:`inferwire.load.streaming`: each event timed as read).  Three request events per stream:
``completions stream`` (the whole stream; its context carries the request id, so the event log
and the capture join by it), ``completions ttft`` (response time = the client's time to first
token) and ``completions itl`` (response time = the stream's median inter-token gap), so
locust's own statistics, CSVs and UI show TTFT and ITL percentiles.  The two timing events carry
no request id (their rows in an event log have none).
"""
from __future__ import annotations

import http.client
import json
import os
import time

from locust import User, task

from inferwire.load.streaming import _read_stream
from inferwire.locustfiles.common import REQUEST_ID, SETTINGS, new_request_id, wait_time_for

TOKENS = int(os.environ.get("INFERWIRE_STREAM_TOKENS") or 16)


class StreamCompletionsUser(User):
    """One keep-alive HTTP/1.1 connection per user (http.client, gevent-patched by locust)."""
    host = f"http://{SETTINGS.server}:{SETTINGS.rest_port}"
    wait_time = wait_time_for(SETTINGS)
    body = json.dumps({"prompt": "the server reads the request", "max_tokens": TOKENS,
                       "stream": True}).encode()

    def on_start(self):
        self.conn = http.client.HTTPConnection(SETTINGS.server, SETTINGS.rest_port, timeout=60)

    def on_stop(self):
        self.conn.close()

    @task
    def stream(self):
        rid = new_request_id()
        start_time, t0 = time.time(), time.time_ns()
        exc = result = None
        try:
            self.conn.request("POST", "/v1/completions", body=self.body,
                              headers={"Content-Type": "application/json", REQUEST_ID: rid})
            result = _read_stream(self.conn.getresponse(), rid, len(self.body))
            if not result.ok:
                exc = RuntimeError(result.error)
        except (OSError, http.client.HTTPException) as err:
            exc = err
            self.conn.close()
        fire = self.environment.events.request.fire
        fire(request_type="POST", name="completions stream",
             response_time=(time.time_ns() - t0) / 1e6, exception=exc, start_time=start_time,
             response_length=result.response_bytes if result else 0, response=None,
             context={"request_id": rid, "status": getattr(result, "status", None),
                      "request_bytes": len(self.body)})
        if result is not None and result.first_token_ns is not None:
            fire(request_type="SSE", name="completions ttft",
                 response_time=(result.first_token_ns - t0) / 1e6, exception=None,
                 start_time=start_time, response_length=0, response=None, context={})
        if result is not None and result.itl_p50_ms is not None:
            fire(request_type="SSE", name="completions itl", response_time=result.itl_p50_ms,
                 exception=None, start_time=start_time, response_length=0, response=None,
                 context={})
