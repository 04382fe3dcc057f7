"""The Open Inference Protocol (KServe V2): request/response codec (:mod:`.codec`), the protocol's
gRPC messages (:mod:`.inference_pb2`, generated from ``inference.proto``), clients
(:mod:`.clients`) and the embedded server's V2 endpoints (:mod:`.service`, :mod:`.rest`,
:mod:`.grpc`)."""
