"""Open Inference Protocol (KServe V2) bodies for MNIST infer calls, and response decoding.

Pure: arrays in, bytes / protos out, and back.  Four encodings, as ``serving.encodings`` has for
TF Serving:

=================  ========  ==============================================================
encoding           protocol  request
=================  ========  ==============================================================
v2_json            REST      ``{"id", "inputs": [{"name", "shape", "datatype": "FP32",
                             "data": [n*784 floats]}], "outputs": [{"name"}]}``
v2_binary          REST      binary tensor extension: that JSON with ``parameters:
                             {"binary_data_size": n*784*4}`` instead of ``data``, then the raw
                             little-endian float32 bytes; ``Inference-Header-Content-Length``
                             says where the JSON ends; the output asked for as binary too
v2_fp32_contents   gRPC      ``ModelInferRequest``, values in ``inputs[0].contents.fp32_contents``
v2_raw             gRPC      ``ModelInferRequest``, values in ``raw_input_contents[0]``
=================  ========  ==============================================================

Every request carries the request id in the V2 ``id`` field (the server echoes it).  Pixels are
sent as float32 pixel / 255, as the TF Serving encodings send them; JSON floats are written as
``numpy.ndarray.tolist()`` + ``json.dumps`` write them.
"""
from __future__ import annotations

import json

import numpy as np

from .. import signatures as S
from . import inference_pb2 as pb

V2_REST_ENCODINGS = ("v2_json", "v2_binary")
V2_GRPC_ENCODINGS = ("v2_fp32_contents", "v2_raw")
V2_ENCODINGS = V2_REST_ENCODINGS + V2_GRPC_ENCODINGS

#: the binary tensor extension's header: length of the JSON part of a body
HEADER_LENGTH = "Inference-Header-Content-Length"
JSON_TYPE = "application/json"
BINARY_TYPE = "application/octet-stream"
INFER_METHOD = "/inference.GRPCInferenceService/ModelInfer"
SERVICE = "inference.GRPCInferenceService"

#: V2 datatype -> numpy dtype (little-endian, as the binary extension and raw contents are)
DTYPES = {"BOOL": np.dtype("bool"), "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"),
          "UINT32": np.dtype("<u4"), "UINT64": np.dtype("<u8"), "INT8": np.dtype("<i1"),
          "INT16": np.dtype("<i2"), "INT32": np.dtype("<i4"), "INT64": np.dtype("<i8"),
          "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8")}
#: V2 datatype -> the InferTensorContents field that carries it
CONTENTS_FIELD = {"BOOL": "bool_contents", "UINT8": "uint_contents", "UINT16": "uint_contents",
                  "UINT32": "uint_contents", "UINT64": "uint64_contents",
                  "INT8": "int_contents", "INT16": "int_contents", "INT32": "int_contents",
                  "INT64": "int64_contents", "FP32": "fp32_contents", "FP64": "fp64_contents",
                  "BYTES": "bytes_contents"}


class V2FormatError(ValueError):
    """A V2 body or message that does not follow the protocol (the message names the field)."""


def rest_path(model_name: str, version: str | int | None = None, verb: str = "infer") -> str:
    """``/v2/models/{model}[/versions/{v}]/infer``."""
    version_part = f"/versions/{version}" if version not in (None, "") else ""
    return f"/v2/models/{model_name}{version_part}/{verb}"


def _flat_floats(images: np.ndarray) -> np.ndarray:
    """float32 pixels in [0, 1], [n, 784] (uint8 images are scaled by 1/255)."""
    if images.dtype == np.uint8:
        return (images / 255.0).astype(np.float32)
    return images.astype(np.float32)


