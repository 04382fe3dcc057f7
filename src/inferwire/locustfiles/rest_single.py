"""Locust: REST predict, one image per request (the seed's REST single user).

    SERVER=localhost locust -f rest_single.py --headless -u 4 -r 4 -t 10s --csv rest_single
"""
from inferwire.locustfiles.common import RestPredictUser


class RestSingleUser(RestPredictUser):
    batch_size = 1
