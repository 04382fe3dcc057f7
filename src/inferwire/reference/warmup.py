"""Warm-up before a tool's measured run, through inferwire's own client.

ab, h2load and locust have no warm-up of their own (h2load's ``--warm-up-time`` only exists for
timed runs), and the first calls into a freshly loaded model are slow.  So every engine sends
``warmup_requests`` requests first with :class:`inferwire.load.PredictWorkload`, one at a time on
its own connection, logged with phase "warmup" in the run's client log; they come before the
tool's measured window and are left out of every comparison.  A streamed run
(``--stream-tokens N``) warms up with streamed requests: to Triton's decoupled model, or the
embedded server's completions (:func:`inferwire.load.triton_stream.stream_workload`).
"""
from __future__ import annotations

import time

from ..errors import LoadError


def warm_up(ctx, writer, count: int | None = None) -> int:
    """Send ``count`` (default: the run's ``warmup_requests``) warm-up requests for
    ``ctx.protocol``; each goes to ``writer.on_request``.  Returns how many were sent; LoadError
    if none succeeded (the tool would fail the same way)."""
    from ..load import RequestRecord  # deferred: load imports numpy
    config, protocol, targets = ctx.config, ctx.protocol, ctx.targets
    count = config.warmup_requests if count is None else count
    if count <= 0:
        return 0
    workload = _workload(config, protocol, targets)
    ok, last_error = 0, None
    try:
        for k in range(count):
            if ctx.stop.is_set():
                break
            rid = f"{protocol}-warmup-{k}"
            started = time.time_ns()
            result = workload(rid)
            finished = time.time_ns()
            writer.on_request(RequestRecord(
                rid, 0, "warmup", started, started, finished, result.ok, result.status,
                result.request_bytes, result.response_bytes,
                getattr(result, "serialize_ns", None), getattr(result, "model_time_ns", None),
                result.error))
            ok += bool(result.ok)
            last_error = result.error or last_error
    finally:
        workload.close()
    if ok == 0 and not ctx.stop.is_set():
        what = "streamed" if config.stream_tokens is not None else "predict"
        raise LoadError(f"every {protocol} warm-up request failed ({last_error}); the server "
                        f"does not answer {what} requests")
    return count


def _workload(config, protocol: str, targets: dict):
    """The warm-up's workload: Predict, or streams (Triton's decoupled model, the embedded
    server's completions)."""
    from ..load import PredictWorkload  # deferred: load imports numpy
    if config.stream_tokens is not None:
        from ..load.triton_stream import stream_workload  # deferred: load imports numpy
        return stream_workload(targets, protocol, max_tokens=config.stream_tokens)
    return PredictWorkload(protocol, targets["host"], targets[f"{protocol}_port"],
                           batch_size=config.batch_size, encoding=config.encoding_for(protocol),
                           model_name=targets.get("model_name", config.model_name),
                           **config.client_options())
