"""Locust: REST predict, BATCHSIZE images per request (the seed's REST batch user).

    SERVER=localhost BATCHSIZE=32 locust -f rest_batch.py --headless -u 4 -r 4 -t 10s \\
        --csv rest_batch
"""
from inferwire.locustfiles.common import SETTINGS, RestPredictUser


class RestBatchUser(RestPredictUser):
    batch_size = SETTINGS.batch_size
