"""The gRPC shell: ``tensorflow.serving.PredictionService`` and ``tensorflow.serving.ModelService``,
and the Open Inference Protocol's ``inference.GRPCInferenceService`` (:mod:`.v2.grpc`), on grpcio,
answering from a :class:`~.service.ServingCore`.

Handlers take and return raw bytes (no grpcio (de)serializers), so that parsing and serializing are
inside the server time measured per request.  Each reply carries trailing metadata
``x-inferwire-model-time-ns`` (time inside TensorFlow), ``x-inferwire-server-time-ns`` (handler
time, request bytes to response bytes) and, when batching, ``x-inferwire-queue-time-ns``.
"""
from __future__ import annotations

import socket
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import unquote

import grpc
from google.protobuf.message import DecodeError

from ..errors import ServerError
from .protos import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2,
                     inference_pb2, predict_pb2, regression_pb2)
from .request_log import RequestLog
from .service import ServingCore, Timing
from .status import ApiError
from .v2.grpc import V2GrpcHandlers
from .v2.service import V2Service

MODEL_TIME = "x-inferwire-model-time-ns"
SERVER_TIME = "x-inferwire-server-time-ns"
QUEUE_TIME = "x-inferwire-queue-time-ns"
REQUEST_ID = "x-request-id"
PREDICTION_SERVICE = "tensorflow.serving.PredictionService"
MODEL_SERVICE = "tensorflow.serving.ModelService"
V2_SERVICE = "inference.GRPCInferenceService"


class _Handlers:
    def __init__(self, core: ServingCore, log: RequestLog):
        self.core, self.log = core, log

    def _predict(self, req):
        return self.core.predict(req)

    def _classify(self, req):
        return self.core.classify(req)

    def _regress(self, req):
        return self.core.regress(req)

    def _metadata(self, req):
        return self.core.get_model_metadata(req), None

    def _status(self, req):
        return self.core.get_model_status(req), None

    def _multi_inference(self, req):
        raise ApiError("UNIMPLEMENTED", "MultiInference is not supported by the embedded server")

    def methods(self) -> dict[str, tuple]:
        return {
            f"/{PREDICTION_SERVICE}/Predict": (predict_pb2.PredictRequest, self._predict),
            f"/{PREDICTION_SERVICE}/Classify": (classification_pb2.ClassificationRequest, self._classify),
            f"/{PREDICTION_SERVICE}/Regress": (regression_pb2.RegressionRequest, self._regress),
            f"/{PREDICTION_SERVICE}/MultiInference": (inference_pb2.MultiInferenceRequest,
                                                     self._multi_inference),
            f"/{PREDICTION_SERVICE}/GetModelMetadata": (get_model_metadata_pb2.GetModelMetadataRequest,
                                                       self._metadata),
            f"/{MODEL_SERVICE}/GetModelStatus": (get_model_status_pb2.GetModelStatusRequest, self._status),
        }


def _unary(method: str, request_cls, fn, log: RequestLog):
    def handle(raw: bytes, context: grpc.ServicerContext) -> bytes:
        start = time.perf_counter_ns()
        timing, code, out, req = None, "OK", b"", None
        try:
            try:
                req = request_cls.FromString(raw)
            except DecodeError as exc:
                raise ApiError("INVALID_ARGUMENT", f"cannot parse {request_cls.__name__}: {exc}") from None
            response, timing = fn(req)
            out = response.SerializeToString()
        except ApiError as exc:
            code = exc.code
            _trailers(context, start, timing)
            _log(log, context, method, req, code, timing, start, raw, out)
            context.abort(getattr(grpc.StatusCode, code, grpc.StatusCode.UNKNOWN), exc.message)
        _trailers(context, start, timing)
        _log(log, context, method, req, code, timing, start, raw, out)
        return out
    return grpc.unary_unary_rpc_method_handler(handle)


def _trailers(context, start: int, timing: Timing | None) -> None:
    md = [(SERVER_TIME, str(time.perf_counter_ns() - start))]
    if timing is not None:
        md.append((MODEL_TIME, str(timing.model_ns)))
        if timing.queue_ns:
            md.append((QUEUE_TIME, str(timing.queue_ns)))
    context.set_trailing_metadata(md)


def _log(log: RequestLog, context, method, req, code, timing, start, raw, out) -> None:
    if not log.enabled:
        return
    rid = next((v for k, v in context.invocation_metadata() if k == REQUEST_ID), None)
    spec = getattr(req, "model_spec", None)
    model, version = _model_version(req, spec)
    wall_ns, server_ns = time.time_ns(), time.perf_counter_ns() - start   # read together
    log.write({
        "ts_ns": wall_ns, "protocol": "grpc", "method": method.rsplit("/", 1)[-1],
        "request_id": rid, "peer": _peer(context.peer()), "model": model, "version": version,
        "signature": spec.signature_name if spec else None, "status": code,
        "v2_id": getattr(req, "id", None) if method.startswith(f"/{V2_SERVICE}/") else None,
        "rows": timing.rows if timing else None,
        "batch_rows": timing.batch_rows if timing else None,
        "model_time_ns": timing.model_ns if timing else None,
        "queue_time_ns": timing.queue_ns if timing else None,
        "server_time_ns": server_ns,
        "request_bytes": len(raw), "response_bytes": len(out)})


