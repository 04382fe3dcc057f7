"""The REST shell: TF Serving's HTTP/1.1 API on Python's ``http.server``, one thread per connection.

Routes (TF Serving's regexes, case-insensitive): ``POST /v1/models/{name}[/versions/{v}|/labels/{l}]
:(predict|classify|regress)``, ``GET /v1/models/{name}[/versions/{v}]`` (status) and ``.../metadata``.
Other ``/v1/`` paths get 400 "Malformed request", except exactly ``/v1/completions`` and
``/v1/chat/completions`` (OpenAI-compatible, streamed as Server-Sent Events or not:
:mod:`.completions`); ``/v2`` paths are the Open Inference Protocol (KServe V2, :mod:`.v2.rest`);
other paths get an empty 404.

HTTP details that load tools depend on: keep-alive for HTTP/1.1 by default and for HTTP/1.0 when the
client asks (``Connection: keep-alive`` is echoed, always with ``Content-Length``, so ``ab -k``
works); ``Expect: 100-continue`` is answered (or refused with 413 when the body would be too big);
chunked request bodies are read; bodies over the limit get 413 and the connection closes; idle
connections close after a timeout.  Responses carry ``x-inferwire-model-time-ns``,
``x-inferwire-server-time-ns`` and, when batching, ``x-inferwire-queue-time-ns``.
"""
from __future__ import annotations

import re
import socket
import ssl
import sys
import threading
import time
import traceback
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote

from google.protobuf import json_format

from ..errors import ServerError
from . import rest_json
from .protos import (classification_pb2, get_model_metadata_pb2, get_model_status_pb2, model_pb2,
                     regression_pb2)
from . import completions as C
from .completions import COMPLETIONS_PATHS, CharModel
from .request_log import RequestLog
from .service import ServingCore, Timing
from .status import ApiError, http_status, invalid
from .v2.rest import V2RestApp
from .v2.service import V2Service

_V1 = re.compile(r"/v1/.*", re.I)
_V2 = re.compile(r"/v2(?:/.*)?")
_PREDICT = re.compile(r"/v1/models/([^/:]+)(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?"
                      r":(classify|regress|predict)", re.I)
_STATUS = re.compile(r"/v1/models(?:/([^/:]+))?(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?"
                     r"(?:/(metadata))?", re.I)
_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
            405: "Method Not Allowed",
            409: "Conflict", 411: "Length Required", 413: "Payload Too Large",
            429: "Too Many Requests", 499: "Client Closed Request", 500: "Internal Server Error",
            501: "Not Implemented", 503: "Service Unavailable", 504: "Gateway Timeout",
            408: "Request Timeout", 414: "URI Too Long", 431: "Request Header Fields Too Large",
            505: "HTTP Version Not Supported"}
_CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")     # below 2**60: any larger is over the limit
_LENGTH_DIGITS = 18                                 # below 2**63


class _Reply:
    __slots__ = ("status", "body", "timing", "model", "version", "signature", "code", "headers",
                 "content_type", "v2_id", "events", "token_ns")

    def __init__(self, status=200, body=b"", timing=None, code="OK"):
        self.status, self.body, self.timing, self.code = status, body, timing, code
        self.model = self.version = self.signature = self.v2_id = None
        self.headers, self.content_type = (), "application/json"
        self.events = None           # a streamed reply: SSE events, one per token, then [DONE]
        self.token_ns = 0            # ... event k is due (k + 1) * token_ns after the request


