"""Request encodings for MNIST predict calls, and response decoding (pure: bytes and protos only).

=====================  ========  =====================  ==========================================
encoding               protocol  signature              request body
=====================  ========  =====================  ==========================================
json_row               REST      predict_images         ``{"instances": [[784 floats], ...]}``
json_columnar          REST      predict_images         ``{"inputs": {"images": [[...], ...]}}``
json_b64               REST      predict_images_bytes   ``{"instances": [{"b64": "<784 bytes>"}]}``
grpc_float_val         gRPC      predict_images         DT_FLOAT tensor, values in ``float_val``
grpc_tensor_content    gRPC      predict_images         DT_FLOAT tensor, raw ``tensor_content``
grpc_string_val        gRPC      predict_images_bytes   DT_STRING [n], 784 raw bytes per image
=====================  ========  =====================  ==========================================

Float encodings send pixel / 255 (as TF Serving's MNIST client does); JSON floats are written the
way ``numpy.ndarray.tolist()`` + ``json.dumps`` write them, as a typical Python client would.
"""
from __future__ import annotations

import base64
import json

import numpy as np

from . import signatures as S
from .protos import predict_pb2
from .tensors import from_ndarray, to_ndarray

ENCODINGS = ("json_row", "json_columnar", "json_b64", "grpc_float_val", "grpc_tensor_content",
             "grpc_string_val")
REST_ENCODINGS = ENCODINGS[:3]
GRPC_ENCODINGS = ENCODINGS[3:]
BYTES_ENCODINGS = ("json_b64", "grpc_string_val")


def default_signature(encoding: str) -> str:
    return S.PREDICT_IMAGES_BYTES if encoding in BYTES_ENCODINGS else S.PREDICT_IMAGES


def check_images(images) -> np.ndarray:
    """``images`` as a 2-D [n, 784] array of uint8 or float32 (a single image [784] becomes [1, 784])."""
    arr = np.asarray(images)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != S.PIXELS:
        raise ValueError(f"images must be [n, {S.PIXELS}], got {list(arr.shape)}")
    if arr.dtype != np.uint8 and arr.dtype.kind != "f":
        raise ValueError(f"images must be uint8 (0-255) or float (0-1), got {arr.dtype}")
    return arr


def as_float(images: np.ndarray) -> np.ndarray:
    """float32 pixels in [0, 1]."""
    return images.astype(np.float32) / 255.0 if images.dtype == np.uint8 else images.astype(np.float32)


def as_uint8(images: np.ndarray) -> np.ndarray:
    """uint8 pixels 0-255 (floats are scaled by 255 and rounded)."""
    if images.dtype == np.uint8:
        return images
    return np.clip(np.rint(images * 255.0), 0, 255).astype(np.uint8)


def rest_body(encoding: str, images: np.ndarray, signature_name: str | None = None) -> bytes:
    """The JSON body of a REST predict request."""
    sig = signature_name or default_signature(encoding)
    if encoding == "json_row":
        doc = {"signature_name": sig, "instances": _float_lists(images)}
    elif encoding == "json_columnar":
        doc = {"signature_name": sig, "inputs": {S.IMAGES: _float_lists(images)}}
    elif encoding == "json_b64":
        doc = {"signature_name": sig,
               "instances": [{"b64": base64.b64encode(row.tobytes()).decode()} for row in as_uint8(images)]}
    else:
        raise ValueError(f"{encoding!r} is not a REST encoding ({', '.join(REST_ENCODINGS)})")
    return json.dumps(doc).encode()


def _float_lists(images: np.ndarray) -> list:
    if images.dtype == np.uint8:
        return (images / 255.0).tolist()  # float64, as numpy clients produce
    return images.astype(np.float64).tolist()


def grpc_request(encoding: str, images: np.ndarray, model_name: str,
                 signature_name: str | None = None, version: int | None = None) -> predict_pb2.PredictRequest:
    """A PredictRequest carrying the images in the given gRPC encoding."""
    req = predict_pb2.PredictRequest()
    req.model_spec.name = model_name
    req.model_spec.signature_name = signature_name or default_signature(encoding)
    if version is not None:
        req.model_spec.version.value = version
    if encoding == "grpc_tensor_content":
        from_ndarray(as_float(images), req.inputs[S.IMAGES], content=True)
    elif encoding == "grpc_float_val":
        from_ndarray(as_float(images), req.inputs[S.IMAGES], content=False)
    elif encoding == "grpc_string_val":
        rows = np.empty(len(images), dtype=object)
        rows[:] = [row.tobytes() for row in as_uint8(images)]
        from_ndarray(rows, req.inputs[S.IMAGES_BYTES])
    else:
        raise ValueError(f"{encoding!r} is not a gRPC encoding ({', '.join(GRPC_ENCODINGS)})")
    return req


def rest_scores(body: bytes) -> np.ndarray:
    """Scores float32 [n, 10] from a REST predict response (row or columnar, one output)."""
    doc = json.loads(body)
    values = doc.get("predictions", doc.get("outputs"))
    if isinstance(values, dict):
        values = values.get(S.SCORES)
    if isinstance(values, list) and values and isinstance(values[0], dict):
        values = [v[S.SCORES] for v in values]
    if values is None:
        raise ValueError("response has no predictions/outputs")
    return np.asarray(values, dtype=np.float32)


def rest_error(body: bytes) -> str:
    """The ``error`` message of a REST error body (or the body itself if it is not one)."""
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body[:500].decode("utf-8", "replace")


def grpc_scores(response: predict_pb2.PredictResponse) -> np.ndarray:
    return to_ndarray(response.outputs[S.SCORES], S.SCORES).astype(np.float32, copy=False)
