"""Locust: Triton's decoupled model streamed over gRPC ``ModelStreamInfer``, per request.

    SERVER=localhost GRPC_PORT=8001 MODEL_NAME=charlm INFERWIRE_STREAM_TOKENS=16 \\
        locust -f triton_model_stream.py --headless -u 4 -r 4 -t 10s --csv stream
"""
from inferwire.locustfiles.stream_users import TritonStreamUser


class ModelStreamUser(TritonStreamUser):
    protocol = "grpc"
