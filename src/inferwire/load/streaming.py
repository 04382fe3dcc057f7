"""Streamed completions as a workload: OpenAI-compatible ``/v1/completions`` (or chat) with
``"stream": true``, each token's Server-Sent Event timed as the client received it.

The result carries, besides :class:`~inferwire.load.workloads.WorkResult`'s fields, the client's
view of the stream: ``first_token_ns`` / ``last_token_ns`` (wall-clock ns, ``time.time_ns()``,
when the read that completed the first / last data event returned), ``tokens`` (data events
other than ``[DONE]``) and the inter-token gaps' median and largest (``itl_p50_ms``,
``itl_max_ms``).  The runner puts them in the client log (``ttft_ms`` = first_token_ns -
started_ns: the client's time to first token, request sending and its own parsing included).
"""
from __future__ import annotations

import http.client
import json
import time
from dataclasses import dataclass

from ..errors import LoadError
from .workloads import PerThread

#: Largest streamed body read (bytes): a server that never stops is cut off here.
MAX_STREAM_BYTES = 64 << 20


@dataclass(frozen=True)
class StreamResult:
    """One streamed request as the client saw it (times: wall-clock ns)."""
    request_id: str
    ok: bool
    status: object = None
    request_bytes: int | None = None
    response_bytes: int | None = None
    error: str | None = None
    first_token_ns: int | None = None
    last_token_ns: int | None = None
    tokens: int | None = None
    itl_p50_ms: float | None = None
    itl_max_ms: float | None = None


class EventSplitter:
    """Incremental SSE splitter (sans-IO): ``feed(bytes) -> [event data, ...]`` for each event
    completed by a blank line (LF LF or CRLF CRLF); the data field's value, lines joined."""

    def __init__(self):
        self._buf = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        out = []
        while True:
            cut = min((i for i in (self._buf.find(b"\n\n"), self._buf.find(b"\r\n\r\n"))
                       if i >= 0), default=-1)
            if cut < 0:
                return out
            block, self._buf = self._buf[:cut], self._buf[cut:].lstrip(b"\r\n")
            lines = [line[5:].lstrip(b" ") for line in block.splitlines()
                     if line.startswith(b"data:")]
            if lines:
                out.append(b"\n".join(lines))


class CompletionsWorkload:
    """``POST /v1/completions`` (``chat=True``: ``/v1/chat/completions``) with ``"stream":
    true`` over HTTP/1.1 (http.client, one connection per worker thread when ``connection`` is
    "reuse"), ``max_tokens`` tokens asked for each time."""

    def __init__(self, host: str, port: int, *, chat: bool = False, max_tokens: int = 16,
                 prompt: str = "the server reads the request", connection: str = "reuse",
                 timeout_s: float = 60.0):
        if connection not in ("reuse", "new"):
            raise LoadError(f"connection must be 'reuse' or 'new', not {connection!r}")
        if max_tokens < 1:
            raise LoadError(f"max_tokens must be >= 1, got {max_tokens}")
        self.host, self.port, self.connection, self.timeout_s = host, port, connection, timeout_s
        self.path = "/v1/chat/completions" if chat else "/v1/completions"
        request = ({"messages": [{"role": "user", "content": prompt}]} if chat
                   else {"prompt": prompt})
        self.body = json.dumps({**request, "max_tokens": max_tokens, "stream": True}).encode()
        self.name = f"rest stream {self.path} {max_tokens} tokens {host}:{port}"
        self._connections = PerThread(lambda: [None])

    def __call__(self, request_id: str) -> StreamResult:
        return post_streamed(self, self.body, request_id)

    def close(self) -> None:
        self._connections.close(lambda h: h[0] is not None and h[0].close())


def post_streamed(workload, body: bytes, request_id: str,
                  done_marker: bytes | None = b"[DONE]") -> StreamResult:
    """POST ``body`` to ``workload.path`` on the calling thread's HTTP/1.1 connection (made on
    first use; closed after the request when ``workload.connection`` is "new", when the server
    closes, or on any error) and read the streamed answer (:func:`_read_stream`).  ``workload``
    has ``host``, ``port``, ``path``, ``connection``, ``timeout_s`` and a ``PerThread``
    ``_connections`` of one-element holders."""
    holder = workload._connections.get()
    if holder[0] is None:
        holder[0] = http.client.HTTPConnection(workload.host, workload.port,
                                               timeout=workload.timeout_s)
    conn = holder[0]
    try:
        conn.request("POST", workload.path, body=body,
                     headers={"Content-Type": "application/json", "x-request-id": request_id})
        response = conn.getresponse()
        result = _read_stream(response, request_id, len(body), done_marker)
    except BaseException:
        conn.close()
        holder[0] = None
        raise
    if workload.connection == "new" or response.will_close:
        conn.close()
        holder[0] = None
    return result


def _read_stream(response, request_id: str, request_bytes: int,
                 done_marker: bytes | None = b"[DONE]") -> StreamResult:
    """Read a streamed response to its end, timing each data event.  ``done_marker``: the data
    that ends the stream (OpenAI's ``[DONE]``); None: the body's end does (Triton's
    ``generate_stream``), and an event holding an ``"error"`` member fails the request."""
    if response.status >= 400:
        body = response.read(MAX_STREAM_BYTES)
        return StreamResult(request_id, False, response.status, request_bytes, len(body),
                            f"HTTP {response.status}")
    splitter, arrivals, total, done, error = EventSplitter(), [], 0, False, None
    while total < MAX_STREAM_BYTES:
        data = response.read1(65536)
        if not data:
            done = done or done_marker is None
            break
        now = time.time_ns()
        total += len(data)
        for event in splitter.feed(data):
            if event == done_marker:
                done = True
            elif done_marker is None and event.startswith(b'{"error"'):
                error = event.decode("utf-8", "replace")[:200]
            else:
                arrivals.append(now)
    if error is None and not done:
        error = ("stream ended without [DONE]" if done_marker else
                 f"stream cut at {MAX_STREAM_BYTES} bytes")
    return StreamResult(request_id, done and error is None, response.status, request_bytes,
                        total, error, **arrival_fields(arrivals))


def arrival_fields(arrivals: list[int]) -> dict:
    """StreamResult's token fields from the tokens' arrival times (wall-clock ns, in order):
    first and last arrival, count, the gaps' median and largest (ms)."""
    gaps = sorted(b - a for a, b in zip(arrivals, arrivals[1:]))
    p50 = None
    if gaps:
        mid = len(gaps) // 2
        p50 = (gaps[mid] if len(gaps) % 2 else (gaps[mid - 1] + gaps[mid]) / 2) / 1e6
    return {"first_token_ns": arrivals[0] if arrivals else None,
            "last_token_ns": arrivals[-1] if arrivals else None, "tokens": len(arrivals),
            "itl_p50_ms": p50, "itl_max_ms": gaps[-1] / 1e6 if gaps else None}
