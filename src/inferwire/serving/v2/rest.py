"""The embedded server's Open Inference Protocol (KServe V2) REST routes: (method, path, headers,
body) -> :class:`V2Reply`.  The HTTP shell is :mod:`inferwire.serving.rest_server`, which sends
``/v2`` paths here.

=======  ===========================================  =========================================
method   path                                         answer
=======  ===========================================  =========================================
GET      ``/v2``                                      server metadata
GET      ``/v2/health/live``, ``/v2/health/ready``    200 ``{"live": true}`` / ``{"ready": true}``
GET      ``/v2/models/{m}[/versions/{v}]``            model metadata
GET      ``/v2/models/{m}[/versions/{v}]/ready``      200 ``{"name", "ready": true}``
POST     ``/v2/models/{m}[/versions/{v}]/infer``      JSON, or the binary tensor extension
=======  ===========================================  =========================================

Errors: ``{"error": "..."}`` with 400 (bad request), 404 (unknown model or path), 405 (method).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from urllib.parse import unquote

import numpy as np

from ..status import INVALID_ARGUMENT, NOT_FOUND, UNIMPLEMENTED, ApiError, http_status
from . import codec
from .service import V2Service, _v2_name

_MODEL = re.compile(r"/v2/models/([^/]+)(?:/versions/([^/]+))?(?:/(ready|infer))?")


@dataclass
class V2Reply:
    """What to answer: status, body, extra headers, content type; and for the log the model,
    version, V2 id, gRPC-style code and timing."""
    status: int = 200
    body: bytes = b""
    headers: tuple = ()
    content_type: str = codec.JSON_TYPE
    model: str | None = None
    version: str | None = None
    v2_id: str | None = None
    code: str = "OK"
    timing: object = None


class V2RestApp:
    """Routing and V2 calls for one HTTP request."""

    def __init__(self, service: V2Service):
        self.service = service

    def handle(self, method: str, path: str, headers, body: bytes) -> V2Reply:
        reply = V2Reply()
        try:
            self._dispatch(method, path.split("?", 1)[0].rstrip("/"), headers, body, reply)
        except ApiError as exc:
            reply.status = {NOT_FOUND: 404, UNIMPLEMENTED: 405}.get(exc.code, http_status(exc.code))
            reply.code, reply.body = exc.code, _json({"error": exc.message})
            reply.headers, reply.content_type = (), codec.JSON_TYPE
        except codec.V2FormatError as exc:
            reply.status, reply.code, reply.body = 400, INVALID_ARGUMENT, _json({"error": str(exc)})
            reply.headers, reply.content_type = (), codec.JSON_TYPE
        return reply

    def _dispatch(self, method: str, path: str, headers, body: bytes, reply: V2Reply) -> None:
        m = _MODEL.fullmatch(path)
        want = "POST" if m and m.group(3) == "infer" else "GET"
        if path not in ("/v2", "/v2/health/live", "/v2/health/ready") and not m:
            raise ApiError(NOT_FOUND, f"no V2 endpoint {path}")
        if method != want:
            raise ApiError(UNIMPLEMENTED, f"{method} is not allowed on {path} (use {want})")
        if path == "/v2":
            reply.body = _json(self.service.server_metadata())
        elif path.startswith("/v2/health/"):
            key = path.rsplit("/", 1)[1]
            reply.body = _json({key: True})
        else:
            name, version = unquote(m.group(1)), m.group(2) and unquote(m.group(2))
            reply.model, reply.version = name, version
            if m.group(3) == "infer":
                self._infer(name, version, headers, body, reply)
            elif m.group(3) == "ready":
                self.service.servable(name, version)
                reply.body = _json({"name": name, "ready": True})
            else:
                reply.body = _json(self.service.model_metadata(name, version))

    def _infer(self, name: str, version: str | None, headers, body: bytes, reply: V2Reply) -> None:
        doc, binary = codec.split_binary(body, headers.get(codec.HEADER_LENGTH))
        rid = doc.get("id")
        reply.v2_id = rid if isinstance(rid, str) else None
        inputs = codec.rest_tensors(doc, binary, "inputs")
        requested = codec.requested_outputs(doc)
        result = self.service.infer(name, version, inputs, [n for n, _ in requested])
        reply.timing, reply.version = result.timing, result.model_version
        every = bool((doc.get("parameters") or {}).get("binary_data_output"))
        as_binary = {n for n, b in requested if b} | (set(result.outputs) if every and
                                                      not requested else set())
        head = {"model_name": result.model_name, "model_version": result.model_version}
        if reply.v2_id is not None:
            head["id"] = reply.v2_id
        head["outputs"], tail = [], []
        for out_name, array in result.outputs.items():
            tensor = {"name": out_name, "datatype": _datatype(array), "shape": list(array.shape)}
            if out_name in as_binary:
                raw = np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()
                tensor["parameters"] = {"binary_data_size": len(raw)}
                tail.append(raw)
            else:
                tensor["data"] = array.ravel().tolist()
            head["outputs"].append(tensor)
        reply.body = _json(head)
        if tail:
            reply.headers = ((codec.HEADER_LENGTH, str(len(reply.body))),)
            reply.content_type = codec.BINARY_TYPE
            reply.body += b"".join(tail)


def _datatype(array: np.ndarray) -> str:
    return _v2_name(array.dtype)


def _json(doc: dict) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()
