"""The embedded server's Open Inference Protocol (KServe V2) gRPC methods:
``inference.GRPCInferenceService`` ServerLive, ServerReady, ModelReady, ServerMetadata,
ModelMetadata and ModelInfer, as (request class, handler) pairs for
:func:`inferwire.serving.grpc_server.build_grpc_server`.  Errors leave as gRPC status codes
(INVALID_ARGUMENT for a malformed request, NOT_FOUND for an unknown model)."""
from __future__ import annotations

from ..status import INVALID_ARGUMENT, ApiError
from . import codec
from . import inference_pb2 as pb
from .service import V2Service, _v2_name


class V2GrpcHandlers:
    """Handlers returning (response message, Timing or None)."""

    def __init__(self, service: V2Service):
        self.service = service

    def server_live(self, req):
        return pb.ServerLiveResponse(live=True), None

    def server_ready(self, req):
        return pb.ServerReadyResponse(ready=True), None

    def model_ready(self, req):
        return pb.ModelReadyResponse(ready=self.service.model_ready(req.name, req.version)), None

    def server_metadata(self, req):
        return pb.ServerMetadataResponse(**self.service.server_metadata()), None

    def model_metadata(self, req):
        meta = self.service.model_metadata(req.name, req.version)
        response = pb.ModelMetadataResponse(name=meta["name"], versions=meta["versions"],
                                            platform=meta["platform"])
        for key in ("inputs", "outputs"):
            for t in meta[key]:
                getattr(response, key).add(**t)
        return response, None

    def model_infer(self, req: pb.ModelInferRequest):
        try:
            inputs = codec.grpc_tensors(req.inputs, req.raw_input_contents, "input")
        except codec.V2FormatError as exc:
            raise ApiError(INVALID_ARGUMENT, str(exc)) from None
        result = self.service.infer(req.model_name, req.model_version, inputs,
                                    [o.name for o in req.outputs])
        response = pb.ModelInferResponse(model_name=result.model_name,
                                         model_version=result.model_version, id=req.id)
        # Answered in the form asked in (Triton always answers raw; both are V2).
        raw = bool(req.raw_input_contents)
        for name, array in result.outputs.items():
            datatype = _v2_name(array.dtype)
            tensor = response.outputs.add(name=name, datatype=datatype, shape=list(array.shape))
            if raw:
                response.raw_output_contents.append(
                    array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes())
            else:
                getattr(tensor.contents, codec.CONTENTS_FIELD[datatype]).extend(
                    array.ravel().tolist())
        return response, result.timing

    def methods(self) -> dict[str, tuple]:
        s = f"/{codec.SERVICE}/"
        return {s + "ServerLive": (pb.ServerLiveRequest, self.server_live),
                s + "ServerReady": (pb.ServerReadyRequest, self.server_ready),
                s + "ModelReady": (pb.ModelReadyRequest, self.model_ready),
                s + "ServerMetadata": (pb.ServerMetadataRequest, self.server_metadata),
                s + "ModelMetadata": (pb.ModelMetadataRequest, self.model_metadata),
                s + "ModelInfer": (pb.ModelInferRequest, self.model_infer)}
