"""What the shipped locustfiles share: settings from the environment, the REST and gRPC users,
and the per-request event log.  Importing this module imports locust (gevent monkey-patching)
and initialises grpcio for gevent, so it belongs in locust processes only.

Each request carries a fresh ``x-request-id`` (HTTP header / gRPC metadata), put in the request
event's context too, so the capture, the event log and the server's log join by id.  The request
body is built once per process, when the locustfile is imported (before locust's clock
starts, as a typical locustfile does): encoding time is not in the figures.
"""
from __future__ import annotations

import functools
import json
import time
import uuid

import grpc
import grpc.experimental.gevent as grpc_gevent

# grpcio's C core must use gevent's event loop before the first channel, or calls block the hub
grpc_gevent.init_gevent()

from locust import User, constant, events, task  # noqa: E402
from locust.contrib.fasthttp import FastHttpUser  # noqa: E402

from inferwire.locustfiles.eventlog import EventLogWriter, event_row  # noqa: E402
from inferwire.locustfiles.settings import Settings, grpc_target, settings_from_env  # noqa: E402

PREDICT_METHOD = "/tensorflow.serving.PredictionService/Predict"
V2_INFER_METHOD = "/inference.GRPCInferenceService/ModelInfer"
REQUEST_ID = "x-request-id"
SETTINGS = settings_from_env()


def new_request_id() -> str:
    """A fresh request id: the prefix and 16 hex digits (unique across processes)."""
    return SETTINGS.id_prefix + uuid.uuid4().hex[:16]


def wait_time_for(settings: Settings):
    """Closed loop: no pause between a user's requests unless a think time is set."""
    return constant(settings.think_time_s) if settings.think_time_s else constant(0)


@functools.lru_cache(maxsize=None)
def rest_body(batch_size: int) -> bytes:
    """The JSON predict body for ``batch_size`` of the project's sample images (built once)."""
    from inferwire.serving import encodings as E  # deferred: serving.encodings imports numpy
    from inferwire.serving.clients import sample_images  # deferred: serving.clients imports google (optional)
    return E.rest_body(SETTINGS.rest_encoding, E.check_images(sample_images(batch_size)))


@functools.lru_cache(maxsize=None)
def grpc_request_bytes(batch_size: int) -> bytes:
    """The serialized PredictRequest for ``batch_size`` sample images (built once)."""
    from inferwire.serving import encodings as E  # deferred: serving.encodings imports numpy
    from inferwire.serving.clients import sample_images  # deferred: serving.clients imports google (optional)
    return E.grpc_request(SETTINGS.grpc_encoding, E.check_images(sample_images(batch_size)),
                          SETTINGS.model_name).SerializeToString()


class RestPredictUser(FastHttpUser):
    """TF Serving REST predict through locust's FastHttpUser (one keep-alive connection)."""
    abstract = True
    batch_size = 1
    host = f"http://{SETTINGS.server}:{SETTINGS.rest_port}"
    wait_time = wait_time_for(SETTINGS)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("abstract"):
            cls.prepare()               # at import, before locust's clock starts

    @classmethod
    def prepare(cls) -> None:
        rest_body(cls.batch_size)

    def on_start(self):
        self.body = rest_body(self.batch_size)
        self.path = f"/v1/models/{SETTINGS.model_name}:predict"
        self.label = f"rest predict b{self.batch_size}"

    @task
    def predict(self):
        self.send()     # locust keeps this function as the task: subclasses override send()

    def send(self):
        rid = new_request_id()
        with self.client.post(self.path, data=self.body, name=self.label, catch_response=True,
                              headers={"Content-Type": "application/json", REQUEST_ID: rid},
                              context={"request_id": rid, "request_bytes": len(self.body)}) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {(r.text or '')[:200]}")
            elif b'"predictions"' not in (r.content or b""):
                r.failure("response has no predictions")