def _model_version(req, spec) -> tuple[str | None, int | None]:
    """(model, version) a TF Serving (``model_spec``) or V2 (``model_name``/``name``) request names."""
    if spec is not None:
        return spec.name, spec.version.value if spec.HasField("version") else None
    name = getattr(req, "model_name", None) or getattr(req, "name", None)
    version = getattr(req, "model_version", None) or getattr(req, "version", None)
    return name or None, int(version) if version and version.isdigit() else None


def _peer(peer: str) -> str:
    """grpc's "ipv4:127.0.0.1:5000" / "ipv6:[::1]:5000" -> "127.0.0.1:5000" / "[::1]:5000"."""
    return unquote(peer.split(":", 1)[1]) if peer.startswith(("ipv4:", "ipv6:")) else peer


class _Generic(grpc.GenericRpcHandler):
    def __init__(self, handlers: dict):
        self._handlers = handlers

    def service(self, handler_call_details):
        return self._handlers.get(handler_call_details.method)


def _ipv6_guard(port: int) -> socket.socket | None:
    """A socket bound (not listening) on IPv6 ``[::]:port`` only, held while gRPC binds
    ``0.0.0.0:port``.  grpc-core turns any wildcard address into a dual-stack ``[::]`` socket
    (IPv6 too), falling back to ``0.0.0.0`` alone when that bind fails: this makes it fail, so
    "0.0.0.0" means IPv4 only, as for REST.  Port 0: the port this socket got.  None when IPv6
    is unavailable (then gRPC binds IPv4 only anyway) or that port is taken on IPv6."""
    try:
        guard = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return None
    try:
        guard.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        guard.bind(("::", port))
    except OSError:
        guard.close()
        return None
    return guard


AUTO_PORT_TRIES = 5


def _free_on_both(port: int) -> socket.socket | None:
    """The IPv6 guard for ``0.0.0.0:port``; for port 0, on a port free on IPv4 too.

    The guard's IPv6-only port space is not IPv4's: a port free on ``[::]`` may be held on IPv4
    (another listener, a client's ephemeral port), and gRPC's ``0.0.0.0`` bind then fails with
    "Address already in use".  So port 0 is chosen by IPv4 first, and the guard is taken on it."""
    if port != 0:
        return _ipv6_guard(port)
    for _ in range(AUTO_PORT_TRIES):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as v4:
            v4.bind(("0.0.0.0", 0))
            guard = _ipv6_guard(v4.getsockname()[1])
        if guard is not None:
            return guard
    return _ipv6_guard(0)


def build_grpc_server(core: ServingCore, log: RequestLog, *, host: str, port: int,
                      max_threads: int, max_message_bytes: int, credentials=None) -> tuple[grpc.Server, int]:
    """A grpcio server (not started) bound to host:port; returns it and the bound port.

    Port 0 ("any free port") is tried again on another port, up to ``AUTO_PORT_TRIES`` times,
    when the one chosen is taken before gRPC binds it."""
    def bind():
        return _bind_grpc_server(core, log, host=host, port=port, max_threads=max_threads,
                                 max_message_bytes=max_message_bytes, credentials=credentials)
    for _ in range(AUTO_PORT_TRIES - 1 if port == 0 else 0):
        try:
            return bind()
        except ServerError:
            continue                # the chosen port was lost: choose again
    return bind()


def _bind_grpc_server(core: ServingCore, log: RequestLog, *, host: str, port: int,
                      max_threads: int, max_message_bytes: int, credentials) -> tuple[grpc.Server, int]:
    methods = {**_Handlers(core, log).methods(), **V2GrpcHandlers(V2Service(core)).methods()}
    handlers = {name: _unary(name, cls, fn, log) for name, (cls, fn) in methods.items()}
    server = grpc.server(
        ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="inferwire-grpc"),
        handlers=[_Generic(handlers)],
        options=[("grpc.max_receive_message_length", max_message_bytes),
                 ("grpc.max_send_message_length", max_message_bytes),
                 ("grpc.so_reuseport", 0)])  # a second server on a busy port must fail, not share
    ipv6_guard = _free_on_both(port) if host == "0.0.0.0" else None
    if ipv6_guard is not None:
        port = ipv6_guard.getsockname()[1]
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = (server.add_secure_port(address, credentials) if credentials
                 else server.add_insecure_port(address))
    except RuntimeError as exc:
        server.stop(None)
        raise ServerError(f"cannot bind gRPC to {address}: {exc}") from exc
    finally:
        if ipv6_guard is not None:
            ipv6_guard.close()
    if bound == 0:
        server.stop(None)
        raise ServerError(f"cannot bind gRPC to {address} (port in use or address not local?)")
    return server, bound