class RestApp:
    """Routing and API calls for one request: (method, path, body) -> :class:`_Reply`."""

    def __init__(self, core: ServingCore, *, token_time_ns: int = 10_000_000):
        self.core = core
        self.v2 = V2RestApp(V2Service(core))
        self.charlm, self.token_time_ns = CharModel(), token_time_ns

    def handle(self, method: str, path: str, body: bytes, headers=None) -> _Reply:
        path = path.split("?", 1)[0]
        if path in COMPLETIONS_PATHS:
            return self._completions(method, path, body, headers or {})
        if _V2.fullmatch(path):
            return self._v2(method, path, body, headers or {})
        if not _V1.fullmatch(path):
            return _Reply(404, b"", code="NOT_FOUND")
        reply = _Reply()
        try:
            reply.body = self._dispatch(method, path, body, reply)
        except ApiError as exc:
            reply.status, reply.code = http_status(exc.code), exc.code
            reply.body = rest_json.error_body(exc.message)
        return reply

    def _v2(self, method: str, path: str, body: bytes, headers) -> _Reply:
        """An Open Inference Protocol (KServe V2) request (see :mod:`.v2.rest`)."""
        v2 = self.v2.handle(method, path, headers, body)
        reply = _Reply(v2.status, v2.body, v2.timing, v2.code)
        reply.model, reply.version, reply.v2_id = v2.model, v2.version, v2.v2_id
        reply.headers, reply.content_type = v2.headers, v2.content_type
        return reply

    def _completions(self, method: str, path: str, body: bytes, headers) -> _Reply:
        """An OpenAI-compatible completion (:mod:`.completions`): a streamed reply's events are
        written by the handler on the token schedule; an unstreamed one waits for all tokens."""
        if method != "POST":
            return _Reply(405, C.error_body(f"{method} {path}: use POST"), code="UNIMPLEMENTED")
        try:
            req = C.parse_request(path, body)
        except ApiError as exc:
            return _Reply(400, C.error_body(exc.message), code=exc.code)
        start = time.perf_counter_ns()
        tokens = self.charlm.generate(req.prompt, req.max_tokens, req.seed)
        made = time.perf_counter_ns() - start
        request_id = headers.get("x-request-id")
        # streamed: the model call before the head (the tokens' pacing is in stream_time_ns, so
        # model_time_ns <= server_time_ns as for every reply); else the tokens' whole time
        reply = _Reply(timing=Timing(model_ns=made if req.stream
                                     else len(tokens) * self.token_time_ns,
                                     rows=1, batch_rows=1))
        reply.model = C.MODEL_NAME
        if req.stream:
            reply.events, reply.token_ns = C.stream_events(req, tokens, request_id), \
                self.token_time_ns
            reply.content_type = "text/event-stream"
            return reply
        _sleep_until(start + len(tokens) * self.token_time_ns)
        reply.body = C.full_body(req, tokens, request_id)
        return reply

    def _dispatch(self, method: str, path: str, body: bytes, reply: _Reply) -> bytes:
        if method == "POST" and (m := _PREDICT.fullmatch(path)):
            spec = _spec(*m.group(1, 2, 3))
            reply.model, reply.version = spec.name, m.group(2)
            verb = m.group(4).lower()
            return getattr(self, f"_{verb}")(spec, body, reply)
        if method == "GET" and (m := _STATUS.fullmatch(path)):
            if not m.group(1):
                raise invalid("Missing model name in request.")
            spec = _spec(*m.group(1, 2, 3))
            reply.model, reply.version = spec.name, m.group(2)
            return self._metadata(spec) if m.group(4) else self._status(spec)
        raise invalid(f"Malformed request: {method} {path}")

    def _predict(self, spec, body: bytes, reply: _Reply) -> bytes:
        doc = rest_json.parse_body(body)
        sig_name = rest_json.signature_name(doc) or "serving_default"
        servable = self.core.registry.resolve(spec)
        plan = servable.plans.get(sig_name)
        if plan is None:
            raise invalid(f'Serving signature name: "{sig_name}" not found in signature def')
        reply.signature, reply.version = sig_name, servable.version
        inputs, fmt = rest_json.predict_inputs(doc, {a: i.dtype for a, i in plan.inputs.items()})
        pred = self.core.predict_arrays(servable, sig_name, inputs)
        reply.timing = pred.timing
        return rest_json.predict_body(pred.outputs, fmt)

    def _examples_request(self, cls, spec, body: bytes, reply: _Reply):
        doc = rest_json.parse_body(body)
        request = cls()
        request.model_spec.CopyFrom(spec)
        request.model_spec.signature_name = rest_json.signature_name(doc)
        request.input.CopyFrom(rest_json.examples_input(doc))
        reply.signature = request.model_spec.signature_name or "serving_default"
        return request

    def _classify(self, spec, body: bytes, reply: _Reply) -> bytes:
        request = self._examples_request(classification_pb2.ClassificationRequest, spec, body, reply)
        response, reply.timing = self.core.classify(request)
        return rest_json.classify_body(response)

    def _regress(self, spec, body: bytes, reply: _Reply) -> bytes:
        request = self._examples_request(regression_pb2.RegressionRequest, spec, body, reply)
        response, reply.timing = self.core.regress(request)
        return rest_json.regress_body(response)

    def _status(self, spec) -> bytes:
        response = self.core.get_model_status(get_model_status_pb2.GetModelStatusRequest(model_spec=spec))
        return _to_json(response).encode()

    def _metadata(self, spec) -> bytes:
        request = get_model_metadata_pb2.GetModelMetadataRequest(model_spec=spec,
                                                                 metadata_field=["signature_def"])
        response = self.core.get_model_metadata(request)
        sigs = get_model_metadata_pb2.SignatureDefMap()
        response.metadata["signature_def"].Unpack(sigs)
        # Concatenated as TF Serving's http_rest_api_util.cc ToJsonString() does.
        return ("{\n\"model_spec\":" + _to_json(response.model_spec, proto_names=True) +
                ",\n\"metadata\": {\"signature_def\": " + _to_json(sigs, proto_names=True) +
                "}\n}\n").encode()