def rest_request(encoding: str, images: np.ndarray, request_id: str, *,
                 input_name: str = S.IMAGES, output_name: str = S.SCORES) -> tuple[bytes, dict]:
    """(body, headers) of a V2 REST infer request; headers hold Content-Type and, for the
    binary extension, Inference-Header-Content-Length."""
    floats = _flat_floats(images)
    tensor = {"name": input_name, "shape": list(floats.shape), "datatype": "FP32"}
    if encoding == "v2_json":
        # As json_row writes them: pixel / 255 in float64, the way a numpy client prints them
        wide = images / 255.0 if images.dtype == np.uint8 else images.astype(np.float64)
        tensor["data"] = wide.ravel().tolist()
        doc = {"id": request_id, "inputs": [tensor], "outputs": [{"name": output_name}]}
        return json.dumps(doc).encode(), {"Content-Type": JSON_TYPE}
    if encoding == "v2_binary":
        raw = np.ascontiguousarray(floats, dtype="<f4").tobytes()
        tensor["parameters"] = {"binary_data_size": len(raw)}
        doc = {"id": request_id, "inputs": [tensor],
               "outputs": [{"name": output_name, "parameters": {"binary_data": True}}]}
        head = json.dumps(doc).encode()
        return head + raw, {"Content-Type": BINARY_TYPE, HEADER_LENGTH: str(len(head))}
    raise ValueError(f"{encoding!r} is not a V2 REST encoding ({', '.join(V2_REST_ENCODINGS)})")


def grpc_request(encoding: str, images: np.ndarray, request_id: str, model_name: str,
                 version: str | int | None = None, *, input_name: str = S.IMAGES,
                 output_name: str = S.SCORES) -> pb.ModelInferRequest:
    """A ModelInferRequest carrying the images as FP32 [n, 784]."""
    floats = _flat_floats(images)
    req = pb.ModelInferRequest(model_name=model_name, id=request_id,
                               model_version="" if version is None else str(version))
    tensor = req.inputs.add(name=input_name, datatype="FP32", shape=list(floats.shape))
    req.outputs.add(name=output_name)
    if encoding == "v2_fp32_contents":
        tensor.contents.fp32_contents.extend(floats.ravel().tolist())
    elif encoding == "v2_raw":
        req.raw_input_contents.append(np.ascontiguousarray(floats, dtype="<f4").tobytes())
    else:
        raise ValueError(f"{encoding!r} is not a V2 gRPC encoding ({', '.join(V2_GRPC_ENCODINGS)})")
    return req


def split_binary(body: bytes, header_length: str | int | None) -> tuple[dict, bytes]:
    """(JSON document, binary tail) of a V2 body; ``header_length`` is the value of
    Inference-Header-Content-Length (None: the whole body is JSON)."""
    if header_length is None:
        return _json_doc(body, "body"), b""
    try:
        n = int(header_length)
    except (TypeError, ValueError):
        raise V2FormatError(f"{HEADER_LENGTH}: {header_length!r} is not a whole number") from None
    if not 0 <= n <= len(body):
        raise V2FormatError(f"{HEADER_LENGTH}: {n} outside the body's {len(body)} bytes")
    return _json_doc(body[:n], "JSON header"), body[n:]


