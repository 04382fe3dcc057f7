"""The streaming locust users (issue 20): each request one stream, read to its end by the
project's own streaming clients (each token timed as it is read), one locust request event per
stream.  :class:`CompletionsStreamUser`: the embedded server's OpenAI-style ``/v1/completions``
(SSE, :class:`inferwire.load.streaming.CompletionsWorkload`); :class:`TritonStreamUser`: Triton's
decoupled model (:mod:`inferwire.load.triton_stream`).  Importing this module imports locust
(through :mod:`.common`), so it belongs in locust processes only.

The event's context carries the request id (so the event log, the capture and the server's log
join by it) and the client's view of the tokens (first and last token's arrival, their count,
the gaps' median and largest), which the event log keeps per request
(:data:`inferwire.locustfiles.eventlog.STREAM_COLUMNS`).  ``response_time`` is the whole
stream; a stream that ends without its end marker (``[DONE]``, Triton's final response), or
with an error message, fails.
"""
from __future__ import annotations

import http.client
import os
import time

import grpc
from locust import User, task

from inferwire.load.streaming import CompletionsWorkload
from inferwire.load.triton_stream import triton_stream_workload
from inferwire.locustfiles.common import SETTINGS, new_request_id, wait_time_for

#: Tokens each request asks for (``INFERWIRE_STREAM_TOKENS``, default 16).
TOKENS = int(os.environ.get("INFERWIRE_STREAM_TOKENS") or 16)


class StreamUser(User):
    """One stream per task from ``self.workload`` (a streaming workload, made per user by
    :meth:`new_workload`: its own connection or channel), fired as a request event named
    ``label`` of type ``request_type``; :meth:`streamed` may fire more."""
    abstract = True
    request_type = "rest"
    label = "stream"
    wait_time = wait_time_for(SETTINGS)

    def new_workload(self):
        raise NotImplementedError

    def on_start(self):
        self.workload = self.new_workload()

    def on_stop(self):
        self.workload.close()

    @task
    def stream(self):
        rid = new_request_id()
        started_ns, t0 = time.time_ns(), time.perf_counter()
        result = exc = None
        try:
            result = self.workload(rid)
            if not result.ok:
                exc = RuntimeError(result.error)
        except (OSError, http.client.HTTPException, grpc.RpcError) as err:
            exc = err
        context = {"request_id": rid}
        if result is not None:
            context.update(status=result.status, request_bytes=result.request_bytes,
                           first_token_ns=result.first_token_ns,
                           last_token_ns=result.last_token_ns, tokens=result.tokens,
                           itl_p50_ms=result.itl_p50_ms, itl_max_ms=result.itl_max_ms)
        self.environment.events.request.fire(
            request_type=self.request_type, name=self.label,
            response_time=(time.perf_counter() - t0) * 1000, exception=exc,
            start_time=started_ns / 1e9, response_length=result.response_bytes if result else 0,
            response=None, context=context)
        if result is not None:
            self.streamed(result, started_ns)

    def streamed(self, result, started_ns: int) -> None:
        """After a stream's event (``started_ns``: wall-clock ns when it began): nothing."""


class CompletionsStreamUser(StreamUser):
    """``POST /v1/completions`` with ``"stream": true`` (the embedded server's SSE), one
    keep-alive HTTP/1.1 connection per user (http.client, gevent-patched by locust)."""
    abstract = True
    request_type = "POST"
    label = "completions stream"
    host = f"http://{SETTINGS.server}:{SETTINGS.rest_port}"

    def new_workload(self):
        return CompletionsWorkload(SETTINGS.server, SETTINGS.rest_port, max_tokens=TOKENS)


class TritonStreamUser(StreamUser):
    """One stream per task from Triton's decoupled model ``MODEL_NAME``, over ``protocol``
    ("rest": ``generate_stream``, one keep-alive HTTP/1.1 connection per user; "grpc":
    ``ModelStreamInfer``, one channel and HTTP/2 connection per user)."""
    abstract = True
    protocol = "rest"

    @property
    def request_type(self) -> str:
        return self.protocol

    @property
    def label(self) -> str:
        kind = "ModelStreamInfer" if self.protocol == "grpc" else "generate_stream"
        return f"{kind} {TOKENS} tokens"

    def new_workload(self):
        port = SETTINGS.grpc_port if self.protocol == "grpc" else SETTINGS.rest_port
        return triton_stream_workload(self.protocol, SETTINGS.server, port,
                                      SETTINGS.model_name, max_tokens=TOKENS)