class GrpcPredictUser(User):
    """TF Serving gRPC Predict on grpcio (gevent-initialised), firing locust request events.

    Each user has its own channel and, through a local subchannel pool, its own HTTP/2
    connection, as FastHttpUser has its own TCP connection.  The serialized PredictRequest is
    built once per process; ``response_time`` covers the call until the reply's bytes are in
    hand (not decoded).
    """
    abstract = True
    batch_size = 1
    method = PREDICT_METHOD
    host = f"grpc://{SETTINGS.server}:{SETTINGS.grpc_port}"
    wait_time = wait_time_for(SETTINGS)

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("abstract"):
            cls.prepare()               # at import, before locust's clock starts

    @classmethod
    def prepare(cls) -> None:
        grpc_request_bytes(cls.batch_size)

    def request_bytes(self, request_id: str) -> bytes:
        """The serialized request (the same for every request: built once)."""
        return grpc_request_bytes(self.batch_size)

    def on_start(self):
        self.channel = grpc.insecure_channel(grpc_target(self.host, SETTINGS), options=[
            ("grpc.use_local_subchannel_pool", 1),
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", 64 << 20)])
        self.call = self.channel.unary_unary(self.method, request_serializer=None,
                                             response_deserializer=None)
        self.label = f"grpc predict b{self.batch_size}"

    def on_stop(self):
        self.channel.close()

    @task
    def predict(self):
        self.send()     # locust keeps this function as the task: subclasses override send()

    def send(self):
        rid = new_request_id()
        raw = self.request_bytes(rid)
        start_time = time.time()
        t0 = time.perf_counter()
        data, exc, status = b"", None, "OK"
        try:
            data = self.call(raw, metadata=((REQUEST_ID, rid),), timeout=30)
        except grpc.RpcError as err:
            exc, status = err, err.code().name
        response_time = (time.perf_counter() - t0) * 1000
        self.environment.events.request.fire(
            request_type="grpc", name=self.label, response_time=response_time,
            response_length=len(data), exception=exc, response=None, start_time=start_time,
            url=self.method, context={"request_id": rid, "status": status,
                                      "request_bytes": len(raw)})


# --- the Open Inference Protocol (KServe V2) users ---------------------------------------------
ID_SLOT = "@@inferwire-request-id@@"


@functools.lru_cache(maxsize=None)
def v2_rest_template(batch_size: int) -> tuple[bytes, bytes, dict]:
    """(body before the V2 id, body after it, headers) of a V2 REST infer request for
    ``batch_size`` sample images (built once; each request splices its own id in)."""
    from inferwire.serving import encodings as E  # deferred: serving.encodings imports numpy
    from inferwire.serving.clients import sample_images  # deferred: serving.clients imports google (optional)
    from inferwire.serving.v2 import codec  # deferred: serving.v2.codec imports google (optional)
    body, headers = codec.rest_request(SETTINGS.rest_encoding,
                                       E.check_images(sample_images(batch_size)), ID_SLOT,
                                       input_name=SETTINGS.input_name,
                                       output_name=SETTINGS.output_name)
    before, after = body.split(ID_SLOT.encode(), 1)
    return before, after, headers


def v2_rest_request(batch_size: int, request_id: str) -> tuple[bytes, dict]:
    """(body, headers) of a V2 REST infer request whose ``id`` is ``request_id``."""
    from inferwire.serving.v2.codec import HEADER_LENGTH  # deferred: serving.v2.codec imports google (optional)
    before, after, headers = v2_rest_template(batch_size)
    rid = json.dumps(request_id)[1:-1].encode()
    headers = dict(headers, **{REQUEST_ID: request_id})
    if HEADER_LENGTH in headers:   # the JSON part grows or shrinks with the id
        headers[HEADER_LENGTH] = str(int(headers[HEADER_LENGTH]) - len(ID_SLOT) + len(rid))
    return before + rid + after, headers


@functools.lru_cache(maxsize=None)
def v2_grpc_base(batch_size: int) -> bytes:
    """A serialized V2 ModelInferRequest without an id for ``batch_size`` sample images."""
    from inferwire.serving import encodings as E  # deferred: serving.encodings imports numpy
    from inferwire.serving.clients import sample_images  # deferred: serving.clients imports google (optional)
    from inferwire.serving.v2 import codec  # deferred: serving.v2.codec imports google (optional)
    return codec.grpc_request(SETTINGS.grpc_encoding, E.check_images(sample_images(batch_size)),
                              "", SETTINGS.model_name, input_name=SETTINGS.input_name,
                              output_name=SETTINGS.output_name).SerializeToString()


def v2_grpc_request(batch_size: int, request_id: str) -> bytes:
    """The request with ``id`` = ``request_id``: a protobuf message followed by another one
    parses as their merge, so the id field is appended to the serialized base (cheap)."""
    from inferwire.serving.v2.inference_pb2 import ModelInferRequest  # deferred: serving.v2.inference_pb2 imports google (optional)
    return v2_grpc_base(batch_size) + ModelInferRequest(id=request_id).SerializeToString()


class V2RestInferUser(RestPredictUser):
    """Open Inference Protocol (V2) REST infer (``POST /v2/models/{m}/infer``, JSON or the binary
    tensor extension) through FastHttpUser; the request id in ``x-request-id`` and in ``id``."""
    abstract = True

    @classmethod
    def prepare(cls) -> None:
        v2_rest_template(cls.batch_size)

    def on_start(self):
        from inferwire.serving.v2.codec import rest_path  # deferred: serving.v2.codec imports google (optional)
        self.path = rest_path(SETTINGS.model_name)
        self.label = f"v2 rest infer b{self.batch_size}"

    def send(self):
        rid = new_request_id()
        body, headers = v2_rest_request(self.batch_size, rid)
        with self.client.post(self.path, data=body, name=self.label, catch_response=True,
                              headers=headers,
                              context={"request_id": rid, "request_bytes": len(body)}) as r:
            if r.status_code != 200:
                r.failure(f"HTTP {r.status_code}: {(r.content or b'')[:200]!r}")
            elif b'"outputs"' not in (r.content or b""):
                r.failure("response has no outputs")


class V2GrpcInferUser(GrpcPredictUser):
    """Open Inference Protocol (V2) gRPC ``inference.GRPCInferenceService/ModelInfer`` (typed
    ``fp32_contents`` or ``raw_input_contents``); the request id in metadata and in ``id``."""
    abstract = True
    method = V2_INFER_METHOD

    @classmethod
    def prepare(cls) -> None:
        v2_grpc_base(cls.batch_size)

    def request_bytes(self, request_id: str) -> bytes:
        return v2_grpc_request(self.batch_size, request_id)

    def on_start(self):
        super().on_start()
        self.label = f"v2 grpc infer b{self.batch_size}"


def install_event_log(settings: Settings = SETTINGS) -> EventLogWriter | None:
    """Log every request event of this process to ``settings.log_dir`` (None: no log)."""
    if not settings.log_dir:
        return None
    writer = EventLogWriter(settings.log_dir)

    def on_request(request_type, name, response_time, response_length, exception=None,
                   context=None, start_time=None, response=None, **_):
        writer.write(event_row(request_type=request_type, name=name,
                               response_time=response_time, response_length=response_length,
                               exception=exception, context=context, start_time=start_time,
                               response=response))

    events.request.add_listener(on_request)
    events.test_stop.add_listener(lambda **_: writer.flush())
    events.quitting.add_listener(lambda **_: writer.close())
    return writer


# Imported once per process (by package name), so the listener is installed once even when a
# locustfile and the eventlog hook both import this module.
EVENT_LOG = install_event_log()
__all__ = ["RestPredictUser", "GrpcPredictUser", "V2RestInferUser", "V2GrpcInferUser",
           "Settings", "settings_from_env", "SETTINGS",
           "new_request_id", "constant", "task"]
