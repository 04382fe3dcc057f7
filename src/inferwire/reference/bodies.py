"""Request bodies for tools that send one fixed body: ab, h2load and ghz (TF Serving's predict
API, and the Open Inference Protocol, V2).

Pure: images in, bytes out.  The images are the project's deterministic generated digits
(:func:`inferwire.serving.clients.sample_images`), so every tool sends the same batch as
inferwire's own client does.
"""
from __future__ import annotations

import struct
from pathlib import Path

from ..errors import LoadError
from ..files import open_private

GRPC_PREDICT_PATH = "/tensorflow.serving.PredictionService/Predict"
V2_INFER_PATH = "/inference.GRPCInferenceService/ModelInfer"
GRPC_HEADERS = ("content-type: application/grpc", "te: trailers")
REST_CONTENT_TYPE = "application/json"
_PREFIX = struct.Struct(">BI")          # gRPC message prefix: compressed flag, big-endian length


def rest_path(model_name: str = "mnist") -> str:
    """TF Serving's REST predict path for ``model_name``."""
    return f"/v1/models/{model_name}:predict"


def _images(batch_size: int):
    from ..serving.clients import sample_images  # deferred: serving.clients imports google (optional)
    if batch_size < 1:
        raise LoadError(f"batch size must be >= 1, got {batch_size}")
    return sample_images(batch_size)


def rest_body(batch_size: int = 1, encoding: str = "json_row") -> bytes:
    """The JSON body of a REST predict request for ``batch_size`` images."""
    from ..serving import encodings as E  # deferred: serving.encodings imports numpy
    if encoding not in E.REST_ENCODINGS:
        raise LoadError(f"{encoding!r} is not a REST encoding; use one of {E.REST_ENCODINGS}")
    return E.rest_body(encoding, E.check_images(_images(batch_size)))


def grpc_message(batch_size: int = 1, encoding: str = "grpc_tensor_content",
                 model_name: str = "mnist") -> bytes:
    """A serialized PredictRequest (no gRPC framing) for ``batch_size`` images: ghz --binary."""
    from ..serving import encodings as E  # deferred: serving.encodings imports numpy
    if encoding not in E.GRPC_ENCODINGS:
        raise LoadError(f"{encoding!r} is not a gRPC encoding; use one of {E.GRPC_ENCODINGS}")
    return E.grpc_request(encoding, E.check_images(_images(batch_size)),
                          model_name).SerializeToString()


def v2_rest_body(batch_size: int = 1, encoding: str = "v2_json", request_id: str = "fixed", *,
                 input_name: str = "images", output_name: str = "scores") -> tuple[bytes, dict]:
    """(body, headers) of an Open Inference Protocol (V2) REST infer request: JSON, or the binary
    tensor extension (its headers then carry Inference-Header-Content-Length).  A tool sends this
    one body every time, so every request carries the same V2 ``id``."""
    from ..serving import encodings as E  # deferred: serving.encodings imports numpy
    from ..serving.v2 import codec  # deferred: serving.v2.codec imports google (optional)
    if encoding not in codec.V2_REST_ENCODINGS:
        raise LoadError(f"{encoding!r} is not a V2 REST encoding; use one of "
                        f"{codec.V2_REST_ENCODINGS}")
    return codec.rest_request(encoding, E.check_images(_images(batch_size)), request_id,
                              input_name=input_name, output_name=output_name)


def v2_grpc_message(batch_size: int = 1, encoding: str = "v2_raw", model_name: str = "mnist",
                    request_id: str = "fixed", *, input_name: str = "images",
                    output_name: str = "scores") -> bytes:
    """A serialized V2 ModelInferRequest (no gRPC framing) for ``batch_size`` images."""
    from ..serving import encodings as E  # deferred: serving.encodings imports numpy
    from ..serving.v2 import codec  # deferred: serving.v2.codec imports google (optional)
    if encoding not in codec.V2_GRPC_ENCODINGS:
        raise LoadError(f"{encoding!r} is not a V2 gRPC encoding; use one of "
                        f"{codec.V2_GRPC_ENCODINGS}")
    return codec.grpc_request(encoding, E.check_images(_images(batch_size)), request_id,
                              model_name, input_name=input_name,
                              output_name=output_name).SerializeToString()


def grpc_frame(message: bytes) -> bytes:
    """``message`` as one uncompressed gRPC length-prefixed message (the HTTP/2 DATA body)."""
    return _PREFIX.pack(0, len(message)) + message


def grpc_body(batch_size: int = 1, encoding: str = "grpc_tensor_content",
              model_name: str = "mnist") -> bytes:
    """The length-prefixed PredictRequest h2load POSTs as a gRPC unary call."""
    return grpc_frame(grpc_message(batch_size, encoding, model_name))


def unframe(body: bytes) -> bytes:
    """The message inside one length-prefixed gRPC body; LoadError naming the field if not one."""
    if len(body) < _PREFIX.size:
        raise LoadError(f"gRPC body of {len(body)} bytes is shorter than its 5-byte prefix")
    flag, length = _PREFIX.unpack_from(body)
    if flag != 0:
        raise LoadError(f"gRPC body offset 0, field compressed-flag: {flag} (expected 0)")
    if length != len(body) - _PREFIX.size:
        raise LoadError(f"gRPC body offset 1, field length: {length} but "
                        f"{len(body) - _PREFIX.size} message bytes follow")
    return body[_PREFIX.size:]


def write_new(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a new file (never overwrites: LoadError if it exists)."""
    path = Path(path)
    try:
        with open_private(path, "xb") as f:      # a request body: payload
            f.write(data)
    except FileExistsError:
        raise LoadError(f"{path} already exists: tool inputs and outputs are never overwritten") \
            from None
    return path