def _json_doc(data: bytes, what: str) -> dict:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise V2FormatError(f"{what} is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise V2FormatError(f"{what} is not a JSON object")
    return doc


def rest_tensors(doc: dict, binary: bytes, key: str) -> dict[str, np.ndarray]:
    """The tensors of a V2 REST document's ``key`` ("inputs" or "outputs") as arrays by name;
    binary tensors are taken from ``binary`` in order."""
    tensors = doc.get(key)
    if not isinstance(tensors, list):
        raise V2FormatError(f"field '{key}': expected a list of tensors")
    out, offset = {}, 0
    for i, t in enumerate(tensors):
        if not isinstance(t, dict) or not isinstance(t.get("name"), str):
            raise V2FormatError(f"{key}[{i}]: expected an object with a 'name'")
        dtype, shape = _dtype_shape(t, f"{key}[{i}]")
        size = (t.get("parameters") or {}).get("binary_data_size")
        if size is not None:
            if not isinstance(size, int) or size < 0 or offset + size > len(binary):
                raise V2FormatError(f"{key}[{i}].parameters.binary_data_size: {size!r} does not "
                                    f"fit the {len(binary) - offset} binary bytes left")
            out[t["name"]] = _from_buffer(binary[offset:offset + size], dtype, shape,
                                          f"{key}[{i}]")
            offset += size
        else:
            out[t["name"]] = _from_data(t.get("data"), dtype, shape, f"{key}[{i}]")
    return out


def _dtype_shape(t: dict, where: str) -> tuple[np.dtype, list[int]]:
    datatype = t.get("datatype")
    if datatype not in DTYPES:
        raise V2FormatError(f"{where}.datatype: {datatype!r} is not a numeric V2 datatype "
                            f"({', '.join(DTYPES)})")
    shape = t.get("shape")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise V2FormatError(f"{where}.shape: {shape!r} is not a list of sizes")
    return DTYPES[datatype], shape


def _from_buffer(raw: bytes, dtype: np.dtype, shape: list[int], where: str) -> np.ndarray:
    count = int(np.prod(shape, dtype=np.int64))
    if len(raw) != count * dtype.itemsize:
        raise V2FormatError(f"{where}: {len(raw)} bytes of data for shape {shape} "
                            f"({count * dtype.itemsize} expected)")
    return np.frombuffer(raw, dtype=dtype).reshape(shape)


def _from_data(data, dtype: np.dtype, shape: list[int], where: str) -> np.ndarray:
    if data is None:
        raise V2FormatError(f"{where}: neither 'data' nor parameters.binary_data_size")
    try:
        arr = np.asarray(data, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise V2FormatError(f"{where}.data: {exc}") from None
    count = int(np.prod(shape, dtype=np.int64))
    if arr.size != count:
        raise V2FormatError(f"{where}.data: {arr.size} values for shape {shape} ({count} expected)")
    return arr.reshape(shape)


def grpc_tensors(tensors, raw_contents, what: str) -> dict[str, np.ndarray]:
    """Arrays by name from a ModelInfer message's ``inputs``/``outputs`` and its raw contents."""
    if raw_contents and len(raw_contents) != len(tensors):
        raise V2FormatError(f"raw_{what}_contents: {len(raw_contents)} entries for "
                            f"{len(tensors)} {what}s")
    out = {}
    for i, t in enumerate(tensors):
        where = f"{what}s[{i}]"
        if t.datatype not in DTYPES:
            raise V2FormatError(f"{where}.datatype: {t.datatype!r} is not a numeric V2 datatype")
        shape = list(t.shape)
        if any(d < 0 for d in shape):
            raise V2FormatError(f"{where}.shape: {shape} has a negative size")
        if raw_contents:
            out[t.name] = _from_buffer(raw_contents[i], DTYPES[t.datatype], shape, where)
        else:
            values = getattr(t.contents, CONTENTS_FIELD[t.datatype])
            out[t.name] = _from_data(list(values), DTYPES[t.datatype], shape, where + ".contents")
    return out


def rest_scores(body: bytes, header_length: str | None, output_name: str = S.SCORES) -> np.ndarray:
    """Scores float32 [n, 10] from a V2 REST infer response (JSON or binary extension)."""
    doc, binary = split_binary(body, header_length)
    outputs = rest_tensors(doc, binary, "outputs")
    return _pick(outputs, output_name)


def grpc_scores(response: pb.ModelInferResponse, output_name: str = S.SCORES) -> np.ndarray:
    """Scores float32 [n, 10] from a ModelInferResponse (typed or raw contents)."""
    outputs = grpc_tensors(response.outputs, response.raw_output_contents, "output")
    return _pick(outputs, output_name)


def _pick(outputs: dict[str, np.ndarray], name: str) -> np.ndarray:
    if name not in outputs:
        raise V2FormatError(f"no output named {name!r} (outputs: {', '.join(outputs) or 'none'})")
    return outputs[name].astype(np.float32, copy=False)


def rest_error(body: bytes) -> str:
    """The ``error`` message of a V2 error body ``{"error": "..."}`` (else the body's start)."""
    try:
        return str(json.loads(body)["error"])
    except (ValueError, KeyError, TypeError):
        return body[:500].decode("utf-8", "replace")
