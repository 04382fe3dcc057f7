"""Open Inference Protocol (KServe V2) infer clients: REST (JSON or the binary tensor extension)
and gRPC ``inference.GRPCInferenceService/ModelInfer`` (typed ``fp32_contents`` or
``raw_input_contents``).

They are the TF Serving clients of :mod:`inferwire.serving.clients` with V2 bodies: the same
connection handling, the same :class:`~inferwire.serving.clients.PredictResult`, the request id
both in ``x-request-id`` (HTTP header / gRPC metadata) and in the V2 ``id`` field.  Make them with
``make_client(protocol, api="v2", ...)``.
"""
from __future__ import annotations

import numpy as np

from .. import encodings as E
from .. import signatures as S
from ..tfserving_clients import GrpcClient, RestClient
from . import codec
from .inference_pb2 import ModelInferResponse


class V2RestClient(RestClient):
    """``POST /v2/models/{model}[/versions/{v}]/infer`` over HTTP/1.1 (``encoding`` v2_json or
    v2_binary)."""
    api = "v2"

    def __init__(self, host: str, port: int, *, input_name: str = S.IMAGES,
                 output_name: str = S.SCORES, **options):
        self.input_name, self.output_name = input_name, output_name
        super().__init__(host, port, **options)

    def _path(self, model_name: str, version) -> str:
        return codec.rest_path(model_name, version)

    def _encode(self, images: np.ndarray, request_id: str) -> tuple[bytes, dict]:
        return codec.rest_request(self.encoding, E.check_images(images), request_id,
                                  input_name=self.input_name, output_name=self.output_name)

    def _decode(self, data: bytes, headers) -> np.ndarray:
        return codec.rest_scores(data, headers.get(codec.HEADER_LENGTH), self.output_name)

    def _error(self, data: bytes) -> str:
        return codec.rest_error(data)


class V2GrpcClient(GrpcClient):
    """gRPC ModelInfer (``encoding`` v2_fp32_contents or v2_raw); the message is serialized here so
    its size and the encoding time are known."""
    api = "v2"
    method = codec.INFER_METHOD

    def __init__(self, host: str, port: int, *, input_name: str = S.IMAGES,
                 output_name: str = S.SCORES, **options):
        self.input_name, self.output_name = input_name, output_name
        super().__init__(host, port, **options)

    def _encode(self, images: np.ndarray, request_id: str) -> bytes:
        return codec.grpc_request(self.encoding, E.check_images(images), request_id,
                                  self.model_name, self.version, input_name=self.input_name,
                                  output_name=self.output_name).SerializeToString()

    def _decode(self, data: bytes) -> np.ndarray:
        return codec.grpc_scores(ModelInferResponse.FromString(data), self.output_name)
