"""Locust: Open Inference Protocol (KServe V2) REST infer, one image per request.

    SERVER=localhost locust -f v2_rest_single.py --headless -u 4 -r 4 -t 10s \\
        --csv v2_rest_single
"""
from inferwire.locustfiles.common import V2RestInferUser


class V2RestSingleUser(V2RestInferUser):
    batch_size = 1
