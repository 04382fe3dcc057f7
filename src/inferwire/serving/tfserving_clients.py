"""Predict clients for TF Serving's REST and gRPC APIs, one encoding per client (made by
:func:`inferwire.serving.clients.make_client`; the V2 clients of :mod:`.v2.clients` extend them).

Every request carries a unique ``x-request-id`` (HTTP header / gRPC metadata) so a capture joins to
the client's log.  ``connection="reuse"`` keeps one connection (HTTP keep-alive / one gRPC channel);
``"new"`` opens a fresh TCP (and TLS) connection per request, to measure handshakes.  With
``tls=True`` the client verifies the server against ``ca_cert``; ``keylog_file`` appends TLS secrets
in SSLKEYLOGFILE format (REST only: grpcio's TLS stack offers no key log; a warning says so).

Thread safety: use one client per thread (a REST client holds one HTTP connection).  Clients never
raise for server errors: :class:`PredictResult` has ``ok=False``, the status and the message.
"""
from __future__ import annotations

import functools
import http.client
import ssl
import time
import uuid
import warnings
from dataclasses import dataclass

import numpy as np

from ..errors import InferwireWarning, LoadError
from . import encodings as E
from .digits import generate_digits
from .encodings import ENCODINGS
from .protos import predict_pb2

__all__ = ["ENCODINGS", "PredictResult", "PredictClient", "RestClient", "GrpcClient",
           "new_request_id", "sample_images"]

MODEL_TIME_HEADER = "x-inferwire-model-time-ns"
SERVER_TIME_HEADER = "x-inferwire-server-time-ns"
QUEUE_TIME_HEADER = "x-inferwire-queue-time-ns"
REQUEST_ID = "x-request-id"
DEFAULT_PORTS = {"rest": 8501, "grpc": 8500}
PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"


@dataclass
class PredictResult:
    """One predict call as the client saw it (times in ns, sizes in bytes)."""
    request_id: str
    ok: bool
    status: str            # HTTP status as str ("200") or gRPC code name ("OK", "INVALID_ARGUMENT")
    request_bytes: int     # serialized request body (JSON body or protobuf message)
    response_bytes: int    # response body
    serialize_ns: int      # client time spent encoding the request
    model_time_ns: int | None  # server-reported time inside the model, if reported
    error: str | None
    outputs: "np.ndarray | None"   # scores float32 [n, 10], when decoded
    # extensions: the embedded server's handler time (request bytes in hand to reply ready) and
    # batch-queue time, when it reports them; server_time_ns - model_time_ns = server overhead
    server_time_ns: int | None = None
    queue_time_ns: int | None = None


def new_request_id() -> str:
    """A fresh unique request id (32 hex digits)."""
    return uuid.uuid4().hex


@functools.lru_cache(maxsize=8)
def _pool(n: int, seed: int) -> np.ndarray:
    images = generate_digits(n, seed).images
    images.setflags(write=False)
    return images


def sample_images(n: int, seed: int = 0) -> np.ndarray:
    """uint8 [n, 784] images from the generated digits set (deterministic for ``seed``)."""
    return _pool(n, seed).copy()


class PredictClient:
    """Base class: ``predict(images)`` -> :class:`PredictResult`; ``close()``; context manager."""
    protocol = ""

    def __init__(self, encoding: str, model_name: str, signature_name: str | None,
                 version: int | None):
        self.encoding, self.model_name = encoding, model_name
        self.signature_name = signature_name or E.default_signature(encoding)
        self.version = version

    def predict(self, images: np.ndarray, request_id: str | None = None) -> PredictResult:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RestClient(PredictClient):
    """TF Serving REST predict over ``http.client`` (HTTP/1.1)."""
    protocol = "rest"

    def __init__(self, host: str, port: int, *, encoding: str, model_name: str,
                 signature_name: str | None, version: int | None, connection: str, tls: bool,
                 ca_cert: str | None, keylog_file: str | None, timeout_s: float):
        super().__init__(encoding, model_name, signature_name, version)
        self.host, self.port, self.timeout_s = host, port, timeout_s
        self.new_connection = connection == "new"
        self._context = _client_context(ca_cert, keylog_file) if tls else None
        self.path = self._path(model_name, version)
        self._conn: http.client.HTTPConnection | None = None

    def _path(self, model_name: str, version) -> str:
        version_part = f"/versions/{version}" if version is not None else ""
        return f"/v1/models/{model_name}{version_part}:predict"

    def _connect(self) -> http.client.HTTPConnection:
        if self._context is not None:
            return http.client.HTTPSConnection(self.host, self.port, timeout=self.timeout_s,
                                               context=self._context)
        return http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)

    def _encode(self, images: np.ndarray, request_id: str) -> tuple[bytes, dict]:
        """(body, headers) of the request; the V2 client overrides this and the two below."""
        body = E.rest_body(self.encoding, E.check_images(images), self.signature_name)
        return body, {"Content-Type": "application/json"}

    def _decode(self, data: bytes, headers) -> np.ndarray:
        return E.rest_scores(data)

    def _error(self, data: bytes) -> str:
        return E.rest_error(data)

    def predict(self, images, request_id=None) -> PredictResult:
        rid = request_id or new_request_id()
        t0 = time.perf_counter_ns()
        body, headers = self._encode(images, rid)
        serialize_ns = time.perf_counter_ns() - t0
        headers[REQUEST_ID] = rid
        if self.new_connection:
            headers["Connection"] = "close"
        try:
            status, data, resp_headers, timing = self._exchange(body, headers)
        except (OSError, http.client.HTTPException) as exc:
            self._drop()
            return PredictResult(rid, False, "CONNECTION_ERROR", len(body), 0, serialize_ns, None,
                                 f"{type(exc).__name__}: {exc}", None)
        if self.new_connection:
            self._drop()
        model_ns, server_ns, queue_ns = timing
        sizes = (len(body), len(data), serialize_ns, model_ns)
        if status != 200:
            return PredictResult(rid, False, str(status), *sizes, self._error(data), None,
                                 server_ns, queue_ns)
        try:
            scores = self._decode(data, resp_headers)
        except ValueError as exc:
            return PredictResult(rid, False, str(status), *sizes, f"undecodable response: {exc}",
                                 None, server_ns, queue_ns)
        return PredictResult(rid, True, str(status), *sizes, None, scores, server_ns, queue_ns)

    def _exchange(self, body: bytes, headers: dict) -> tuple[int, bytes, object, tuple]:
        reused = self._conn is not None
        try:
            return self._send(body, headers)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            if not reused:
                raise
            # The server closed an idle keep-alive connection before this request reached it.
            self._drop()
            return self._send(body, headers)

    def _send(self, body: bytes, headers: dict) -> tuple[int, bytes, object, tuple]:
        if self._conn is None:
            self._conn = self._connect()
        self._conn.request("POST", self.path, body=body, headers=headers)
        resp = self._conn.getresponse()
        data = resp.read()
        timing = tuple(_int(resp.getheader(h)) for h in (MODEL_TIME_HEADER, SERVER_TIME_HEADER,
                                                         QUEUE_TIME_HEADER))
        if resp.will_close:
            self._drop()
        return resp.status, data, resp.headers, timing

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def close(self) -> None:
        self._drop()


