"""Locust: streamed OpenAI-style completions (Server-Sent Events), TTFT and ITL as locust stats.

    SERVER=localhost REST_PORT=8501 INFERWIRE_STREAM_TOKENS=16 \\
        locust -f stream_completions.py --headless -u 4 -r 4 -t 10s --csv stream

Each request is ``POST /v1/completions`` with ``"stream": true`` and a fresh ``x-request-id``;
the stream is read to its end with the project's own streaming client
(:class:`inferwire.locustfiles.stream_users.CompletionsStreamUser`: each event timed as read).
The ``completions stream`` event is the whole stream; its context carries the request id and
the client's token times (so the event log and the capture join by id, with TTFT and gaps per
request).  Unless ``INFERWIRE_LOCUST_TOKEN_STATS=0``, two more events per stream put TTFT and
ITL in locust's own statistics, CSVs and UI: ``completions ttft`` (response time = the client's
time to first token) and ``completions itl`` (response time = the stream's median inter-token
gap); they carry no request id (their rows in an event log have none).  A capture run
(``--engine locust --stream-tokens N``) sets it to 0, so that locust's request count and rate
are streams.
"""
from __future__ import annotations

import os

from inferwire.locustfiles.stream_users import CompletionsStreamUser

#: Fire the ``completions ttft`` and ``completions itl`` events (``INFERWIRE_LOCUST_TOKEN_STATS``).
TOKEN_STATS = os.environ.get("INFERWIRE_LOCUST_TOKEN_STATS", "1") != "0"


class StreamCompletionsUser(CompletionsStreamUser):
    """One keep-alive HTTP/1.1 connection per user; the token statistics as extra events."""

    def streamed(self, result, started_ns: int) -> None:
        if not TOKEN_STATS:
            return
        fire = self.environment.events.request.fire
        if result.first_token_ns is not None:
            fire(request_type="SSE", name="completions ttft",
                 response_time=(result.first_token_ns - started_ns) / 1e6, exception=None,
                 start_time=started_ns / 1e9, response_length=0, response=None, context={})
        if result.itl_p50_ms is not None:
            fire(request_type="SSE", name="completions itl", response_time=result.itl_p50_ms,
                 exception=None, start_time=started_ns / 1e9, response_length=0,
                 response=None, context={})