def _to_json(message, proto_names: bool = False) -> str:
    """Protobuf JSON as TF Serving prints it (whitespace, default-valued fields included)."""
    try:
        return json_format.MessageToJson(message, indent=1, preserving_proto_field_name=proto_names,
                                         always_print_fields_with_no_presence=True)
    except TypeError:  # protobuf < 5.26 names the option differently
        return json_format.MessageToJson(message, indent=1, preserving_proto_field_name=proto_names,
                                         including_default_value_fields=True)


def _spec(name: str, version: str | None, label: str | None) -> model_pb2.ModelSpec:
    spec = model_pb2.ModelSpec(name=unquote(name))
    if version:
        value = int(version) if len(version) <= 19 else 1 << 63   # int() fails past 4,300 digits
        if value >= 1 << 63:
            raise invalid(f"Failed to convert version: {version} to numeric.")
        spec.version.value = value
    if label:
        spec.version_label = unquote(label)
    return spec


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "RestServer"
    head_timed_out = False

    def setup(self) -> None:
        self.timeout = self.server.idle_timeout_s
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.connection, ssl.SSLSocket):
            self.connection.do_handshake()

    def handle(self) -> None:
        try:
            super().handle()
        except (OSError, ssl.SSLError):
            self.close_connection = True  # peer went away or TLS failed: just close

    def handle_one_request(self) -> None:
        # Waiting for the next request is bounded by the idle timeout; from its first byte the
        # request line and headers must all arrive within head_timeout_s (slowloris: a byte
        # now and then kept a thread and a socket for ever).
        try:
            if not self.rfile.peek(1):
                self.close_connection = True
                return
        except (OSError, ValueError):
            self.close_connection = True
            return
        self.server.watch_head(self)
        try:
            super().handle_one_request()
        finally:
            self.server.unwatch_head(self)

    def parse_request(self) -> bool:
        ok = super().parse_request()
        self.server.unwatch_head(self)
        if ok and self.head_timed_out:
            self.send_error(408)
            return False
        return ok

    def log_message(self, format, *args) -> None:  # noqa: A002 - per-request logging is our own
        pass

    def send_error(self, code, message=None, explain=None) -> None:
        # Malformed request lines/headers (raised inside http.server): JSON, then close.
        self.close_connection = True
        if self.head_timed_out:
            code, message = 408, (f"request line and headers not received within "
                                  f"{self.server.head_timeout_s:g} s")
        self._write(code, rest_json.error_body(message or _REASONS.get(code, "error")), ())

    def handle_expect_100(self) -> bool:
        try:
            length = self._content_length()
        except ApiError as exc:
            self.close_connection = True
            self._write(400, rest_json.error_body(exc.message), ())
            return False
        if length is not None and length > self.server.max_body_bytes:
            self._too_large(length)
            return False
        self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return True

    def _content_length(self) -> int | None:
        """The Content-Length (ASCII digits; one too long to be real is the limit + 1, which
        gets 413), None without one; ApiError (400) for anything else."""
        raw = self.headers.get("Content-Length")
        if raw is None:
            return None
        digits = raw.strip(" \t")
        if not (digits and digits.isascii() and digits.isdigit()):
            raise ApiError("INVALID_ARGUMENT", f"bad Content-Length: {raw[:40]!r}")
        digits = digits.lstrip("0") or "0"
        if len(digits) > _LENGTH_DIGITS:
            return self.server.max_body_bytes + 1
        return int(digits)

    def _too_large(self, length: int) -> None:
        self.close_connection = True
        self._write(413, rest_json.error_body(
            f"request body of {length} bytes or more exceeds the limit of "
            f"{self.server.max_body_bytes} bytes"), ())

    def _read_body(self) -> bytes | None:
        """The request body, or None after replying with an error (connection then closes)."""
        te = self.headers.get("Transfer-Encoding", "").lower()
        if te and te != "identity":
            if te.split(",")[-1].strip() != "chunked":
                self.close_connection = True
                self._write(501, rest_json.error_body(f"unsupported Transfer-Encoding: {te}"), ())
                return None
            return self._read_chunked()
        try:
            length = self._content_length()
        except ApiError as exc:
            self.close_connection = True
            self._write(400, rest_json.error_body(exc.message), ())
            return None
        if not length:
            return b""
        if length > self.server.max_body_bytes:
            self._too_large(length)
            return None
        body = self.rfile.read(length)
        if len(body) != length:
            raise ConnectionError("client closed the connection mid-body")
        return body

    def _read_chunked(self) -> bytes | None:
        parts, total = [], 0
        while True:
            line = self.rfile.readline(1024)
            size_field = line.split(b";")[0].strip(b" \t\r\n")
            if not line.endswith(b"\n") or not _CHUNK_SIZE.fullmatch(size_field):
                self.close_connection = True     # "-1" read until the client closed
                self._write(400, rest_json.error_body("malformed chunk size line"), ())
                return None
            size = int(size_field, 16)
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            total += size
            if total > self.server.max_body_bytes:
                self._too_large(total)
                return None
            part = self.rfile.read(size)
            if len(part) != size:
                raise ConnectionError("client closed the connection mid-chunk")
            parts.append(part)
            self.rfile.readline(3)

    def _keep_alive_headers(self) -> tuple:
        if self.close_connection:
            return (("Connection", "close"),)
        if self.request_version == "HTTP/1.0":
            return (("Connection", "keep-alive"),)
        return ()

    def _write(self, status: int, body: bytes, extra: tuple,
               content_type: str = "application/json") -> None:
        head = [f"HTTP/1.1 {status} {_reason(status)}",
                f"Content-Type: {content_type}", f"Date: {self.server.date()}",
                f"Content-Length: {len(body)}"]
        head.extend(f"{k}: {v}" for k, v in extra)
        head.extend(f"{k}: {v}" for k, v in self._keep_alive_headers())
        if self.command == "HEAD":
            body = b""
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        start = time.perf_counter_ns()
        try:
            reply = self.server.app.handle(self.command, self.path, body, self.headers)
        except Exception as exc:  # a bug must cost one request, not the connection or the server
            traceback.print_exc(file=sys.stderr)
            reply = _Reply(500, rest_json.error_body(f"internal error: {type(exc).__name__}: {exc}"),
                           code="INTERNAL")
        if reply.events is not None:
            self._write_stream(reply, start, len(body))
            return
        extra = _timing_headers(reply.timing, start)
        # Logged before the reply leaves, so a client holding the reply finds its record.
        self.server.log_request(self, reply, start, len(body))
        self._write(reply.status, reply.body, extra + reply.headers, reply.content_type)

    def _write_stream(self, reply: _Reply, start: int, request_bytes: int) -> None:
        """A streamed reply: each event in its own HTTP/1.1 chunk (HTTP/1.0: delimited by the
        close), event k written when due (``start + (k + 1) * token_ns``; [DONE] right after the
        last token), logged before [DONE] leaves: its ``server_time_ns`` ends when the head was
        ready (the response's first bytes), ``stream_time_ns`` when the last token was."""
        chunked = self.request_version != "HTTP/1.0"
        if not chunked:
            self.close_connection = True
        head = [f"HTTP/1.1 {reply.status} {_reason(reply.status)}",
                f"Content-Type: {reply.content_type}", "Cache-Control: no-cache",
                f"Date: {self.server.date()}",
                "Transfer-Encoding: chunked" if chunked else "Connection: close"]
        head.extend(f"{k}: {v}" for k, v in self._keep_alive_headers() if chunked)
        ready = time.time_ns(), time.perf_counter_ns()
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        events = reply.events
        for k, event in enumerate(events):
            if k < len(events) - 1:
                _sleep_until(start + (k + 1) * reply.token_ns)
            else:
                reply.body = b"".join(events)
                self.server.log_request(self, reply, start, request_bytes, ready)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event) if chunked else event)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = _serve


