"""Workloads: what one request does.  ``workload(request_id) -> result`` (PredictResult-like).

The runner only needs a callable; it reads ``ok``, ``status``, ``request_bytes``,
``response_bytes``, ``serialize_ns``, ``model_time_ns`` and ``error`` from the result when present.
Workloads called from several worker threads keep one client (connection) per thread.
"""
from __future__ import annotations

import itertools

import http.client
import threading
import urllib.parse
from dataclasses import dataclass

from ..errors import LoadError


@dataclass(frozen=True)
class WorkResult:
    """The minimal PredictResult-like result.  Byte counts are message bodies, not wire bytes."""
    request_id: str
    ok: bool
    status: object = None
    request_bytes: int | None = None
    response_bytes: int | None = None
    serialize_ns: int | None = None
    model_time_ns: int | None = None
    error: str | None = None


class PerThread:
    """One object per calling thread, made by ``factory()`` on first use; all closed by close()."""

    def __init__(self, factory):
        self._factory, self._local = factory, threading.local()
        self._made, self._lock = [], threading.Lock()

    def get(self):
        value = getattr(self._local, "value", None)
        if value is None:
            value = self._local.value = self._factory()
            with self._lock:
                self._made.append(value)
        return value

    def close(self, closer) -> None:
        with self._lock:
            made, self._made = self._made, []
        for value in made:
            closer(value)


class HttpWorkload:
    """A plain HTTP/1.1 request per call (http.client), ``request_id`` sent in a header.

    ``connection`` "reuse" keeps one connection per worker thread; "new" opens one per request.
    Responses with status >= 400 are failures.  Handy as a real, light target for tests and for
    checking a capture set-up before pointing the load at a model server.
    """

    def __init__(self, url: str, *, method: str = "GET", body: bytes | None = None,
                 headers: dict | None = None, timeout_s: float = 10.0,
                 connection: str = "reuse", request_id_header: str = "x-request-id"):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or not parts.hostname:
            raise LoadError(f"HttpWorkload needs an http://host:port/path URL, got {url!r}")
        if connection not in ("reuse", "new"):
            raise LoadError(f"connection must be 'reuse' or 'new', not {connection!r}")
        self.name = f"http {method} {url}"
        self.host, self.port = parts.hostname, parts.port or 80
        self.target = parts.path or "/"
        if parts.query:
            self.target += "?" + parts.query
        self.method, self.body, self.headers = method, body, dict(headers or {})
        self.timeout_s, self.connection = timeout_s, connection
        self.request_id_header = request_id_header
        self._connections = PerThread(lambda: [None])

    def __call__(self, request_id: str) -> WorkResult:
        holder = self._connections.get()
        if holder[0] is None:
            holder[0] = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
        conn = holder[0]
        try:
            conn.request(self.method, self.target, body=self.body,
                         headers={**self.headers, self.request_id_header: request_id})
            response = conn.getresponse()
            data = response.read()
        except BaseException:
            conn.close()                   # a broken connection is not reused
            holder[0] = None
            raise
        if self.connection == "new" or response.will_close:
            conn.close()
            holder[0] = None
        return WorkResult(request_id, ok=response.status < 400, status=response.status,
                          request_bytes=len(self.body or b""), response_bytes=len(data),
                          error=None if response.status < 400 else f"HTTP {response.status}")

    def close(self) -> None:
        self._connections.close(lambda h: h[0] is not None and h[0].close())


#: Distinct images behind ``PredictWorkload(inputs="unique")``.
UNIQUE_POOL = 4096


class PredictWorkload:
    """Predict requests through ``inferwire.serving.clients`` (one client per thread): TF Serving's
    predict API, or the Open Inference Protocol (KServe V2) with ``api="v2"`` (a client option).

    ``protocol`` "rest" or "grpc", ``batch_size`` images per request, ``encoding`` and
    ``connection`` ("reuse"/"new") as the clients define them; other keyword arguments go to
    ``make_client``.  ``inputs`` "repeated" (default): the batch is built once per thread and
    every request sends the same images; "unique": request *i* of the workload sends rows
    ``i, i+1, ... i+batch_size-1`` (mod :data:`UNIQUE_POOL`) of a pool of distinct images, so no
    two of any :data:`UNIQUE_POOL` consecutive requests carry the same input (for cache
    experiments).  Picking a batch is a numpy take, done before the request's clock starts
    mattering little; serialisation time is part of the request and reported by the client.
    """

    def __init__(self, protocol: str, host: str, port: int, batch_size: int = 1,
                 encoding: str | None = None, connection: str = "reuse",
                 inputs: str = "repeated", **client_options):
        try:
            from ..serving import clients  # deferred: serving.clients imports google (optional)
        except ImportError as exc:
            raise LoadError("PredictWorkload needs inferwire.serving.clients, which cannot be "
                            f"imported: {exc}") from exc
        if batch_size < 1:
            raise LoadError(f"batch_size must be >= 1, got {batch_size}")
        if inputs not in ("repeated", "unique"):
            raise LoadError(f"inputs must be 'repeated' or 'unique', got {inputs!r}")
        self.inputs = inputs
        # a pool per protocol: after REST, gRPC's "unique" inputs are new to a caching server
        self._pool = clients.sample_images(UNIQUE_POOL, seed=2 if protocol == "grpc" else 1) \
            if inputs == "unique" else None
        self._counter = itertools.count()   # next() is atomic under the GIL: ids across threads
        self._clients_module = clients
        self.protocol, self.host, self.port = protocol, host, port
        self.batch_size, self.encoding, self.connection = batch_size, encoding, connection
        self.client_options = client_options
        verb = "v2 infer" if client_options.get("api") == "v2" else "predict"
        self.name = f"{protocol} {verb} batch {batch_size} {host}:{port}"
        self._state = PerThread(self._new_client)
        # Build one client now so that bad options fail here, once, as a LoadError (not as an
        # error row per request); clients do not connect before their first request.
        probe_client, _ = self._new_client()
        getattr(probe_client, "close", lambda: None)()

    def _new_client(self):
        options = dict(self.client_options, connection=self.connection)
        if self.encoding is not None:
            options["encoding"] = self.encoding
        client = self._clients_module.make_client(self.protocol, self.host, self.port, **options)
        sample = getattr(self._clients_module, "sample_images", None) or client.sample_images
        return client, sample(self.batch_size)

    def __call__(self, request_id: str):
        client, images = self._state.get()
        if self._pool is not None:
            i = next(self._counter)
            images = self._pool.take(range(i, i + self.batch_size), axis=0, mode="wrap")
        return client.predict(images, request_id)

    def close(self) -> None:
        self._state.close(lambda state: getattr(state[0], "close", lambda: None)())

