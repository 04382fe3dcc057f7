"""Locust: Open Inference Protocol (KServe V2) gRPC ModelInfer, one image per request.

    SERVER=localhost locust -f v2_grpc_single.py --headless -u 4 -r 4 -t 10s \\
        --csv v2_grpc_single
"""
from inferwire.locustfiles.common import V2GrpcInferUser


class V2GrpcSingleUser(V2GrpcInferUser):
    batch_size = 1
