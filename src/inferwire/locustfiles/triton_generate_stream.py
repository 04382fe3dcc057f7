"""Locust: Triton's decoupled model streamed over HTTP ``generate_stream`` (SSE), per request.

    SERVER=localhost REST_PORT=8000 MODEL_NAME=charlm INFERWIRE_STREAM_TOKENS=16 \\
        locust -f triton_generate_stream.py --headless -u 4 -r 4 -t 10s --csv stream
"""
from inferwire.locustfiles.stream_users import TritonStreamUser


class GenerateStreamUser(TritonStreamUser):
    protocol = "rest"
