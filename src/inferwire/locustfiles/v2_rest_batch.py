"""Locust: Open Inference Protocol (KServe V2) REST infer, BATCHSIZE images per request.

    SERVER=localhost BATCHSIZE=32 locust -f v2_rest_batch.py --headless -u 4 -r 4 -t 10s \\
        --csv v2_rest_batch
"""
from inferwire.locustfiles.common import SETTINGS, V2RestInferUser


class V2RestBatchUser(V2RestInferUser):
    batch_size = SETTINGS.batch_size
