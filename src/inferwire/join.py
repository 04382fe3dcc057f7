"""Kept for the documented import path ``inferwire.join.join_requests`` (README): the joins of
a capture's requests with client and server logs live in :mod:`inferwire.analysis.join`."""
from .analysis.join import (join_requests, join_server_log, label_workloads,  # noqa: F401
                            workload_ports)
