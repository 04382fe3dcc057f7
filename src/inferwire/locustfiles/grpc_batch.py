"""Locust: gRPC Predict, BATCHSIZE images per request (the seed's gRPC batch user).

    SERVER=localhost BATCHSIZE=32 locust -f grpc_batch.py --headless -u 4 -r 4 -t 10s \\
        --csv grpc_batch
"""
from inferwire.locustfiles.common import SETTINGS, GrpcPredictUser


class GrpcBatchUser(GrpcPredictUser):
    batch_size = SETTINGS.batch_size