class GrpcClient(PredictClient):
    """TF Serving gRPC Predict on grpcio; the request is serialized here so its size and the
    encoding time are known."""
    protocol = "grpc"

    def __init__(self, host: str, port: int, *, encoding: str, model_name: str,
                 signature_name: str | None, version: int | None, connection: str, tls: bool,
                 ca_cert: str | None, keylog_file: str | None, timeout_s: float,
                 max_message_bytes: int = 64 << 20):
        super().__init__(encoding, model_name, signature_name, version)
        if keylog_file:
            warnings.warn("grpcio cannot write a TLS key log; keylog_file is ignored for gRPC",
                          InferwireWarning, stacklevel=3)
        self.target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        self.timeout_s = timeout_s
        self.new_connection = connection == "new"
        self._creds = None
        if tls:
            import grpc  # deferred: grpc is optional (serve/load)
            self._creds = grpc.ssl_channel_credentials(_read_ca(ca_cert) if ca_cert else None)
        self._options = [("grpc.max_receive_message_length", max_message_bytes),
                         ("grpc.max_send_message_length", max_message_bytes)]
        if self.new_connection:
            # Channels share connections process-wide unless each has its own subchannel pool.
            self._options.append(("grpc.use_local_subchannel_pool", 1))
        self._channel = None if self.new_connection else self._open()

    def _open(self):
        import grpc  # deferred: grpc is optional (serve/load)
        if self._creds is not None:
            return grpc.secure_channel(self.target, self._creds, options=self._options)
        return grpc.insecure_channel(self.target, options=self._options)

    method = PREDICT_METHOD

    def _encode(self, images: np.ndarray, request_id: str) -> bytes:
        """The serialized request message; the V2 client overrides this and ``_decode``."""
        return E.grpc_request(self.encoding, E.check_images(images), self.model_name,
                              self.signature_name, self.version).SerializeToString()

    def _decode(self, data: bytes) -> np.ndarray:
        return E.grpc_scores(predict_pb2.PredictResponse.FromString(data))

    def predict(self, images, request_id=None) -> PredictResult:
        import grpc  # deferred: grpc is optional (serve/load)
        rid = request_id or new_request_id()
        t0 = time.perf_counter_ns()
        raw = self._encode(images, rid)
        serialize_ns = time.perf_counter_ns() - t0
        channel = self._channel or self._open()
        call = channel.unary_unary(self.method, request_serializer=None, response_deserializer=None)
        try:
            data, info = call.with_call(raw, metadata=((REQUEST_ID, rid),), timeout=self.timeout_s)
            model_ns, server_ns, queue_ns = _timing(info.trailing_metadata())
        except grpc.RpcError as exc:
            model_ns, server_ns, queue_ns = _timing(exc.trailing_metadata())
            return PredictResult(rid, False, exc.code().name, len(raw), 0, serialize_ns, model_ns,
                                 exc.details(), None, server_ns, queue_ns)
        finally:
            if channel is not self._channel:
                channel.close()
        try:
            scores = self._decode(data)
        except Exception as exc:  # a malformed response is a result, not a crash of the load
            return PredictResult(rid, False, "OK", len(raw), len(data), serialize_ns, model_ns,
                                 f"undecodable response: {exc}", None, server_ns, queue_ns)
        return PredictResult(rid, True, "OK", len(raw), len(data), serialize_ns, model_ns, None,
                             scores, server_ns, queue_ns)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None


def _int(value) -> int | None:
    return int(value) if value is not None and str(value).isdigit() else None


def _timing(metadata) -> tuple[int | None, int | None, int | None]:
    """(model, server, queue) ns from gRPC trailing metadata (None where absent)."""
    md = {key: value for key, value in metadata or ()}
    return tuple(_int(md.get(h)) for h in (MODEL_TIME_HEADER, SERVER_TIME_HEADER, QUEUE_TIME_HEADER))


def _read_ca(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        raise LoadError(f"cannot read CA certificate {path}: {exc}") from exc


def _client_context(ca_cert: str | None, keylog_file: str | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=ca_cert) if ca_cert else ssl.create_default_context()
    if keylog_file:
        ctx.keylog_filename = keylog_file
    return ctx