def _sleep_until(due_ns: int) -> None:
    """Sleep until ``time.perf_counter_ns()`` reaches ``due_ns`` (at once if past)."""
    left = due_ns - time.perf_counter_ns()
    if left > 0:
        time.sleep(left / 1e9)


def _reason(status: int) -> str:
    """The reason phrase of ``status`` (TF Serving's for the codes it uses, else the IANA one)."""
    if status in _REASONS:
        return _REASONS[status]
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _timing_headers(timing: Timing | None, start: int) -> tuple:
    extra = [("x-inferwire-server-time-ns", str(time.perf_counter_ns() - start))]
    if timing is not None:
        extra.append(("x-inferwire-model-time-ns", str(timing.model_ns)))
        if timing.queue_ns:
            extra.append(("x-inferwire-queue-time-ns", str(timing.queue_ns)))
    return tuple(extra)


def _version(version) -> int | None:
    return int(version) if version and str(version).isdigit() else None


def _peer(address) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class RestServer(ThreadingHTTPServer):
    """Threaded HTTP server that can close its live connections on shutdown."""
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True

    def __init__(self, address, app: RestApp, log: RequestLog, *, max_body_bytes: int,
                 idle_timeout_s: float, tls_context: ssl.SSLContext | None = None,
                 max_connections: int = 1024, head_timeout_s: float = 20.0):
        self.app, self.log = app, log
        self.max_body_bytes, self.idle_timeout_s = max_body_bytes, idle_timeout_s
        self.max_connections, self.head_timeout_s = max_connections, head_timeout_s
        self.tls_context = tls_context
        self._heads: dict[_Handler, float] = {}      # handler -> monotonic deadline of its head
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        self._date = (0, "")
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        try:
            super().__init__(address, _Handler)
        except OSError as exc:
            raise ServerError(f"cannot bind REST to {address[0]}:{address[1]}: {exc}") from exc

    def get_request(self):
        sock, addr = self.socket.accept()
        if self.tls_context is not None:
            # The handshake runs in the connection's thread (setup), not in the accept loop.
            sock = self.tls_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def process_request(self, request, client_address) -> None:
        with self._conns_lock:
            full = len(self._conns) >= self.max_connections
            if not full:
                self._conns.add(request)
        if full:          # one thread per connection: refused here, without a thread
            self._refuse(request)
            return
        super().process_request(request, client_address)

    def _refuse(self, request) -> None:
        """503 and close, for a connection over :attr:`max_connections` (TLS: just close)."""
        if self.tls_context is None:
            body = rest_json.error_body(f"too many connections (limit {self.max_connections}); "
                                        "retry later")
            head = (f"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
            try:
                request.settimeout(0.2)
                request.sendall(head.encode("latin-1") + body)
            except OSError:
                pass
        self.shutdown_request(request)

    def watch_head(self, handler: _Handler) -> None:
        with self._conns_lock:
            self._heads[handler] = time.monotonic() + self.head_timeout_s

    def unwatch_head(self, handler: _Handler) -> None:
        with self._conns_lock:
            self._heads.pop(handler, None)

    def service_actions(self) -> None:
        """Between accepts (every poll interval): stop reading connections whose request head
        is overdue; their threads answer 408 and close."""
        super().service_actions()
        now = time.monotonic()
        with self._conns_lock:
            late = [h for h, deadline in self._heads.items() if deadline <= now]
            for h in late:
                del self._heads[h]
        for h in late:
            h.head_timed_out = True
            try:     # socket.socket's own shutdown: SSLSocket's would drop the TLS state
                socket.socket.shutdown(h.connection, socket.SHUT_RD)
            except OSError:
                pass

    def shutdown_request(self, request) -> None:
        with self._conns_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request, client_address) -> None:
        pass  # connection-level errors (resets, timeouts) end that connection only

    def date(self) -> str:
        now = int(time.time())
        if self._date[0] != now:
            self._date = (now, formatdate(now, usegmt=True))
        return self._date[1]

    def log_request(self, handler: _Handler, reply: _Reply, start: int, request_bytes: int,
                    ready: tuple[int, int] | None = None) -> None:
        """Log one request; ``ready`` = (wall ns, perf_counter ns) read together when the reply's
        first bytes were ready (a streamed reply: its head), else now."""
        if not self.log.enabled:
            return
        t = reply.timing
        # Both clocks read together: ts_ns - server_time_ns is then the handler's start on the
        # wall clock to well under a microsecond (the dict below takes several to build).
        now = time.time_ns(), time.perf_counter_ns()
        wall_ns, server_ns = (ready or now)[0], (ready or now)[1] - start
        extra = {} if ready is None else {"stream_time_ns": now[1] - start}
        self.log.write({
            "ts_ns": wall_ns, "protocol": "rest", "method": f"{handler.command} {handler.path}",
            "request_id": handler.headers.get("x-request-id"), "peer": _peer(handler.client_address),
            "model": reply.model,
            "version": _version(reply.version), "signature": reply.signature,
            "v2_id": reply.v2_id,
            "status": reply.code, "rows": t.rows if t else None,
            "batch_rows": t.batch_rows if t else None, "model_time_ns": t.model_ns if t else None,
            "queue_time_ns": t.queue_ns if t else None,
            "server_time_ns": server_ns, "request_bytes": request_bytes,
            "response_bytes": len(reply.body), **extra})

    def close_connections(self) -> None:
        with self._conns_lock:
            conns = list(self._conns)
        for sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
