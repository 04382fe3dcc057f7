"""Locust: Open Inference Protocol (KServe V2) gRPC ModelInfer, BATCHSIZE images per request.

    SERVER=localhost BATCHSIZE=32 locust -f v2_grpc_batch.py --headless -u 4 -r 4 -t 10s \\
        --csv v2_grpc_batch
"""
from inferwire.locustfiles.common import SETTINGS, V2GrpcInferUser


class V2GrpcBatchUser(V2GrpcInferUser):
    batch_size = SETTINGS.batch_size
