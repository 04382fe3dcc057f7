"""Kept for the documented import path ``inferwire.locust.read_locust_csvs`` (README): locust's
outputs read as DataFrames, and running it, live in :mod:`inferwire.reference.locust`."""
from .reference.locust import (LocustResults, locust_command, locust_figures,  # noqa: F401
                               read_locust_csv, read_locust_csvs, read_locust_json,
                               read_request_logs, run_locust)
