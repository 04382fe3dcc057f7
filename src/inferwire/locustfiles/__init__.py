"""Locustfiles shipped with inferwire: the seed's four user types and the same four over the Open
Inference Protocol (KServe V2), runnable with plain locust.

    locust -f "$(python -m inferwire.locustfiles grpc_batch)" --headless -u 4 -r 4 -t 10s \\
        --csv grpc_batch

=============  =========================================================================
file           users
=============  =========================================================================
rest_single    ``RestSingleUser`` (FastHttpUser): one image per REST predict
grpc_single    ``GrpcSingleUser``: one image per gRPC Predict (grpcio under gevent)
rest_batch     ``RestBatchUser``: BATCHSIZE images per REST predict
grpc_batch     ``GrpcBatchUser``: BATCHSIZE images per gRPC Predict
v2_rest_single ``V2RestSingleUser``: one image per Open Inference Protocol (V2) REST infer
v2_grpc_single ``V2GrpcSingleUser``: one image per V2 gRPC ModelInfer
v2_rest_batch  ``V2RestBatchUser``: BATCHSIZE images per V2 REST infer
v2_grpc_batch  ``V2GrpcBatchUser``: BATCHSIZE images per V2 gRPC ModelInfer
stream_completions ``StreamCompletionsUser``: streamed ``/v1/completions`` (SSE), the client's
               TTFT and ITL in the event log and (unless ``INFERWIRE_LOCUST_TOKEN_STATS=0``)
               as locust statistics
triton_generate_stream ``GenerateStreamUser``: Triton's decoupled model streamed over HTTP
               ``generate_stream`` (SSE), the client's TTFT and ITL in the event log
triton_model_stream ``ModelStreamUser``: the same over gRPC ``ModelStreamInfer``
eventlog_hook  no users: add it to your own locustfile (``-f mine.py,<this>``) to log every
               request event per process, so the capture run can join your requests
=============  =========================================================================

Environment (as the seed's clients read it): ``SERVER`` (host, default localhost),
``BATCHSIZE`` (images per batch request, default 32); inferwire's own: ``REST_PORT`` (8501),
``GRPC_PORT`` (8500), ``MODEL_NAME`` (mnist), ``INFERWIRE_REST_ENCODING`` /
``INFERWIRE_GRPC_ENCODING`` (for the V2 users: v2_json or v2_binary / v2_raw or
v2_fp32_contents), ``INFERWIRE_INPUT_NAME`` / ``INFERWIRE_OUTPUT_NAME`` (V2 tensor names, default
images / scores), ``INFERWIRE_THINK_TIME_S`` (0), ``INFERWIRE_ID_PREFIX`` and
``INFERWIRE_LOCUST_LOG_DIR`` (where each process writes its request log; unset: no log).
``INFERWIRE_API=v2`` makes the capture run pick the V2 users; ``INFERWIRE_STREAM_TOKENS`` (16):
the tokens each streamed request asks for.

This package imports nothing from locust; only the locustfiles and :mod:`.common` do (importing
locust monkey-patches the process with gevent).
"""
from __future__ import annotations

from pathlib import Path
from ..errors import LoadError

SHIPPED = ("rest_single", "grpc_single", "rest_batch", "grpc_batch", "v2_rest_single",
           "v2_grpc_single", "v2_rest_batch", "v2_grpc_batch")
EVENTLOG_HOOK = "eventlog_hook"
#: Streamed completions (SSE) from the embedded server (the capture-run workload with
#: --stream-tokens), TTFT and ITL in the event log and as locust statistics.
STREAMING = "stream_completions"
#: Triton's decoupled model streamed, per protocol (capture-run workloads with --stream-tokens).
TRITON_STREAMING = {"rest": "triton_generate_stream", "grpc": "triton_model_stream"}
_HERE = Path(__file__).resolve().parent


def path(name: str) -> Path:
    """The file of the shipped locustfile ``name`` (one of :data:`SHIPPED` or the hook)."""
    known = SHIPPED + (EVENTLOG_HOOK, STREAMING) + tuple(TRITON_STREAMING.values())
    if name not in known:
        raise LoadError(f"no shipped locustfile {name!r}; use one of {known}")
    return _HERE / f"{name}.py"


def for_workload(protocol: str, batch_size: int, api: str = "tfserving") -> str:
    """The shipped locustfile for ``protocol`` ("rest"/"grpc"), ``batch_size`` and ``api``
    ("tfserving"/"v2")."""
    prefix = "v2_" if api == "v2" else ""
    return f"{prefix}{protocol}_{'single' if batch_size == 1 else 'batch'}"
