"""Streamed generation from Triton's decoupled model as workloads (issue 20): HTTP
``POST /v2/models/{model}/generate_stream`` (Triton's generate extension, Server-Sent Events)
and gRPC ``inference.GRPCInferenceService/ModelStreamInfer`` (a bidirectional stream: one
request message in, one response message per token out).

Both give :class:`~inferwire.load.streaming.StreamResult`: each token's arrival (wall-clock ns,
when the read or the message that completed it returned), ``ttft_ms`` in the client log from
it.  The request id goes in ``x-request-id`` (header / metadata) and in the request's ``id``.
gRPC uses grpcio with the package's own V2 protos (tritonclient would downgrade protobuf): one
channel (one HTTP/2 connection) per worker thread, one ``ModelStreamInfer`` call per request,
half-closed as soon as its one request message is written, so Triton ends the call after the
final response.  :func:`stream_workload` picks a streamed run's workload: one of these, or the
embedded server's completions.
"""
from __future__ import annotations

import json
import time

from ..errors import LoadError
from .streaming import CompletionsWorkload, StreamResult, arrival_fields, post_streamed
from .workloads import PerThread

STREAM_METHOD = "/inference.GRPCInferenceService/ModelStreamInfer"
DEFAULT_PROMPT = "the server reads the request"


def _check(max_tokens: int, connection: str) -> None:
    if connection not in ("reuse", "new"):
        raise LoadError(f"connection must be 'reuse' or 'new', not {connection!r}")
    if max_tokens < 1:
        raise LoadError(f"max_tokens must be >= 1, got {max_tokens}")


class GenerateStreamWorkload:
    """``POST /v2/models/{model}/generate_stream`` over HTTP/1.1 (http.client, one connection
    per worker thread with ``connection`` "reuse"), ``max_tokens`` asked as a parameter.  The
    stream ends with the body (Triton sends no ``[DONE]``); an ``{"error": ...}`` event fails
    the request."""

    def __init__(self, host: str, port: int, model: str, *, max_tokens: int = 16,
                 prompt: str = DEFAULT_PROMPT, connection: str = "reuse",
                 timeout_s: float = 60.0):
        _check(max_tokens, connection)
        self.host, self.port, self.connection, self.timeout_s = host, port, connection, timeout_s
        self.path = f"/v2/models/{model}/generate_stream"
        self.prompt, self.max_tokens = prompt, max_tokens
        self.name = f"rest generate_stream {model} {max_tokens} tokens {host}:{port}"
        self._connections = PerThread(lambda: [None])

    def body(self, request_id: str) -> bytes:
        return json.dumps({"id": request_id, "text_input": self.prompt,
                           "parameters": {"max_tokens": self.max_tokens}}).encode()

    def __call__(self, request_id: str) -> StreamResult:
        return post_streamed(self, self.body(request_id), request_id, done_marker=None)

    def close(self) -> None:
        self._connections.close(lambda h: h[0] is not None and h[0].close())


class ModelStreamWorkload:
    """gRPC ``ModelStreamInfer`` of ``model``: the prompt as the BYTES input ``text_input``,
    ``max_tokens`` as a request parameter; each response message is a token (a message with
    ``error_message`` fails the request).  ``connection`` "new": a channel per request."""

    def __init__(self, host: str, port: int, model: str, *, max_tokens: int = 16,
                 prompt: str = DEFAULT_PROMPT, connection: str = "reuse",
                 timeout_s: float = 60.0):
        _check(max_tokens, connection)
        self.target, self.model, self.connection = f"{host}:{port}", model, connection
        self.prompt, self.max_tokens, self.timeout_s = prompt, max_tokens, timeout_s
        self.name = f"grpc ModelStreamInfer {model} {max_tokens} tokens {self.target}"
        self._channels = PerThread(lambda: [None])

    def request(self, request_id: str) -> bytes:
        """The serialized ModelInferRequest."""
        from ..serving.v2 import inference_pb2 as pb  # deferred: the protobuf stubs import protobuf (serve extra)
        req = pb.ModelInferRequest(model_name=self.model, id=request_id)
        req.parameters["max_tokens"].int64_param = self.max_tokens
        text = req.inputs.add(name="text_input", datatype="BYTES", shape=[1])
        text.contents.bytes_contents.append(self.prompt.encode("utf-8"))
        return req.SerializeToString()

    def _channel(self, holder):
        import grpc  # deferred: grpcio is optional (serve extra)
        if holder[0] is None:
            # its own subchannel pool: a connection per worker, as the unary clients have
            holder[0] = grpc.insecure_channel(self.target,
                                              options=[("grpc.use_local_subchannel_pool", 1)])
        return holder[0]

    def __call__(self, request_id: str) -> StreamResult:
        import grpc  # deferred: grpcio is optional (serve extra)
        from ..serving.v2.inference_pb2 import ModelStreamInferResponse  # deferred: the protobuf stubs import protobuf (serve extra)
        holder = self._channels.get()
        channel, raw = self._channel(holder), self.request(request_id)
        call = channel.stream_stream(STREAM_METHOD, request_serializer=None,
                                     response_deserializer=None)
        arrivals, total, error, final = [], 0, None, False
        try:
            for data in call(iter([raw]), metadata=(("x-request-id", request_id),),
                             timeout=self.timeout_s):
                now = time.time_ns()
                total += len(data)
                message = ModelStreamInferResponse.FromString(data)
                if message.error_message:
                    error = message.error_message[:200]
                    continue
                arrivals.append(now)
                final = message.infer_response.parameters["triton_final_response"].bool_param
            status = "OK"
        except grpc.RpcError as exc:
            status, error = exc.code().name, f"{exc.code().name}: {exc.details()}"[:200]
        finally:
            if self.connection == "new":
                holder[0].close()
                holder[0] = None
        if error is None and not final:
            error = "stream ended without Triton's final response"
        return StreamResult(request_id, error is None, status, len(raw), total, error,
                            **arrival_fields(arrivals))

    def close(self) -> None:
        self._channels.close(lambda h: h[0] is not None and h[0].close())


def triton_stream_workload(protocol: str, host: str, port: int, model: str, *, max_tokens: int,
                           connection: str = "reuse"):
    """The workload streaming from Triton's decoupled ``model`` over ``protocol``: "grpc"
    (:class:`ModelStreamWorkload`) or "rest" (:class:`GenerateStreamWorkload`)."""
    kind = ModelStreamWorkload if protocol == "grpc" else GenerateStreamWorkload
    return kind(host, port, model, max_tokens=max_tokens, connection=connection)


def stream_workload(targets: dict, protocol: str, *, max_tokens: int, connection: str = "reuse"):
    """The streaming workload a run's ``targets`` serve over ``protocol``: Triton's decoupled
    model when they name a ``stream_model`` (:func:`triton_stream_workload`), else the embedded
    server's ``/v1/completions`` (:class:`~inferwire.load.streaming.CompletionsWorkload`, REST)."""
    if targets.get("stream_model"):
        return triton_stream_workload(protocol, targets["host"], targets[f"{protocol}_port"],
                                      targets["stream_model"], max_tokens=max_tokens,
                                      connection=connection)
    return CompletionsWorkload(targets["host"], targets["rest_port"], max_tokens=max_tokens,
                               connection=connection)
