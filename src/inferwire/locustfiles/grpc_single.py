"""Locust: gRPC Predict, one image per request (the seed's gRPC single user).

    SERVER=localhost locust -f grpc_single.py --headless -u 4 -r 4 -t 10s --csv grpc_single
"""
from inferwire.locustfiles.common import GrpcPredictUser


class GrpcSingleUser(GrpcPredictUser):
    batch_size = 1
